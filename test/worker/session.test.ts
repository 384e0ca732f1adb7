import { describe, expect, it } from 'vitest';
import { BlockBackprop, Model, Rng, jsKernels, makeDataset, type ModelSpec } from '@shardprop/core';
import { PROTOCOL_VERSION, decodeMap, type ShardData, type Step, type Welcome } from '@shardprop/protocol';
import { WorkerSession, type SessionAction } from '@shardprop/worker';

/**
 * The worker's rules without a socket: a welcome makes it a worker holding the
 * whole data set, a step makes the gradient message of the blocks dealt to it
 * (the very pieces, or factors, core's BlockBackprop makes), and whatever it
 * cannot take stops it with the protocol's code.
 */
const SPEC: ModelSpec = { layers: [3, 4, 2], activation: 'tanh', loss: 'quadratic', dtype: 'float64' };
const rng = new Rng(11);
const DATA = makeDataset('session', Float64Array.from({ length: 10 * 3 }, () => rng.uniform()), Float64Array.from({ length: 10 * 2 }, () => rng.uniform()), 3, 2);
const ALL = Uint32Array.from({ length: DATA.count }, (_, i) => i);
const BLOCK = 2;

function data(withRows = true): ShardData {
  return withRows ? { indices: ALL, inputs: 3, outputs: 2, x: DATA.x, y: DATA.y } : { indices: ALL, inputs: 3, outputs: 2 };
}

function welcome(shard: ShardData, gradientForm: 'dense' | 'factors' = 'dense'): Welcome {
  return { type: 'welcome', version: PROTOCOL_VERSION, workerId: 4, spec: SPEC, total: DATA.count, block: BLOCK, fingerprint: 'f', gradientForm, kernel: 'js', shard };
}

const model = Model.init(SPEC, 5);
/** A step whose blocks are dealt to workers 9, 4 (this one) and 6 at `cuts`. */
const step = (batch: number[], cuts: number[], round = 1): Step => ({
  type: 'step', step: 3, round, batch: Uint32Array.from(batch), workers: Uint32Array.from([9, 4, 6]), cuts: Uint32Array.from(cuts), params: model.params.slice(),
});

/** The gradient message a step's send action carries, decoded whole. */
function sentGradient(actions: SessionAction[]): Record<string, unknown> & { grad: Float64Array; blockLoss: Float64Array } {
  expect(actions.map((a) => a.type)).toEqual(['send']);
  const decoded = decodeMap((actions[0] as Extract<SessionAction, { type: 'send' }>).fragments);
  if (!decoded.ok) throw new Error(decoded.reason);
  return decoded.message as Record<string, unknown> & { grad: Float64Array; blockLoss: Float64Array };
}

