/**
 * Every incoming message checked once, at the edge: its type, numbers, array
 * types and lengths against what the receiver knows, and finite values. Each
 * check returns `{ ok: true, message }` or `{ ok: false, code, reason }` (errors.ts);
 * none throws. What to do about a failure (drop the sender, ignore a stale
 * gradient) is the receiver's rule.
 */
import { MAX_BLOCK, MAX_THREADS, allFinite, blockCount, validateSpec, type ActivationName, type Dtype, type Floats, type LossName, type ModelSpec } from '@shardprop/core';
import { decodeMap, packr, type Frames } from './codec.js';
import { failure, isErrorCode, type Checked } from './errors.js';
import {
  AGGREGATIONS, GRADIENT_FORMS, type Aggregation, type Faulty, type GradientForm, type Gradient, type Hello, type Part, type ShardData, type SliceMap, type SliceParams,
  type SliceStep, type SliceSum, type ToWorker, type Welcome,
} from './messages.js';
import { decodeWithTail } from './tail-array.js';

function isCount(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= 0;
}

function isFloats(v: unknown, dtype: Dtype): v is Floats {
  return dtype === 'float64' ? v instanceof Float64Array : v instanceof Float32Array;
}

function describeType(t: unknown): string {
  return typeof t === 'string' ? JSON.stringify(t.slice(0, 40)) : typeof t;
}

/**
 * A message whose last field `key` is a big array: copied straight from the
 * fragments into `into` when laid out by encodeWithTail (tail-array.ts), else
 * decoded the ordinary way. The checks that follow are the same either way.
 */
function decodeInto(data: Frames, key: string, into: Floats | undefined): Checked<Record<string, unknown>> {
  const fast = into && Array.isArray(data) ? decodeWithTail(packr, data, key, into) : null;
  return fast ? { ok: true, message: fast } : decodeMap(data);
}

/** Decodes and checks a worker's first message. */
export function decodeHello(data: Frames): Checked<Hello> {
  const decoded = decodeMap(data);
  if (!decoded.ok) return decoded;
  const m = decoded.message;
  if (m.type !== 'hello') return failure('SP_ERR_UNEXPECTED_TYPE', `expected hello, got ${describeType(m.type)}`);
  if (!isCount(m.version)) return failure('SP_ERR_BAD_FIELD', 'hello: version must be a non-negative integer');
  if (typeof m.name !== 'string' || m.name.length > 200) return failure('SP_ERR_BAD_FIELD', 'hello: name must be a string of at most 200 characters');
  if (m.fingerprint !== undefined && (typeof m.fingerprint !== 'string' || m.fingerprint.length > 200)) return failure('SP_ERR_BAD_FIELD', 'hello: fingerprint must be a string');
  if (m.threads !== undefined && !(isCount(m.threads) && m.threads >= 1 && m.threads <= MAX_THREADS)) return failure('SP_ERR_BAD_FIELD', `hello: threads must be an integer from 1 to ${MAX_THREADS}`);
  if (m.role !== undefined && m.role !== 'slice') return failure('SP_ERR_BAD_FIELD', "hello: role must be 'slice' when given");
  if (m.serves !== undefined && !isServingAddress(m.serves)) return failure('SP_ERR_BAD_FIELD', 'hello: serves must be a ws:// or wss:// address (HOST:PORT)');
  if (m.role === 'slice' && m.serves === undefined) return failure('SP_ERR_BAD_FIELD', 'hello: a slice server must say where it serves');
  if (m.workerId !== undefined && !isCount(m.workerId)) return failure('SP_ERR_BAD_FIELD', 'hello: workerId must be a non-negative integer');
  return {
    ok: true,
    message: {
      type: 'hello', version: m.version, name: m.name, fingerprint: m.fingerprint as string | undefined, threads: m.threads as number | undefined,
      role: m.role as 'slice' | undefined, serves: m.serves as string | undefined, workerId: m.workerId as number | undefined,
    },
  };
}

