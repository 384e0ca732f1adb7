// Probe: shardprop's distributed training step, float32: this process is the coordinator
// (the built packages/coordinator), N local worker processes join it over 127.0.0.1.
// Usage: node bench/distributed.mjs seed|large WORKERS BATCH auto|dense|factors [warmMs windowMs]
// Prints one JSON line: samples/s, and per step the wall time, the slowest worker's compute,
// the rest of the step (stepMs - computeMs), and syncMs: from the last gradient sent to the
// new parameters received at every worker, as the workers' clocks say (one machine: one clock).
import { Model, Optimizer, Sampler } from '../packages/core/dist/index.js';
import { CoordinatorServer } from '../packages/coordinator/dist/coordinator-server.js';
import { LocalWorkers } from '../packages/coordinator/dist/local-workers.js';
import { createLogger } from '../packages/coordinator/dist/log.js';
import { measureRateAsync, probeTiming } from './measure.mjs';
import { SAMPLES, syntheticData, workloadByKey } from './workloads.mjs';

const [key, workersArg, batchArg, form, ...timing] = process.argv.slice(2);
const { layers, lr } = workloadByKey(key);
const workers = Number(workersArg);
const batch = Number(batchArg);
if (!(Number.isInteger(workers) && workers >= 1 && Number.isInteger(batch) && batch >= 1)) throw new RangeError('expected WORKERS >= 1 and BATCH >= 1');

const spec = { layers, activation: 'sigmoid', loss: 'quadratic', dtype: 'float32' };
const model = Model.init(spec, 1);
const optimizer = { kind: 'sgd', lr };
const plan = {
  options: {}, spec, model, train: syntheticData(layers), batchSize: batch, totalSteps: Infinity,
  batchesPerEpoch: Math.ceil(SAMPLES / batch), optimizer, seed: 0, samplerSeed: 3, outPath: '',
};
const log = createLogger('warn');
const server = await CoordinatorServer.listen({ host: '127.0.0.1', port: 0, expect: workers, plan, log, gradientForm: form });
const children = new LocalWorkers(log);
const joined = server.waitForWorkers();
children.start(workers, server.url, undefined, (message) => server.abortWait(new Error(message)));
await joined;

const opt = new Optimizer(optimizer, model.params.length, 'float32');
const sampler = new Sampler(SAMPLES, batch, 3);
const grad = new Float32Array(model.params.length);
let step = 0;

/** One SGD step on the next global mini-batch, as the training loop takes it. */
async function trainStep() {
  const idx = sampler.next();
  const r = await server.gradient(++step, idx, model, grad);
  opt.step(model.params, grad, r.count);
  return r.count;
}

const { median, medianWindow: w, windows } = await measureRateAsync(trainStep, probeTiming(timing), () => { const t = server.timing(); return { compute: t.computeSeconds, sync: t.syncSeconds }; });
await server.close();
await children.stop();
if (!model.params.every(Number.isFinite)) throw new Error('training diverged: the timing would not be of real arithmetic');

const stepMs = (w.seconds * 1000) / w.calls;
const computeMs = (w.delta.compute * 1000) / w.calls;
console.log(JSON.stringify({
  framework: 'shardprop', workload: key, workers, batch, gradientForm: server.gradientForm,
  samplesPerSec: Math.round(median), windows: windows.map(Math.round),
  stepMs: +stepMs.toFixed(3), computeMs: +computeMs.toFixed(3), restMs: +(stepMs - computeMs).toFixed(3),
  syncMs: +((w.delta.sync * 1000) / w.calls).toFixed(3),
  bytesPerWorker: model.params.length * 4,
}));
