import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { ACTIVATIONS, Backprop, Model, WasmKernels, allFinite, jsKernels, prepareWasmKernels, type Dtype, type Floats } from '@shardprop/core';
import { PACK_ROWS } from '../../packages/core/src/kernels/wasm-text.js';

/**
 * What is particular to the WebAssembly kernels (test/core/kernels.test.ts and
 * backprop.test.ts run everything else with both implementations): arrays in
 * their memory and arrays elsewhere give the same bits; the memory grows without
 * losing an array handed out before; σ and σ' within a few units in the last
 * place of the portable ones, over the whole range of z; the finiteness check.
 */
let K: WasmKernels;
beforeAll(async () => {
  expect(await prepareWasmKernels()).toBe(true);
  K = WasmKernels.create();
});

function seeded(seed: number): () => number {
  let x = seed;
  return () => ((x = (x * 1103515245 + 12345) % 2147483648) / 2147483648) * 2 - 1;
}

function filled(dtype: Dtype, length: number, rand: () => number, where: 'wasm' | 'js'): Floats {
  const a = where === 'wasm' ? K.alloc(dtype, length) : dtype === 'float64' ? new Float64Array(length) : new Float32Array(length);
  for (let i = 0; i < length; i++) a[i] = rand();
  return a;
}

const OPS = ['gemmNT', 'gemmNN', 'gemmTN'] as const;

/** Arbitrary products: the kernel, the type, m (1..maxM), n (1..maxN), k, accumulate, a seed. */
function products(maxM: number, maxN: number, k: fc.Arbitrary<number>) {
  return [
    fc.constantFrom(...OPS), fc.constantFrom<Dtype>('float32', 'float64'),
    fc.integer({ min: 1, max: maxM }), fc.integer({ min: 1, max: maxN }), k,
    fc.boolean(), fc.integer({ min: 0, max: 1e6 }),
  ] as const;
}

/** A, B and C of a product, in the module's memory, filled from the seed. */
function operands(dtype: Dtype, m: number, n: number, k: number, seed: number): { A: Floats; B: Floats; C: Floats } {
  const rand = seeded(seed);
  return { A: filled(dtype, m * k, rand, 'wasm'), B: filled(dtype, n * k, rand, 'wasm'), C: filled(dtype, m * n, rand, 'wasm') };
}

/** The product of m rows, then each row of it computed alone (a 1 x k matrix): the same bits. */
function expectRowsAsAlone(op: (typeof OPS)[number], dtype: Dtype, m: number, n: number, k: number, accumulate: boolean, seed: number): void {
  const { A, B, C } = operands(dtype, m, n, k, seed);
  const start = C.slice();
  K[op](m, n, k, A, B, C, accumulate);
  const row = K.alloc(dtype, k);
  const alone = K.alloc(dtype, n);
  for (let i = 0; i < m; i++) {
    // row i of A (gemmTN's A is k x m: its column i)
    for (let p = 0; p < k; p++) row[p] = op === 'gemmTN' ? A[p * m + i] : A[i * k + p];
    alone.set(start.subarray(i * n, (i + 1) * n));
    K[op](1, n, k, row, B, alone, accumulate);
    expect(Array.from(alone), `${op} ${dtype} m=${m} n=${n} k=${k} row ${i}`).toEqual(Array.from(C.subarray(i * n, (i + 1) * n)));
  }
}

