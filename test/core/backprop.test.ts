import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  Backprop, FactoredBackprop, Model, Optimizer, Rng, datasetAs, factorBlocks, factorWidth, jsKernels, makeDataset, referenceForward, referenceGradient,
  type ActivationName, type Dataset, type Floats, type Kernels, type LossName, type ModelSpec,
} from '@shardprop/core';
import { KERNEL_NAMES, kernelsNamed } from '../helpers/kernels.js';

/**
 * The math of backprop.ts against three independent truths: central finite
 * differences of the loss, a network small enough to do by hand, and a naive
 * per-sample implementation of Nielsen's four equations. Plus the invariant the
 * distributed trainer rests on: the gradient sum of a batch is the sum of the
 * gradient sums of its parts.
 *
 * Everything runs with both kernel implementations (the portable ones and
 * WebAssembly SIMD); random problems keep their parameters where the kernels
 * work on them.
 */
let K: Kernels = jsKernels;

/** The model's parameters moved to where the current kernels work on them in place. */
function resident(model: Model): Model {
  const params = K.alloc(model.spec.dtype, model.params.length);
  params.set(model.params);
  return new Model(model.spec, params);
}

const ACTIVATIONS: ActivationName[] = ['sigmoid', 'tanh', 'relu'];
const LOSSES: LossName[] = ['quadratic', 'cross-entropy'];

interface Problem {
  model: Model;
  data: Dataset;
  /** The batch is indices[from..to). */
  indices: Uint32Array;
  from: number;
  to: number;
}

/**
 * A seeded random network and data set: inputs uniform in [-1, 1]; targets in
 * the activation's range for the quadratic loss; for cross-entropy, rows cycle
 * through one-hot, soft (summing to 1) and unnormalised positive targets, the
 * last exercising δ^L = a^L Σ_j y_j − y in general.
 */
function randomProblem(seed: number, layers: number[], activation: ActivationName, loss: LossName, batch: number, dtype: 'float32' | 'float64' = 'float64'): Problem {
  const rng = new Rng(seed);
  const spec: ModelSpec = { layers, activation, loss, dtype: 'float64' };
  const model = Model.init(spec, seed + 1);
  const extra = rng.int(4);
  const count = batch + extra;
  const n0 = layers[0];
  const nL = layers[layers.length - 1];
  const x = new Float64Array(count * n0);
  const y = new Float64Array(count * nL);
  for (let i = 0; i < x.length; i++) x[i] = rng.uniform() * 2 - 1;
  for (let r = 0; r < count; r++) {
    const row = y.subarray(r * nL, (r + 1) * nL);
    if (loss === 'quadratic') {
      for (let j = 0; j < nL; j++) row[j] = activation === 'tanh' ? rng.uniform() * 1.8 - 0.9 : rng.uniform();
    } else if (r % 3 === 0) {
      row[rng.int(nL)] = 1;
    } else {
      let sum = 0;
      for (let j = 0; j < nL; j++) sum += row[j] = rng.uniform() + 0.01;
      if (r % 3 === 1) for (let j = 0; j < nL; j++) row[j] /= sum;
    }
  }
  const data = datasetAs(makeDataset('random', x, y, n0, nL), dtype);
  const from = rng.int(extra + 1);
  return { model: resident(dtype === 'float64' ? model : model.withDtype(dtype)), data, indices: rng.permutation(count), from, to: from + batch };
}

function gradientOf(p: Problem, chunk = 256): { grad: Floats; count: number; lossSum: number; correct: number } {
  const bp = new Backprop(p.model.spec, chunk, K);
  const grad = new (p.model.params.constructor as Float64ArrayConstructor)(p.model.params.length);
  return { grad, ...bp.gradient(p.model, p.data, p.indices, p.from, p.to, grad) };
}

/** The plain per-sample reference of core (reference.ts) over the problem's batch. */
function naiveGradient(p: Problem): { grad: Float64Array; lossSum: number } {
  return referenceGradient(p.model, p.data, p.indices, p.from, p.to);
}

