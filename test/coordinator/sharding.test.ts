import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { countPerShard, shardIndices, splitShards } from '../../packages/coordinator/src/sharding.js';
import { Reducer } from '../../packages/coordinator/src/reducer.js';

describe('splitShards', () => {
  it('covers every sample exactly once, sizes differing by at most one', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 5000 }), fc.integer({ min: 1, max: 64 }), (total, workers) => {
        const shards = splitShards(total, workers);
        expect(shards).toHaveLength(workers);
        const seen = new Uint8Array(total);
        for (const s of shards) for (const i of shardIndices(s)) seen[i]++;
        expect(seen.every((v) => v === 1)).toBe(true);
        const sizes = shards.map((s) => s.end - s.start);
        expect(Math.max(...sizes) - Math.min(...sizes)).toBeLessThanOrEqual(1);
      }),
    );
  });

  it('counts the part of a batch each shard holds', () => {
    const shards = splitShards(10, 3); // [0,3) [3,6) [6,10)
    const out = new Int32Array(3);
    countPerShard(Uint32Array.from([9, 0, 5, 6, 2, 3]), shards, out);
    expect(Array.from(out)).toEqual([2, 2, 2]);
    countPerShard(Uint32Array.from([7, 8]), shards, out);
    expect(Array.from(out)).toEqual([0, 0, 2]);
  });
});

describe('Reducer', () => {
  it('adds in slot order whatever the arrival order, and sums counts and losses', () => {
    const r = new Reducer(3);
    r.add(2, { count: 1, lossSum: 0.5, correct: 1 }, Float64Array.from([1e16, 1]));
    r.add(0, { count: 2, lossSum: 1.5, correct: 0 }, Float64Array.from([1, 2]));
    expect(r.complete).toBe(false);
    r.add(1, { count: 3, lossSum: 2, correct: 3 }, Float64Array.from([-1e16, 3]));
    expect(r.complete).toBe(true);
    const out = new Float64Array(2);
    expect(r.reduce(out)).toEqual({ count: 6, lossSum: 4, correct: 4 });
    // slot order: ((0 + 1) + -1e16) + 1e16 = 0 in float64, not the 1 of arrival order
    expect(Array.from(out)).toEqual([0, 6]);
    expect(() => r.add(1, { count: 0, lossSum: 0, correct: 0 }, out)).toThrow();
    r.reset();
    expect(r.complete).toBe(false);
  });
});
