import fc from 'fast-check';
import { Packr } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import { TAIL_FRAGMENT_BYTES, decodeGradient, decodeToWorker, decodeWithTail, encode, encodeGradient, encodeStep, encodeWithTail, sendFragments } from '@shardprop/protocol';
import { accepted, refused } from '../helpers/checked.js';

/**
 * The hot messages travel as fragments whose last part is the big array's raw
 * bytes. They must be ordinary msgpack (any msgpackr reads them whole), read
 * the same however the bytes are cut into fragments, and anything laid out
 * otherwise must fall back to the ordinary decoding with `into` untouched.
 */
const packr = new Packr({ useRecords: false, moreTypes: true, mapsAsObjects: true });

/** The same bytes cut at the given points. */
function recut(fragments: Buffer[], cuts: number[]): Buffer[] {
  const whole = Buffer.concat(fragments);
  const points = [...new Set([0, ...cuts.map((c) => c % (whole.length + 1)), whole.length])].sort((a, b) => a - b);
  const out: Buffer[] = [];
  for (let i = 0; i + 1 < points.length; i++) out.push(whole.subarray(points[i], points[i + 1]));
  return out.length ? out : [whole];
}

const arrayArb = fc.record({
  double: fc.boolean(),
  values: fc.array(fc.double({ noNaN: true, min: -1e30, max: 1e30 }), { maxLength: 300 }),
});

describe('tail-array messages', () => {
  it('are ordinary msgpack, and read back the same from any cut of their bytes', () => {
    fc.assert(
      fc.property(arrayArb, fc.array(fc.nat(), { maxLength: 6 }), fc.integer({ min: 0, max: 1000 }), ({ double, values }, cuts, step) => {
        const array = double ? Float64Array.from(values) : Float32Array.from(values);
        const head = { type: 'gradient', step, name: 'w' };
        const fragments = encodeWithTail(packr, head, 'grad', array);
        const whole = packr.unpack(Buffer.concat(fragments));
        expect(whole).toEqual({ ...head, grad: array });
        const into = double ? new Float64Array(array.length) : new Float32Array(array.length);
        const read = decodeWithTail(packr, recut(fragments, cuts), 'grad', into);
        expect(read).toEqual({ ...head, grad: array });
        expect(read!.grad).toBe(into);
      }),
      { numRuns: 300 },
    );
  });

  it('cut the array into fragments of at most TAIL_FRAGMENT_BYTES, views of the array itself', () => {
    const array = new Float32Array((TAIL_FRAGMENT_BYTES * 2.5) / 4).map((_, i) => i);
    const [prefix, ...tail] = encodeWithTail(packr, { type: 'step' }, 'params', array);
    expect(prefix.length).toBeLessThan(64);
    expect(tail.map((f) => f.length)).toEqual([TAIL_FRAGMENT_BYTES, TAIL_FRAGMENT_BYTES, TAIL_FRAGMENT_BYTES / 2]);
    expect(tail.every((f) => f.buffer === array.buffer)).toBe(true);
    const sent: [number, boolean][] = [];
    sendFragments({ send: (data, { fin }) => sent.push([data.length, fin]) }, [prefix, ...tail]);
    expect(sent.map(([, fin]) => fin)).toEqual([false, false, false, true]);
  });

  it('fall back (null, into untouched) for anything laid out otherwise', () => {
    const grad = Float32Array.from([1, 2, 3]);
    const into = () => new Float32Array(3).fill(7);
    const cases: [string, Buffer[]][] = [
      ['the array not last', [packr.pack({ grad, type: 'gradient' })]],
      ['plain msgpackr (the array in an ext 8)', [packr.pack({ type: 'gradient', grad })]],
      ['another array type', encodeWithTail(packr, { type: 'gradient' }, 'grad', Float64Array.from([1, 2, 3]))],
      ['another length', encodeWithTail(packr, { type: 'gradient' }, 'grad', Float32Array.from([1, 2, 3, 4]))],
      ['another key', encodeWithTail(packr, { type: 'gradient' }, 'params', grad)],
      ['an array, not a map', [Buffer.concat([Buffer.from([0x92, 0x01]), ...encodeWithTail(packr, {}, 'grad', grad).slice(1)])]],
      ['nothing', [Buffer.alloc(0)]],
      ['garbage', [Buffer.from('not msgpack at all, not at all, not at all')]],
    ];
    for (const [name, fragments] of cases) {
      const target = into();
      expect(decodeWithTail(packr, fragments, 'grad', target), name).toBeNull();
      expect(Array.from(target), name).toEqual([7, 7, 7]);
    }
    // a head with two values where one is expected: the nil does not close the map the way it must
    const [prefix, ...tail] = encodeWithTail(packr, { type: 'gradient' }, 'grad', grad);
    const trailing = Buffer.concat([Buffer.from([0x01]), prefix]);
    expect(decodeWithTail(packr, [trailing, ...tail], 'grad', into())).toBeNull();
  });
});

