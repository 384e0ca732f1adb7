// Probe: the js kernel's gemmNT alone, C[m,n] = A[m,k] · B[n,k]ᵀ in float32 (the forward
// product Z = A · Wᵀ of W-large's first layer). GFLOP/s = 2·m·n·k per call.
// Usage: node bench/ours-gemm.mjs m k n [warmMs windowMs]    prints one JSON line
import { Rng, jsKernels } from '../packages/core/dist/index.js';
import { measureRate, probeTiming } from './measure.mjs';

const [m, k, n] = process.argv.slice(2, 5).map(Number);
if (![m, k, n].every((d) => Number.isInteger(d) && d > 0)) throw new RangeError(`expected the sizes m k n, got ${process.argv.slice(2, 5).join(' ')}`);
const rng = new Rng(4);
const A = new Float32Array(m * k).map(() => rng.uniform());
const B = new Float32Array(n * k).map(() => rng.uniform());
const C = new Float32Array(m * n);

const { median, windows } = measureRate(() => (jsKernels.gemmNT(m, n, k, A, B, C, false), 1), probeTiming(process.argv.slice(5)));
const flops = 2 * m * n * k;
console.log(JSON.stringify({ kernel: `${jsKernels.name}.gemmNT`, m, k, n, dtype: 'float32', msPerCall: +(1000 / median).toFixed(3), gflops: +((median * flops) / 1e9).toFixed(2), windowsGflops: windows.map((r) => +((r * flops) / 1e9).toFixed(2)) }));
