// Section "blocks": what the canonical block size K costs (core's blocks.ts). A batch of B
// positions is ceil(B / K) backprop passes of K rows, added in one tree, and the blocks are
// dealt to the workers: smaller K deals more evenly, larger K runs larger matrix products.
// For each workload, samples/s in process and with 2 local workers at every K of BLOCKS, in
// alternating rounds (every K once, then again) so a drifting machine weighs on all alike.
import { fileURLToPath } from 'node:url';
import { NODE_FLAGS } from '../../packages/coordinator/dist/index.js';
import { DEFAULT_BLOCK } from '../../packages/core/dist/index.js';
import { runProbe, timingArgs } from '../measure.mjs';
import { num, ratio, table } from '../report.mjs';
import { WORKLOADS } from '../workloads.mjs';

export const name = 'blocks';
export const rows = Object.keys(WORKLOADS);

const file = (f) => fileURLToPath(new URL(`../${f}`, import.meta.url));
/** The block sizes compared. */
const BLOCKS = [8, 16, 32, 64, 128, 256];
const ROUNDS = 2;

/** The median of every window of every round (each probe reports its 3 windows). */
function pooledMedian(runs) {
  const all = runs.flatMap((r) => r.windows ?? []).sort((a, b) => a - b);
  if (all.length === 0) return undefined;
  const mid = all.length / 2;
  return Math.round(all.length % 2 ? all[Math.floor(mid)] : (all[mid - 1] + all[mid]) / 2);
}

/** The Ks of BLOCKS that cut a batch differently: every K >= batch is one block, the same run, so only the first is kept. */
const blocksFor = (batch) => BLOCKS.filter((K, i) => i === 0 || BLOCKS[i - 1] < batch);

function measureRow(row, timing) {
  const { key, batch } = WORKLOADS[row];
  const t = timingArgs(timing);
  const Ks = blocksFor(batch);
  const runs = Object.fromEntries(Ks.map((K) => [K, { inProcess: [], twoWorkers: [] }]));
  for (let round = 0; round < ROUNDS; round++) {
    for (const K of Ks) {
      runs[K].inProcess.push(runProbe(process.execPath, [file('ours.mjs'), key, 'wasm', '--block', String(K), ...t]));
      runs[K].twoWorkers.push(runProbe(process.execPath, [...NODE_FLAGS, file('distributed.mjs'), key, '2', String(batch), 'auto', '--block', String(K), ...t]));
    }
  }
  return Object.fromEntries(Ks.map((K) => {
    const r = runs[K];
    return [K, {
      blocks: Math.ceil(batch / K),
      inProcess: pooledMedian(r.inProcess), twoWorkers: pooledMedian(r.twoWorkers), gradientForm: r.twoWorkers[0].gradientForm,
      rounds: { inProcess: r.inProcess.map((p) => p.samplesPerSec ?? p.error), twoWorkers: r.twoWorkers.map((p) => p.samplesPerSec ?? p.error) },
    }];
  }));
}

export async function run(selected, timing) {
  const results = {};
  for (const row of selected) results[row] = measureRow(row, timing);
  for (const row of selected) {
    const r = results[row];
    const Ks = blocksFor(WORKLOADS[row].batch);
    const best = { in: Math.max(...Ks.map((K) => r[K].inProcess ?? 0)), two: Math.max(...Ks.map((K) => r[K].twoWorkers ?? 0)) };
    console.log(`\nBlock size K, ${row} (batch ${WORKLOADS[row].batch}), samples/s, median of ${ROUNDS} rounds' windows; default K = ${DEFAULT_BLOCK}\n`);
    console.log(table(
      ['K', 'blocks', 'in process', 'of best', '2 workers', 'of best', 'form'],
      Ks.map((K) => [String(K), String(r[K].blocks), num(r[K].inProcess), ratio(r[K].inProcess, best.in), num(r[K].twoWorkers), ratio(r[K].twoWorkers, best.two), r[K].gradientForm ?? '-']),
    ));
    if (Ks.length < BLOCKS.length) console.log(`  K >= ${WORKLOADS[row].batch} (the batch) is one block: the same run as K = ${Ks[Ks.length - 1]}`);
  }
  for (const row of selected) {
    for (const K of Object.keys(results[row])) {
      for (const [mode, rounds] of Object.entries(results[row][K].rounds)) if (rounds.some((x) => typeof x === 'string')) console.log(`  ${row} K=${K} ${mode} failed: ${rounds.find((x) => typeof x === 'string')}`);
    }
  }
  return { rows: results, blocks: BLOCKS, rounds: ROUNDS, defaultBlock: DEFAULT_BLOCK };
}
