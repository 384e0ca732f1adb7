// Probe: shardprop's distributed step with browser tabs as workers, float32: this process is
// the coordinator (the built packages/coordinator); N local worker processes and T tabs of
// Debian's headless Chromium (its /join page) join it over 127.0.0.1.
// Usage: node bench/browser.mjs seed|large WORKERS TABS BATCH [--threads T] [warmMs windowMs]
// (T: threads of each worker's and tab's kernels, default 1)
// Prints one JSON line: samples/s and per step the wall time and the slowest worker's compute.
import { startCluster } from './cluster.mjs';
import { measureRateAsync, probeTiming } from './measure.mjs';
import { takeCount, workloadByKey } from './workloads.mjs';

const [key, workersArg, tabsArg, batchArg, ...timing] = process.argv.slice(2);
const threads = takeCount(timing, '--threads', 1);
const { layers, lr } = workloadByKey(key);
const workers = Number(workersArg);
const tabs = Number(tabsArg);
const batch = Number(batchArg);
const cluster = await startCluster({ layers, batch, lr, workers, tabs, threads, gradientForm: 'dense' });
const { server } = cluster;
const trainStep = async () => (await cluster.step()).count;
const { median, medianWindow: w, windows } = await measureRateAsync(trainStep, probeTiming(timing), () => ({ compute: server.timing().computeSeconds }));
await cluster.close();
console.log(JSON.stringify({
  framework: 'shardprop', workload: key, workers, tabs, threads, batch,
  samplesPerSec: Math.round(median), windows: windows.map(Math.round),
  stepMs: +((w.seconds * 1000) / w.calls).toFixed(3), computeMs: +((w.delta.compute * 1000) / w.calls).toFixed(3),
}));