describe('WasmKernels', () => {
  it('gives the same bits for operands in its memory and elsewhere (staged), on random shapes', () => {
    fc.assert(
      fc.property(
        ...products(19, 37, fc.integer({ min: 0, max: 41 })),
        (op, dtype, m, n, k, accumulate, seed) => {
          const { A, B, C } = operands(dtype, m, n, k, seed);
          const [a, b, c] = [A, B, C].map((v) => v.slice()); // plain arrays
          const inputs = [a.slice(), b.slice()];
          K[op](m, n, k, A, B, C, accumulate);
          K[op](m, n, k, a, b, c, accumulate);
          expect(Array.from(c)).toEqual(Array.from(C));
          expect([Array.from(a), Array.from(b)]).toEqual(inputs.map((v) => Array.from(v)));
          // and the portable kernels agree to the precision of the type
          const start = filled(dtype, m * n, seeded(seed), 'js');
          const mine = start.slice();
          K[op](m, n, k, A, B, mine, false);
          jsKernels[op](m, n, k, A, B, start, false);
          const eps = dtype === 'float32' ? 1e-5 : 1e-13;
          for (let i = 0; i < m * n; i++) expect(Math.abs(mine[i] - start[i])).toBeLessThanOrEqual(eps * (k + 1));
        },
      ),
      { numRuns: 400 },
    );
  });

  it("gives each row of a product the same bits whatever rows and columns share the call", () => {
    // the paths of a product (2x4 blocks, their packed operands and their vector epilogue, the
    // leftover rows and columns) must sum in one order, or factors would not rebuild the gradient bitwise
    fc.assert(
      fc.property(
        ...products(9, 21, fc.oneof(fc.integer({ min: 0, max: 80 }), fc.integer({ min: 1, max: 20 }).map((v) => 4 * v))),
        (op, dtype, m, n, k, accumulate, seed) => {
          expectRowsAsAlone(op, dtype, m, n, k, accumulate, seed);
        },
      ),
      { numRuns: 300 },
    );
  });

  it(`goes through A in blocks of ${PACK_ROWS} rows: a product of more rows gives each row the bits it gets alone`, () => {
    const m = 2 * PACK_ROWS + 5; // two whole blocks, a part of one, an odd last row
    for (const op of OPS) {
      for (const dtype of ['float32', 'float64'] as const) {
        for (const k of [37, 40]) {
          expectRowsAsAlone(op, dtype, m, 19, k, true, k + m);
        }
      }
    }
  });

  it('grows its memory without losing the arrays it handed out', () => {
    const kernels = WasmKernels.create();
    const small = kernels.alloc('float32', 6);
    small.set([1, 2, 3, 4, 5, 6]);
    const big = kernels.alloc('float64', 3_000_000); // 24 MB: the memory grows
    expect(big.length).toBe(3_000_000);
    expect(kernels.bytesAllocated).toBeGreaterThan(24_000_000);
    expect(Array.from(small)).toEqual([1, 2, 3, 4, 5, 6]);
    // both still count as its own: the product runs in place, where a staged one would reserve a staging area first
    const C = kernels.alloc('float32', 4);
    kernels.gemmNT(2, 2, 3, small, small, C, false); // A = B = [[1,2,3],[4,5,6]]: A·Aᵀ
    expect(Array.from(C)).toEqual([14, 32, 32, 77]);
    expect((kernels as unknown as { areas: { bytes: number }[] }).areas[0].bytes).toBe(0);
    big[2_999_999] = 7;
    expect(kernels.allFinite(big)).toBe(true);
  });

  it('σ (sigmoid) and relu match the portable ones, with their derivatives, from -1000 to 1000, ±Infinity, NaN and ±0', () => {
    for (const dtype of ['float32', 'float64'] as const) {
      const zs = [0, -0, Infinity, -Infinity, NaN, 1e-30, -1e-30, 88, -88, 89, -89, 103, -103, 104, -104, 700, -700, 745, -745, 746, -746, 1000, -1000];
      const rand = seeded(dtype === 'float32' ? 5 : 6);
      for (let i = 0; i < 3001; i++) zs.push(rand() * (i % 3 === 0 ? 1 : i % 3 === 1 ? 20 : 120));
      const n = zs.length;
      for (const where of ['wasm', 'js'] as const) {
        const z = filled(dtype, n, () => 0, where);
        z.set(zs);
        for (const name of ['sigmoid', 'relu'] as const) {
          const mine = K.activation(name)!;
          const ref = ACTIVATIONS[name];
          const a = filled(dtype, n, () => 0, where);
          const want = a.slice();
          mine.apply(z, a, n);
          ref.apply(z, want, n);
          // relative to the value, a few units in the last place; absolute below the smallest normal
          const ulp = dtype === 'float32' ? 2 ** -23 : 2 ** -52;
          const tiny = dtype === 'float32' ? 2 ** -126 : 2 ** -1022;
          for (let i = 0; i < n; i++) {
            if (Number.isNaN(want[i])) {
              expect(a[i], `${name}(${zs[i]})`).toBeNaN();
              continue;
            }
            const bound = name === 'relu' ? 0 : 4 * ulp * Math.abs(want[i]) + tiny * 4 * ulp;
            if (a[i] !== want[i]) expect(Math.abs(a[i] - want[i]), `${dtype} ${name}(${zs[i]}) = ${a[i]}, expected ${want[i]}`).toBeLessThanOrEqual(bound);
          }
          const delta = filled(dtype, n, seeded(9), where);
          const wantDelta = delta.slice();
          mine.scaleByDerivative(z, want, delta, n);
          ref.scaleByDerivative(z, want, wantDelta, n);
          for (let i = 0; i < n; i++) {
            if (Number.isNaN(wantDelta[i])) expect(delta[i]).toBeNaN();
            else if (delta[i] !== wantDelta[i]) expect(Math.abs(delta[i] - wantDelta[i]), `${dtype} ${name}' at ${zs[i]}`).toBeLessThanOrEqual(name === 'relu' ? 0 : 2 * ulp * Math.abs(wantDelta[i]));
          }
        }
      }
    }
    // tanh keeps the portable loop (on the same arrays)
    expect(K.activation('tanh')).toBe(ACTIVATIONS.tanh);
  });

  it('allFinite sees a NaN or ±Infinity at any position, and agrees with the portable check', () => {
    for (const dtype of ['float32', 'float64'] as const) {
      for (const length of [1, 2, 3, 4, 5, 7, 8, 9, 33]) {
        for (const where of ['wasm', 'js'] as const) {
          const x = filled(dtype, length, seeded(length), where);
          expect(K.allFinite(x)).toBe(true);
          for (const bad of [NaN, Infinity, -Infinity]) {
            for (let at = 0; at < length; at++) {
              const keep = x[at];
              x[at] = bad;
              expect(K.allFinite(x), `${dtype} length ${length}, ${bad} at ${at}`).toBe(false);
              expect(allFinite(x)).toBe(false);
              x[at] = keep;
            }
          }
          x[length - 1] = dtype === 'float32' ? 3.4e38 : 1.7e308;
          expect(K.allFinite(x)).toBe(true);
        }
      }
    }
  });

  it('the SGD update gives the same bits as the portable loop (float32 and float64, with and without decay)', () => {
    for (const dtype of ['float32', 'float64'] as const) {
      for (const length of [1, 3, 4, 5, 8, 13, 1000]) {
        for (const wd of [0, 0.0125]) {
          for (const where of ['wasm', 'js'] as const) {
            const rand = seeded(length * 7 + (wd > 0 ? 1 : 0));
            const params = filled(dtype, length, () => rand() * 3, where);
            const grad = filled(dtype, length, () => rand() * 50, where);
            if (length > 4) {
              grad[1] = Infinity;
              params[2] = NaN;
              params[3] = 1e-40; // subnormal in float32
            }
            const want = params.slice();
            K.sgdStep(params, grad, length, 0.37, 1 / 7, wd);
            jsKernels.sgdStep(want, grad, length, 0.37, 1 / 7, wd);
            for (let i = 0; i < length; i++) {
              if (Number.isNaN(want[i])) expect(params[i]).toBeNaN();
              else expect(Object.is(params[i], want[i]), `${dtype} n=${length} wd=${wd} ${where} [${i}]: ${params[i]} vs ${want[i]}`).toBe(true);
            }
          }
        }
      }
    }
  });

  it('trains the same model through Backprop as the portable kernels, to float32 precision', () => {
    const spec = { layers: [13, 9, 5], activation: 'sigmoid', loss: 'quadratic', dtype: 'float32' } as const;
    const model = Model.init({ ...spec, layers: [...spec.layers] }, 3);
    const params = K.alloc('float32', model.params.length);
    params.set(model.params);
    const inWasm = new Model(model.spec, params);
    const rand = seeded(4);
    const x = Float32Array.from({ length: 40 * 13 }, rand);
    const y = Float32Array.from({ length: 40 * 5 }, () => (rand() + 1) / 2);
    const data = { source: 't', count: 40, inputs: 13, outputs: 5, x, y };
    const g1 = K.alloc('float32', model.params.length);
    const g2 = new Float32Array(model.params.length);
    const ids = Uint32Array.from({ length: 40 }, (_, i) => (i * 7) % 40);
    const r1 = new Backprop(model.spec, 16, K).gradient(inWasm, data, ids, 0, 40, g1);
    const r2 = new Backprop(model.spec, 16, jsKernels).gradient(model, data, ids, 0, 40, g2);
    expect(r1.count).toBe(40);
    expect(Math.abs(r1.lossSum - r2.lossSum)).toBeLessThan(1e-4 * r2.lossSum);
    for (let i = 0; i < g1.length; i++) expect(Math.abs(g1[i] - g2[i])).toBeLessThan(1e-5 * (1 + Math.abs(g2[i])));
  });
});

describe('the built module', () => {
  it('is the WAT of these sources assembled, with its digest beside it (pnpm build writes both; a process compiles it instead of assembling)', async () => {
    const { assembleKernels, watDigest, BUILT_MODULE, BUILT_MODULE_SOURCE, BUILT_UNSHARED_MODULE } = await import('../../packages/core/src/kernels/wasm-node.js');
    const { kernelsWat } = await import('../../packages/core/src/kernels/wasm-text.js');
    const dist = new URL('../../packages/core/dist/kernels/', import.meta.url);
    const wat = kernelsWat();
    expect(readFileSync(new URL(BUILT_MODULE_SOURCE, dist), 'utf8').trim()).toBe(watDigest(wat));
    expect(Buffer.from(await assembleKernels(wat)).equals(readFileSync(new URL(BUILT_MODULE, dist)))).toBe(true);
    // a browser page without cross-origin isolation: the same code over an unshared memory
    expect(Buffer.from(await assembleKernels(kernelsWat(false))).equals(readFileSync(new URL(BUILT_UNSHARED_MODULE, dist)))).toBe(true);
  });
});