/** ws://HOST:PORT or wss://HOST:PORT (an IPv6 host in brackets), nothing else: where a slice server serves. */
function isServingAddress(v: unknown): v is string {
  return typeof v === 'string' && v.length <= 200 && /^wss?:\/\/(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/.test(v);
}

/** Slice servers a step may name at most. */
export const MAX_SLICES = 4096;

/** What the coordinator knows when a worker's gradient arrives, to check it against. */
export interface Expectation {
  /** Parameters in the model. */
  size: number;
  form: GradientForm;
  /** Factor values per sample (factorWidth of the layers). */
  factorWidth: number;
  dtype: Dtype;
  /** The step the coordinator waits for (a gradient for any other step is invalid). */
  step: number;
  /** Its current round: an earlier round of the same step is stale, a later one invalid. */
  round: number;
  /** Samples of the blocks dealt to this worker in the current sending. */
  count: number;
  /** Its blocks, and (dense) the canonical pieces they make: the values sent are pieces × size. */
  blocks: number;
  pieces: number;
  /** The check that every value is finite (the coordinator's kernels'); the portable one when not given. */
  allFinite?: (x: Floats) => boolean;
}

/**
 * Decodes and checks a gradient for the step the coordinator is waiting on. A
 * gradient for an earlier round of that step is SP_ERR_STALE_ROUND (overtaken by
 * a resend: the receiver ignores it). Given `into`, a message laid out by
 * encodeGradient has its array copied there from the fragments (the ordinary
 * decoding is the fallback); the returned grad is then a view of `into`.
 */
export function decodeGradient(data: Frames, expect: Expectation, into?: Floats): Checked<Gradient> {
  const length = expect.form === 'dense' ? expect.pieces * expect.size : expect.count * expect.factorWidth;
  const decoded = decodeInto(data, 'grad', into && into.length >= length ? into.subarray(0, length) : undefined);
  if (!decoded.ok) return decoded;
  const m = decoded.message;
  if (m.type !== 'gradient') return failure('SP_ERR_UNEXPECTED_TYPE', `expected gradient, got ${describeType(m.type)}`);
  if (m.step !== expect.step) return failure('SP_ERR_WRONG_STEP', `gradient for step ${String(m.step)}, expected step ${expect.step}`);
  if (!isCount(m.round) || m.round > expect.round) return failure('SP_ERR_WRONG_ROUND', `gradient for round ${String(m.round)} of step ${expect.step}, expected round ${expect.round}`);
  if (m.round < expect.round) return failure('SP_ERR_STALE_ROUND', `a gradient for round ${m.round} of step ${expect.step}, now in round ${expect.round}`);
  if (m.count !== expect.count) return failure('SP_ERR_WRONG_COUNT', `gradient over ${String(m.count)} samples, expected ${expect.count}`);
  const losses = m.blockLoss;
  if (!(losses instanceof Float64Array) || losses.length !== expect.blocks) return failure('SP_ERR_BAD_FIELD', `gradient: blockLoss must be ${expect.blocks} float64 loss sums, one per block`);
  for (let j = 0; j < losses.length; j++) {
    // a non-finite loss, like non-finite values, is what a diverging run sends: the receiver tells the two apart
    if (!Number.isFinite(losses[j])) return failure('SP_ERR_NOT_FINITE', 'gradient: a block\'s loss sum is NaN or infinite');
    if (losses[j] < 0) return failure('SP_ERR_BAD_FIELD', 'gradient: a block\'s loss sum is negative');
  }
  if (!isCount(m.correct) || m.correct > expect.count) return failure('SP_ERR_BAD_FIELD', 'gradient: correct must be an integer from 0 to count');
  if (typeof m.computeMs !== 'number' || !Number.isFinite(m.computeMs) || m.computeMs < 0) return failure('SP_ERR_BAD_FIELD', 'gradient: computeMs must be a finite non-negative number');
  if (typeof m.receivedAt !== 'number' || !Number.isFinite(m.receivedAt) || typeof m.previousSentAt !== 'number' || !Number.isFinite(m.previousSentAt)) {
    return failure('SP_ERR_BAD_FIELD', 'gradient: receivedAt and previousSentAt must be finite numbers');
  }
  for (const key of ['cpu', 'rssBytes'] as const) {
    const v = m[key];
    if (v !== undefined && (typeof v !== 'number' || !Number.isFinite(v) || v < 0)) return failure('SP_ERR_BAD_FIELD', `gradient: ${key} must be a finite non-negative number when given`);
  }
  if (!isFloats(m.grad, expect.dtype)) return failure('SP_ERR_WRONG_ARRAY', `gradient: grad must be a ${expect.dtype} array`);
  if (m.grad.length !== length) {
    const of = expect.form === 'dense' ? `${expect.pieces} canonical pieces of the model's parameters` : `factors of ${expect.count} samples`;
    return failure('SP_ERR_WRONG_ARRAY', `gradient: grad has ${m.grad.length} values, expected ${length} (${of})`);
  }
  if (!(expect.allFinite ?? allFinite)(m.grad)) return failure('SP_ERR_NOT_FINITE', 'gradient: grad holds NaN or infinite values');
  return { ok: true, message: m as unknown as Gradient };
}

/** What a welcomed worker checks coordinator messages against; a step's parameters are decoded into `params`. */
export interface Receiving {
  params: Floats;
  spec: ModelSpec;
  /** Samples in the data set. */
  total: number;
  /** The run's block size K. */
  block: number;
}

/**
 * Decodes and checks a coordinator message on the worker (whose own model gives
 * the sizes once welcomed). Given the model's `params`, a step laid out by
 * encodeStep has its parameters copied straight into them (step.params is then
 * `params` itself); other messages are decoded the ordinary way.
 */
export function decodeToWorker(data: Frames, model?: Receiving): Checked<ToWorker> {
  const decoded = decodeInto(data, 'params', model?.params);
  if (!decoded.ok) return decoded;
  const m = decoded.message;
  switch (m.type) {
    case 'welcome':
      return checkWelcome(m);
    case 'refused':
      if (typeof m.reason !== 'string') return failure('SP_ERR_BAD_FIELD', 'refused: reason must be a string');
      return { ok: true, message: { type: 'refused', reason: m.reason, code: isErrorCode(m.code) ? m.code : undefined } };
    case 'done':
      return { ok: true, message: { type: 'done', reason: typeof m.reason === 'string' ? m.reason : undefined } };
    case 'alive':
      return { ok: true, message: { type: 'alive' } };
    case 'step': {
      if (!model) return failure('SP_ERR_BEFORE_WELCOME', 'step before welcome');
      if (!isCount(m.step) || m.step < 1) return failure('SP_ERR_BAD_FIELD', 'step: step must be a positive integer');
      if (!isCount(m.round)) return failure('SP_ERR_BAD_FIELD', 'step: round must be a non-negative integer');
      const { dtype } = model.spec;
      const size = model.params.length;
      if (m.slices !== undefined) {
        const sliced = checkSlices(m.slices, size);
        if (sliced) return sliced;
        if (!isFloats(m.params, dtype) || m.params.length !== 0) return failure('SP_ERR_WRONG_ARRAY', 'step: a sliced step carries no params (they come from the slice servers)');
      } else if (!isFloats(m.params, dtype) || m.params.length !== size) return failure('SP_ERR_WRONG_ARRAY', `step: params must be ${size} ${dtype} values`);
      const dealt = checkDeal(m, model);
      return dealt ?? { ok: true, message: m as unknown as ToWorker };
    }
    default:
      return failure('SP_ERR_UNEXPECTED_TYPE', `unknown message type ${describeType(m.type)}`);
  }
}

/** A sliced step's slice servers: their addresses, and bounds that cut the `size` parameters into non-empty slices in order. */
function checkSlices(value: unknown, size: number): Checked<never> | null {
  const map = value as SliceMap | null;
  if (typeof map !== 'object' || map === null || !Array.isArray(map.addresses) || !(map.bounds instanceof Uint32Array)) return failure('SP_ERR_BAD_FIELD', 'step: slices must have addresses and bounds');
  const { addresses, bounds } = map;
  if (addresses.length < 1 || addresses.length > MAX_SLICES) return failure('SP_ERR_BAD_FIELD', `step: from 1 to ${MAX_SLICES} slice servers`);
  for (const a of addresses) if (!isServingAddress(a)) return failure('SP_ERR_BAD_FIELD', 'step: a slice server\'s address must be ws://HOST:PORT or wss://HOST:PORT');
  if (bounds.length !== addresses.length + 1 || bounds[0] !== 0 || bounds[bounds.length - 1] !== size) return failure('SP_ERR_BAD_FIELD', `step: the slices' bounds must run from 0 to ${size}, one more than the servers`);
  for (let j = 1; j < bounds.length; j++) if (bounds[j] <= bounds[j - 1]) return failure('SP_ERR_BAD_FIELD', 'step: the slices\' bounds must ascend');
  return null;
}

/**
 * A step's batch and its deal: sample ids within the data set, and block ranges
 * that start at 0, never go back and end at the batch's last block. Null when
 * they are sound (nothing is allocated to check them).
 */
function checkDeal(m: Record<string, unknown>, model: Receiving): Checked<never> | null {
  const { batch, workers, cuts } = m;
  if (!(batch instanceof Uint32Array) || batch.length === 0) return failure('SP_ERR_WRONG_ARRAY', 'step: batch must be a non-empty Uint32Array');
  for (let i = 0; i < batch.length; i++) {
    if (batch[i] >= model.total) return failure('SP_ERR_BAD_FIELD', `step: sample id ${batch[i]} beyond the data set's ${model.total}`);
  }
  if (!(workers instanceof Uint32Array) || !(cuts instanceof Uint32Array) || cuts.length !== workers.length + 1) {
    return failure('SP_ERR_WRONG_ARRAY', 'step: workers and cuts must be Uint32Arrays, one more cut than workers');
  }
  const blocks = blockCount(batch.length, model.block);
  if (cuts[0] !== 0 || cuts[cuts.length - 1] !== blocks) return failure('SP_ERR_BAD_FIELD', `step: the cuts must run from block 0 to block ${blocks}`);
  for (let i = 1; i < cuts.length; i++) {
    if (cuts[i] < cuts[i - 1]) return failure('SP_ERR_BAD_FIELD', 'step: the cuts must not go back');
  }
  return null;
}

/** The largest data set (sample ids are indices of typed arrays) a welcome may name. */
const MAX_SAMPLES = 2 ** 31 - 1;

function checkWelcome(m: Record<string, unknown>): Checked<Welcome> {
  if (!isCount(m.version) || !isCount(m.workerId) || !isCount(m.total) || !isCount(m.block) || m.block < 1) return failure('SP_ERR_BAD_FIELD', 'welcome: bad header');
  if (m.total > MAX_SAMPLES) return failure('SP_ERR_BAD_FIELD', `welcome: total ${m.total} samples, at most ${MAX_SAMPLES}`);
  if (m.block > MAX_BLOCK) return failure('SP_ERR_BAD_FIELD', `welcome: block ${m.block} rows, at most ${MAX_BLOCK}`);
  const given = m.spec as ModelSpec | undefined;
  if (!given || typeof given !== 'object') return failure('SP_ERR_BAD_SPEC', 'welcome: no model spec');
  let spec: ModelSpec;
  try {
    // core's own check of a spec from outside, which throws a RangeError naming the field
    spec = validateSpec({ layers: given.layers, activation: given.activation as ActivationName, loss: given.loss as LossName, dtype: given.dtype });
  } catch (err) {
    return failure('SP_ERR_BAD_SPEC', `welcome: bad model spec: ${(err as Error).message}`);
  }
  const shard = checkShard(m.shard, spec, m.total);
  if (!shard.ok) return shard;
  if (typeof m.fingerprint !== 'string') return failure('SP_ERR_BAD_FIELD', 'welcome: fingerprint must be a string');
  if (!GRADIENT_FORMS.includes(m.gradientForm as GradientForm)) return failure('SP_ERR_BAD_FIELD', `welcome: gradientForm must be one of ${GRADIENT_FORMS.join(', ')}`);
  if (m.kernel !== 'js' && m.kernel !== 'wasm') return failure('SP_ERR_BAD_FIELD', 'welcome: kernel must be js or wasm');
  if (!AGGREGATIONS.includes(m.aggregation as Aggregation)) return failure('SP_ERR_BAD_FIELD', `welcome: aggregation must be one of ${AGGREGATIONS.join(', ')}`);
  const welcome: Welcome = {
    type: 'welcome',
    version: m.version,
    workerId: m.workerId,
    total: m.total,
    block: m.block,
    fingerprint: m.fingerprint,
    gradientForm: m.gradientForm as GradientForm,
    kernel: m.kernel,
    aggregation: m.aggregation as Aggregation,
    spec,
    shard: shard.message,
  };
  return { ok: true, message: welcome };
}

/** The rows as the welcome carries them, checked against the model and the data set's size. */
function checkShard(value: unknown, spec: ModelSpec, total: number): Checked<ShardData> {
  const shard = value as ShardData | undefined;
  if (!shard || typeof shard !== 'object' || !(shard.indices instanceof Uint32Array)) return failure('SP_ERR_BAD_SHARD', 'bad shard');
  let previous = -1;
  for (const g of shard.indices) {
    if (g >= total) return failure('SP_ERR_BAD_SHARD', `shard: sample id ${g} beyond the data set's ${total}`);
    if (g <= previous) return failure('SP_ERR_BAD_SHARD', `shard: sample ids must ascend, got ${g} after ${previous}`);
    previous = g;
  }
  if (shard.indices.length !== total) return failure('SP_ERR_BAD_SHARD', `the welcome must carry the whole data set's ${total} sample ids, got ${shard.indices.length}`);
  if (shard.inputs !== spec.layers[0] || shard.outputs !== spec.layers[spec.layers.length - 1]) return failure('SP_ERR_BAD_SHARD', 'the shard\'s width does not match the model');
  const n = shard.indices.length;
  if (shard.x !== undefined || shard.y !== undefined) {
    if (!isFloats(shard.x, spec.dtype) || !isFloats(shard.y, spec.dtype)) return failure('SP_ERR_BAD_SHARD', 'bad shard rows');
    if (shard.x.length !== n * shard.inputs || shard.y.length !== n * shard.outputs) return failure('SP_ERR_BAD_SHARD', 'shard rows do not match the model');
  }
  return { ok: true, message: shard };
}

/** What the receiver of a slice's values (params, part or sum) knows to check them against. */
export interface SliceExpectation {
  type: 'params' | 'part' | 'sum';
  dtype: Dtype;
  /** The step and round the receiver waits for (an earlier round is stale, a later one invalid). */
  step: number;
  round: number;
  /** Values expected. */
  length: number;
  /** params: where the slice starts; part: whose it must be. */
  from?: number;
  workerId?: number;
  /** The check that every value is finite; the portable one when not given; null: values checked where they came from. */
  allFinite?: ((x: Floats) => boolean) | null;
}

/**
 * Decodes and checks a slice's values against what the receiver waits for; given
 * `into` (the expected length), a message laid out by encodeSliceValues has its
 * values copied there from the fragments.
 */
export function decodeSliceValues<T extends SliceParams | Part | SliceSum>(data: Frames, e: SliceExpectation, into?: Floats): Checked<T> {
  const key = e.type === 'params' ? 'params' : 'grad';
  const decoded = decodeInto(data, key, into && into.length === e.length ? into : undefined);
  if (!decoded.ok) return decoded;
  return checkSliceValues<T>(decoded.message, e);
}

function checkSliceValues<T>(m: Record<string, unknown>, e: SliceExpectation): Checked<T> {
  const key = e.type === 'params' ? 'params' : 'grad';
  if (m.type !== e.type) return failure('SP_ERR_UNEXPECTED_TYPE', `expected ${e.type}, got ${describeType(m.type)}`);
  if (m.step !== e.step) return failure('SP_ERR_WRONG_STEP', `${e.type} for step ${String(m.step)}, expected step ${e.step}`);
  if (!isCount(m.round) || m.round > e.round) return failure('SP_ERR_WRONG_ROUND', `${e.type} for round ${String(m.round)} of step ${e.step}, expected round ${e.round}`);
  if (m.round < e.round) return failure('SP_ERR_STALE_ROUND', `${e.type} for round ${m.round} of step ${e.step}, now in round ${e.round}`);
  if (e.from !== undefined && m.from !== e.from) return failure('SP_ERR_BAD_FIELD', `${e.type}: the slice must start at ${e.from}`);
  if (e.workerId !== undefined && m.workerId !== e.workerId) return failure('SP_ERR_BAD_FIELD', `${e.type}: from worker ${String(m.workerId)} on the connection of worker ${e.workerId}`);
  const values = m[key];
  if (!isFloats(values, e.dtype)) return failure('SP_ERR_WRONG_ARRAY', `${e.type}: ${key} must be a ${e.dtype} array`);
  if (values.length !== e.length) return failure('SP_ERR_WRONG_ARRAY', `${e.type}: ${key} has ${values.length} values, expected ${e.length}`);
  if (e.allFinite !== null && !(e.allFinite ?? allFinite)(values)) return failure('SP_ERR_NOT_FINITE', `${e.type}: ${key} holds NaN or infinite values`);
  return { ok: true, message: m as unknown as T };
}

/** Decodes and checks what a slice server sends the coordinator: its slice of the sum (into `into` when laid out for it), or a worker found faulty. */
export function decodeFromSliceServer(data: Frames, e: SliceExpectation, into?: Floats): Checked<SliceSum | Faulty> {
  const decoded = decodeInto(data, 'grad', into && into.length === e.length ? into : undefined);
  if (!decoded.ok) return decoded;
  const m = decoded.message;
  if (m.type !== 'faulty') return checkSliceValues<SliceSum>(m, e);
  if (m.step !== e.step || m.round !== e.round) return failure('SP_ERR_STALE_ROUND', `a faulty worker reported for step ${String(m.step)} round ${String(m.round)}, now in step ${e.step} round ${e.round}`);
  if (!isCount(m.workerId) || !isErrorCode(m.code) || typeof m.reason !== 'string' || m.reason.length > 500) return failure('SP_ERR_BAD_FIELD', 'faulty: workerId, code and reason (at most 500 characters) are required');
  return { ok: true, message: { type: 'faulty', step: e.step, round: e.round, workerId: m.workerId, code: m.code, reason: m.reason } };
}

/** The largest model a slice server takes (values of the parameters). */
const MAX_PARAMS = 2 ** 28;

/**
 * Decodes and checks what the coordinator sends a slice server: a sending of a step (its slice of the
 * parameters copied into `into` when it has the length of the last one), refused, or done.
 */
export function decodeToSliceServer(data: Frames, into?: Floats): Checked<SliceStep | { type: 'refused'; reason: string } | { type: 'done'; reason?: string }> {
  const decoded = decodeInto(data, 'params', into);
  if (!decoded.ok) return decoded;
  const m = decoded.message;
  if (m.type === 'done') return { ok: true, message: { type: 'done', reason: typeof m.reason === 'string' ? m.reason : undefined } };
  if (m.type === 'refused') return { ok: true, message: { type: 'refused', reason: typeof m.reason === 'string' ? m.reason : 'refused' } };
  if (m.type !== 'slice-step') return failure('SP_ERR_UNEXPECTED_TYPE', `expected slice-step, got ${describeType(m.type)}`);
  if (!isCount(m.step) || m.step < 1 || !isCount(m.round)) return failure('SP_ERR_BAD_FIELD', 'slice-step: step must be a positive integer, round a non-negative one');
  if (m.kernel !== 'js' && m.kernel !== 'wasm') return failure('SP_ERR_BAD_FIELD', 'slice-step: kernel must be js or wasm');
  if (!isCount(m.size) || m.size < 1 || m.size > MAX_PARAMS) return failure('SP_ERR_BAD_FIELD', `slice-step: size must be from 1 to ${MAX_PARAMS}`);
  if (!isCount(m.blocks) || m.blocks < 1 || m.blocks > 2 ** 24) return failure('SP_ERR_BAD_FIELD', 'slice-step: blocks must be a positive integer');
  const { workers, cuts, params } = m;
  if (!(workers instanceof Uint32Array) || !(cuts instanceof Uint32Array) || cuts.length !== workers.length + 1 || workers.length > 65_536) {
    return failure('SP_ERR_WRONG_ARRAY', 'slice-step: workers and cuts must be Uint32Arrays, one more cut than workers');
  }
  if (cuts[0] !== 0 || cuts[cuts.length - 1] !== m.blocks) return failure('SP_ERR_BAD_FIELD', `slice-step: the cuts must run from block 0 to block ${m.blocks}`);
  for (let i = 1; i < cuts.length; i++) if (cuts[i] < cuts[i - 1]) return failure('SP_ERR_BAD_FIELD', 'slice-step: the cuts must not go back');
  if (!(params instanceof Float32Array || params instanceof Float64Array) || params.length < 1) return failure('SP_ERR_WRONG_ARRAY', 'slice-step: params must be a non-empty float array');
  if (!isCount(m.from) || m.from + params.length > m.size) return failure('SP_ERR_BAD_FIELD', 'slice-step: the slice must lie within the parameters');
  if (!allFinite(params)) return failure('SP_ERR_NOT_FINITE', 'slice-step: params hold NaN or infinite values');
  return { ok: true, message: m as unknown as SliceStep };
}
