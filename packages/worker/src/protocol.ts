import { Packr } from 'msgpackr';
import { allFinite, validateSpec, type ActivationName, type Dtype, type Floats, type KernelName, type LossName, type ModelSpec } from '@shardprop/core';
import { decodeWithTail, encodeWithTail } from './tail-array.js';

export { sendFragments } from './tail-array.js';

/**
 * The wire protocol between coordinator and workers: every message, its encoding
 * and its validation. Messages are msgpack maps in binary WebSocket frames;
 * typed arrays travel as msgpackr's typed-array extension (raw bytes, decoded
 * by one copy, no per-element work).
 *
 *   worker → coordinator   hello, gradient
 *   coordinator → worker   welcome, refused, reshard, step, done
 */
export const PROTOCOL_VERSION = 4;

/** The HTTP header of the WebSocket upgrade that carries the coordinator's token: it is checked there, once, before any message. */
export const TOKEN_HEADER = 'x-shardprop-token';

export interface Hello {
  type: 'hello';
  version: number;
  name: string;
  /** Set when the worker loaded the data set itself: its fingerprint, which must be the coordinator's. */
  fingerprint?: string;
}

/**
 * The shard a worker holds: global sample ids (ascending) with their rows, or
 * without them (x, y absent) when the worker loaded the same data set itself.
 */
export interface ShardData {
  indices: Uint32Array;
  x?: Floats;
  y?: Floats;
  inputs: number;
  outputs: number;
}

/**
 * How a worker sends its gradient sum: 'dense' as the sum itself (one value per
 * parameter), 'factors' as the per-sample δ^l and hidden a^l the sum is built
 * from (Backprop.factors), which the coordinator turns into the sum. For a few
 * samples of a large layer the factors are far fewer bytes.
 */
export type GradientForm = 'dense' | 'factors';
export const GRADIENT_FORMS: readonly GradientForm[] = ['dense', 'factors'];

export interface Welcome {
  type: 'welcome';
  version: number;
  workerId: number;
  spec: ModelSpec;
  /** Total samples of the data set (global ids are 0..total-1). */
  total: number;
  /** Rows per backprop chunk. */
  chunk: number;
  fingerprint: string;
  gradientForm: GradientForm;
  /** The coordinator's kernels: every worker computes with the same ones, so results do not depend on the number of workers. */
  kernel: KernelName;
  shard: ShardData;
}

export interface Refused {
  type: 'refused';
  reason: string;
}

/** The worker's samples from now on (workers came or went): it replaces the shard it held. */
export interface Reshard {
  type: 'reshard';
  shard: ShardData;
}

/** One training step: the same bytes go to every worker; each computes the part of `batch` in its shard. */
export interface Step {
  type: 'step';
  step: number;
  /** Counts every sending of a step: a step sent again (after workers came or went) has a higher round. */
  round: number;
  params: Floats;
  /** Global sample ids of the whole global mini-batch, in order. */
  batch: Uint32Array;
}

export interface Gradient {
  type: 'gradient';
  step: number;
  /** The round of the step message it answers. */
  round: number;
  count: number;
  lossSum: number;
  correct: number;
  /** Milliseconds of backprop for this step, for the metrics. */
  computeMs: number;
  /**
   * When this step's message arrived and when the worker's previous gradient
   * went out (0 before its first): wall-clock milliseconds (performance.timeOrigin
   * + performance.now()). The coordinator takes the synchronization of a step from
   * them; across machines they carry the machines' clock offsets.
   */
  receivedAt: number;
  previousSentAt: number;
  /** The gradient sum (form 'dense'), or the count × factorWidth factors of the shard's samples in batch order (form 'factors'). */
  grad: Floats;
}

export interface Done {
  type: 'done';
  reason?: string;
}

export type ToCoordinator = Hello | Gradient;
export type ToWorker = Welcome | Refused | Reshard | Step | Done;

const packr = new Packr({ useRecords: false, moreTypes: true, mapsAsObjects: true });

export function encode(message: ToCoordinator | ToWorker): Buffer {
  return packr.pack(message);
}

/** A step as the fragments of one message: the header, then the parameters' bytes straight from `params` (see tail-array.ts). */
export function encodeStep(step: number, round: number, batch: Uint32Array, params: Floats): Buffer[] {
  return encodeWithTail(packr, { type: 'step', step, round, batch }, 'params', params);
}

/** A gradient as the fragments of one message: the header, then the bytes of `grad`. */
export function encodeGradient(head: Omit<Gradient, 'grad'>, grad: Floats): Buffer[] {
  return encodeWithTail(packr, head, 'grad', grad);
}

/** One buffer from the fragments of a message. */
function joined(data: Uint8Array | readonly Uint8Array[]): Uint8Array {
  return Array.isArray(data) ? (data.length === 1 ? data[0] : Buffer.concat(data)) : (data as Uint8Array);
}

