import { describe, expect, it } from 'vitest';
import { Backprop, FactoredBackprop, Model, Rng, datasetAs, factorWidth, jsKernels, makeDataset, subset, type ModelSpec } from '@shardprop/core';
import { PROTOCOL_VERSION, decodeMap, type ShardData, type Step, type Welcome } from '@shardprop/protocol';
import { WorkerSession, type SessionAction } from '@shardprop/worker';

/**
 * The worker's rules without a socket: a welcome makes it a worker with a shard,
 * a step makes the gradient message of the batch's samples in that shard (the
 * very sum Backprop computes), a reshard replaces the shard, and whatever it
 * cannot take stops it with the protocol's code.
 */
const SPEC: ModelSpec = { layers: [3, 4, 2], activation: 'tanh', loss: 'quadratic', dtype: 'float64' };
const rng = new Rng(11);
const DATA = makeDataset('session', Float64Array.from({ length: 10 * 3 }, () => rng.uniform()), Float64Array.from({ length: 10 * 2 }, () => rng.uniform()), 3, 2);

function shardOf(ids: number[], withRows = true): ShardData {
  const indices = Uint32Array.from(ids);
  const part = datasetAs(subset(DATA, indices), 'float64');
  return withRows ? { indices, inputs: 3, outputs: 2, x: part.x, y: part.y } : { indices, inputs: 3, outputs: 2 };
}

function welcome(shard: ShardData, gradientForm: 'dense' | 'factors' = 'dense'): Welcome {
  return { type: 'welcome', version: PROTOCOL_VERSION, workerId: 4, spec: SPEC, total: DATA.count, chunk: 8, fingerprint: 'f', gradientForm, kernel: 'js', shard };
}

const model = Model.init(SPEC, 5);
const step = (batch: number[], round = 1): Step => ({ type: 'step', step: 3, round, batch: Uint32Array.from(batch), params: model.params.slice() });

/** The gradient message a step's send action carries, decoded whole. */
function sentGradient(actions: SessionAction[]): Record<string, unknown> & { grad: Float64Array } {
  expect(actions.map((a) => a.type)).toEqual(['send']);
  const decoded = decodeMap((actions[0] as Extract<SessionAction, { type: 'send' }>).fragments);
  if (!decoded.ok) throw new Error(decoded.reason);
  return decoded.message as Record<string, unknown> & { grad: Float64Array };
}

