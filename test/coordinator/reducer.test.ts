import { describe, expect, it } from 'vitest';
import { Reducer } from '../../packages/coordinator/src/reducer.js';

describe('Reducer', () => {
  it('adds dense sums in slot order whatever the arrival order, skipping empty parts', () => {
    const r = new Reducer(3);
    r.add(2, { count: 2, lossSum: 0.5, correct: 1 }, Float64Array.from([1, 2]));
    r.add(0, { count: 0, lossSum: 0, correct: 0 }, Float64Array.from([NaN, NaN])); // an empty part is never read
    expect(r.complete).toBe(false);
    r.add(1, { count: 1, lossSum: 0.25, correct: 1 }, Float64Array.from([10, 20]));
    expect(r.complete).toBe(true);
    const out = new Float64Array(2).fill(99);
    expect(r.reduce(out)).toEqual({ count: 3, lossSum: 0.75, correct: 2 });
    expect(Array.from(out)).toEqual([11, 22]);
    expect(() => r.add(1, { count: 1, lossSum: 0, correct: 0 }, new Float64Array(2))).toThrow(/already reported/);
    r.reset();
    for (let s = 0; s < 3; s++) r.add(s, { count: 0, lossSum: 0, correct: 0 }, new Float64Array(2));
    expect(r.reduce(out).count).toBe(0);
    expect(Array.from(out)).toEqual([0, 0]);
  });

  it('puts factor rows back in batch order, block by block', () => {
    // widths [2, 1]: per sample a block of 2 values, then a block of 1; batch of 3 over two slots
    const r = new Reducer(2);
    // slot 0 holds batch positions 1 (sample "b"); slot 1 holds positions 0 and 2 ("a", "c")
    r.add(0, { count: 1, lossSum: 1, correct: 0 }, Float64Array.from([21, 22, 23]));
    r.add(1, { count: 2, lossSum: 2, correct: 1 }, Float64Array.from([11, 12, 31, 32, 13, 33]));
    const out = new Float64Array(9);
    const total = r.assemble(Int32Array.from([1, 0, 1]), 3, [2, 1], out);
    expect(total).toEqual({ count: 3, lossSum: 3, correct: 1 });
    expect(Array.from(out)).toEqual([11, 12, 21, 22, 31, 32, 13, 23, 33]);
  });
});