/** A message that is not what the protocol allows; the receiver drops the sender with this reason. */
export class ProtocolError extends Error {
  override name = 'ProtocolError';
}

/** A gradient for an earlier sending of the current step, overtaken by a resend: ignored, not an offence. */
export class StaleGradient extends Error {
  override name = 'StaleGradient';
}

function decodeObject(data: Uint8Array | readonly Uint8Array[]): Record<string, unknown> {
  let value: unknown;
  try {
    value = packr.unpack(joined(data));
  } catch (err) {
    throw new ProtocolError(`undecodable message: ${(err as Error).message}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new ProtocolError('a message must be a map');
  return value as Record<string, unknown>;
}

function isCount(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= 0;
}

function isFloats(v: unknown, dtype: Dtype): v is Floats {
  return dtype === 'float64' ? v instanceof Float64Array : v instanceof Float32Array;
}

/** What the coordinator knows when a worker message arrives, to check it against. */
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
  /** Samples of the current step that lie in this worker's shard. */
  count: number;
  /** The check that every value is finite (the coordinator's kernels'); the portable one when not given. */
  allFinite?: (x: Floats) => boolean;
}

/** Decodes and validates a worker's first message. */
export function decodeHello(data: Uint8Array | readonly Uint8Array[]): Hello {
  const m = decodeObject(data);
  if (m.type !== 'hello') throw new ProtocolError(`expected hello, got ${describeType(m.type)}`);
  if (!isCount(m.version)) throw new ProtocolError('hello: version must be a non-negative integer');
  if (typeof m.name !== 'string' || m.name.length > 200) throw new ProtocolError('hello: name must be a string of at most 200 characters');
  if (m.fingerprint !== undefined && (typeof m.fingerprint !== 'string' || m.fingerprint.length > 200)) throw new ProtocolError('hello: fingerprint must be a string');
  return { type: 'hello', version: m.version, name: m.name, fingerprint: m.fingerprint as string | undefined };
}

/**
 * Decodes and validates a gradient for the step the coordinator is waiting on.
 * Given `into`, a message laid out by encodeGradient has its array copied there
 * from the fragments (the ordinary decoding is the fallback); the returned grad
 * is then a view of `into`.
 */
export function decodeGradient(data: Uint8Array | readonly Uint8Array[], expect: Expectation, into?: Floats): Gradient {
  const length = expect.form === 'dense' ? expect.size : expect.count * expect.factorWidth;
  const fast = into && Array.isArray(data) && into.length >= length ? decodeWithTail(packr, data, 'grad', into.subarray(0, length)) : null;
  const m = fast ?? decodeObject(data);
  if (m.type !== 'gradient') throw new ProtocolError(`expected gradient, got ${describeType(m.type)}`);
  if (m.step !== expect.step) throw new ProtocolError(`gradient for step ${String(m.step)}, expected step ${expect.step}`);
  if (!isCount(m.round) || m.round > expect.round) throw new ProtocolError(`gradient for round ${String(m.round)} of step ${expect.step}, expected round ${expect.round}`);
  if (m.round < expect.round) throw new StaleGradient(`a gradient for round ${m.round} of step ${expect.step}, now in round ${expect.round}`);
  if (m.count !== expect.count) throw new ProtocolError(`gradient over ${String(m.count)} samples, expected ${expect.count}`);
  if (typeof m.lossSum !== 'number' || !Number.isFinite(m.lossSum) || m.lossSum < 0) throw new ProtocolError('gradient: lossSum must be a finite non-negative number');
  if (!isCount(m.correct) || m.correct > expect.count) throw new ProtocolError('gradient: correct must be an integer from 0 to count');
  if (typeof m.computeMs !== 'number' || !Number.isFinite(m.computeMs) || m.computeMs < 0) throw new ProtocolError('gradient: computeMs must be a finite non-negative number');
  if (typeof m.receivedAt !== 'number' || !Number.isFinite(m.receivedAt) || typeof m.previousSentAt !== 'number' || !Number.isFinite(m.previousSentAt)) {
    throw new ProtocolError('gradient: receivedAt and previousSentAt must be finite numbers');
  }
  if (!isFloats(m.grad, expect.dtype)) throw new ProtocolError(`gradient: grad must be a ${expect.dtype} array`);
  if (m.grad.length !== length) {
    throw new ProtocolError(`gradient: grad has ${m.grad.length} values, expected ${length} (${expect.form === 'dense' ? 'the model\'s parameters' : `factors of ${expect.count} samples`})`);
  }
  if (!(expect.allFinite ?? allFinite)(m.grad)) throw new ProtocolError('gradient: grad holds NaN or infinite values');
  return m as unknown as Gradient;
}

/** What a welcomed worker checks coordinator messages against; a step's parameters are decoded into `params`. */
export interface Receiving {
  params: Floats;
  spec: ModelSpec;
  /** Samples in the data set. */
  total: number;
}

/**
 * Decodes and validates a coordinator message on the worker (whose own model
 * gives the sizes once welcomed). Given the model's `params`, a step laid out by
 * encodeStep has its parameters copied straight into them (step.params is then
 * `params` itself); other messages are decoded the ordinary way.
 */
export function decodeToWorker(data: Uint8Array | readonly Uint8Array[], model?: Receiving): ToWorker {
  const fast = model && Array.isArray(data) ? decodeWithTail(packr, data, 'params', model.params) : null;
  const m = fast ?? decodeObject(data);
  switch (m.type) {
    case 'welcome':
      return validateWelcome(m);
    case 'refused':
      if (typeof m.reason !== 'string') throw new ProtocolError('refused: reason must be a string');
      return { type: 'refused', reason: m.reason };
    case 'done':
      return { type: 'done', reason: typeof m.reason === 'string' ? m.reason : undefined };
    case 'reshard':
      if (!model) throw new ProtocolError('reshard before welcome');
      return { type: 'reshard', shard: validateShard(m.shard, model.spec, model.total) };
    case 'step': {
      if (!model) throw new ProtocolError('step before welcome');
      if (!isCount(m.step) || m.step < 1) throw new ProtocolError('step: step must be a positive integer');
      if (!isCount(m.round)) throw new ProtocolError('step: round must be a non-negative integer');
      const { dtype } = model.spec;
      const size = model.params.length;
      if (!isFloats(m.params, dtype) || m.params.length !== size) throw new ProtocolError(`step: params must be ${size} ${dtype} values`);
      if (!(m.batch instanceof Uint32Array)) throw new ProtocolError('step: batch must be a Uint32Array');
      return m as unknown as Step;
    }
    default:
      throw new ProtocolError(`unknown message type ${describeType(m.type)}`);
  }
}

function validateWelcome(m: Record<string, unknown>): Welcome {
  if (!isCount(m.version) || !isCount(m.workerId) || !isCount(m.total) || !isCount(m.chunk) || m.chunk < 1) throw new ProtocolError('welcome: bad header');
  const given = m.spec as ModelSpec | undefined;
  if (!given || typeof given !== 'object') throw new ProtocolError('welcome: no model spec');
  let spec: ModelSpec;
  try {
    spec = validateSpec({ layers: given.layers, activation: given.activation as ActivationName, loss: given.loss as LossName, dtype: given.dtype });
  } catch (err) {
    throw new ProtocolError(`welcome: bad model spec: ${(err as Error).message}`);
  }
  const shard = validateShard(m.shard, spec, m.total);
  if (typeof m.fingerprint !== 'string') throw new ProtocolError('welcome: fingerprint must be a string');
  if (!GRADIENT_FORMS.includes(m.gradientForm as GradientForm)) throw new ProtocolError(`welcome: gradientForm must be one of ${GRADIENT_FORMS.join(', ')}`);
  if (m.kernel !== 'js' && m.kernel !== 'wasm') throw new ProtocolError('welcome: kernel must be js or wasm');
  return {
    type: 'welcome',
    version: m.version,
    workerId: m.workerId,
    total: m.total,
    chunk: m.chunk,
    fingerprint: m.fingerprint,
    gradientForm: m.gradientForm as GradientForm,
    kernel: m.kernel,
    spec,
    shard,
  };
}

/** A shard as the welcome or a reshard carries it, checked against the model and the data set's size. */
function validateShard(value: unknown, spec: ModelSpec, total: number): ShardData {
  const shard = value as ShardData | undefined;
  if (!shard || typeof shard !== 'object' || !(shard.indices instanceof Uint32Array)) throw new ProtocolError('bad shard');
  for (const g of shard.indices) if (g >= total) throw new ProtocolError(`shard: sample id ${g} beyond the data set's ${total}`);
  if (shard.inputs !== spec.layers[0] || shard.outputs !== spec.layers[spec.layers.length - 1]) throw new ProtocolError('the shard\'s width does not match the model');
  const n = shard.indices.length;
  if (shard.x !== undefined || shard.y !== undefined) {
    if (!isFloats(shard.x, spec.dtype) || !isFloats(shard.y, spec.dtype)) throw new ProtocolError('bad shard rows');
    if (shard.x.length !== n * shard.inputs || shard.y.length !== n * shard.outputs) throw new ProtocolError('shard rows do not match the model');
  }
  return shard;
}

function describeType(t: unknown): string {
  return typeof t === 'string' ? JSON.stringify(t.slice(0, 40)) : typeof t;
}
