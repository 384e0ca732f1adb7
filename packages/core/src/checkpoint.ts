import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { writeFileAtomically } from './atomic-file.js';
import { UnreadableFile, readRegularFile } from './regular-file.js';
import { allFinite } from './kernels/js.js';
import { layoutOf, validateSpec, type ModelSpec } from './model.js';
import type { Dtype, Floats } from './numbers.js';
import { optimizerBuffers, validateOptimizer, type OptimizerConfig, type OptimizerState } from './optimizers.js';
import { shortList } from './quote.js';
import type { RngState } from './rng.js';

/**
 * Everything a training run needs to go on exactly where it was: the step,
 * the parameters, the optimizer's state, the sampler's state (its RNG, the
 * epoch's permutation and position) and the fingerprint of the data it ran on.
 *
 * On disk (`checkpoint.bin` in the checkpoint directory), binary:
 *
 *   "SPCKPT01"  u32 LE header length  header (JSON)  arrays (raw, little-endian)  SHA-256 of all before
 *
 * The header names each array's type and length; the arrays are the parameters,
 * the optimizer's buffers and the sampler's permutation, in that order. The
 * file is written atomically (see writeFileAtomically), so a process killed
 * while writing leaves the previous checkpoint whole.
 */
export interface Checkpoint {
  /** Steps completed. */
  step: number;
  /** Of the training data (dataset.fingerprint). */
  fingerprint: string;
  spec: ModelSpec;
  batchSize: number;
  /** The run's block size K (absent from checkpoints written before blocks: then the run's default). */
  block?: number;
  params: Floats;
  optimizer: { config: OptimizerConfig; state: OptimizerState };
  sampler: { rng: RngState; order: Uint32Array; cursor: number; epochsStarted: number };
}

export const CHECKPOINT_FILE = 'checkpoint.bin';
const MAGIC = Buffer.from('SPCKPT01', 'latin1');
const FORMAT = 'shardprop.checkpoint/v1';
const HASH_BYTES = 32;

/** A checkpoint that cannot be used: missing, corrupt, or of another run. Names the file. */
export class CheckpointError extends Error {
  override name = 'CheckpointError';
  constructor(readonly file: string, reason: string) {
    super(`${file}: ${reason}`);
  }
}

type ArrayKind = 'float32' | 'float64' | 'uint32';
const CTORS = { float32: Float32Array, float64: Float64Array, uint32: Uint32Array } as const;

function kindOf(a: Floats | Uint32Array): ArrayKind {
  return a instanceof Float64Array ? 'float64' : a instanceof Float32Array ? 'float32' : 'uint32';
}

function bytesOf(a: Floats | Uint32Array): Buffer {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength);
}

export function checkpointPath(dir: string): string {
  return join(dir, CHECKPOINT_FILE);
}

/** Writes `checkpoint.bin` in `dir` atomically; returns its path. */
export function saveCheckpoint(dir: string, c: Checkpoint): string {
  const arrays: (Floats | Uint32Array)[] = [c.params, ...c.optimizer.state.buffers, c.sampler.order];
  const header = {
    format: FORMAT,
    step: c.step,
    fingerprint: c.fingerprint,
    spec: c.spec,
    batchSize: c.batchSize,
    block: c.block,
    optimizer: { config: c.optimizer.config, t: c.optimizer.state.t, buffers: c.optimizer.state.buffers.length },
    sampler: { rng: c.sampler.rng, cursor: c.sampler.cursor, epochsStarted: c.sampler.epochsStarted },
    arrays: arrays.map((a) => ({ type: kindOf(a), length: a.length })),
  };
  const head = Buffer.from(JSON.stringify(header), 'utf8');
  const length = Buffer.alloc(4);
  length.writeUInt32LE(head.length);
  const hash = createHash('sha256');
  const path = checkpointPath(dir);
  writeFileAtomically(path, (put) => {
    for (const part of [MAGIC, length, head, ...arrays.map(bytesOf)]) {
      hash.update(part);
      put(part);
    }
    put(hash.digest());
  });
  return path;
}

