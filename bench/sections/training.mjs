// Section "training": samples/s of a full SGD step (forward, backward, update), single
// thread, float32, shardprop (its default wasm kernels, and the portable js ones) next to
// TensorFlow.js (cpu and wasm backends) measured in this run, and PyTorch (measured if
// python3 has torch, else quoted from RESULTS.md).
import { fileURLToPath } from 'node:url';
import { runProbe, timingArgs } from '../measure.mjs';
import { num, ratio, table } from '../report.mjs';
import { PYTHON, TORCH_SCRIPT, torchUnavailable } from '../peers.mjs';
import { WORKLOADS } from '../workloads.mjs';

export const name = 'training';
export const rows = Object.keys(WORKLOADS);

const probe = (file) => fileURLToPath(new URL(`../${file}`, import.meta.url));
/** From ../shared/peers/RESULTS.md: PyTorch 1.13 (Debian) + OpenBLAS, 1 process, 1 thread. */
const TORCH_REFERENCE = { source: '../shared/peers/RESULTS.md', peer: 'PyTorch 1.13 + OpenBLAS, 1 process x 1 thread', samplesPerSec: { 'W-seed': 71932, 'W-large': 43662 } };

export async function run(selected, timing) {
  const t = timingArgs(timing);
  const torchSkipped = torchUnavailable();
  const results = {};
  for (const row of selected) {
    const { key } = WORKLOADS[row];
    const r = {
      ours: runProbe(process.execPath, [probe('ours.mjs'), key, 'wasm', ...t]),
      'ours-js': runProbe(process.execPath, [probe('ours.mjs'), key, 'js', ...t]),
      'tfjs-cpu': runProbe(process.execPath, [probe('tfjs.mjs'), 'cpu', key, ...t]),
      'tfjs-wasm': runProbe(process.execPath, [probe('tfjs.mjs'), 'wasm', key, ...t]),
      // bench.py warms up for 1.5 s by itself and splits its seconds into 3 windows.
      torch: torchSkipped ? { skipped: torchSkipped } : runProbe(PYTHON, [TORCH_SCRIPT, 'single', key, String((3 * timing.windowMs) / 1000)]),
    };
    const ours = r.ours.samplesPerSec;
    const over = (peer) => (ours && peer ? +(ours / peer).toFixed(3) : null);
    r.ratios = { 'ours/tfjs-cpu': over(r['tfjs-cpu'].samplesPerSec), 'ours/tfjs-wasm': over(r['tfjs-wasm'].samplesPerSec) };
    if (r.torch.samplesPerSec) r.ratios['ours/torch'] = over(r.torch.samplesPerSec);
    r.ratios['ours/torch (RESULTS.md)'] = over(TORCH_REFERENCE.samplesPerSec[row]);
    results[row] = r;
  }

  console.log('\nTraining throughput, samples/s (single thread, float32, median of 3 windows); ours = wasm kernels\n');
  console.log(table(
    ['workload', 'ours', 'ours (js)', 'tfjs-cpu', 'tfjs-wasm', 'ours/cpu', 'ours/wasm', 'ours/ours (js)'],
    selected.map((row) => {
      const r = results[row];
      return [row, num(r.ours.samplesPerSec), num(r['ours-js'].samplesPerSec), num(r['tfjs-cpu'].samplesPerSec), num(r['tfjs-wasm'].samplesPerSec), ratio(r.ours.samplesPerSec, r['tfjs-cpu'].samplesPerSec), ratio(r.ours.samplesPerSec, r['tfjs-wasm'].samplesPerSec), ratio(r.ours.samplesPerSec, r['ours-js'].samplesPerSec)];
    }),
  ));
  for (const row of selected) {
    for (const [who, p] of Object.entries(results[row])) if (p.error) console.log(`  ${row} ${who} failed: ${p.error}`);
  }

  console.log(`\n${TORCH_REFERENCE.peer}, from ${TORCH_REFERENCE.source} (not measured in this run):\n`);
  console.log(table(
    ['workload', 'PyTorch', 'ours/PyTorch'],
    selected.map((row) => [row, num(TORCH_REFERENCE.samplesPerSec[row]), ratio(results[row].ours.samplesPerSec, TORCH_REFERENCE.samplesPerSec[row])]),
  ));
  if (torchSkipped) {
    console.log(`\nPyTorch measured in this run: skipped, ${torchSkipped}.`);
  } else {
    console.log(`\nPyTorch ${results[selected[0]].torch.version ?? ''} measured in this run (../shared/peers/torch/bench.py single):\n`);
    console.log(table(
      ['workload', 'PyTorch', 'ours/PyTorch'],
      selected.map((row) => [row, num(results[row].torch.samplesPerSec), ratio(results[row].ours.samplesPerSec, results[row].torch.samplesPerSec)]),
    ));
  }
  return { rows: results, torchReference: TORCH_REFERENCE };
}
