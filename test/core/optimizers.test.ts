import { describe, expect, it } from 'vitest';
import { Optimizer, Rng, validateOptimizer, type OptimizerConfig } from '@shardprop/core';

/**
 * Each optimizer against a hand-written reference of its textbook update
 * (PyTorch's conventions: weight decay adds λθ to the mean gradient; momentum
 * v ← μv + g, θ ← θ − ηv; Adam with bias-corrected moments), over 3 steps with
 * different gradient sums and sample counts.
 */

const SIZE = 12;

function steps(seed: number): { grad: Float64Array; count: number }[] {
  const rng = new Rng(seed);
  return [5, 1, 17].map((count) => ({ grad: Float64Array.from({ length: SIZE }, () => (rng.uniform() * 2 - 1) * count), count }));
}

function startParams(seed: number): Float64Array {
  const rng = new Rng(seed);
  return Float64Array.from({ length: SIZE }, () => rng.gaussian());
}

/** The reference: per parameter, plain numbers, the formulas as written in the papers. */
function referenceRun(config: OptimizerConfig, theta0: Float64Array, updates: { grad: Float64Array; count: number }[]): number[] {
  const theta = Array.from(theta0);
  const lambda = config.weightDecay ?? 0;
  const mu = config.momentum ?? 0.9;
  const beta1 = config.beta1 ?? 0.9;
  const beta2 = config.beta2 ?? 0.999;
  const eps = config.eps ?? 1e-8;
  const v = theta.map(() => 0);
  const m = theta.map(() => 0);
  updates.forEach(({ grad, count }, step) => {
    const t = step + 1;
    for (let i = 0; i < theta.length; i++) {
      const g = grad[i] / count + lambda * theta[i]; // mean gradient of R + λθ
      if (config.kind === 'sgd') {
        theta[i] = theta[i] - config.lr * g;
      } else if (config.kind === 'momentum') {
        v[i] = mu * v[i] + g;
        theta[i] = theta[i] - config.lr * v[i];
      } else {
        m[i] = beta1 * m[i] + (1 - beta1) * g;
        v[i] = beta2 * v[i] + (1 - beta2) * g * g;
        const mHat = m[i] / (1 - beta1 ** t);
        const vHat = v[i] / (1 - beta2 ** t);
        theta[i] = theta[i] - (config.lr * mHat) / (Math.sqrt(vHat) + eps);
      }
    }
  });
  return theta;
}

function run(config: OptimizerConfig, theta0: Float64Array, updates: { grad: Float64Array; count: number }[]): Float64Array {
  const params = theta0.slice();
  const opt = new Optimizer(config, SIZE, 'float64');
  for (const { grad, count } of updates) opt.step(params, grad, count);
  return params;
}

const CONFIGS: OptimizerConfig[] = [
  { kind: 'sgd', lr: 0.1 },
  { kind: 'sgd', lr: 0.3, weightDecay: 0.01 },
  { kind: 'momentum', lr: 0.05 },
  { kind: 'momentum', lr: 0.05, momentum: 0.5, weightDecay: 0.1 },
  { kind: 'adam', lr: 0.01 },
  { kind: 'adam', lr: 0.002, beta1: 0.8, beta2: 0.99, eps: 1e-6, weightDecay: 0.05 },
];

describe('optimizers against a reference update over 3 steps (float64)', () => {
  for (const config of CONFIGS) {
    it(JSON.stringify(config), () => {
      const theta0 = startParams(1);
      const updates = steps(2);
      const got = run(config, theta0, updates);
      const want = referenceRun(config, theta0, updates);
      for (let i = 0; i < SIZE; i++) expect(Math.abs(got[i] - want[i]), `parameter ${i}`).toBeLessThanOrEqual(1e-14 * Math.max(1, Math.abs(want[i])));
      // and every step did move something
      expect(Array.from(got)).not.toEqual(Array.from(theta0));
    });
  }

  it('SGD on a hand example: θ − η (g / count + λθ)', () => {
    const params = Float64Array.from([1, -2, 0.5]);
    new Optimizer({ kind: 'sgd', lr: 0.5, weightDecay: 0.25 }, 3, 'float64').step(params, Float64Array.from([4, 2, -6]), 2);
    // 1 − 0.5(2 + 0.25), −2 − 0.5(1 − 0.5), 0.5 − 0.5(−3 + 0.125)
    expect(Array.from(params)).toEqual([-0.125, -2.25, 1.9375]);
  });

  it("Adam's first step is −η g / (|g| + ε): about η against the sign of each gradient", () => {
    const g = [3, -0.001, 40, -7];
    const params = new Float64Array(4);
    new Optimizer({ kind: 'adam', lr: 0.01 }, 4, 'float64').step(params, Float64Array.from(g), 1);
    // after one step m̂ = g and v̂ = g², whatever β1 and β2 are
    g.forEach((gi, i) => expect(Math.abs(params[i] - (-0.01 * gi) / (Math.abs(gi) + 1e-8))).toBeLessThanOrEqual(1e-17));
    expect(params[0]).toBeCloseTo(-0.01, 8);
    expect(params[1]).toBeCloseTo(0.0099999, 9);
  });

  it('weight decay alone shrinks the parameters by the factor (1 − ηλ) under SGD', () => {
    const params = Float64Array.from([2, -4]);
    new Optimizer({ kind: 'sgd', lr: 0.1, weightDecay: 0.5 }, 2, 'float64').step(params, new Float64Array(2), 10);
    expect(Array.from(params)).toEqual([2 * 0.95, -4 * 0.95]);
  });

  it('a step with no samples changes nothing, not even the step count', () => {
    const params = startParams(3);
    const opt = new Optimizer({ kind: 'adam', lr: 0.1 }, SIZE, 'float64');
    opt.step(params, steps(4)[0].grad, 0);
    expect(Array.from(params)).toEqual(Array.from(startParams(3)));
    expect(opt.state().t).toBe(0);
  });

  it('float32 follows the float64 reference to float32 precision', () => {
    const config: OptimizerConfig = { kind: 'adam', lr: 0.01, weightDecay: 0.01 };
    const theta0 = startParams(5);
    const updates = steps(6);
    const params = Float32Array.from(theta0);
    const opt = new Optimizer(config, SIZE, 'float32');
    for (const { grad, count } of updates) opt.step(params, Float32Array.from(grad), count);
    const want = referenceRun(config, Float64Array.from(theta0, Math.fround), updates.map((u) => ({ ...u, grad: Float64Array.from(u.grad, Math.fround) })));
    for (let i = 0; i < SIZE; i++) expect(Math.abs(params[i] - want[i])).toBeLessThanOrEqual(1e-5 * Math.max(1, Math.abs(want[i])));
  });
});

