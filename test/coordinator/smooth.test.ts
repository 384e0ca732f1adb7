/**
 * The curves' smoothing (assets/smooth.js, a classic browser script) run in a bare
 * VM context: an exponential moving average checked against the recurrence worked by hand.
 */
import { readFileSync } from 'node:fs';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';

const SCRIPT = readFileSync(new URL('../../packages/coordinator/assets/smooth.js', import.meta.url), 'utf8');

function loadEma(): (ys: (number | null)[], weight: number) => (number | null)[] {
  const context: { shardpropSmooth?: { ema: (ys: (number | null)[], weight: number) => (number | null)[] } } = {};
  runInNewContext(SCRIPT, context);
  return context.shardpropSmooth!.ema;
}

describe('ema (the curves\' smoothing)', () => {
  const ema = loadEma();

  it('is the debiased exponential moving average: worked by hand for w = 0.5', () => {
    // s1 = 0.5·1 = 0.5 → /(1 − 0.5) = 1;  s2 = 0.25 + 0.5·3 = 1.75 → /(1 − 0.25) = 7/3;  s3 = 0.875 + 0.5·5 = 3.375 → /(1 − 0.125) = 27/7
    const out = ema([1, 3, 5], 0.5);
    expect(out[0]).toBeCloseTo(1, 15);
    expect(out[1]).toBeCloseTo(7 / 3, 15);
    expect(out[2]).toBeCloseTo(27 / 7, 15);
  });

  it('keeps a constant curve constant from its first point (no pull towards 0), and w = 0 returns the points', () => {
    for (const w of [0.1, 0.6, 0.99]) for (const v of ema(Array(50).fill(0.3), w)) expect(v).toBeCloseTo(0.3, 12);
    expect(ema([4, -2, 7.5], 0)).toEqual([4, -2, 7.5]);
  });

  it('leaves gaps where a point is null or not finite, and they do not count', () => {
    const out = ema([2, null, Number.NaN, 4, Number.POSITIVE_INFINITY], 0.5);
    expect(out[1]).toBeNull();
    expect(out[2]).toBeNull();
    expect(out[4]).toBeNull();
    // as if the curve were [2, 4]: s2 = 0.5·1 + 0.5·4 = 2.5 → /(1 − 0.25) = 10/3
    expect(out[3]).toBeCloseTo(10 / 3, 15);
  });

  it('smooths a sawtooth: its swing shrinks as the weight grows', () => {
    const saw = Array.from({ length: 400 }, (_, i) => 1 + (i % 2 === 0 ? 0.5 : -0.5));
    const swing = (w: number) => {
      const tail = ema(saw, w).slice(200) as number[];
      return Math.max(...tail) - Math.min(...tail);
    };
    expect(swing(0)).toBeCloseTo(1, 12);
    expect(swing(0.6)).toBeLessThan(0.3);
    expect(swing(0.95)).toBeLessThan(0.03);
  });
});