describe('the worker session', () => {
  it('welcomed, it answers a step with the sum over the batch\'s samples in its shard, as Backprop makes it', () => {
    const s = new WorkerSession(undefined, () => 0);
    const joined = s.handle({ type: 'message', message: welcome(shardOf([2, 3, 4, 5])) });
    expect(joined.map((a) => a.type)).toEqual(['joined', 'log']);
    expect(s.receiving?.params).toHaveLength(model.params.length);
    const g = sentGradient(s.handle({ type: 'step', step: step([9, 4, 0, 2, 7]), receivedAt: 12.5, previousSentAt: 3.25 }));
    const want = new Float64Array(model.params.length);
    const r = new Backprop(SPEC, 8, jsKernels).gradient(model, DATA, [4, 2], 0, 2, want);
    expect(g).toMatchObject({ type: 'gradient', step: 3, round: 1, count: 2, lossSum: r.lossSum, correct: r.correct, receivedAt: 12.5, previousSentAt: 3.25, computeMs: 0 });
    expect(Array.from(g.grad)).toEqual(Array.from(want));
  });

  it('sends its process\'s CPU and memory with the gradient when the client gives them', () => {
    const s = new WorkerSession(undefined, () => 0);
    s.handle({ type: 'message', message: welcome(shardOf([2, 3, 4, 5])) });
    const g = sentGradient(s.handle({ type: 'step', step: step([2, 3]), receivedAt: 0, previousSentAt: 0, usage: { cpu: 0.75, rssBytes: 64 << 20 } }));
    expect(g).toMatchObject({ cpu: 0.75, rssBytes: 64 << 20, count: 2 });
  });

  it('in the factors form it sends the samples\' factors in batch order', () => {
    const s = new WorkerSession(undefined);
    s.handle({ type: 'message', message: welcome(shardOf([0, 1, 2, 3, 4]), 'factors') });
    const g = sentGradient(s.handle({ type: 'step', step: step([8, 3, 1, 4]), receivedAt: 0, previousSentAt: 0 }));
    const want = new Float64Array(3 * factorWidth(SPEC.layers));
    new FactoredBackprop(SPEC, 8, jsKernels).factors(model, DATA, [3, 1, 4], 0, 3, want);
    expect(g.count).toBe(3);
    expect(Array.from(g.grad)).toEqual(Array.from(want));
  });

  it('a reshard replaces its shard; a worker with its own data needs no rows', () => {
    const s = new WorkerSession(DATA);
    s.handle({ type: 'message', message: welcome(shardOf([], false)) });
    expect(sentGradient(s.handle({ type: 'step', step: step([1, 2]), receivedAt: 0, previousSentAt: 0 })).count).toBe(0);
    const moved = s.handle({ type: 'message', message: { type: 'reshard', shard: shardOf([6, 7, 8], false) } });
    expect(moved).toEqual([expect.objectContaining({ type: 'log', message: 'now holds 3 samples' })]);
    expect(sentGradient(s.handle({ type: 'step', step: step([8, 1, 6], 2), receivedAt: 0, previousSentAt: 0 })).count).toBe(2);
  });

  it('holds a shard of a huge data set without an array of its size, and refuses a model larger than it may allocate', () => {
    // a fake coordinator's 10^9 samples once made the worker allocate 4 GB for its row index
    const s = new WorkerSession(undefined, () => 0);
    const huge = { ...welcome(shardOf([2, 3])), total: 1_000_000_000, shard: { ...shardOf([2, 3]), indices: Uint32Array.from([2, 999_999_999]) } };
    huge.shard.x = new Float64Array(6);
    huge.shard.y = new Float64Array(4);
    expect(s.handle({ type: 'message', message: huge }).map((a) => a.type)).toEqual(['joined', 'log']);
    expect(sentGradient(s.handle({ type: 'step', step: { ...step([5, 999_999_999, 7]), params: model.params.slice() }, receivedAt: 0, previousSentAt: 0 })).count).toBe(1);
    const small = new WorkerSession(undefined, () => 0, 1000);
    const [log, finish] = small.handle({ type: 'message', message: welcome(shardOf([1])) });
    expect(finish).toMatchObject({ type: 'finish', exit: { reason: 'invalid', code: 'SP_ERR_TOO_LARGE' } });
    expect((log as { message: string }).message).toMatch(/the coordinator's model \(layers 3,4,2, float64\) needs \d+ bytes here, more than the 1000 bytes this worker may use/);
  });

  it('stops, with the protocol\'s code, on what it cannot take', () => {
    const finish = (actions: SessionAction[]) => actions.find((a): a is Extract<SessionAction, { type: 'finish' }> => a.type === 'finish')?.exit;
    expect(finish(new WorkerSession(undefined).handle({ type: 'step', step: step([1]), receivedAt: 0, previousSentAt: 0 }))).toMatchObject({ reason: 'invalid', code: 'SP_ERR_BEFORE_WELCOME' });
    // rows absent and no data of its own
    expect(finish(new WorkerSession(undefined).handle({ type: 'message', message: welcome(shardOf([1, 2], false)) }))).toMatchObject({ reason: 'invalid', code: 'SP_ERR_NO_DATA' });
    const s = new WorkerSession(undefined);
    s.handle({ type: 'message', message: welcome(shardOf([1, 2])) });
    expect(finish(s.handle({ type: 'step', step: step([1, 2, 1]), receivedAt: 0, previousSentAt: 0 }))).toMatchObject({ reason: 'invalid', code: 'SP_ERR_REPEATED_SAMPLES' });
    expect(finish(s.handle({ type: 'invalid', code: 'SP_ERR_WRONG_ARRAY', reason: 'step: params must be 26 float64 values' }))).toEqual({ reason: 'invalid', code: 'SP_ERR_WRONG_ARRAY', message: 'step: params must be 26 float64 values' });
    expect(finish(s.handle({ type: 'message', message: { type: 'refused', reason: 'full', code: 'SP_ERR_FULL' } }))).toEqual({ reason: 'refused', message: 'full', code: 'SP_ERR_FULL' });
    expect(finish(s.handle({ type: 'message', message: { type: 'done' } }))).toEqual({ reason: 'done' });
  });
});