/** Reads and verifies `checkpoint.bin` in `dir`; throws CheckpointError naming the file and what is wrong. */
export function loadCheckpoint(dir: string): Checkpoint {
  const path = checkpointPath(dir);
  let bytes: Buffer;
  try {
    bytes = readRegularFile(path);
  } catch (err) {
    if (err instanceof UnreadableFile) throw new CheckpointError(path, err.message === 'file not found' ? 'no checkpoint here (nothing to resume)' : err.message);
    throw err;
  }
  const fail = (reason: string): never => {
    throw new CheckpointError(path, reason);
  };
  if (bytes.length < MAGIC.length + 4 + HASH_BYTES || !bytes.subarray(0, MAGIC.length).equals(MAGIC)) fail('not a shardprop checkpoint');
  const body = bytes.subarray(0, bytes.length - HASH_BYTES);
  if (!createHash('sha256').update(body).digest().equals(bytes.subarray(bytes.length - HASH_BYTES))) fail('corrupt: its checksum does not match its contents');
  const headLength = bytes.readUInt32LE(MAGIC.length);
  let at = MAGIC.length + 4 + headLength;
  if (at > body.length) fail('corrupt: the header runs past the end');
  let h: Record<string, any>;
  try {
    h = JSON.parse(bytes.subarray(MAGIC.length + 4, at).toString('utf8'));
  } catch {
    return fail('corrupt: unreadable header');
  }
  if (h.format !== FORMAT) fail(`unknown format ${JSON.stringify(h.format)} (expected ${FORMAT})`);
  const arrays: (Floats | Uint32Array)[] = [];
  for (const d of Array.isArray(h.arrays) ? h.arrays : fail('corrupt: no array list')) {
    const Ctor = CTORS[d?.type as ArrayKind];
    if (!Ctor || !Number.isSafeInteger(d.length) || d.length < 0) fail('corrupt: a bad array description');
    const n = d.length * Ctor.BYTES_PER_ELEMENT;
    if (at + n > body.length) fail('corrupt: the arrays run past the end');
    const a = new Ctor(d.length);
    bytesOf(a).set(body.subarray(at, at + n));
    arrays.push(a);
    at += n;
  }
  if (at !== body.length) fail('corrupt: bytes after the last array');
  try {
    const spec = validateSpec(h.spec as ModelSpec);
    validateOptimizer(h.optimizer?.config);
    const dtype: Dtype = spec.dtype;
    const buffers = h.optimizer.buffers;
    if (!Number.isInteger(buffers) || arrays.length !== buffers + 2) throw new RangeError('the array count does not match');
    const [params, ...rest] = arrays;
    const order = rest.pop() as Uint32Array;
    // the header's every number checked against the others: a forged header (checksum recomputed) is refused here, not later
    if (kindOf(params) !== dtype || rest.some((b) => kindOf(b) !== dtype) || kindOf(order) !== 'uint32') throw new RangeError('array types do not match the model');
    const size = layoutOf(spec.layers).size;
    if (params.length !== size) throw new RangeError(`${params.length} parameters, the layers ${shortList(spec.layers)} have ${size}`);
    const kind = h.optimizer.config.kind as OptimizerConfig['kind'];
    if (rest.length !== optimizerBuffers(kind)) throw new RangeError(`${rest.length} optimizer buffers, ${kind} keeps ${optimizerBuffers(kind)}`);
    if (rest.some((b) => b.length !== size)) throw new RangeError(`an optimizer buffer is not of the parameters' size ${size}`);
    const { rng, cursor, epochsStarted } = h.sampler ?? {};
    if (!Array.isArray(rng) || rng.length !== 4 || !rng.every((w: unknown) => Number.isInteger(w) && (w as number) >= 0 && (w as number) < 2 ** 32) || rng.every((w: number) => w === 0)) {
      throw new RangeError('bad sampler state: its generator must be four 32-bit words, not all zero');
    }
    if (!Number.isInteger(cursor) || cursor < 0 || cursor > order.length) throw new RangeError(`bad sampler state: position ${JSON.stringify(cursor)} in an epoch of ${order.length}`);
    if (!Number.isInteger(epochsStarted) || epochsStarted < 0) throw new RangeError('bad sampler state: epochs started');
    if (!isPermutation(order)) throw new RangeError(`bad sampler state: its order is not a permutation of the ${order.length} sample ids`);
    if (!Number.isSafeInteger(h.step) || h.step < 0 || typeof h.fingerprint !== 'string') throw new RangeError('bad step or fingerprint');
    if (!Number.isSafeInteger(h.batchSize) || h.batchSize < 1 || h.batchSize > order.length) throw new RangeError(`bad batch size ${JSON.stringify(h.batchSize)} for ${order.length} samples`);
    if (h.block !== undefined && !(Number.isSafeInteger(h.block) && h.block >= 1)) throw new RangeError(`bad block size ${JSON.stringify(h.block)}`);
    if (!Number.isSafeInteger(h.optimizer.t) || h.optimizer.t < 0) throw new RangeError('bad optimizer step count');
    if (![params, ...rest].every((a) => allFinite(a as Floats))) throw new RangeError('non-finite parameters or optimizer state');
    return {
      step: h.step,
      fingerprint: h.fingerprint,
      spec,
      batchSize: h.batchSize,
      block: h.block,
      params: params as Floats,
      optimizer: { config: h.optimizer.config, state: { t: h.optimizer.t, buffers: rest as Floats[] } },
      sampler: { rng: rng as RngState, order, cursor, epochsStarted },
    };
  } catch (err) {
    return fail(`unusable: ${(err as Error).message}`);
  }
}

/** Each of 0..n-1 exactly once. */
function isPermutation(order: Uint32Array): boolean {
  const seen = new Uint8Array(order.length);
  for (const id of order) {
    if (id >= order.length || seen[id]) return false;
    seen[id] = 1;
  }
  return true;
}
