import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Rng } from '@shardprop/core';

function draw(rng: Rng, n: number): number[] {
  return Array.from({ length: n }, () => rng.nextUint32());
}

describe('Rng', () => {
  it('is xoshiro128**: the reference outputs from state (1, 2, 3, 4)', () => {
    // From the reference C implementation (Blackman & Vigna), run separately.
    const rng = Rng.fromState([1, 2, 3, 4]);
    expect(draw(rng, 6)).toEqual([11520, 0, 5927040, 70819200, 2031721883, 1637235492]);
    expect(rng.state()).toEqual([1110993931, 286554632, 2431677446, 2165318166]);
    const high = Rng.fromState([0x9e3779b9, 0xdeadbeef, 0x12345678, 0xffffffff]);
    expect(draw(high, 6)).toEqual([1162347276, 1472368062, 4030867362, 95343704, 3497588558, 2613181304]);
  });

  it('gives the same stream for the same seed and different streams for different seeds', () => {
    fc.assert(
      fc.property(fc.integer({ min: -(2 ** 40), max: 2 ** 40 }), (seed) => {
        expect(draw(new Rng(seed), 20)).toEqual(draw(new Rng(seed), 20));
        expect(draw(new Rng(seed), 20)).not.toEqual(draw(new Rng(seed + 1), 20));
      }),
      { numRuns: 200 },
    );
    expect(draw(new Rng(0), 4)).not.toEqual(draw(new Rng(2 ** 32), 4)); // the high word of the seed counts
  });

  it('state() / setState() and fromState() continue the same stream', () => {
    const a = new Rng(99);
    draw(a, 7);
    a.gaussian();
    const saved = a.state();
    const expected = [...draw(a, 10), a.uniform(), a.gaussian(), a.int(1000)];
    const b = Rng.fromState(saved);
    expect([...draw(b, 10), b.uniform(), b.gaussian(), b.int(1000)]).toEqual(expected);
    const c = new Rng(1);
    c.setState(JSON.parse(JSON.stringify(saved)));
    expect([...draw(c, 10), c.uniform(), c.gaussian(), c.int(1000)]).toEqual(expected);
    saved[0] ^= 1; // state() is a copy
    expect(Rng.fromState(a.state()).nextUint32()).toBe(a.nextUint32());
  });

  it('refuses bad seeds and states', () => {
    expect(() => new Rng(1.5)).toThrow(RangeError);
    expect(() => new Rng(Number.NaN)).toThrow(RangeError);
    expect(() => Rng.fromState([0, 0, 0, 0])).toThrow(/zero/);
    expect(() => Rng.fromState([1, 2, 3])).toThrow(RangeError);
    expect(() => Rng.fromState([1, 2, 3, 2 ** 32])).toThrow(RangeError);
    expect(() => Rng.fromState([1, 2, 3, -1])).toThrow(RangeError);
    expect(() => Rng.fromState([1, 2, 3, 0.5])).toThrow(RangeError);
  });

  it('uniform() is in [0, 1) with mean 1/2 and variance 1/12', () => {
    const rng = new Rng(5);
    const n = 100_000;
    let sum = 0;
    let sq = 0;
    let outside = 0;
    for (let i = 0; i < n; i++) {
      const u = rng.uniform();
      if (!(u >= 0 && u < 1)) outside++;
      sum += u;
      sq += u * u;
    }
    expect(outside).toBe(0);
    const mean = sum / n;
    expect(Math.abs(mean - 0.5)).toBeLessThan(0.005); // σ of the mean ≈ 0.0009
    expect(Math.abs(sq / n - mean * mean - 1 / 12)).toBeLessThan(0.002);
  });

  it('gaussian() has mean 0 and variance 1 over 100k draws, and plausible tails', () => {
    const rng = new Rng(6);
    const n = 100_000;
    let sum = 0;
    let sq = 0;
    let beyond2 = 0;
    let nonFinite = 0;
    for (let i = 0; i < n; i++) {
      const g = rng.gaussian();
      if (!Number.isFinite(g)) nonFinite++;
      sum += g;
      sq += g * g;
      if (Math.abs(g) > 2) beyond2++;
    }
    expect(nonFinite).toBe(0);
    const mean = sum / n;
    expect(Math.abs(mean)).toBeLessThan(0.02); // σ of the mean ≈ 0.003
    expect(Math.abs(sq / n - mean * mean - 1)).toBeLessThan(0.03); // σ of the variance ≈ 0.0045
    expect(beyond2 / n).toBeGreaterThan(0.04); // P(|g| > 2) = 0.0455
    expect(beyond2 / n).toBeLessThan(0.051);
  });

  it('int(n) stays in [0, n) and hits every value of a small range about equally', () => {
    const rng = new Rng(7);
    for (const n of [1, 2, 3, 7, 1000, 2 ** 31 + 1, 2 ** 32 - 1, 2 ** 32]) {
      let bad = 0;
      let max = 0;
      for (let i = 0; i < 2000; i++) {
        const v = rng.int(n);
        if (!(Number.isInteger(v) && v >= 0 && v < n)) bad++;
        max = Math.max(max, v);
      }
      expect(bad, `int(${n})`).toBe(0);
      if (n >= 2 ** 31) expect(max).toBeGreaterThan(2 ** 30); // uses the whole range
    }
    const counts = new Array(7).fill(0);
    for (let i = 0; i < 70_000; i++) counts[rng.int(7)]++;
    for (const c of counts) expect(Math.abs(c - 10_000)).toBeLessThan(500); // σ ≈ 93
    expect(() => rng.int(0)).toThrow(RangeError);
    expect(() => rng.int(2.5)).toThrow(RangeError);
    expect(() => rng.int(2 ** 32 + 1)).toThrow(RangeError);
  });

  it('shuffle() and permutation() give permutations, and every order of 3 about equally often', () => {
    const rng = new Rng(8);
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 300 }), (n) => {
        const p = rng.permutation(n);
        expect(Array.from(p).sort((a, b) => a - b)).toEqual(Array.from({ length: n }, (_, i) => i));
      }),
    );
    const seen = new Map<string, number>();
    for (let i = 0; i < 6000; i++) {
      const key = rng.permutation(3).join('');
      seen.set(key, (seen.get(key) ?? 0) + 1);
    }
    expect(seen.size).toBe(6);
    for (const c of seen.values()) expect(Math.abs(c - 1000)).toBeLessThan(150); // σ ≈ 29
  });
});
