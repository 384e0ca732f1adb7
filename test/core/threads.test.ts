import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { BlockBackprop, Model, Optimizer, WasmKernels, makeDataset, prepareWasmKernels, type Dtype, type Floats } from '@shardprop/core';

/**
 * The wasm kernels on 1, 2, 3 and 4 threads give the same bits: every product
 * on awkward shapes (split even where it would not pay, so every shape is cut),
 * the elementwise passes, the finiteness check with the bad value in any part,
 * and whole gradients and SGD steps by canonical blocks at the default limits.
 */
const THREADS = [1, 2, 3, 4];
/** Split everything: one multiply-add or value is enough for a part. */
const EVERYWHERE = { product: 1, activation: 1, stream: 1 };
let teams: WasmKernels[] = [];

beforeAll(async () => {
  expect(await prepareWasmKernels()).toBe(true);
  teams = THREADS.map((t) => WasmKernels.create(t, EVERYWHERE));
  // the helpers start in the background; until then calls split into fewer parts
  for (const K of teams) K.waitForThreads();
});
afterAll(() => {
  for (const K of teams) K.close();
});

function seeded(seed: number): () => number {
  let x = seed;
  return () => ((x = (x * 1103515245 + 12345) % 2147483648) / 2147483648) * 2 - 1;
}

function filled(K: WasmKernels, dtype: Dtype, length: number, rand: () => number): Floats {
  const a = K.alloc(dtype, length);
  for (let i = 0; i < length; i++) a[i] = rand();
  return a;
}

function bits(a: Floats): string {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString('base64');
}

/** `compute` run with each team's kernels on operands filled from one seed; each result's bits. */
function eachTeam(compute: (K: WasmKernels) => Floats | string): string[] {
  return teams.map((K) => {
    const out = compute(K);
    return typeof out === 'string' ? out : bits(out);
  });
}

