/**
 * The one encoding of every message: msgpack maps (msgpackr) in binary WebSocket
 * frames, typed arrays as msgpackr's typed-array extension (raw bytes, decoded by
 * one copy, no per-element work). The hot messages (step, gradient) go out as
 * fragments whose last part is their big array's own memory (tail-array.ts).
 */
import { Packr } from 'msgpackr';
import type { Floats } from '@shardprop/core';
import { failure, type Checked } from './errors.js';
import type { Gradient, SliceMap, SliceStep, ToCoordinator, ToSliceServer, ToWorker } from './messages.js';
import { encodeWithTail } from './tail-array.js';

export const packr = new Packr({ useRecords: false, moreTypes: true, mapsAsObjects: true });

export function encode(message: ToCoordinator | ToWorker | ToSliceServer): Buffer {
  return packr.pack(message);
}

/**
 * A step as the fragments of one message: the header, then the parameters' bytes straight from `params` (see
 * tail-array.ts). Sliced (`slices` given), it carries no parameters: they come from the slice servers.
 */
export function encodeStep(step: number, round: number, batch: Uint32Array, workers: Uint32Array, cuts: Uint32Array, params: Floats, slices?: SliceMap): Buffer[] {
  if (slices) return encodeWithTail(packr, { type: 'step', step, round, slices, batch, workers, cuts }, 'params', params.subarray(0, 0));
  return encodeWithTail(packr, { type: 'step', step, round, batch, workers, cuts }, 'params', params);
}

/** A slice server's sending of a step: the header, then its slice of the parameters. */
export function encodeSliceStep(head: Omit<SliceStep, 'params'>, params: Floats): Buffer[] {
  return encodeWithTail(packr, head, 'params', params);
}

/**
 * The messages of a slice's values (params, part, sum): `head` (type, step, round, and a field or two), then
 * the values, from one array or several one after another (a worker's pieces cut to the slice).
 */
export function encodeSliceValues(head: { type: 'params' | 'part' | 'sum'; step: number; round: number; from?: number; workerId?: number }, values: Floats | readonly Floats[]): Buffer[] {
  return encodeWithTail(packr, head, head.type === 'params' ? 'params' : 'grad', values);
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
