import { describe, expect, it } from 'vitest';
import { allFinite } from '@shardprop/core';
import { readFileSync } from 'node:fs';
import { ERROR_CODES, decodeGradient, decodeHello, decodeToWorker, encode } from '@shardprop/protocol';
import { accepted, refused } from '../helpers/checked.js';

// a worker dealt two blocks (3 samples) whose range makes one canonical piece: 4 parameters
const expectation = { size: 4, dtype: 'float32' as const, form: 'dense' as const, factorWidth: 2, step: 5, round: 2, count: 3, blocks: 2, pieces: 1 };
const gradient = (over: Record<string, unknown> = {}) =>
  encode({
    type: 'gradient', step: 5, round: 2, count: 3, blockLoss: Float64Array.from([1, 0.25]), correct: 2, computeMs: 0.5, receivedAt: 1000.5, previousSentAt: 999.25,
    grad: Float32Array.from([1, 2, 3, 4]), ...over,
  } as never);

describe('validation: every check returns its code and reason, none throws', () => {
  it('round-trips a gradient, typed arrays intact', () => {
    const g = accepted(decodeGradient(gradient(), expectation));
    expect(g.grad).toBeInstanceOf(Float32Array);
    expect(Array.from(g.grad)).toEqual([1, 2, 3, 4]);
    expect(Array.from(g.blockLoss)).toEqual([1, 0.25]);
  });

  it('takes a worker\'s CPU and memory with its gradient, and a gradient without them (workers before they were sent)', () => {
    expect(accepted(decodeGradient(gradient({ cpu: 0.97, rssBytes: 123_456_789 }), expectation))).toMatchObject({ cpu: 0.97, rssBytes: 123_456_789 });
    const without = accepted(decodeGradient(gradient(), expectation));
    expect(without.cpu).toBeUndefined();
    expect(without.rssBytes).toBeUndefined();
  });

  it('encodes a typed-array view as its own bytes', () => {
    const whole = Uint32Array.from([9, 8, 7, 6, 5]);
    const spec64 = { layers: [2, 1], activation: 'sigmoid' as const, loss: 'quadratic' as const, dtype: 'float64' as const };
    const step = { type: 'step', step: 2, round: 1, params: new Float64Array(3), batch: whole.subarray(1, 3), workers: Uint32Array.from([1]), cuts: Uint32Array.from([0, 1]) };
    const m = accepted(decodeToWorker(encode(step as never), { params: new Float64Array(3), spec: spec64, total: 10, block: 4 }));
    expect(m.type === 'step' && Array.from(m.batch)).toEqual([8, 7]);
  });

  it.each([
    ['another step', { step: 4 }, 'SP_ERR_WRONG_STEP', /step 4, expected step 5/],
    ['another count', { count: 2 }, 'SP_ERR_WRONG_COUNT', /expected 3/],
    ['a later round', { round: 3 }, 'SP_ERR_WRONG_ROUND', /round 3 of step 5, expected round 2/],
    ['no round', { round: undefined }, 'SP_ERR_WRONG_ROUND', /round/],
    ['a NaN gradient', { grad: Float32Array.from([1, NaN, 3, 4]) }, 'SP_ERR_NOT_FINITE', /NaN or infinite/],
    ['an infinite gradient', { grad: Float32Array.from([1, 2, Infinity, 4]) }, 'SP_ERR_NOT_FINITE', /NaN or infinite/],
    ['a short gradient', { grad: Float32Array.from([1, 2, 3]) }, 'SP_ERR_WRONG_ARRAY', /3 values, expected 4 \(1 canonical pieces of the model's parameters\)/],
    ['a gradient of two pieces where one is due', { grad: new Float32Array(8) }, 'SP_ERR_WRONG_ARRAY', /8 values, expected 4/],
    ['a gradient of the wrong dtype', { grad: Float64Array.from([1, 2, 3, 4]) }, 'SP_ERR_WRONG_ARRAY', /float32 array/],
    ['a gradient as a plain array', { grad: [1, 2, 3, 4] }, 'SP_ERR_WRONG_ARRAY', /float32 array/],
    ['a negative loss', { blockLoss: Float64Array.from([1, -1]) }, 'SP_ERR_BAD_FIELD', /loss sum is negative/],
    ['a NaN loss (what a diverging run sends)', { blockLoss: Float64Array.from([NaN, 1]) }, 'SP_ERR_NOT_FINITE', /gradient: a block's loss sum is NaN or infinite/],
    ['an infinite loss', { blockLoss: Float64Array.from([1, Infinity]) }, 'SP_ERR_NOT_FINITE', /gradient: a block's loss sum is NaN or infinite/],
    ['a loss per block missing', { blockLoss: Float64Array.from([1]) }, 'SP_ERR_BAD_FIELD', /blockLoss must be 2 float64 loss sums/],
    ['the losses as one number', { blockLoss: 1.25 }, 'SP_ERR_BAD_FIELD', /blockLoss/],
    ['the losses as float32', { blockLoss: Float32Array.from([1, 0.25]) }, 'SP_ERR_BAD_FIELD', /blockLoss/],
    ['a missing arrival time', { receivedAt: undefined }, 'SP_ERR_BAD_FIELD', /receivedAt/],
    ['an infinite send time', { previousSentAt: Infinity }, 'SP_ERR_BAD_FIELD', /previousSentAt/],
    ['too many correct', { correct: 4 }, 'SP_ERR_BAD_FIELD', /correct/],
    ['a negative CPU', { cpu: -0.5 }, 'SP_ERR_BAD_FIELD', /cpu must be a finite non-negative number/],
    ['a NaN CPU', { cpu: NaN }, 'SP_ERR_BAD_FIELD', /cpu/],
    ['a memory as text', { rssBytes: '1 GB' }, 'SP_ERR_BAD_FIELD', /rssBytes/],
    ['an infinite memory', { rssBytes: Infinity }, 'SP_ERR_BAD_FIELD', /rssBytes/],
    ['a string step', { step: '5' }, 'SP_ERR_WRONG_STEP', /step/],
    ['another type', { type: 'hello' }, 'SP_ERR_UNEXPECTED_TYPE', /expected gradient, got "hello"/],
  ])('refuses %s, with its code', (_name, over, code, message) => {
    const failure = refused(decodeGradient(gradient(over), expectation));
    expect(failure.code).toBe(code);
    expect(failure.reason).toMatch(message);
  });

  it('a worker dealt no block sends no values and no loss', () => {
    const none = { ...expectation, count: 0, blocks: 0, pieces: 0 };
    const g = accepted(decodeGradient(gradient({ count: 0, correct: 0, blockLoss: new Float64Array(0), grad: new Float32Array(0) }), none));
    expect(g.grad).toHaveLength(0);
    expect(refused(decodeGradient(gradient({ count: 0, correct: 0, blockLoss: new Float64Array(0) }), none)).code).toBe('SP_ERR_WRONG_ARRAY');
  });

  it('checks factors against the count of samples: count × factorWidth values', () => {
    const factors = { ...expectation, form: 'factors' as const };
    const six = Float32Array.from([1, 2, 3, 4, 5, 6]);
    expect(Array.from(accepted(decodeGradient(gradient({ grad: six }), factors)).grad)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(refused(decodeGradient(gradient(), factors)).reason).toMatch(/4 values, expected 6 \(factors of 3 samples\)/);
    expect(refused(decodeGradient(gradient({ grad: Float32Array.from([1, 2, 3, 4, 5, NaN]) }), factors)).reason).toMatch(/NaN or infinite/);
  });

  it('a welcome carries the whole data set, its rows left out when the worker loaded it itself; its width must fit the model', () => {
    const spec = { layers: [3, 2], activation: 'sigmoid', loss: 'quadratic', dtype: 'float32' };
    const all = Uint32Array.from([0, 1, 2, 3]);
    const welcome = (shard: Record<string, unknown>, over: Record<string, unknown> = {}) =>
      encode({ type: 'welcome', version: 5, workerId: 1, spec, total: 4, block: 2, fingerprint: 'f', gradientForm: 'dense', kernel: 'js', aggregation: 'star', shard, ...over } as never);
    const m = accepted(decodeToWorker(welcome({ indices: all, inputs: 3, outputs: 2 })));
    expect(m.type === 'welcome' && m.shard.x).toBeUndefined();
    expect(accepted(decodeToWorker(encode({ type: 'alive' })))).toEqual({ type: 'alive' });
    expect(m.type === 'welcome' && m.block).toBe(2);
    expect(refused(decodeToWorker(welcome({ indices: all, inputs: 4, outputs: 2 }))).reason).toMatch(/width/);
    expect(refused(decodeToWorker(welcome({ indices: all, inputs: 3, outputs: 2, x: new Float32Array(3) }))).reason).toMatch(/bad shard rows/);
    expect(refused(decodeToWorker(welcome({ indices: all, inputs: 3, outputs: 2, x: new Float32Array(12), y: new Float32Array(1) }))).reason).toMatch(/do not match/);
    expect(refused(decodeToWorker(welcome({ indices: all, inputs: 3, outputs: 2 }, { gradientForm: 'sparse' }))).reason).toMatch(/gradientForm/);
    expect(refused(decodeToWorker(welcome({ indices: all, inputs: 3, outputs: 2 }, { aggregation: 'ring' }))).reason).toMatch(/aggregation must be one of star, slices/);
    for (const block of [0, 65_537, 1.5, undefined]) expect(refused(decodeToWorker(welcome({ indices: all, inputs: 3, outputs: 2 }, { block }))).code).toBe('SP_ERR_BAD_FIELD');
    // the spec is checked as the core checks it (here: an unknown activation), and ids against the total
    expect(refused(decodeToWorker(welcome({ indices: all, inputs: 3, outputs: 2 }, { spec: { ...spec, activation: 'swish' } }))).reason).toMatch(/welcome: bad model spec: unknown activation/);
    expect(refused(decodeToWorker(welcome({ indices: Uint32Array.from([0, 1, 2, 4]), inputs: 3, outputs: 2 }))).reason).toMatch(/sample id 4 beyond/);
    // every id once, ascending: the whole set, nothing less
    expect(refused(decodeToWorker(welcome({ indices: Uint32Array.from([0, 2, 1, 3]), inputs: 3, outputs: 2 }))).reason).toBe('shard: sample ids must ascend, got 1 after 2');
    expect(refused(decodeToWorker(welcome({ indices: Uint32Array.from([0, 1, 1, 3]), inputs: 3, outputs: 2 }))).code).toBe('SP_ERR_BAD_SHARD');
    expect(refused(decodeToWorker(welcome({ indices: Uint32Array.from([0, 1]), inputs: 3, outputs: 2 }))).reason).toMatch(/whole data set's 4 sample ids, got 2/);
  });

  it('tells an earlier round of the current step (overtaken by a resend) from an offence', () => {
    expect(refused(decodeGradient(gradient({ round: 1 }), expectation)).code).toBe('SP_ERR_STALE_ROUND');
    expect(refused(decodeGradient(gradient({ round: 3 }), expectation)).code).not.toBe('SP_ERR_STALE_ROUND');
  });

  it('a step\'s batch and deal are checked before the worker sees them: ids within the data set, cuts from block 0 to the last, never going back', () => {
    const spec = { layers: [3, 2], activation: 'sigmoid' as const, loss: 'quadratic' as const, dtype: 'float32' as const };
    const receiving = { params: new Float32Array(8), spec, total: 6, block: 2 };
    // 5 positions in blocks of 2: 3 blocks
    const step = (over: Record<string, unknown>) =>
      encode({ type: 'step', step: 1, round: 1, params: new Float32Array(8), batch: Uint32Array.from([5, 0, 3, 3, 1]), workers: Uint32Array.from([7, 9]), cuts: Uint32Array.from([0, 2, 3]), ...over } as never);
    const m = accepted(decodeToWorker(step({}), receiving));
    expect(m.type === 'step' && Array.from(m.cuts)).toEqual([0, 2, 3]);
    expect(accepted(decodeToWorker(step({ workers: Uint32Array.from([7, 9, 11]), cuts: Uint32Array.from([0, 3, 3, 3]) }), receiving)).type).toBe('step');
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ batch: Uint32Array.from([5, 6]) }, /sample id 6 beyond the data set's 6/],
      [{ batch: new Uint32Array(0) }, /batch must be a non-empty Uint32Array/],
      [{ batch: [1, 2] }, /batch must be a non-empty Uint32Array/],
      [{ cuts: Uint32Array.from([0, 3]) }, /one more cut than workers/],
      [{ workers: [7, 9] }, /Uint32Arrays/],
      [{ cuts: Uint32Array.from([1, 2, 3]) }, /from block 0 to block 3/],
      [{ cuts: Uint32Array.from([0, 2, 4]) }, /from block 0 to block 3/],
      [{ cuts: Uint32Array.from([0, 3, 2]) }, /from block 0 to block 3/],
      [{ workers: Uint32Array.from([7, 9, 11]), cuts: Uint32Array.from([0, 3, 1, 3]) }, /must not go back/],
    ];
    for (const [over, reason] of cases) expect(refused(decodeToWorker(step(over), receiving)).reason).toMatch(reason);
    expect(refused(decodeToWorker(step({}))).reason).toMatch(/step before welcome/);
  });

  it('refuses what is not a message: undecodable bytes, or a value that is not a map', () => {
    // msgpack by hand: an array claiming 4G entries, nothing; then [1, 2], "hello", nil
    for (const bytes of [Buffer.from([0xdd, 0xff, 0xff, 0xff, 0xff]), Buffer.alloc(0)]) {
      expect(refused(decodeGradient(bytes, expectation)).code).toBe('SP_ERR_UNDECODABLE');
      expect(refused(decodeHello(bytes)).code).toBe('SP_ERR_UNDECODABLE');
      expect(refused(decodeToWorker(bytes)).code).toBe('SP_ERR_UNDECODABLE');
    }
    for (const bytes of [Buffer.from([0x92, 1, 2]), Buffer.from([0xa5, ...Buffer.from('hello')]), Buffer.from([0xc0])]) {
      expect(refused(decodeGradient(bytes, expectation)).code).toBe('SP_ERR_NOT_A_MAP');
      expect(refused(decodeHello(bytes)).code).toBe('SP_ERR_NOT_A_MAP');
    }
    // the reserved byte 0xc1: msgpackr reads it as an object of its own, which is no message either
    expect(refused(decodeGradient(Buffer.from([0xc1]), expectation)).code).toBe('SP_ERR_UNEXPECTED_TYPE');
    expect(refused(decodeHello(encode({ type: 'gradient' } as never))).reason).toMatch(/expected hello/);
    expect(refused(decodeHello(encode({ type: 'hello', version: 1, name: 'x'.repeat(1000) }))).reason).toMatch(/name/);
    // a worker's thread count is for the table: an integer from 1 to 64, or absent
    for (const threads of [0, -1, 1.5, 65, '2', null, 2 ** 40]) {
      expect(refused(decodeHello(encode({ type: 'hello', version: 5, name: 'w', threads } as never))).reason, String(threads)).toMatch(/threads/);
    }
    expect(accepted(decodeHello(encode({ type: 'hello', version: 5, name: 'w', threads: 64 })))).toMatchObject({ threads: 64 });
    expect(accepted(decodeHello(encode({ type: 'hello', version: 5, name: 'w' }))).threads).toBeUndefined();
  });

  it('allFinite sees every non-finite value', () => {
    expect(allFinite(Float64Array.from([0, -1e308, 1e308]))).toBe(true);
    expect(allFinite(Float64Array.from([0, -Infinity]))).toBe(false);
    expect(allFinite(Float32Array.from([NaN]))).toBe(false);
  });
});

describe('the error codes', () => {
  it('are each documented in docs/errors.md, which names no other', () => {
    const page = readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8');
    const documented = new Set(page.match(/SP_ERR_[A-Z_]+/g));
    expect([...documented].sort()).toEqual([...ERROR_CODES].sort());
    for (const code of ERROR_CODES) expect(page, code).toMatch(new RegExp(`^\\| \`${code}\` \\|`, 'm'));
  });
});
