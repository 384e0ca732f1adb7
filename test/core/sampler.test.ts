import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Sampler } from '@shardprop/core';

function epochOf(sampler: Sampler): number[][] {
  return Array.from({ length: sampler.batchesPerEpoch }, () => Array.from(sampler.next()));
}

describe('Sampler', () => {
  it('covers every index exactly once per epoch, in full batches and one short last batch', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 500 }), fc.integer({ min: 1, max: 80 }), fc.integer(), (count, batchSize, seed) => {
        const sampler = new Sampler(count, batchSize, seed);
        expect(sampler.batchesPerEpoch).toBe(Math.ceil(count / batchSize));
        for (let e = 0; e < 3; e++) {
          expect(sampler.epoch).toBe(e);
          const batches = epochOf(sampler);
          const sizes = batches.map((b) => b.length);
          expect(sizes.slice(0, -1).every((s) => s === batchSize)).toBe(true);
          expect(sizes[sizes.length - 1]).toBe(count - (batches.length - 1) * batchSize);
          expect(batches.flat().sort((a, b) => a - b)).toEqual(Array.from({ length: count }, (_, i) => i));
        }
        expect(sampler.epoch).toBe(3);
      }),
      { numRuns: 150 },
    );
  });

  it('shuffles differently each epoch, the same way for the same seed, differently for another seed', () => {
    const run = (seed: number): number[][] => {
      const s = new Sampler(50, 8, seed);
      return [epochOf(s).flat(), epochOf(s).flat()];
    };
    const [e0, e1] = run(3);
    expect(run(3)).toEqual([e0, e1]);
    expect(e0).not.toEqual(e1);
    expect(run(4)[0]).not.toEqual(e0);
    expect(e0).not.toEqual(Array.from({ length: 50 }, (_, i) => i));
  });

  it('without shuffling, walks the data set in order', () => {
    const s = new Sampler(7, 3, 1, false);
    expect([...epochOf(s), ...epochOf(s)]).toEqual([[0, 1, 2], [3, 4, 5], [6], [0, 1, 2], [3, 4, 5], [6]]);
  });

  it('state() / setState() mid-epoch, at an epoch boundary or before the first batch continues identically', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 60 }), fc.integer({ min: 1, max: 20 }), fc.integer(), fc.integer({ min: 0, max: 40 }), (count, batchSize, seed, before) => {
        const a = new Sampler(count, batchSize, seed);
        for (let i = 0; i < before; i++) a.next();
        const saved = a.state();
        const epoch = a.epoch;
        const expected = Array.from({ length: 3 * a.batchesPerEpoch }, () => Array.from(a.next()));
        // A sampler from another seed, restored through JSON as a checkpoint would be.
        const b = new Sampler(count, batchSize, seed + 1);
        const json = JSON.parse(JSON.stringify({ ...saved, order: Array.from(saved.order) }));
        b.setState({ ...json, order: Uint32Array.from(json.order) });
        expect(b.epoch).toBe(epoch);
        expect(Array.from({ length: expected.length }, () => Array.from(b.next()))).toEqual(expected);
      }),
      { numRuns: 150 },
    );
  });

  it('state() is a snapshot, not a view of the live order', () => {
    const s = new Sampler(10, 4, 1);
    s.next();
    const saved = s.state();
    const order = Array.from(saved.order);
    for (let i = 0; i < 5; i++) s.next(); // crosses into the next epoch, which reshuffles
    expect(Array.from(saved.order)).toEqual(order);
  });

  it('refuses bad arguments and state for another data set', () => {
    expect(() => new Sampler(0, 1, 1)).toThrow(RangeError);
    expect(() => new Sampler(5, 0, 1)).toThrow(RangeError);
    expect(() => new Sampler(5, 1.5, 1)).toThrow(RangeError);
    const s = new Sampler(5, 2, 1);
    const other = new Sampler(6, 2, 1).state();
    expect(() => s.setState(other)).toThrow(/6 samples/);
    expect(() => s.setState({ ...s.state(), cursor: 9 })).toThrow(/cursor/);
  });
});