describe('the worker session', () => {
  it('welcomed, it answers a step with the canonical pieces of its blocks, as BlockBackprop makes them', () => {
    const s = new WorkerSession(undefined, () => 0);
    const joined = s.handle({ type: 'message', message: welcome(data()) });
    expect(joined.map((a) => a.type)).toEqual(['joined', 'log']);
    expect(s.receiving?.params).toHaveLength(model.params.length);
    // 9 positions, blocks of 2: 5 blocks; this worker has blocks [1, 4): pieces [1,2) and [2,4), 6 samples
    const batch = [9, 4, 0, 2, 7, 7, 1, 3, 5];
    const g = sentGradient(s.handle({ type: 'step', step: step(batch, [0, 1, 4, 5]), receivedAt: 12.5, previousSentAt: 3.25 }));
    const losses = new Float64Array(3);
    const want = new BlockBackprop(SPEC, BLOCK, jsKernels).pieces(model, DATA, batch, 1, 4, losses);
    expect(g).toMatchObject({ type: 'gradient', step: 3, round: 1, count: 6, correct: want.result.correct, receivedAt: 12.5, previousSentAt: 3.25, computeMs: 0 });
    expect(Array.from(g.blockLoss)).toEqual(Array.from(losses));
    expect(g.grad).toHaveLength(2 * model.params.length);
    expect(Array.from(g.grad)).toEqual(Array.from(want.pieces));
  });

  it('dealt no block (more workers than blocks), it sends an empty gradient', () => {
    const s = new WorkerSession(undefined, () => 0);
    s.handle({ type: 'message', message: welcome(data()) });
    const g = sentGradient(s.handle({ type: 'step', step: step([1, 2, 3], [0, 2, 2, 2]), receivedAt: 0, previousSentAt: 0 }));
    expect(g).toMatchObject({ count: 0, correct: 0 });
    expect(g.grad).toHaveLength(0);
    expect(g.blockLoss).toHaveLength(0);
  });

  it('sends its process\'s CPU and memory with the gradient when the client gives them', () => {
    const s = new WorkerSession(undefined, () => 0);
    s.handle({ type: 'message', message: welcome(data()) });
    const g = sentGradient(s.handle({ type: 'step', step: step([2, 3, 4], [0, 0, 2, 2]), receivedAt: 0, previousSentAt: 0, usage: { cpu: 0.75, rssBytes: 64 << 20 } }));
    expect(g).toMatchObject({ cpu: 0.75, rssBytes: 64 << 20, count: 3 });
  });

  it('in the factors form it sends its blocks\' factors, block after block, and each block\'s loss', () => {
    const s = new WorkerSession(undefined);
    s.handle({ type: 'message', message: welcome(data(), 'factors') });
    // 5 positions: blocks [0,2) [2,4) [4,5); this worker has blocks 1 and 2: 3 samples
    const batch = [8, 3, 1, 4, 4];
    const g = sentGradient(s.handle({ type: 'step', step: step(batch, [0, 1, 3, 3]), receivedAt: 0, previousSentAt: 0 }));
    const bp = new BlockBackprop(SPEC, BLOCK, jsKernels);
    const want = new Float64Array(3 * bp.factorWidth);
    const losses = new Float64Array(2);
    bp.factors(model, DATA, batch, 1, 3, want, losses);
    expect(g.count).toBe(3);
    expect(Array.from(g.grad)).toEqual(Array.from(want));
    expect(Array.from(g.blockLoss)).toEqual(Array.from(losses));
  });

  it('a worker with its own data needs no rows, and computes the same', () => {
    const own = new WorkerSession(DATA, () => 0);
    const sent = new WorkerSession(undefined, () => 0);
    own.handle({ type: 'message', message: welcome(data(false)) });
    sent.handle({ type: 'message', message: welcome(data()) });
    const a = sentGradient(own.handle({ type: 'step', step: step([5, 6, 7, 0], [0, 0, 2, 2]), receivedAt: 0, previousSentAt: 0 }));
    const b = sentGradient(sent.handle({ type: 'step', step: step([5, 6, 7, 0], [0, 0, 2, 2]), receivedAt: 0, previousSentAt: 0 }));
    expect(a.count).toBe(4);
    expect(Array.from(a.grad)).toEqual(Array.from(b.grad));
  });

  it('refuses a model larger than it may allocate', () => {
    const small = new WorkerSession(undefined, () => 0, 1000);
    const [log, finish] = small.handle({ type: 'message', message: welcome(data()) });
    expect(finish).toMatchObject({ type: 'finish', exit: { reason: 'invalid', code: 'SP_ERR_TOO_LARGE' } });
    expect((log as { message: string }).message).toMatch(/the coordinator's model \(layers 3,4,2, float64\) needs \d+ bytes here, more than the 1000 bytes this worker may use/);
  });

  it('stops, with the protocol\'s code, on what it cannot take', () => {
    const finish = (actions: SessionAction[]) => actions.find((a): a is Extract<SessionAction, { type: 'finish' }> => a.type === 'finish')?.exit;
    expect(finish(new WorkerSession(undefined).handle({ type: 'step', step: step([1], [0, 1, 1, 1]), receivedAt: 0, previousSentAt: 0 }))).toMatchObject({ reason: 'invalid', code: 'SP_ERR_BEFORE_WELCOME' });
    // rows absent and no data of its own; its own data of another size
    expect(finish(new WorkerSession(undefined).handle({ type: 'message', message: welcome(data(false)) }))).toMatchObject({ reason: 'invalid', code: 'SP_ERR_NO_DATA' });
    const fewer = makeDataset('fewer', DATA.x.subarray(0, 27), DATA.y.subarray(0, 18), 3, 2);
    expect(finish(new WorkerSession(fewer).handle({ type: 'message', message: welcome(data(false)) }))).toMatchObject({ reason: 'invalid', code: 'SP_ERR_NO_DATA' });
    const s = new WorkerSession(undefined);
    s.handle({ type: 'message', message: welcome(data()) });
    // a deal that leaves this worker out
    expect(finish(s.handle({ type: 'step', step: { ...step([1, 2], [0, 1, 1, 1]), workers: Uint32Array.from([1, 2, 3]) }, receivedAt: 0, previousSentAt: 0 }))).toMatchObject({ reason: 'invalid', code: 'SP_ERR_BAD_FIELD' });
    expect(finish(s.handle({ type: 'invalid', code: 'SP_ERR_WRONG_ARRAY', reason: 'step: params must be 26 float64 values' }))).toEqual({ reason: 'invalid', code: 'SP_ERR_WRONG_ARRAY', message: 'step: params must be 26 float64 values' });
    expect(finish(s.handle({ type: 'message', message: { type: 'refused', reason: 'full', code: 'SP_ERR_FULL' } }))).toEqual({ reason: 'refused', message: 'full', code: 'SP_ERR_FULL' });
    // a browser tab's 'still here' changes nothing
    expect(s.handle({ type: 'message', message: { type: 'alive' } })).toEqual([]);
    expect(finish(s.handle({ type: 'message', message: { type: 'done' } }))).toEqual({ reason: 'done' });
  });
});
