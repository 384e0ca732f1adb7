// Probe: one of our gemmNT kernels alone, C[m,n] = A[m,k] · B[n,k]ᵀ in float32 (the forward
// product Z = A · Wᵀ of W-large's first layer). GFLOP/s = 2·m·n·k per call.
// Usage: node bench/ours-gemm.mjs js|wasm m k n [warmMs windowMs]    prints one JSON line
// js: the portable kernel (jsKernels); wasm: the WebAssembly SIMD128 kernel (WasmKernels), its
// matrices in the module's memory.
import { Rng, createKernels, resolveKernel } from '../packages/core/dist/index.js';
import { measureRate, probeTiming } from './measure.mjs';

const [kernel, ...rest] = process.argv.slice(2);
const [m, k, n] = rest.slice(0, 3).map(Number);
if (kernel !== 'js' && kernel !== 'wasm') throw new RangeError(`expected the kernel js or wasm, got ${kernel}`);
if (![m, k, n].every((d) => Number.isInteger(d) && d > 0)) throw new RangeError(`expected the sizes m k n, got ${rest.slice(0, 3).join(' ')}`);
const kernels = createKernels(await resolveKernel(kernel));
const matrix = (length) => kernels.alloc('float32', length);
const rng = new Rng(4);
const A = matrix(m * k);
const B = matrix(n * k);
const C = matrix(m * n);
for (const v of [A, B]) for (let i = 0; i < v.length; i++) v[i] = rng.uniform();
const gemmNT = (...args) => kernels.gemmNT(...args);

const { median, windows } = measureRate(() => (gemmNT(m, n, k, A, B, C, false), 1), probeTiming(rest.slice(3)));
const flops = 2 * m * n * k;
console.log(JSON.stringify({ kernel: `${kernel}.gemmNT`, m, k, n, dtype: 'float32', msPerCall: +(1000 / median).toFixed(3), gflops: +((median * flops) / 1e9).toFixed(2), windowsGflops: windows.map((r) => +((r * flops) / 1e9).toFixed(2)) }));
