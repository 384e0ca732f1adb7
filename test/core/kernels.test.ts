import { beforeAll, describe, expect, it } from 'vitest';
import { Rng, jsKernels, type Floats, type Kernels } from '@shardprop/core';
import { KERNEL_NAMES, kernelsNamed } from '../helpers/kernels.js';

/**
 * Each kernel against a naive triple loop, on awkward shapes: 1, 2,
 * 3, 5, 7 (the 4×2 / 2×4 register blocks leave remainders), 255, 257 and 300
 * (gemmNT blocks k by 256, so k > 256 takes two panels). Buffers are longer than
 * the matrices, as backprop's chunk-sized scratch is: a NaN tail in A and B must
 * never be read, and C's tail must never be written.
 *
 * Every test runs for both implementations: the portable kernels, and the
 * WebAssembly SIMD ones on arrays in their own memory (where training keeps
 * them; the k = 0 and integer cases use plain arrays, their staging path).
 */
let K: Kernels = jsKernels;

type Dtype = 'float32' | 'float64';
const DTYPES: Dtype[] = ['float32', 'float64'];
const TAIL = 3;

function randomMatrix(rng: Rng, dtype: Dtype, length: number): Floats {
  const a = K.alloc(dtype, length + TAIL);
  for (let i = 0; i < length; i++) a[i] = rng.uniform() * 2 - 1;
  a.fill(Number.NaN, length);
  return a;
}

type Product = 'NT' | 'NN' | 'TN';
/** Index of a(i,p) in A and b(p,j) in B for C[i,j] = Σ_p a(i,p) b(p,j). */
const layouts: Record<Product, { a: (i: number, p: number, m: number, k: number) => number; b: (p: number, j: number, n: number, k: number) => number }> = {
  NT: { a: (i, p, _m, k) => i * k + p, b: (p, j, _n, k) => j * k + p }, // A[m,k], B[n,k]
  NN: { a: (i, p, _m, k) => i * k + p, b: (p, j, n) => p * n + j }, // A[m,k], B[k,n]
  TN: { a: (i, p, m) => p * m + i, b: (p, j, n) => p * n + j }, // A[k,m], B[k,n]
};

/** The product in float64, and Σ_p |a b| per entry (the scale of its rounding error). */
function reference(product: Product, m: number, n: number, k: number, A: Floats, B: Floats): { C: Float64Array; abs: Float64Array } {
  const C = new Float64Array(m * n);
  const abs = new Float64Array(m * n);
  const { a, b } = layouts[product];
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0;
      let t = 0;
      for (let p = 0; p < k; p++) {
        const v = A[a(i, p, m, k)] * B[b(p, j, n, k)];
        s += v;
        t += Math.abs(v);
      }
      C[i * n + j] = s;
      abs[i * n + j] = t;
    }
  }
  return { C, abs };
}

function checkGemm(product: Product, dtype: Dtype, m: number, n: number, k: number, accumulate: boolean, rng: Rng): void {
  const A = randomMatrix(rng, dtype, m * k);
  const B = randomMatrix(rng, dtype, k * n);
  const C = randomMatrix(rng, dtype, m * n);
  const C0 = Float64Array.from(C.subarray(0, m * n));
  if (!accumulate) C.fill(Number.NaN, 0, m * n); // overwrite mode must not read C
  C.fill(7, m * n); // the tail must stay as it is
  K[`gemm${product}`](m, n, k, A, B, C, accumulate);
  const ref = reference(product, m, n, k, A, B);
  // Summation order differs from the naive loop: at most k + 2 roundings in float64. In
  // float32 the kernels sum in doubles but round on every store into C (once per
  // k-panel in gemmNT, once per 4 terms in gemmNN/TN).
  const eps = dtype === 'float64' ? (k + 2) * 2 ** -53 : (k + 4) * 2 ** -24;
  for (let e = 0; e < m * n; e++) {
    const want = ref.C[e] + (accumulate ? C0[e] : 0);
    const bound = eps * (ref.abs[e] + (accumulate ? Math.abs(C0[e]) : 0)) + 1e-300;
    const err = Math.abs(C[e] - want);
    if (!(err <= bound)) {
      expect.fail(`gemm${product} ${dtype} m=${m} n=${n} k=${k} accumulate=${accumulate}: C[${Math.floor(e / n)},${e % n}] = ${C[e]}, expected ${want} (±${bound})`);
    }
  }
  for (let e = m * n; e < C.length; e++) expect(C[e]).toBe(7);
}

const SMALL = [1, 2, 3, 5, 7];
const LARGE: [number, number, number][] = [
  // [m, n, k]
  [5, 7, 257], [3, 2, 300], [7, 5, 255], [4, 3, 513], [9, 1, 256], [1, 9, 257],
  [257, 3, 5], [2, 300, 7], [300, 5, 3], [255, 2, 257], [5, 257, 300], [257, 255, 2], [33, 31, 300],
];

