// Section "training": samples/s of a full SGD step (forward, backward, update), float32,
// shardprop (its default wasm kernels on 1 thread and on every core, and the portable js
// ones) next to TensorFlow.js (cpu and wasm backends, one thread) measured in this run, and
// PyTorch measured in this run where python3 has torch (pinned to 1 thread, and with its
// default threads), else quoted from RESULTS.md.
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { runProbe, timingArgs } from '../measure.mjs';
import { num, ratio, table } from '../report.mjs';
import { PYTHON, torchUnavailable } from '../peers.mjs';
import { WORKLOADS } from '../workloads.mjs';

export const name = 'training';
export const rows = Object.keys(WORKLOADS);

const probe = (file) => fileURLToPath(new URL(`../${file}`, import.meta.url));
/** From ../shared/peers/RESULTS.md: PyTorch 1.13 (Debian) + OpenBLAS, 1 process, 1 thread. */
const TORCH_REFERENCE = { source: '../shared/peers/RESULTS.md', peer: 'PyTorch 1.13 + OpenBLAS, 1 process x 1 thread', samplesPerSec: { 'W-seed': 71932, 'W-large': 43662 } };

/** The cores here: the threads of `shardprop train` in process by default. */
const N = availableParallelism();
/** The peers' PyTorch probe: pins OpenBLAS to BENCH_THREADS and OpenMP to 1 before torch loads, and reports the pools threadpoolctl sees. */
const TORCH_BENCH = fileURLToPath(new URL('../../../shared/peers/torch/torch_bench.py', import.meta.url));

/**
 * Single-process PyTorch on a workload: `pinned` = 1 thread (OpenBLAS and OpenMP pinned to 1
 * before torch loads, checked with threadpoolctl), else its default threads (torch as
 * installed, nothing pinned: bench/torch-unpinned.py; on Debian's torch that is OpenMP 1 and
 * OpenBLAS on every core, which the pools in the result show). 3 windows of the run's length.
 */
function torchSingle(key, timing, pinned) {
  const args = ['single', key, String(timing.windowMs / 1000), '3'];
  const r = pinned
    ? runProbe(PYTHON, [TORCH_BENCH, ...args], 180_000, { ...process.env, BENCH_THREADS: '1' })
    : runProbe(PYTHON, [probe('torch-unpinned.py'), ...args]);
  return r.error ? r : { version: r.torch, samplesPerSec: r.samples_per_s, windows: r.windows, pools: r.pools, gflops: r.gflops };
}

const poolsShown = (pools) => (Array.isArray(pools) ? pools.map(([api, threads]) => `${api} ${threads}`).join(', ') : '?');

