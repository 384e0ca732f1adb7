import { describe, expect, it } from 'vitest';
import { Model, Rng, areClassLabels, classesOf, predictOutputs, referenceForward, type ModelSpec } from '@shardprop/core';

describe('predictOutputs', () => {
  it.each(['float32', 'float64'] as const)('%s: a^L of each row is the per-sample reference forward pass', (dtype) => {
    const spec: ModelSpec = { layers: [3, 5, 4], activation: 'tanh', loss: 'cross-entropy', dtype };
    const model = Model.init(spec, 4);
    const rng = new Rng(8);
    const rows = 300; // more than one chunk of 256
    const x = Float64Array.from({ length: rows * 3 }, () => rng.gaussian());
    const out = predictOutputs(model, x, rows);
    expect(out).toBeInstanceOf(dtype === 'float32' ? Float32Array : Float64Array);
    for (let r = 0; r < rows; r += 37) {
      const { a } = referenceForward(model, Array.from(x.subarray(r * 3, r * 3 + 3)).map((v) => (dtype === 'float32' ? Math.fround(v) : v)));
      for (let j = 0; j < 4; j++) expect(out[r * 4 + j]).toBeCloseTo(a[2][j], dtype === 'float32' ? 5 : 12);
    }
  });

  it('refuses inputs of the wrong width', () => {
    const model = Model.init({ layers: [2, 1], activation: 'sigmoid', loss: 'quadratic', dtype: 'float64' }, 0);
    expect(() => predictOutputs(model, new Float64Array(3), 2)).toThrow(/2 rows of 2 inputs/);
  });
});

describe('classesOf and areClassLabels', () => {
  it('the class is the first largest output, or a ≥ 0.5 for one output', () => {
    expect(Array.from(classesOf(Float64Array.from([0.1, 0.7, 0.7, 0.9, 0.2, 0.3]), 2, 3))).toEqual([1, 0]);
    expect(Array.from(classesOf(Float64Array.from([0.49, 0.5, 0.99]), 3, 1))).toEqual([0, 1, 1]);
  });

  it('class labels are one-hot rows, or 0/1 for one output', () => {
    expect(areClassLabels(Float64Array.from([0, 1, 0, 1, 0, 0]), 2, 3)).toBe(true);
    expect(areClassLabels(Float64Array.from([0, 1, 1, 1, 0, 0]), 2, 3)).toBe(false);
    expect(areClassLabels(Float64Array.from([0, 0, 0, 1, 0, 0]), 2, 3)).toBe(false);
    expect(areClassLabels(Float64Array.from([0, 1, 1]), 3, 1)).toBe(true);
    expect(areClassLabels(Float64Array.from([0, 0.5, 1]), 3, 1)).toBe(false);
  });
});
