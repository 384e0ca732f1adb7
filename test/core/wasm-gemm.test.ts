import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { WasmGemm, jsKernels } from '@shardprop/core';

/**
 * The WebAssembly SIMD products (float32) against the portable kernels on random
 * shapes, the awkward ones included: sizes that are not multiples of 4, one row,
 * one column, k of 1 to 3 (no SIMD step at all), and accumulation.
 */
let gemm: WasmGemm;
beforeAll(async () => {
  gemm = await WasmGemm.create(3 * 70 * 70 + 64);
});

describe('WasmGemm (f32x4) against jsKernels', () => {
  it('gemmNT, gemmNN and gemmTN agree to float32 precision on random shapes, overwriting or accumulating', async () => {
    fc.assert(
      fc.property(fc.constantFrom('gemmNT', 'gemmNN', 'gemmTN') as fc.Arbitrary<'gemmNT' | 'gemmNN' | 'gemmTN'>, fc.integer({ min: 1, max: 37 }), fc.integer({ min: 1, max: 37 }), fc.integer({ min: 1, max: 70 }), fc.boolean(), fc.integer({ min: 0, max: 1e6 }), (op, m, n, k, accumulate, seed) => {
        const g = viewsFor(m, n, k);
        let x = seed;
        const rand = () => ((x = (x * 1103515245 + 12345) % 2147483648) / 2147483648) * 2 - 1;
        for (const v of [g.A, g.B, g.C]) for (let i = 0; i < v.length; i++) v[i] = rand();
        const want = Float32Array.from(g.C);
        jsKernels[op](m, n, k, g.A, g.B, want, accumulate);
        gemm[op](m, n, k, g.A, g.B, g.C, accumulate);
        for (let i = 0; i < m * n; i++) expect(Math.abs(g.C[i] - want[i])).toBeLessThanOrEqual(1e-5 * (k + 1));
      }),
      { numRuns: 600 },
    );
  });

  it('refuses matrices outside its memory or too short', () => {
    const { A, B } = viewsFor(2, 2, 2);
    expect(() => gemm.gemmNT(2, 2, 2, A, B, new Float32Array(4), false)).toThrow(/not in this module's memory/);
    expect(() => gemm.gemmNT(3, 2, 2, A, B, A, false)).toThrow(/needs 6/);
  });
});

// the module's memory is sized once: every case uses the front of the same three blocks
let slab: { A: Float32Array; B: Float32Array; C: Float32Array } | null = null;
function viewsFor(m: number, n: number, k: number): { A: Float32Array; B: Float32Array; C: Float32Array } {
  slab ??= { A: gemm.alloc(70 * 70), B: gemm.alloc(70 * 70), C: gemm.alloc(70 * 70) };
  // A is m×k or k×m, B n×k or k×n: the same number of values either way
  return { A: slab.A.subarray(0, m * k), B: slab.B.subarray(0, n * k), C: slab.C.subarray(0, m * n) };
}