describe('optimizer state', () => {
  for (const config of CONFIGS) {
    it(`${config.kind}${config.weightDecay ? ' with weight decay' : ''}: state()/setState() mid-run continues bit for bit`, () => {
      const updates = [...steps(7), ...steps(8)];
      const params = startParams(9);
      const a = new Optimizer(config, SIZE, 'float64');
      for (const u of updates.slice(0, 2)) a.step(params, u.grad, u.count);
      const saved = a.state();
      const savedParams = params.slice();
      for (const u of updates.slice(2)) a.step(params, u.grad, u.count);

      // The snapshot is a copy: the steps after it changed neither its count nor its buffers.
      expect(saved.t).toBe(2);
      if (config.kind !== 'sgd') expect(Array.from(saved.buffers[0])).not.toEqual(Array.from(a.state().buffers[0]));
      const b = new Optimizer(config, SIZE, 'float64');
      b.setState({ t: saved.t, buffers: saved.buffers.map((x) => Float64Array.from(x)) });
      const resumed = savedParams.slice();
      for (const u of updates.slice(2)) b.step(resumed, u.grad, u.count);
      expect(Buffer.from(resumed.buffer).equals(Buffer.from(params.buffer))).toBe(true);
      expect(b.state().t).toBe(a.state().t);

      // Without the state (a fresh optimizer from the same parameters), momentum and Adam would differ.
      if (config.kind !== 'sgd') {
        const fresh = savedParams.slice();
        const c = new Optimizer(config, SIZE, 'float64');
        for (const u of updates.slice(2)) c.step(fresh, u.grad, u.count);
        expect(Buffer.from(fresh.buffer).equals(Buffer.from(params.buffer))).toBe(false);
      }
    });
  }

  it('keeps 0, 1 and 2 buffers for sgd, momentum and adam, and refuses mismatched state', () => {
    expect(new Optimizer({ kind: 'sgd', lr: 1 }, 3, 'float64').state().buffers).toHaveLength(0);
    expect(new Optimizer({ kind: 'momentum', lr: 1 }, 3, 'float64').state().buffers).toHaveLength(1);
    const adam = new Optimizer({ kind: 'adam', lr: 1 }, 3, 'float32');
    expect(adam.state().buffers.map((b) => b.constructor)).toEqual([Float32Array, Float32Array]);
    expect(() => adam.setState({ t: 1, buffers: [new Float32Array(3)] })).toThrow(/2 buffers/);
    expect(() => adam.setState({ t: 1, buffers: [new Float32Array(3), new Float32Array(4)] })).toThrow(/length 4/);
    expect(() => adam.setState({ t: -1, buffers: [new Float32Array(3), new Float32Array(3)] })).toThrow(RangeError);
    expect(() => adam.setState({ t: 1.5, buffers: [new Float32Array(3), new Float32Array(3)] })).toThrow(RangeError);
  });

  it('validates its configuration', () => {
    expect(() => validateOptimizer({ kind: 'rmsprop' as never, lr: 1 })).toThrow(/unknown optimizer/);
    expect(() => validateOptimizer({ kind: 'sgd', lr: 0 })).toThrow(/learning rate/);
    expect(() => validateOptimizer({ kind: 'sgd', lr: Number.NaN })).toThrow(/learning rate/);
    expect(() => validateOptimizer({ kind: 'sgd', lr: 1, weightDecay: -1 })).toThrow(/weight decay/);
    expect(() => validateOptimizer({ kind: 'momentum', lr: 1, momentum: 1 })).toThrow(/momentum/);
    expect(() => validateOptimizer({ kind: 'adam', lr: 1, beta2: 1.5 })).toThrow(/beta2/);
    expect(() => validateOptimizer({ kind: 'adam', lr: 1, eps: 0 })).toThrow(/eps/);
    expect(() => validateOptimizer({ kind: 'adam', lr: 0.001, beta1: 0, weightDecay: 0 })).not.toThrow();
  });
});
