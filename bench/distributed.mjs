// Probe: shardprop's distributed training step, float32: this process is the coordinator
// (the built packages/coordinator), N local worker processes join it over 127.0.0.1.
// Usage: node bench/distributed.mjs seed|large WORKERS BATCH auto|dense|factors [--block K] [--threads T] [--coordinator-threads C] [warmMs windowMs]
// (T: each worker's kernels' threads, default 1; C: the coordinator's, default 1)
// Prints one JSON line: samples/s, and per step the wall time, the slowest worker's compute,
// the rest of the step (stepMs - computeMs), and syncMs: from the last gradient sent to the
// new parameters received at every worker, as the workers' clocks say (one machine: one clock).
import { startCluster } from './cluster.mjs';
import { measureRateAsync, probeTiming } from './measure.mjs';
import { DEFAULT_BLOCK } from '../packages/core/dist/index.js';
import { takeBlock, takeCount, workloadByKey } from './workloads.mjs';

const [key, workersArg, batchArg, form, ...timing] = process.argv.slice(2);
const block = takeBlock(timing, DEFAULT_BLOCK);
const threads = takeCount(timing, '--threads', 1);
const coordinatorThreads = takeCount(timing, '--coordinator-threads', 1);
const { layers, lr } = workloadByKey(key);
const workers = Number(workersArg);
const batch = Number(batchArg);
const cluster = await startCluster({ layers, batch, lr, workers, gradientForm: form, block, threads, coordinatorThreads });
const { server, model } = cluster;
const trainStep = async () => (await cluster.step()).count;

const { median, medianWindow: w, windows } = await measureRateAsync(trainStep, probeTiming(timing), () => { const t = server.timing(); return { compute: t.computeSeconds, sync: t.syncSeconds }; });
await cluster.close();

const stepMs = (w.seconds * 1000) / w.calls;
const computeMs = (w.delta.compute * 1000) / w.calls;
console.log(JSON.stringify({
  framework: 'shardprop', workload: key, workers, threads, coordinatorThreads, batch, block, gradientForm: server.gradientForm,
  samplesPerSec: Math.round(median), windows: windows.map(Math.round),
  stepMs: +stepMs.toFixed(3), computeMs: +computeMs.toFixed(3), restMs: +(stepMs - computeMs).toFixed(3),
  syncMs: +((w.delta.sync * 1000) / w.calls).toFixed(3),
  bytesPerWorker: model.params.length * 4,
  // this process's high-water mark of resident memory (VmHWM): the coordinator's, workers excluded
  coordinatorMaxRssMiB: +(process.resourceUsage().maxRSS / 1024).toFixed(1),
}));