for (const name of KERNEL_NAMES) describe(`${name} kernels`, () => {
  beforeAll(async () => {
    K = await kernelsNamed(name);
  });

  describe.each(['NT', 'NN', 'TN'] as Product[])('gemm%s', (product) => {
    for (const dtype of DTYPES) {
      it(`${dtype}: every m, n, k in {1, 2, 3, 5, 7}, overwrite and accumulate`, () => {
        const rng = new Rng(product.charCodeAt(0) * 31 + product.charCodeAt(1) + (dtype === 'float32' ? 1000 : 0));
        for (const m of SMALL) for (const n of SMALL) for (const k of SMALL) for (const acc of [false, true]) checkGemm(product, dtype, m, n, k, acc, rng);
      });

      it(`${dtype}: shapes with 255, 257 and 300 (k across gemmNT's 256-wide panels)`, () => {
        const rng = new Rng(product.charCodeAt(1) + 77 + (dtype === 'float32' ? 1000 : 0));
        for (const [m, n, k] of LARGE) for (const acc of [false, true]) checkGemm(product, dtype, m, n, k, acc, rng);
      });
    }

    it('k = 0: overwrite gives zeros, accumulate leaves C as it was', () => {
      const C = Float64Array.from([1, 2, 3, 4, 5, 6, 9]);
      K[`gemm${product}`](2, 3, 0, new Float64Array(0), new Float64Array(0), C, true);
      expect(Array.from(C)).toEqual([1, 2, 3, 4, 5, 6, 9]);
      K[`gemm${product}`](2, 3, 0, new Float64Array(0), new Float64Array(0), C, false);
      expect(Array.from(C)).toEqual([0, 0, 0, 0, 0, 0, 9]);
    });

    it('multiplies small integer matrices exactly', () => {
      // A = [[1, 2, 3], [4, 5, 6]] (2×3), M = [[7, 8], [9, 10], [11, 12]] (3×2): A·M = [[58, 64], [139, 154]]
      const A = [1, 2, 3, 4, 5, 6];
      const M = [7, 8, 9, 10, 11, 12];
      const Mt = [7, 9, 11, 8, 10, 12]; // Mᵀ, 2×3
      const At = [1, 4, 2, 5, 3, 6]; // Aᵀ, 3×2
      const C = new Float64Array(4);
      if (product === 'NT') K.gemmNT(2, 2, 3, Float64Array.from(A), Float64Array.from(Mt), C, false);
      if (product === 'NN') K.gemmNN(2, 2, 3, Float64Array.from(A), Float64Array.from(M), C, false);
      if (product === 'TN') K.gemmTN(2, 2, 3, Float64Array.from(At), Float64Array.from(M), C, false);
      expect(Array.from(C)).toEqual([58, 64, 139, 154]);
    });
  });

  describe('addRowVector and sumRows', () => {
    const shapes: [number, number][] = [[1, 1], [1, 7], [7, 1], [3, 5], [255, 3], [2, 257], [300, 7]];

    for (const dtype of DTYPES) {
      it(`${dtype}: addRowVector adds v to every row of C and nothing past it`, () => {
        const rng = new Rng(dtype === 'float32' ? 1 : 2);
        for (const [m, n] of shapes) {
          const v = randomMatrix(rng, dtype, n);
          const C = randomMatrix(rng, dtype, m * n);
          C.fill(7, m * n);
          const before = C.slice();
          K.addRowVector(m, n, v, C);
          const round = dtype === 'float32' ? Math.fround : (x: number) => x;
          for (let r = 0; r < m; r++) for (let j = 0; j < n; j++) expect(C[r * n + j]).toBe(round(before[r * n + j] + v[j]));
          for (let e = m * n; e < C.length; e++) expect(C[e]).toBe(7);
        }
      });

      it(`${dtype}: sumRows gives column sums, overwriting or accumulating`, () => {
        const rng = new Rng(dtype === 'float32' ? 3 : 4);
        for (const [m, n] of shapes) {
          for (const accumulate of [false, true]) {
            const A = randomMatrix(rng, dtype, m * n);
            const out = randomMatrix(rng, dtype, n);
            const start = Float64Array.from(out.subarray(0, n));
            if (!accumulate) out.fill(Number.NaN, 0, n);
            out.fill(7, n);
            K.sumRows(m, n, A, out, accumulate);
            for (let j = 0; j < n; j++) {
              let s = accumulate ? start[j] : 0;
              let t = accumulate ? Math.abs(start[j]) : 0;
              for (let r = 0; r < m; r++) {
                s += A[r * n + j];
                t += Math.abs(A[r * n + j]);
              }
              // float32 rounds on every += into out: up to m roundings.
              const eps = dtype === 'float64' ? (m + 2) * 2 ** -53 : (m + 2) * 2 ** -24;
              expect(Math.abs(out[j] - s), `sumRows ${dtype} m=${m} n=${n} column ${j}`).toBeLessThanOrEqual(eps * t);
            }
            for (let e = n; e < out.length; e++) expect(out[e]).toBe(7);
          }
        }
      });
    }

    it('sumRows of integers is exact', () => {
      const out = Float64Array.from([100, 200, 300]);
      K.sumRows(2, 3, Float64Array.from([1, 2, 3, 4, 5, 6]), out, true);
      expect(Array.from(out)).toEqual([105, 207, 309]);
      K.sumRows(2, 3, Float64Array.from([1, 2, 3, 4, 5, 6]), out, false);
      expect(Array.from(out)).toEqual([5, 7, 9]);
    });
  });
});