/** Which relu units are on, over the batch: the loss is smooth in θ while this pattern holds. */
function reluPattern(p: Problem): string {
  const bits: string[] = [];
  const L = p.model.depth;
  for (let r = p.from; r < p.to; r++) {
    const i = p.indices[r];
    const { z } = referenceForward(p.model, p.data.x.subarray(i * p.data.inputs, (i + 1) * p.data.inputs));
    // The output layer goes through relu too, unless softmax owns it.
    const last = p.model.spec.loss === 'cross-entropy' ? L - 1 : L;
    for (let l = 1; l <= last; l++) for (const v of z[l]) bits.push(v > 0 ? '1' : '0');
  }
  return bits.join('');
}

function maxNorm(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]));
  return m;
}

// ---------------------------------------------------------------------------------------------

/**
 * ∂(Σ L)/∂θ_i by the five-point central difference
 *   f'(θ) ≈ [8 (f(θ+h) − f(θ−h)) − (f(θ+2h) − f(θ−2h))] / 12h,
 * whose truncation error is O(h⁴), so h can be large enough (1e-3) that the
 * rounding error of f (≈ 1e-16 |f| / h) stays near 1e-13. The plain two-point
 * difference cannot reach 1e-6 relative on the small first-layer gradients of
 * a 4-layer sigmoid net (its error is ≈ 1e-10 at best). The differences are
 * taken before they are weighted, so a constant f gives exactly 0.
 */
function fivePoint(f: (step: number) => number, h: number): number {
  return (8 * (f(h) - f(-h)) - (f(2 * h) - f(-2 * h))) / (12 * h);
}
const FD_STEP = 1e-3;

