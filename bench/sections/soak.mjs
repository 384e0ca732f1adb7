// Section "soak": 16 workers on loopback, 2,000 steps of a small model ([784,30,10], batch 64):
// no hang, every step accounted for, and memory that stops growing. The stated bound: the
// coordinator's resident memory grows by less than 16 MiB between step 100 and the end, and
// no worker's by more than 32 MiB (a worker's heap settles within the first few hundred steps).
import { fileURLToPath } from 'node:url';
import { runProbe } from '../measure.mjs';
import { num, table } from '../report.mjs';

export const name = 'soak';
export const rows = ['16 workers x 2000 steps'];

const BOUND = { coordinatorMiB: 16, workerMiB: 32 };

export async function run(selected, timing) {
  const steps = timing.windowMs < 1000 ? 300 : 2000; // --quick: a shorter soak
  const r = runProbe(process.execPath, [fileURLToPath(new URL('../soak.mjs', import.meta.url)), '16', String(steps)], 600_000);
  console.log(`\nSoak: 16 local workers, ${steps} steps of [784,30,10], batch 64, float32\n`);
  if (r.error) {
    console.log(`  failed: ${r.error}`);
    return { [selected[0]]: r };
  }
  console.log(table(
    ['step', 'coordinator MiB', 'largest worker MiB'],
    r.memory.map((m) => [String(m.step), num(m.coordinator), num(m.maxWorker)]),
  ));
  const ok = r.accounted === steps && r.short === 0 && r.paramsFinite && r.coordinatorMiB.growth < BOUND.coordinatorMiB && r.largestWorkerMiB.growth < BOUND.workerMiB;
  console.log(`  ${r.accounted}/${steps} steps with every sample accounted for, ${r.seconds} s (${r.stepsPerSec} steps/s)`);
  console.log(`  growth from step 100 to the end: coordinator ${r.coordinatorMiB.growth} MiB (bound ${BOUND.coordinatorMiB}), largest worker ${r.largestWorkerMiB.growth} MiB (bound ${BOUND.workerMiB}): ${ok ? 'within bounds' : 'OUT OF BOUNDS'}`);
  return { [selected[0]]: { ...r, bound: BOUND, withinBounds: ok } };
}
