// Probe: a soak run. A coordinator (this process) and WORKERS local worker processes train
// STEPS steps of a small model ([784,30,10], batch 64, synthetic data) on loopback.
// Checks that every step completes with every sample of its batch accounted for, and samples
// the memory (RSS) of the coordinator and of every worker as it goes.
// Usage: node bench/soak.mjs WORKERS STEPS        prints one JSON line
import { readFileSync } from 'node:fs';
import { Model, Optimizer, Sampler } from '../packages/core/dist/index.js';
import { CoordinatorServer } from '../packages/coordinator/dist/coordinator-server.js';
import { LocalWorkers } from '../packages/coordinator/dist/local-workers.js';
import { createLogger } from '../packages/coordinator/dist/log.js';
import { SAMPLES, syntheticData } from './workloads.mjs';

const [workers, steps] = process.argv.slice(2).map(Number);
if (!(Number.isInteger(workers) && workers >= 1 && Number.isInteger(steps) && steps >= 1)) throw new RangeError('usage: soak.mjs WORKERS STEPS');
const layers = [784, 30, 10];
const batch = 64;
const spec = { layers, activation: 'sigmoid', loss: 'quadratic', dtype: 'float32' };
const model = Model.init(spec, 1);
const optimizer = { kind: 'sgd', lr: 1 };
const plan = { options: {}, spec, model, train: syntheticData(layers), batchSize: batch, totalSteps: steps, batchesPerEpoch: Math.ceil(SAMPLES / batch), optimizer, seed: 0, samplerSeed: 3, outPath: '' };
const log = createLogger('warn');
const server = await CoordinatorServer.listen({ host: '127.0.0.1', port: 0, expect: workers, plan, log });
const children = new LocalWorkers(log);
const joined = server.waitForWorkers();
children.start(workers, server.url, undefined, (message) => server.abortWait(new Error(message)));
await joined;

/** Resident memory of a process in MiB (Linux). */
function rssMiB(pid) {
  try {
    const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith('VmRSS:'));
    return Number(line.split(/\s+/)[1]) / 1024;
  } catch {
    return NaN;
  }
}
const sampleMemory = () => ({ coordinator: rssMiB(process.pid), workers: children.pids.map(rssMiB) });

const opt = new Optimizer(optimizer, model.params.length, 'float32');
const sampler = new Sampler(SAMPLES, batch, 3);
const grad = new Float32Array(model.params.length);
const memory = [];
let accounted = 0;
let short = 0;
const t0 = performance.now();
for (let step = 1; step <= steps; step++) {
  const idx = sampler.next();
  const r = await server.gradient(step, idx, model, grad);
  opt.step(model.params, grad, r.count);
  if (r.count === idx.length) accounted++;
  else short++;
  if (step === 100 || step % 500 === 0 || step === steps) memory.push({ step, ...sampleMemory() });
}
const seconds = (performance.now() - t0) / 1000;
await server.close();
await children.stop();
const after100 = memory.find((m) => m.step === 100) ?? memory[0];
const last = memory[memory.length - 1];
const maxWorker = (m) => Math.max(...m.workers.filter(Number.isFinite));
console.log(JSON.stringify({
  workers, steps, batch, accounted, short, seconds: +seconds.toFixed(2), stepsPerSec: Math.round(steps / seconds),
  paramsFinite: model.params.every(Number.isFinite),
  coordinatorMiB: { atStep100: +after100.coordinator.toFixed(1), atEnd: +last.coordinator.toFixed(1), growth: +(last.coordinator - after100.coordinator).toFixed(1) },
  largestWorkerMiB: { atStep100: +maxWorker(after100).toFixed(1), atEnd: +maxWorker(last).toFixed(1), growth: +(maxWorker(last) - maxWorker(after100)).toFixed(1) },
  memory: memory.map((m) => ({ step: m.step, coordinator: +m.coordinator.toFixed(1), maxWorker: +maxWorker(m).toFixed(1) })),
}));