for (const name of KERNEL_NAMES) describe(`${name} kernels`, () => {
  beforeAll(async () => {
    K = await kernelsNamed(name);
  });

  describe('gradient against finite differences of evaluate().lossSum (float64)', () => {
    const shapes = [[2, 3, 1], [5, 4, 3], [3, 6, 5, 4], [4, 7, 6, 3, 2]];
    const batches = [1, 32, 5, 17, 2, 32];
    let caseNo = 0;
    for (const layers of shapes) {
      for (const activation of ACTIVATIONS) {
        for (const loss of LOSSES) {
          if (loss === 'cross-entropy' && layers[layers.length - 1] < 2) continue; // softmax needs 2 outputs
          const n = caseNo++;
          const batch = batches[n % batches.length];
          const chunk = n % 2 === 0 ? 256 : 3; // odd cases run the batch through backprop in chunks of 3 rows
          it(`[${layers}] ${activation} + ${loss}, batch ${batch}, chunk ${chunk}`, () => {
            const p = randomProblem(1000 + n, layers, activation, loss, batch);
            const { grad, count, lossSum } = gradientOf(p, chunk);
            expect(count).toBe(batch);
            const bp = new Backprop(p.model.spec, 256, K);
            const batchIdx = p.indices.subarray(p.from, p.to);
            const lossAt = (): number => bp.evaluate(p.model, p.data, batchIdx).lossSum;
            expect(Math.abs(lossAt() - lossSum)).toBeLessThanOrEqual(1e-12 * lossSum);

            const theta = p.model.params;
            // relu is not differentiable where some z^l = 0: a parameter whose stencil
            // moves any unit across its kink is skipped (and counted), never smoothed over.
            const onUnits = activation === 'relu' ? reluPattern(p) : '';
            let maxRel = 0;
            let worst = -1;
            let skipped = 0;
            for (let i = 0; i < theta.length; i++) {
              const saved = theta[i];
              let crossesKink = false;
              const lossWithStep = (step: number): number => {
                theta[i] = saved + step;
                const value = lossAt();
                if (activation === 'relu' && reluPattern(p) !== onUnits) crossesKink = true;
                return value;
              };
              const fd = fivePoint(lossWithStep, FD_STEP);
              theta[i] = saved;
              if (crossesKink) {
                skipped++;
                continue;
              }
              const rel = Math.abs(fd - grad[i]) / Math.max(1e-7, Math.abs(fd) + Math.abs(grad[i]));
              if (rel > maxRel) [maxRel, worst] = [rel, i];
            }
            expect(skipped, 'too many parameters sit on a relu kink to check').toBeLessThan(theta.length * 0.25);
            expect(maxRel, `worst parameter ${worst}`).toBeLessThan(1e-6);
          });
        }
      }
    }

    it('the checker itself rejects a gradient that is off by one part in 1e5', () => {
      const p = randomProblem(7, [3, 4, 2], 'tanh', 'quadratic', 4);
      const { grad } = gradientOf(p);
      const bp = new Backprop(p.model.spec, 256, K);
      const i = 5;
      const saved = p.model.params[i];
      const fd = fivePoint((step) => {
        p.model.params[i] = saved + step;
        return bp.evaluate(p.model, p.data, p.indices.subarray(p.from, p.to)).lossSum;
      }, FD_STEP);
      p.model.params[i] = saved;
      const rel = (g: number): number => Math.abs(fd - g) / Math.max(1e-7, Math.abs(fd) + Math.abs(g));
      expect(rel(grad[i])).toBeLessThan(1e-6);
      expect(rel(grad[i] * (1 + 1e-5))).toBeGreaterThan(1e-6);
    });
  });

  describe('a [2,2,1] sigmoid + quadratic network by hand', () => {
    // W^1 = [[0.1, −0.2], [0.3, 0.4]], b^1 = [0.05, −0.1], W^2 = [[0.5, −0.6]], b^2 = [0.2]
    // Samples: x = (1, 0.5), y = 1  and  x = (−0.5, 2), y = 0.
    //
    // Sample 1:  z^1 = (0.1·1 − 0.2·0.5 + 0.05, 0.3·1 + 0.4·0.5 − 0.1) = (0.05, 0.4)
    //            a^1 = σ(z^1) = (0.51249739648421034366, 0.59868766011245200037)
    //            z^2 = 0.5·a^1_1 − 0.6·a^1_2 + 0.2 = 0.097036102174633971609
    //            a^2 = σ(z^2) = 0.52424000819113562322
    //            δ^2 = (a^2 − 1)·a^2(1 − a^2) = −0.11866045184912572145                       (BP1)
    //            δ^1 = (W^2)ᵀδ^2 ⊙ a^1(1 − a^1) = (−0.014823289994617344454, 0.017105669190778654491)  (BP2)
    // Sample 2:  z^1 = (0.1·(−0.5) − 0.2·2 + 0.05, 0.3·(−0.5) + 0.4·2 − 0.1) = (−0.4, 0.55)
    //            a^1 = (0.40131233988754799963, 0.63413559101080068274)
    //            z^2 = 0.020174815337293590173,  a^2 = 0.50504353276592437218
    //            δ^2 = (a^2 − 0)·a^2(1 − a^2) = 0.12624803628663414769
    //            δ^1 = (0.015166223673315176479, −0.017574305616325890402)
    // Sums over both samples: ∂W^l_jk = Σ δ^l_j a^(l−1)_k (BP4), ∂b^l_j = Σ δ^l_j (BP3),
    // L = ½(a^2 − y)² summed. Evaluated with mpmath at 60 digits, rounded to float64.
    const params = [0.1, -0.2, 0.3, 0.4, 0.05, -0.1, 0.5, -0.6, 0.2];
    const expectedGrad = [
      -0.022406401831274934, 0.02292080234932168, 0.0258928219989416, -0.026595776637262453, // ∂W^1
      0.000342933678697832, -0.00046863642554723594, // ∂b^1
      -0.010148277789919719, 0.0090178248391384, // ∂W^2
      0.007587584437508426, // ∂b^2
    ];
    const expectedLossSum = 0.24070826989732802;
    // θ − η·(Σ∇/2) with η = 0.5, the mean over the two samples.
    const expectedAfterSgd = [
      0.10560160045781873, -0.2057302005873304, 0.2935267945002646, 0.40664894415931563,
      0.04991426658032554, -0.0998828408936132, 0.5025370694474799, -0.6022544562097846, 0.19810310389062288,
    ];
    const spec: ModelSpec = { layers: [2, 2, 1], activation: 'sigmoid', loss: 'quadratic', dtype: 'float64' };
    const data = makeDataset('hand', Float64Array.from([1, 0.5, -0.5, 2]), Float64Array.from([1, 0]), 2, 1);

    const expectAll = (got: ArrayLike<number>, want: number[]): void => {
      expect(got.length).toBe(want.length);
      for (let i = 0; i < want.length; i++) expect(Math.abs(got[i] - want[i]), `entry ${i}: ${got[i]} vs ${want[i]}`).toBeLessThanOrEqual(1e-15);
    };

    it('gives the hand-computed gradient sum and loss', () => {
      const model = new Model(spec, Float64Array.from(params));
      const grad = new Float64Array(9);
      const result = new Backprop(spec, 256, K).gradient(model, data, [0, 1], 0, 2, grad);
      expect(result.count).toBe(2);
      expect(Math.abs(result.lossSum - expectedLossSum)).toBeLessThanOrEqual(1e-15);
      expect(result.correct).toBe(1); // a^2 = 0.524 → 1 (right), a^2 = 0.505 → 1 (wrong: y = 0)
      expectAll(grad, expectedGrad);
    });

    it('one SGD step with η = 0.5 gives the hand-computed parameters', () => {
      const model = new Model(spec, Float64Array.from(params));
      const grad = new Float64Array(9);
      const { count } = new Backprop(spec, 256, K).gradient(model, data, [1, 0], 0, 2, grad);
      new Optimizer({ kind: 'sgd', lr: 0.5 }, 9, 'float64', K).step(model.params, grad, count);
      expectAll(model.params, expectedAfterSgd);
    });
  });

  // ---------------------------------------------------------------------------------------------
  // Properties over random shapes.

  const netArb = fc
    .record({
      layers: fc.array(fc.integer({ min: 1, max: 6 }), { minLength: 2, maxLength: 5 }),
      activation: fc.constantFrom(...ACTIVATIONS),
      loss: fc.constantFrom(...LOSSES),
      batch: fc.integer({ min: 1, max: 40 }),
      seed: fc.integer({ min: 0, max: 0x7fffffff }),
      chunk: fc.integer({ min: 1, max: 9 }),
    })
    .map((n) => {
      const layers = [...n.layers];
      if (n.loss === 'cross-entropy' && layers[layers.length - 1] < 2) layers[layers.length - 1] = 2;
      return { ...n, layers };
    });

  describe('backprop properties', () => {
    it('matches a naive per-sample implementation of the four equations (float64)', () => {
      fc.assert(
        fc.property(netArb, ({ layers, activation, loss, batch, seed, chunk }) => {
          const p = randomProblem(seed, layers, activation, loss, batch);
          const got = gradientOf(p, chunk);
          const want = naiveGradient(p);
          const scale = maxNorm(want.grad);
          for (let i = 0; i < want.grad.length; i++) expect(Math.abs(got.grad[i] - want.grad[i])).toBeLessThanOrEqual(1e-12 * scale);
          expect(Math.abs(got.lossSum - want.lossSum)).toBeLessThanOrEqual(1e-12 * want.lossSum);
        }),
        { numRuns: 150 },
      );
    });

    it('the gradient sum of a batch is the sum over any split of it; counts, losses and hits add up', () => {
      fc.assert(
        fc.property(netArb, fc.array(fc.integer({ min: 0, max: 40 }), { maxLength: 5 }), ({ layers, activation, loss, batch, seed, chunk }, cuts) => {
          const p = randomProblem(seed, layers, activation, loss, batch);
          const whole = gradientOf(p, chunk);
          const points = [p.from, ...cuts.map((c) => p.from + Math.min(c, batch)).sort((a, b) => a - b), p.to];
          const bp = new FactoredBackprop(p.model.spec, chunk, K);
          const part = new Float64Array(p.model.params.length).fill(Number.NaN); // must be overwritten, even by an empty part
          const total = new Float64Array(part.length);
          const magnitude = new Float64Array(part.length);
          let count = 0;
          let lossSum = 0;
          let correct = 0;
          for (let s = 0; s + 1 < points.length; s++) {
            const r = bp.gradient(p.model, p.data, p.indices, points[s], points[s + 1], part);
            expect(r.count).toBe(points[s + 1] - points[s]);
            count += r.count;
            lossSum += r.lossSum;
            correct += r.correct;
            for (let i = 0; i < part.length; i++) {
              total[i] += part[i];
              magnitude[i] += Math.abs(part[i]);
            }
          }
          expect(count).toBe(whole.count);
          expect(correct).toBe(whole.correct);
          expect(Math.abs(lossSum - whole.lossSum)).toBeLessThanOrEqual(1e-12 * whole.lossSum);
          const scale = Math.max(maxNorm(whole.grad), maxNorm(magnitude));
          for (let i = 0; i < total.length; i++) expect(Math.abs(total[i] - whole.grad[i])).toBeLessThanOrEqual(1e-12 * scale);
        }),
        { numRuns: 200 },
      );
    });

    it('float32 and float64 gradients agree to float32 precision', () => {
      fc.assert(
        fc.property(netArb, ({ layers, activation, loss, batch, seed, chunk }) => {
          const p64 = randomProblem(seed, layers, activation, loss, batch, 'float64');
          const p32 = randomProblem(seed, layers, activation, loss, batch, 'float32');
          expect(p32.model.params).toBeInstanceOf(Float32Array);
          expect(p32.data.x).toBeInstanceOf(Float32Array);
          const g64 = gradientOf(p64, chunk);
          const g32 = gradientOf(p32, chunk);
          expect(g32.grad).toBeInstanceOf(Float32Array);
          expect(g32.count).toBe(g64.count);
          // Relative to the gradient's size, plus a floor: float32 resolves δ^L = a^L − y no
          // better than its spacing near 1 (6e-8), however small the difference, in every sample.
          const tolerance = 1e-4 * maxNorm(g64.grad) + 1e-6 * batch;
          for (let i = 0; i < g64.grad.length; i++) expect(Math.abs(g32.grad[i] - g64.grad[i])).toBeLessThanOrEqual(tolerance);
          expect(Math.abs(g32.lossSum - g64.lossSum)).toBeLessThanOrEqual(1e-5 * g64.lossSum + 1e-6 * batch);
        }),
        { numRuns: 150 },
      );
    });
  });

  describe('the factored gradient (δ^l and hidden a^l per sample)', () => {
    /** Moves rows [from, from + rows) of every factor block of a `count`-sample buffer into another buffer at row `at`. */
    function copyRows(layers: number[], src: Floats, srcCount: number, from: number, dst: Floats, dstCount: number, at: number, rows: number): void {
      const widths = factorBlocks(layers);
      let prefix = 0;
      for (const w of widths) {
        for (let i = 0; i < rows * w; i++) dst[dstCount * prefix + at * w + i] = src[srcCount * prefix + from * w + i];
        prefix += w;
      }
    }

    it('has the documented width', () => {
      expect(factorWidth([784, 30, 10])).toBe(30 + 10 + 30);
      expect(factorWidth([784, 512, 256, 10])).toBe(512 + 256 + 10 + 512 + 256);
      expect(factorWidth([3, 1])).toBe(1);
    });

    it('split among parts and reassembled in batch order, it rebuilds the gradient bitwise (float32 and float64)', () => {
      fc.assert(
        fc.property(netArb, fc.array(fc.integer({ min: 0, max: 40 }), { maxLength: 4 }), fc.boolean(), ({ layers, activation, loss, batch, seed, chunk }, cuts, single) => {
          const p = randomProblem(seed, layers, activation, loss, batch, single ? 'float32' : 'float64');
          const whole = gradientOf(p, chunk);
          const bp = new FactoredBackprop(p.model.spec, chunk, K);
          const Ctor = p.model.params.constructor as Float64ArrayConstructor;
          const width = factorWidth(layers);
          const all = new Ctor(batch * width);
          const points = [p.from, ...cuts.map((c) => p.from + Math.min(c, batch)).sort((a, b) => a - b), p.to];
          let lossSum = 0;
          let correct = 0;
          for (let s = 0; s + 1 < points.length; s++) {
            const rows = points[s + 1] - points[s];
            const part = new Ctor(rows * width);
            const r = bp.factors(p.model, p.data, p.indices, points[s], points[s + 1], part);
            expect(r.count).toBe(rows);
            lossSum += r.lossSum;
            correct += r.correct;
            copyRows(layers, part, rows, 0, all, batch, points[s] - p.from, rows);
          }
          expect(correct).toBe(whole.correct);
          expect(Math.abs(lossSum - whole.lossSum)).toBeLessThanOrEqual(1e-6 * whole.lossSum);
          const rebuilt = new Ctor(whole.grad.length).fill(Number.NaN);
          new FactoredBackprop(p.model.spec, chunk, K).gradientFromFactors(p.data, p.indices, p.from, p.to, all, rebuilt);
          expect(rebuilt).toEqual(whole.grad);
        }),
        { numRuns: 200 },
      );
    });

    it('refuses a factor buffer of the wrong length, and an empty range gives zeros', () => {
      const p = randomProblem(5, [3, 4, 2], 'sigmoid', 'quadratic', 4);
      const bp = new FactoredBackprop(p.model.spec, 256, K);
      expect(() => bp.factors(p.model, p.data, p.indices, 0, 4, new Float64Array(4 * 9))).toThrow(/expected 40 for 4 samples/);
      expect(() => bp.gradientFromFactors(p.data, p.indices, 0, 4, new Float64Array(3), new Float64Array(p.model.params.length))).toThrow(RangeError);
      const grad = new Float64Array(p.model.params.length).fill(7);
      bp.gradientFromFactors(p.data, p.indices, 2, 2, new Float64Array(0), grad);
      expect(grad.every((v) => v === 0)).toBe(true);
    });
  });

  describe('Backprop API', () => {
    const spec: ModelSpec = { layers: [3, 5, 2], activation: 'sigmoid', loss: 'cross-entropy', dtype: 'float64' };

    it('overwrites the gradient buffer, and an empty range gives zeros and a zero count', () => {
      const p = randomProblem(3, spec.layers, spec.activation, spec.loss, 6);
      const clean = gradientOf(p).grad;
      const bp = new Backprop(p.model.spec, 256, K);
      const dirty = new Float64Array(clean.length).fill(123);
      bp.gradient(p.model, p.data, p.indices, p.from, p.to, dirty);
      expect(Array.from(dirty)).toEqual(Array.from(clean));
      const r = bp.gradient(p.model, p.data, p.indices, 2, 2, dirty);
      expect(r).toEqual({ count: 0, lossSum: 0, correct: 0 });
      expect(dirty.every((v) => v === 0)).toBe(true);
    });

    it('refuses a gradient buffer of the wrong length', () => {
      const p = randomProblem(4, spec.layers, spec.activation, spec.loss, 3);
      expect(() => new Backprop(p.model.spec, 256, K).gradient(p.model, p.data, p.indices, 0, 3, new Float64Array(5))).toThrow(RangeError);
    });

    it('evaluate over all samples, in chunks, agrees with the naive forward pass; predict gives a^L', () => {
      const p = randomProblem(5, [4, 6, 3], 'tanh', 'cross-entropy', 23);
      const all = { ...p, indices: Uint32Array.from({ length: p.data.count }, (_, i) => i), from: 0, to: p.data.count };
      const want = naiveGradient(all);
      const r = new Backprop(p.model.spec, 4, K).evaluate(p.model, p.data);
      expect(r.count).toBe(p.data.count);
      expect(Math.abs(r.lossSum - want.lossSum)).toBeLessThanOrEqual(1e-12 * want.lossSum);
      const out = new Float64Array(p.data.count * 3);
      new Backprop(p.model.spec, 4, K).predict(p.model, p.data.x, p.data.count, out);
      let correct = 0;
      for (let r2 = 0; r2 < p.data.count; r2++) {
        const { a } = referenceForward(p.model, p.data.x.subarray(r2 * 4, r2 * 4 + 4));
        for (let j = 0; j < 3; j++) expect(Math.abs(out[r2 * 3 + j] - a[2][j])).toBeLessThanOrEqual(1e-14);
        const y = Array.from(p.data.y.subarray(r2 * 3, r2 * 3 + 3));
        if (a[2].indexOf(Math.max(...a[2])) === y.indexOf(Math.max(...y))) correct++;
      }
      expect(r.correct).toBe(correct);
    });
  });
});
