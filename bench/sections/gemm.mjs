// Section "gemm": the matrix product alone, so training figures can be read against
// the kernel's ceiling, for the portable kernel and the WebAssembly SIMD one, next to the
// machine's SIMD128 limit and OpenBLAS measured in the same run. Shape: W-large's first
// layer, Z[256,512] = A[256,784] · W[512,784]ᵀ.
import { fileURLToPath } from 'node:url';
import { runProbe, timingArgs } from '../measure.mjs';
import { num, ratio, table } from '../report.mjs';
import { PYTHON } from '../peers.mjs';

export const name = 'gemm';
const SHAPES = { 'gemmNT-256x784x512-f32': [256, 784, 512] }; // m, k, n
export const rows = Object.keys(SHAPES);

/** From ../shared/peers/RESULTS.md, same shape, fp32, 1 thread (not measured in this run). */
const REFERENCE = [
  ['OpenBLAS (PyTorch/numpy)', 149],
  ['C, plain 4-row kernel, gcc -O3 -march=native', 32],
  ['WebAssembly SIMD128, plain 4-row f32x4 kernel', 21.9],
  ['pure JS, 4-row register blocking', 1.9],
  ['pure JS, naive i-k-j', 1.0],
];

const probe = (file) => fileURLToPath(new URL(`../${file}`, import.meta.url));

export async function run(selected, timing) {
  const t = timingArgs(timing);
  const results = {};
  // the ceiling of any wasm kernel here: SIMD128 multiply and add from registers, no loads
  const peak = runProbe(process.execPath, [probe('simd-peak.mjs'), ...t]);
  for (const row of selected) {
    const shape = SHAPES[row].map(String);
    results[row] = {};
    for (const kernel of ['js', 'wasm']) results[row][kernel] = runProbe(process.execPath, [probe('ours-gemm.mjs'), kernel, ...shape, ...t]);
    results[row].openblas = runProbe(PYTHON, [probe('blas-gemm.py'), ...shape, ...t], undefined, { ...process.env, OPENBLAS_NUM_THREADS: '1' });
  }

  console.log('\nGEMM alone, C = A · Bᵀ, float32, single thread\n');
  console.log(table(
    ['kernel', 'm x k x n', 'ms/call', 'GFLOP/s', 'vs js', 'share of SIMD128 limit', 'vs OpenBLAS'],
    selected.flatMap((row) => {
      const blas = results[row].openblas.gflops;
      return ['js', 'wasm', 'openblas'].map((kernel) => {
        const r = results[row][kernel];
        return [r.kernel ?? kernel, SHAPES[row].join(' x '), num(r.msPerCall), num(r.gflops), ratio(r.gflops, results[row].js.gflops), kernel === 'openblas' ? '' : ratio(r.gflops, peak.gflops), ratio(r.gflops, blas)];
      });
    }),
  ));
  console.log(`\nSIMD128 limit here (f32x4 mul + add from registers, no loads): ${num(peak.gflops)} GFLOP/s${peak.error ? ` (failed: ${peak.error})` : ''}`);
  for (const row of selected) {
    for (const [kernel, r] of Object.entries(results[row])) {
      if (r.error) console.log(`  ${row} ${kernel} failed: ${r.error}`);
      if (r.skipped) console.log(`  ${row} ${kernel}: skipped, ${r.skipped}`);
    }
  }
  console.log('\nSame shape, from ../shared/peers/RESULTS.md (not measured in this run):\n');
  console.log(table(['kernel', 'GFLOP/s'], REFERENCE.map(([k, g]) => [k, num(g)])));
  return { rows: results, simd128Limit: peak, reference: { source: '../shared/peers/RESULTS.md', gflops: Object.fromEntries(REFERENCE) } };
}
