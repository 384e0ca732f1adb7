// Section "gemm": the matrix product alone, so training figures can be read against
// the kernel's ceiling, for the portable kernel and the WebAssembly SIMD one. Shape: W-large's
// first layer, Z[256,512] = A[256,784] · W[512,784]ᵀ.
import { fileURLToPath } from 'node:url';
import { runProbe, timingArgs } from '../measure.mjs';
import { num, ratio, table } from '../report.mjs';

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

export async function run(selected, timing) {
  const probe = fileURLToPath(new URL('../ours-gemm.mjs', import.meta.url));
  const results = {};
  for (const row of selected) {
    results[row] = {};
    for (const kernel of ['js', 'wasm']) results[row][kernel] = runProbe(process.execPath, [probe, kernel, ...SHAPES[row].map(String), ...timingArgs(timing)]);
  }

  console.log('\nGEMM alone, C = A · Bᵀ, float32, single thread\n');
  console.log(table(
    ['kernel', 'm x k x n', 'ms/call', 'GFLOP/s', 'vs js'],
    selected.flatMap((row) =>
      ['js', 'wasm'].map((kernel) => {
        const r = results[row][kernel];
        return [r.kernel ?? kernel, SHAPES[row].join(' x '), num(r.msPerCall), num(r.gflops), ratio(r.gflops, results[row].js.gflops)];
      }),
    ),
  ));
  for (const row of selected) for (const [kernel, r] of Object.entries(results[row])) if (r.error) console.log(`  ${row} ${kernel} failed: ${r.error}`);
  console.log('\nSame shape, from ../shared/peers/RESULTS.md (not measured in this run):\n');
  console.log(table(['kernel', 'GFLOP/s'], REFERENCE.map(([k, g]) => [k, num(g)])));
  return { rows: results, reference: { source: '../shared/peers/RESULTS.md', gflops: Object.fromEntries(REFERENCE) } };
}
