import { describe, expect, it } from 'vitest';
import { Model, referenceForward } from '@shardprop/core';
import { UsageError, predict } from '@shardprop/coordinator';

describe('predict(model, rows), the programmatic API', () => {
  const model = Model.init({ layers: [3, 4, 2], activation: 'sigmoid', loss: 'quadratic', dtype: 'float64' }, 2);
  const rows = [[0.5, -1, 2], [0, 0, 0], [3, 1, -2]];

  it.each(['js', 'wasm'] as const)('gives a^L of each row (the reference forward pass) and its argmax class, with %s kernels', async (kernel) => {
    const { outputs, classes } = await predict(model, rows, { kernel });
    expect(outputs).toHaveLength(3);
    rows.forEach((x, r) => {
      const a = referenceForward(model, x).a[2];
      outputs[r].forEach((v, j) => expect(v).toBeCloseTo(a[j], 12));
      expect(classes[r]).toBe(a[1] > a[0] ? 1 : 0);
    });
  });

  it('refuses rows that are not the model\'s inputs, naming the row', async () => {
    await expect(predict(model, [[1, 2, 3], [1, 2]])).rejects.toThrow(UsageError);
    await expect(predict(model, [[1, 2, 3], [1, 2]])).rejects.toThrow(/row 1 must be an array of 3 numbers/);
    await expect(predict(model, [[1, Number.NaN, 3]])).rejects.toThrow(/row 0, input 1 must be a finite number/);
  });

  it('gives nothing for no rows', async () => {
    expect(await predict(model, [])).toEqual({ outputs: [], classes: [] });
  });
});
