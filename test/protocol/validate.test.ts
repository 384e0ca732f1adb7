import { describe, expect, it } from 'vitest';
import { allFinite } from '@shardprop/core';
import { readFileSync } from 'node:fs';
import { ERROR_CODES, decodeGradient, decodeHello, decodeToWorker, encode } from '@shardprop/protocol';
import { accepted, refused } from '../helpers/checked.js';

const expectation = { size: 4, dtype: 'float32' as const, form: 'dense' as const, factorWidth: 2, step: 5, round: 2, count: 3 };
const gradient = (over: Record<string, unknown> = {}) =>
  encode({ type: 'gradient', step: 5, round: 2, count: 3, lossSum: 1.25, correct: 2, computeMs: 0.5, receivedAt: 1000.5, previousSentAt: 999.25, grad: Float32Array.from([1, 2, 3, 4]), ...over } as never);

describe('validation: every check returns its code and reason, none throws', () => {
  it('round-trips a gradient, typed arrays intact', () => {
    const g = accepted(decodeGradient(gradient(), expectation));
    expect(g.grad).toBeInstanceOf(Float32Array);
    expect(Array.from(g.grad)).toEqual([1, 2, 3, 4]);
    expect(g.lossSum).toBe(1.25);
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
    const m = accepted(decodeToWorker(encode({ type: 'step', step: 2, round: 1, params: new Float64Array(3), batch: whole.subarray(1, 3) }), { params: new Float64Array(3), spec: spec64, total: 10 }));
    expect(m.type === 'step' && Array.from(m.batch)).toEqual([8, 7]);
  });

  it.each([
    ['another step', { step: 4 }, 'SP_ERR_WRONG_STEP', /step 4, expected step 5/],
    ['another count', { count: 2 }, 'SP_ERR_WRONG_COUNT', /expected 3/],
    ['a later round', { round: 3 }, 'SP_ERR_WRONG_ROUND', /round 3 of step 5, expected round 2/],
    ['no round', { round: undefined }, 'SP_ERR_WRONG_ROUND', /round/],
    ['a NaN gradient', { grad: Float32Array.from([1, NaN, 3, 4]) }, 'SP_ERR_NOT_FINITE', /NaN or infinite/],
    ['an infinite gradient', { grad: Float32Array.from([1, 2, Infinity, 4]) }, 'SP_ERR_NOT_FINITE', /NaN or infinite/],
    ['a short gradient', { grad: Float32Array.from([1, 2, 3]) }, 'SP_ERR_WRONG_ARRAY', /3 values, expected 4 \(the model's parameters\)/],
    ['a gradient of the wrong dtype', { grad: Float64Array.from([1, 2, 3, 4]) }, 'SP_ERR_WRONG_ARRAY', /float32 array/],
    ['a gradient as a plain array', { grad: [1, 2, 3, 4] }, 'SP_ERR_WRONG_ARRAY', /float32 array/],
    ['a negative loss', { lossSum: -1 }, 'SP_ERR_BAD_FIELD', /lossSum/],
    ['a NaN loss (what a diverging run sends)', { lossSum: NaN }, 'SP_ERR_NOT_FINITE', /gradient: lossSum is NaN or infinite/],
    ['an infinite loss', { lossSum: Infinity }, 'SP_ERR_NOT_FINITE', /gradient: lossSum is NaN or infinite/],
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

  it('checks factors against the count of samples: count × factorWidth values', () => {
    const factors = { ...expectation, form: 'factors' as const };
    const six = Float32Array.from([1, 2, 3, 4, 5, 6]);
    expect(Array.from(accepted(decodeGradient(gradient({ grad: six }), factors)).grad)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(refused(decodeGradient(gradient(), factors)).reason).toMatch(/4 values, expected 6 \(factors of 3 samples\)/);
    expect(refused(decodeGradient(gradient({ grad: Float32Array.from([1, 2, 3, 4, 5, NaN]) }), factors)).reason).toMatch(/NaN or infinite/);
  });

  it('a welcome may leave the shard\'s rows out (the worker loaded the data itself), but its width must fit the model', () => {
    const spec = { layers: [3, 2], activation: 'sigmoid', loss: 'quadratic', dtype: 'float32' };
    const welcome = (shard: Record<string, unknown>) =>
      encode({ type: 'welcome', version: 2, workerId: 1, spec, total: 4, chunk: 2, fingerprint: 'f', gradientForm: 'dense', kernel: 'js', shard } as never);
    const m = accepted(decodeToWorker(welcome({ indices: Uint32Array.from([0, 1]), inputs: 3, outputs: 2 })));
    expect(m.type === 'welcome' && m.shard.x).toBeUndefined();
    expect(refused(decodeToWorker(welcome({ indices: Uint32Array.from([0]), inputs: 4, outputs: 2 }))).reason).toMatch(/width/);
    expect(refused(decodeToWorker(welcome({ indices: Uint32Array.from([0]), inputs: 3, outputs: 2, x: new Float32Array(3) }))).reason).toMatch(/bad shard rows/);
    expect(refused(decodeToWorker(welcome({ indices: Uint32Array.from([0]), inputs: 3, outputs: 2, x: new Float32Array(3), y: new Float32Array(1) }))).reason).toMatch(/do not match/);
    expect(refused(decodeToWorker(encode({ type: 'welcome', version: 2, workerId: 1, spec, total: 4, chunk: 2, fingerprint: 'f', gradientForm: 'sparse', kernel: 'js', shard: { indices: new Uint32Array(0), inputs: 3, outputs: 2 } } as never))).reason).toMatch(/gradientForm/);
    // the spec is checked as the core checks it (here: an unknown activation), and ids against the total
    expect(refused(decodeToWorker(encode({ type: 'welcome', version: 2, workerId: 1, spec: { ...spec, activation: 'swish' }, total: 4, chunk: 2, fingerprint: 'f', gradientForm: 'dense', kernel: 'js', shard: { indices: new Uint32Array(0), inputs: 3, outputs: 2 } } as never))).reason).toMatch(/welcome: bad model spec: unknown activation/);
    expect(refused(decodeToWorker(welcome({ indices: Uint32Array.from([4]), inputs: 3, outputs: 2 }))).reason).toMatch(/sample id 4 beyond/);
    // ids ascend, each once: a worker finds a sample's row by a binary search, with no array the size of the data set
    expect(refused(decodeToWorker(welcome({ indices: Uint32Array.from([2, 1]), inputs: 3, outputs: 2 }))).reason).toBe('shard: sample ids must ascend, got 1 after 2');
    expect(refused(decodeToWorker(welcome({ indices: Uint32Array.from([1, 1]), inputs: 3, outputs: 2 }))).code).toBe('SP_ERR_BAD_SHARD');
  });

  it('tells an earlier round of the current step (overtaken by a resend) from an offence', () => {
    expect(refused(decodeGradient(gradient({ round: 1 }), expectation)).code).toBe('SP_ERR_STALE_ROUND');
    expect(refused(decodeGradient(gradient({ round: 3 }), expectation)).code).not.toBe('SP_ERR_STALE_ROUND');
  });

  it('a reshard carries a shard checked like the welcome\'s, and only after the welcome', () => {
    const spec = { layers: [3, 2], activation: 'sigmoid' as const, loss: 'quadratic' as const, dtype: 'float32' as const };
    const reshard = (shard: Record<string, unknown>) => encode({ type: 'reshard', shard } as never);
    const receiving = { params: new Float32Array(8), spec, total: 6 };
    const m = accepted(decodeToWorker(reshard({ indices: Uint32Array.from([4, 5]), inputs: 3, outputs: 2, x: new Float32Array(6), y: new Float32Array(4) }), receiving));
    expect(m.type === 'reshard' && Array.from(m.shard.indices)).toEqual([4, 5]);
    expect(refused(decodeToWorker(reshard({ indices: Uint32Array.from([4]), inputs: 3, outputs: 2, x: new Float32Array(6), y: new Float32Array(2) }), receiving)).reason).toMatch(/do not match/);
    // sample ids beyond the data set are refused in the protocol, before the worker sees them
    expect(refused(decodeToWorker(reshard({ indices: Uint32Array.from([6]), inputs: 3, outputs: 2 }), receiving)).reason).toMatch(/sample id 6 beyond the data set's 6/);
    expect(refused(decodeToWorker(reshard({ indices: Uint32Array.from([4]), inputs: 3, outputs: 2 }))).reason).toMatch(/reshard before welcome/);
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
