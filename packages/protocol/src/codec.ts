/**
 * The one encoding of every message: msgpack maps (msgpackr) in binary WebSocket
 * frames, typed arrays as msgpackr's typed-array extension (raw bytes, decoded by
 * one copy, no per-element work). The hot messages (step, gradient) go out as
 * fragments whose last part is their big array's own memory (tail-array.ts).
 */
import { Packr } from 'msgpackr';
import type { Floats } from '@shardprop/core';
import { failure, type Checked } from './errors.js';
import type { Gradient, ToCoordinator, ToWorker } from './messages.js';
import { encodeWithTail } from './tail-array.js';

export const packr = new Packr({ useRecords: false, moreTypes: true, mapsAsObjects: true });

export function encode(message: ToCoordinator | ToWorker): Buffer {
  return packr.pack(message);
}

/** A step as the fragments of one message: the header, then the parameters' bytes straight from `params` (see tail-array.ts). */
export function encodeStep(step: number, round: number, batch: Uint32Array, workers: Uint32Array, cuts: Uint32Array, params: Floats): Buffer[] {
  return encodeWithTail(packr, { type: 'step', step, round, batch, workers, cuts }, 'params', params);
}

/** A gradient as the fragments of one message: the header, then the bytes of `grad`. */
export function encodeGradient(head: Omit<Gradient, 'grad'>, grad: Floats): Buffer[] {
  return encodeWithTail(packr, head, 'grad', grad);
}

/** What a message arrives as: one buffer, or the fragments ws hands over with binaryType 'fragments'. */
export type Frames = Uint8Array | readonly Uint8Array[];

/** One buffer from the fragments of a message. */
function joined(data: Frames): Uint8Array {
  return Array.isArray(data) ? (data.length === 1 ? data[0] : Buffer.concat(data)) : (data as Uint8Array);
}

/** Any message decoded to a plain map, unchecked beyond that. */
export function decodeMap(data: Frames): Checked<Record<string, unknown>> {
  let value: unknown;
  try {
    value = packr.unpack(joined(data));
  } catch (err) {
    return failure('SP_ERR_UNDECODABLE', `undecodable message: ${(err as Error).message}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return failure('SP_ERR_NOT_A_MAP', 'a message must be a map');
  return { ok: true, message: value as Record<string, unknown> };
}
