import { describe, expect, it } from 'vitest';
import {
  PROTOCOL_VERSION, decodeFromSliceServer, decodeHello, decodeSliceValues, decodeToSliceServer, decodeToWorker, encode, encodeSliceStep, encodeSliceValues, encodeStep,
  type Checked, type SliceExpectation,
} from '@shardprop/protocol';

/** The messages of sliced steps (docs/scaling.md): each check gives its code and reason, and a slice's values land where the receiver wants them. */
const refused = <T>(c: Checked<T>) => {
  if (c.ok) throw new Error('accepted');
  return c;
};
const accepted = <T>(c: Checked<T>): T => {
  if (!c.ok) throw new Error(c.reason);
  return c.message;
};
const copy = (frames: Buffer[]) => frames.map((f) => Buffer.from(f));

describe('sliced steps on the wire', () => {
  it('hellos say a slice server\'s address, or the worker a slice server serves', () => {
    const hello = (over: Record<string, unknown>) => decodeHello(encode({ type: 'hello', version: PROTOCOL_VERSION, name: 's', ...over } as never));
    expect(accepted(hello({ role: 'slice', serves: 'ws://10.1.2.3:4567' }))).toMatchObject({ role: 'slice', serves: 'ws://10.1.2.3:4567' });
    expect(accepted(hello({ role: 'slice', serves: 'ws://[fe80::1]:80' })).serves).toBe('ws://[fe80::1]:80');
    expect(accepted(hello({ workerId: 3 })).workerId).toBe(3);
    expect(refused(hello({ role: 'slice' })).reason).toMatch(/must say where it serves/);
    expect(refused(hello({ role: 'relay', serves: 'ws://h:1' })).reason).toMatch(/role/);
    for (const serves of ['http://h:1', 'ws://h', 'ws://h:1/path', 'ws://a b:1', 7]) expect(refused(hello({ role: 'slice', serves })).code).toBe('SP_ERR_BAD_FIELD');
    expect(refused(hello({ workerId: -1 })).code).toBe('SP_ERR_BAD_FIELD');
  });

  it('a sliced step carries its servers and bounds and no parameters', () => {
    const params = new Float32Array(10);
    const receiving = { params, spec: { layers: [2, 2, 2], activation: 'sigmoid', loss: 'quadratic', dtype: 'float32' } as const, total: 8, block: 2 };
    const step = (slices: unknown, values = params.subarray(0, 0)) =>
      decodeToWorker(copy(encodeStep(1, 0, Uint32Array.of(0, 1, 2), Uint32Array.of(1), Uint32Array.of(0, 2), values, slices as never)), receiving);
    const m = accepted(step({ addresses: ['ws://a:1', 'ws://b:2'], bounds: Uint32Array.of(0, 4, 10) }));
    expect(m.type === 'step' && m.slices?.addresses).toEqual(['ws://a:1', 'ws://b:2']);
    expect(refused(step({ addresses: ['ws://a:1'], bounds: Uint32Array.of(0, 9) })).reason).toMatch(/from 0 to 10/);
    expect(refused(step({ addresses: ['ws://a:1', 'ws://b:2'], bounds: Uint32Array.of(0, 0, 10) })).reason).toMatch(/ascend/);
    expect(refused(step({ addresses: [], bounds: Uint32Array.of(0) })).reason).toMatch(/slice servers/);
    expect(refused(step({ addresses: ['file:///x'], bounds: Uint32Array.of(0, 10) })).reason).toMatch(/address/);
    expect(refused(step({ addresses: ['ws://a:1'], bounds: [0, 10] })).code).toBe('SP_ERR_BAD_FIELD');
  });

  it('a slice\'s values are checked against the step, round, start, worker and length the receiver waits for, and copied where it wants them', () => {
    const e: SliceExpectation = { type: 'part', dtype: 'float64', step: 4, round: 2, length: 3, workerId: 7 };
    const values = Float64Array.of(1, -0, 3);
    const part = (over: Record<string, unknown>, v: Float64Array = values) => copy(encodeSliceValues({ type: 'part', step: 4, round: 2, workerId: 7, ...over } as never, v));
    const into = new Float64Array(3);
    const m = accepted(decodeSliceValues(part({}), e, into));
    expect(m.grad).toBe(into);
    expect(Array.from(into)).toEqual([1, -0, 3]);
    expect(Object.is(into[1], -0)).toBe(true);
    expect(refused(decodeSliceValues(part({ round: 1 }), e)).code).toBe('SP_ERR_STALE_ROUND');
    expect(refused(decodeSliceValues(part({ round: 3 }), e)).code).toBe('SP_ERR_WRONG_ROUND');
    expect(refused(decodeSliceValues(part({ step: 5 }), e)).code).toBe('SP_ERR_WRONG_STEP');
    expect(refused(decodeSliceValues(part({ workerId: 8 }), e)).reason).toMatch(/worker 8 on the connection of worker 7/);
    expect(refused(decodeSliceValues(part({}, Float64Array.of(1, 2)), e)).code).toBe('SP_ERR_WRONG_ARRAY');
    expect(refused(decodeSliceValues(part({}, Float64Array.of(1, NaN, 2)), e)).code).toBe('SP_ERR_NOT_FINITE');
    // several arrays go as one: a worker's pieces cut to the slice
    const two = copy(encodeSliceValues({ type: 'part', step: 4, round: 2, workerId: 7 }, [Float64Array.of(1), Float64Array.of(-0, 3)]));
    expect(Array.from(accepted(decodeSliceValues(two, e, new Float64Array(3))).grad)).toEqual([1, -0, 3]);
    const params = copy(encodeSliceValues({ type: 'params', step: 4, round: 2, from: 5 }, values));
    expect(refused(decodeSliceValues(params, { type: 'params', dtype: 'float64', step: 4, round: 2, length: 3, from: 6 })).reason).toMatch(/start at 6/);
    expect(refused(decodeSliceValues(params, { ...e })).code).toBe('SP_ERR_UNEXPECTED_TYPE');
  });

  it('the coordinator takes a sum or a faulty worker from a slice server; a slice server takes a sending of a step', () => {
    const e: SliceExpectation = { type: 'sum', dtype: 'float32', step: 2, round: 1, length: 2 };
    const into = new Float32Array(2);
    const sum = accepted(decodeFromSliceServer(copy(encodeSliceValues({ type: 'sum', step: 2, round: 1 }, Float32Array.of(0.5, 2))), e, into));
    expect(sum.type === 'sum' && sum.grad).toBe(into);
    const faulty = accepted(decodeFromSliceServer(encode({ type: 'faulty', step: 2, round: 1, workerId: 3, code: 'SP_ERR_NOT_FINITE', reason: 'r' }), e));
    expect(faulty).toMatchObject({ type: 'faulty', workerId: 3, code: 'SP_ERR_NOT_FINITE' });
    expect(refused(decodeFromSliceServer(encode({ type: 'faulty', step: 2, round: 1, workerId: 3, code: 'SP_ERR_NOPE', reason: 'r' } as never), e)).code).toBe('SP_ERR_BAD_FIELD');
    expect(refused(decodeFromSliceServer(encode({ type: 'faulty', step: 1, round: 0, workerId: 3, code: 'SP_ERR_NOT_FINITE', reason: 'r' }), e)).code).toBe('SP_ERR_STALE_ROUND');

    const head = { type: 'slice-step' as const, step: 3, round: 2, kernel: 'js' as const, size: 10, blocks: 3, workers: Uint32Array.of(4, 5), cuts: Uint32Array.of(0, 1, 3), from: 6 };
    const ok = accepted(decodeToSliceServer(copy(encodeSliceStep(head, Float64Array.of(1, 2, 3, 4)))));
    expect(ok.type === 'slice-step' && Array.from(ok.params)).toEqual([1, 2, 3, 4]);
    const bad = (over: Record<string, unknown>, params = Float64Array.of(1, 2, 3, 4)) => refused(decodeToSliceServer(copy(encodeSliceStep({ ...head, ...over } as never, params))));
    expect(bad({ from: 7 }).reason).toMatch(/within the parameters/);
    expect(bad({ cuts: Uint32Array.of(0, 2, 1) }).reason).toMatch(/from block 0 to block 3/);
    expect(bad({ workers: Uint32Array.of(4, 5, 6), cuts: Uint32Array.of(0, 2, 1, 3) }).reason).toMatch(/must not go back/);
    expect(bad({ kernel: 'gpu' }).reason).toMatch(/kernel/);
    expect(bad({}, Float64Array.of(1, Infinity, 3, 4)).code).toBe('SP_ERR_NOT_FINITE');
    expect(bad({ size: 2 ** 29 }).reason).toMatch(/size/);
    expect(accepted(decodeToSliceServer(encode({ type: 'done', reason: 'training finished' })))).toMatchObject({ type: 'done' });
  });
});