export async function run(selected, timing) {
  const t = timingArgs(timing);
  const torchSkipped = torchUnavailable();
  const results = {};
  for (const row of selected) {
    const { key } = WORKLOADS[row];
    const r = {
      ours: runProbe(process.execPath, [probe('ours.mjs'), key, 'wasm', ...t]),
      oursThreads: runProbe(process.execPath, [probe('ours.mjs'), key, 'wasm', '--threads', String(N), ...t]),
      'ours-js': runProbe(process.execPath, [probe('ours.mjs'), key, 'js', ...t]),
      'tfjs-cpu': runProbe(process.execPath, [probe('tfjs.mjs'), 'cpu', key, ...t]),
      'tfjs-wasm': runProbe(process.execPath, [probe('tfjs.mjs'), 'wasm', key, ...t]),
      torch1: torchSkipped ? { skipped: torchSkipped } : torchSingle(key, timing, true),
      torchDefault: torchSkipped ? { skipped: torchSkipped } : torchSingle(key, timing, false),
    };
    const ours = r.ours.samplesPerSec;
    const over = (peer, mine = ours) => (mine && peer ? +(mine / peer).toFixed(3) : null);
    r.ratios = { 'ours/tfjs-cpu': over(r['tfjs-cpu'].samplesPerSec), 'ours/tfjs-wasm': over(r['tfjs-wasm'].samplesPerSec), 'ours N threads/ours 1 thread': over(ours, r.oursThreads.samplesPerSec) };
    if (r.torch1.samplesPerSec) r.ratios['ours 1 thread/torch 1 thread'] = over(r.torch1.samplesPerSec);
    if (r.torchDefault.samplesPerSec) r.ratios['ours N threads/torch default threads'] = over(r.torchDefault.samplesPerSec, r.oursThreads.samplesPerSec);
    r.ratios['ours/torch (RESULTS.md)'] = over(TORCH_REFERENCE.samplesPerSec[row]);
    results[row] = r;
  }

  console.log(`\nTraining throughput, samples/s (float32, median of 3 windows); ours = wasm kernels, on 1 thread and on ${N}; the rest on 1 thread\n`);
  console.log(table(
    ['workload', 'ours', `ours (${N} threads)`, 'ours (js)', 'tfjs-cpu', 'tfjs-wasm', `${N} threads/1`, 'ours/cpu', 'ours/wasm', 'ours/ours (js)'],
    selected.map((row) => {
      const r = results[row];
      return [row, num(r.ours.samplesPerSec), num(r.oursThreads.samplesPerSec), num(r['ours-js'].samplesPerSec), num(r['tfjs-cpu'].samplesPerSec), num(r['tfjs-wasm'].samplesPerSec), ratio(r.oursThreads.samplesPerSec, r.ours.samplesPerSec), ratio(r.ours.samplesPerSec, r['tfjs-cpu'].samplesPerSec), ratio(r.ours.samplesPerSec, r['tfjs-wasm'].samplesPerSec), ratio(r.ours.samplesPerSec, r['ours-js'].samplesPerSec)];
    }),
  ));
  for (const row of selected) {
    for (const [who, p] of Object.entries(results[row])) if (p.error) console.log(`  ${row} ${who} failed: ${p.error}`);
  }

  if (torchSkipped) {
    console.log(`\nPyTorch measured in this run: skipped, ${torchSkipped}.`);
    console.log(`\n${TORCH_REFERENCE.peer}, from ${TORCH_REFERENCE.source} (not measured in this run):\n`);
    console.log(table(
      ['workload', 'PyTorch', 'ours/PyTorch'],
      selected.map((row) => [row, num(TORCH_REFERENCE.samplesPerSec[row]), ratio(results[row].ours.samplesPerSec, TORCH_REFERENCE.samplesPerSec[row])]),
    ));
  } else {
    const version = results[selected[0]].torch1.version ?? '';
    console.log(`\nPyTorch ${version}, one process, measured in this run (../shared/peers/torch/torch_bench.py single); threads as threadpoolctl saw them:\n`);
    console.log(table(
      ['workload', 'PyTorch', 'its threads', 'samples/s', 'ours 1 thread / it', `ours ${N} threads / it`],
      selected.flatMap((row) => {
        const r = results[row];
        return [
          [row, '1 thread (pinned)', poolsShown(r.torch1.pools), num(r.torch1.samplesPerSec), ratio(r.ours.samplesPerSec, r.torch1.samplesPerSec), ratio(r.oursThreads.samplesPerSec, r.torch1.samplesPerSec)],
          [row, 'default threads (as installed)', poolsShown(r.torchDefault.pools), num(r.torchDefault.samplesPerSec), ratio(r.ours.samplesPerSec, r.torchDefault.samplesPerSec), ratio(r.oursThreads.samplesPerSec, r.torchDefault.samplesPerSec)],
        ];
      }),
    ));
    console.log('  1 thread: OPENBLAS_NUM_THREADS=1 and OMP_NUM_THREADS=1 before torch loads (torch.set_num_threads does not reach');
    console.log('  Debian\'s OpenBLAS). Default: nothing pinned; Debian\'s torch runs OpenMP on 1 thread and OpenBLAS on every core.');
    console.log(`  Targets (issue 17): W-large ours ${N} threads >= 0.45x PyTorch default threads; W-seed >= 2x it.`);
  }
  return { rows: results, torchReference: TORCH_REFERENCE };
}