describe('wasm kernels on several threads', () => {
  it('really starts the helper threads it was asked for', () => {
    expect(teams.map((K) => K.threads)).toEqual(THREADS);
    expect(teams.map((K) => K.threadsStarted)).toEqual(THREADS);
  });

  it('compute every product on every shape with the same bits on 1, 2, 3 and 4 threads', () => {
    fc.assert(
      fc.property(
        fc.constantFrom('gemmNT', 'gemmNN', 'gemmTN' as const), fc.constantFrom<Dtype>('float32', 'float64'),
        fc.integer({ min: 1, max: 41 }), fc.integer({ min: 1, max: 37 }), fc.integer({ min: 1, max: 70 }), fc.boolean(), fc.integer({ min: 0, max: 1e6 }),
        (op, dtype, m, n, k, accumulate, seed) => {
          const results = eachTeam((K) => {
            const rand = seeded(seed);
            const A = filled(K, dtype, m * k, rand);
            const B = filled(K, dtype, n * k, rand);
            const C = filled(K, dtype, m * n, rand);
            K[op](m, n, k, A, B, C, accumulate);
            return C;
          });
          for (let t = 1; t < THREADS.length; t++) expect(results[t], `${op} ${dtype} ${m}x${n}x${k} on ${THREADS[t]} threads`).toBe(results[0]);
        },
      ),
      { numRuns: 150 },
    );
  });

  it('give the same bits for large products split at the default limits, operands in the memory or elsewhere', () => {
    for (const [m, n, k] of [[64, 512, 784], [256, 257, 131], [130, 67, 300]]) {
      for (const where of ['memory', 'elsewhere'] as const) {
        const results = THREADS.map((t) => {
          const K = WasmKernels.create(t);
          K.waitForThreads();
          try {
            const rand = seeded(m + n + k);
            const make = (length: number) => (where === 'memory' ? filled(K, 'float32', length, rand) : Float32Array.from({ length }, rand));
            const A = make(m * k);
            const B = make(n * k);
            const C = make(m * n);
            const D = make(m * n);
            const E = make(n * k);
            K.gemmNT(m, n, k, A, B, C, true);
            K.gemmNN(m, k, n, C, B, A, false); // (m x n) · (n x k)
            K.gemmTN(m, n, k, A, B.subarray(0, k * n), D, false); // A read as k x m
            K.gemmTN(n, k, m, C, A, E, true);
            return [C, A, D, E].map(bits).join('|');
          } finally {
            K.close();
          }
        });
        for (let t = 1; t < THREADS.length; t++) expect(results[t], `${m}x${n}x${k} ${where}, ${THREADS[t]} threads`).toBe(results[0]);
      }
    }
  });

  it('give the same bits for the elementwise passes: σ, σ′, relu, the bias, the tree sum and the SGD update', () => {
    fc.assert(
      fc.property(fc.constantFrom<Dtype>('float32', 'float64'), fc.integer({ min: 1, max: 300 }), fc.integer({ min: 1, max: 9 }), fc.integer({ min: 0, max: 1e6 }), (dtype, n, m, seed) => {
        const results = eachTeam((K) => {
          const rand = seeded(seed);
          const z = filled(K, dtype, m * n, () => rand() * 12);
          const a = K.alloc(dtype, m * n);
          const delta = filled(K, dtype, m * n, rand);
          const v = filled(K, dtype, n, rand);
          K.activation('sigmoid').apply(z, a, m * n);
          K.activation('sigmoid').scaleByDerivative(z, a, delta, m * n);
          K.activation('relu').scaleByDerivative(z, a, delta, m * n);
          K.activation('relu').apply(delta, z, m * n);
          K.addRowVector(m, n, v, z);
          K.addRowVector(1, m * n, delta, a);
          K.sgdStep(a, delta, m * n - 1, 0.3, 1 / 7, 0.01);
          K.sgdStep(z, delta, m * n, 0.3, 1 / 7, 0);
          return [a, z, delta].map(bits).join('|');
        });
        for (let t = 1; t < THREADS.length; t++) expect(results[t], `${dtype} ${m}x${n} on ${THREADS[t]} threads`).toBe(results[0]);
      }),
      { numRuns: 80 },
    );
  });

  it('find a NaN or an infinity in whichever thread’s part it lies', () => {
    for (const K of teams) {
      for (const dtype of ['float32', 'float64'] as const) {
        const x = filled(K, dtype, 1000, seeded(5));
        expect(K.allFinite(x)).toBe(true);
        for (const at of [0, 15, 16, 333, 500, 777, 999]) {
          for (const bad of [NaN, Infinity, -Infinity]) {
            const keep = x[at];
            x[at] = bad;
            expect(K.allFinite(x), `${K.threads} threads, ${bad} at ${at}`).toBe(false);
            x[at] = keep;
          }
        }
      }
    }
  });

  it('compute whole gradients by canonical blocks and SGD steps with the same bits as one thread', () => {
    const spec = { layers: [300, 200, 70, 10], activation: 'sigmoid' as const, loss: 'quadratic' as const, dtype: 'float32' as const };
    const rand = seeded(11);
    const samples = 300;
    const data = makeDataset('synthetic', Float32Array.from({ length: samples * 300 }, rand), Float32Array.from({ length: samples * 10 }, () => (rand() > 0.8 ? 1 : 0)), 300, 10);
    const batch = Array.from({ length: 200 }, (_, i) => (i * 7) % samples);
    const results = THREADS.map((t) => {
      const K = WasmKernels.create(t);
      K.waitForThreads();
      try {
        const initial = Model.init(spec, 3);
        const model = new Model(spec, K.alloc('float32', initial.params.length));
        model.params.set(initial.params);
        const bp = new BlockBackprop(spec, 64, K);
        const grad = K.alloc('float32', model.params.length);
        const opt = new Optimizer({ kind: 'sgd', lr: 0.5 }, model.params.length, 'float32', K);
        for (let step = 0; step < 3; step++) {
          const r = bp.gradient(model, data, batch, grad);
          opt.step(model.params, grad, r.count);
        }
        return bits(model.params);
      } finally {
        K.close();
      }
    });
    for (let t = 1; t < THREADS.length; t++) expect(results[t], `${THREADS[t]} threads`).toBe(results[0]);
  });

  it('keep working on one thread after close()', () => {
    const K = WasmKernels.create(3, EVERYWHERE);
    K.waitForThreads();
    const A = filled(K, 'float32', 12 * 5, seeded(1));
    const B = filled(K, 'float32', 8 * 5, seeded(2));
    const before = K.alloc('float32', 12 * 8);
    K.gemmNT(12, 8, 5, A, B, before, false);
    K.close();
    const after = K.alloc('float32', 12 * 8);
    K.gemmNT(12, 8, 5, A, B, after, false);
    expect(bits(after)).toBe(bits(before));
  });

  it('start their helpers without this process\'s preloads: a NODE_OPTIONS --require meant for child processes does not run in them', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'shardprop-threads-'));
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
    const marker = join(dir, 'ran-in-a-helper');
    const preload = join(dir, 'preload.cjs');
    writeFileSync(preload, `if (!require('node:worker_threads').isMainThread) require('node:fs').writeFileSync(${JSON.stringify(marker)}, 'yes');\n`);
    const previous = process.env.NODE_OPTIONS;
    process.env.NODE_OPTIONS = `--require ${preload}`;
    try {
      const K = WasmKernels.create(2);
      K.waitForThreads();
      expect(K.threadsStarted).toBe(2);
      K.close();
    } finally {
      if (previous === undefined) delete process.env.NODE_OPTIONS;
      else process.env.NODE_OPTIONS = previous;
    }
    expect(existsSync(marker)).toBe(false);
  });

  it('never keep a process alive: a script that made threaded kernels and did not close them ends by itself', async () => {
    const core = new URL('../../packages/core/dist/index.js', import.meta.url).href;
    const script = `import { WasmKernels, prepareWasmKernels } from ${JSON.stringify(core)};
      await prepareWasmKernels();
      const K = WasmKernels.create(3, { product: 1, activation: 1, stream: 1 });
      K.waitForThreads();
      const a = K.alloc('float32', 4096);
      K.activation('sigmoid').apply(a, a, 4096);
      console.log('computed on', K.threadsStarted);`;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    onTestFinished(() => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d));
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    expect(out.trim()).toBe('computed on 3');
    expect(code).toBe(0);
  });
});
