// Probe: a soak run. A coordinator (this process) and WORKERS local worker processes train
// STEPS steps of a small model ([784,30,10], batch 64, synthetic data) on loopback.
// Checks that every step completes with every sample of its batch accounted for, and samples
// the memory (RSS) of the coordinator and of every worker as it goes.
// Usage: node bench/soak.mjs WORKERS STEPS        prints one JSON line
import { readFileSync } from 'node:fs';
import { startCluster } from './cluster.mjs';
import { allFinite } from '../packages/core/dist/index.js';

const [workers, steps] = process.argv.slice(2).map(Number);
if (!(Number.isInteger(steps) && steps >= 1)) throw new RangeError('usage: soak.mjs WORKERS STEPS');
const batch = 64;
const cluster = await startCluster({ layers: [784, 30, 10], batch, lr: 1, workers });
const { children, model } = cluster;

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

const memory = [];
let accounted = 0;
let short = 0;
const t0 = performance.now();
for (let step = 1; step <= steps; step++) {
  const { count, drawn } = await cluster.step();
  if (count === drawn) accounted++;
  else short++;
  if (step === 100 || step % 500 === 0 || step === steps) memory.push({ step, ...sampleMemory() });
}
const seconds = (performance.now() - t0) / 1000;
await cluster.close();
const after100 = memory.find((m) => m.step === 100) ?? memory[0];
const last = memory[memory.length - 1];
const maxWorker = (m) => Math.max(...m.workers.filter(Number.isFinite));
console.log(JSON.stringify({
  workers, steps, batch, accounted, short, seconds: +seconds.toFixed(2), stepsPerSec: Math.round(steps / seconds),
  paramsFinite: allFinite(model.params),
  coordinatorMiB: { atStep100: +after100.coordinator.toFixed(1), atEnd: +last.coordinator.toFixed(1), growth: +(last.coordinator - after100.coordinator).toFixed(1) },
  largestWorkerMiB: { atStep100: +maxWorker(after100).toFixed(1), atEnd: +maxWorker(last).toFixed(1), growth: +(maxWorker(last) - maxWorker(after100)).toFixed(1) },
  memory: memory.map((m) => ({ step: m.step, coordinator: +m.coordinator.toFixed(1), maxWorker: +maxWorker(m).toFixed(1) })),
}));