describe('the protocol over tail-array messages', () => {
  const expectation = { size: 4, dtype: 'float32' as const, form: 'dense' as const, factorWidth: 2, step: 5, round: 1, count: 3, blocks: 1, pieces: 1 };
  const head = { type: 'gradient' as const, step: 5, round: 1, count: 3, blockLoss: Float64Array.from([1.5]), correct: 1, computeMs: 0.1, receivedAt: 5, previousSentAt: 4 };

  it('a gradient is copied into the worker\'s buffer and validated as ever', () => {
    const into = new Float32Array(4);
    const g = accepted(decodeGradient(encodeGradient(head, Float32Array.from([1, 2, 3, 4])), expectation, into));
    expect(g.grad).toEqual(Float32Array.from([1, 2, 3, 4]));
    expect(g.grad.buffer).toBe(into.buffer);
    expect(refused(decodeGradient(encodeGradient(head, Float32Array.from([1, NaN, 3, 4])), expectation, new Float32Array(4))).reason).toMatch(/NaN or infinite/);
    expect(refused(decodeGradient(encodeGradient({ ...head, step: 6 }, Float32Array.from([1, 2, 3, 4])), expectation, new Float32Array(4))).reason).toMatch(/step 6, expected step 5/);
    expect(refused(decodeGradient(encodeGradient(head, Float32Array.from([1, 2, 3])), expectation, new Float32Array(4))).reason).toMatch(/3 values, expected 4/);
    // the ordinary encoding still works, by the fallback
    expect(accepted(decodeGradient([encode({ ...head, grad: Float32Array.from([4, 3, 2, 1]) })], expectation, new Float32Array(4))).grad).toEqual(Float32Array.from([4, 3, 2, 1]));
    expect(refused(decodeGradient([Buffer.from([0xc1])], expectation, new Float32Array(4))).code).not.toBe('SP_ERR_STALE_ROUND');
  });

  it('a step lands in the worker\'s parameters without a copy in between', () => {
    const params = new Float64Array(3);
    const receiving = { params, total: 5, block: 2, spec: { layers: [2, 1], activation: 'sigmoid' as const, loss: 'quadratic' as const, dtype: 'float64' as const } };
    const message = encodeStep(9, 1, Uint32Array.from([4, 2]), Uint32Array.from([3]), Uint32Array.from([0, 1]), Float64Array.from([0.5, -1, 2]));
    const m = accepted(decodeToWorker(message, receiving));
    expect(m.type).toBe('step');
    if (m.type !== 'step') return;
    expect(m.params).toBe(params);
    expect(Array.from(params)).toEqual([0.5, -1, 2]);
    expect(Array.from(m.batch)).toEqual([4, 2]);
    expect(m.step).toBe(9);
    expect(Array.from(m.workers)).toEqual([3]);
    // parameters of the wrong type are refused, not copied
    expect(refused(decodeToWorker(encodeStep(9, 1, Uint32Array.from([1]), Uint32Array.from([3]), Uint32Array.from([0, 1]), Float32Array.from([1, 2, 3])), receiving)).reason).toMatch(/params must be 3 float64 values/);
    expect(Array.from(params)).toEqual([0.5, -1, 2]);
  });
});
