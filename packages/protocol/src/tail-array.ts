import type { Packr } from 'msgpackr';
import type { Floats } from '@shardprop/core';

/**
 * The hot messages (a step's parameters, a worker's gradient) carry one large
 * typed array. It is the message's LAST field, written exactly as msgpackr
 * writes a typed array (ext 32, type 0x74, the array's type code, its bytes),
 * so the message is ordinary msgpack that any msgpackr decodes. But it is sent
 * as a WebSocket fragment of its own, straight from the array's memory (no
 * encoding copy), and read straight out of the received fragments into the
 * array it belongs in (no assembling of the message, no decoding copy).
 *
 * Reading checks the layout and falls back to the ordinary path (concatenate,
 * unpack, validate) whenever a message is not laid out this way, so a peer that
 * encodes differently, or a hostile one, gets the same validation either way.
 */

/** msgpackr's type codes of typed arrays (its `typedArrays` list). */
const TYPE_CODE = { Float32Array: 7, Float64Array: 8 } as const;
const EXT32_HEADER = 7;

function typeCode(array: Floats): number {
  return array instanceof Float64Array ? TYPE_CODE.Float64Array : TYPE_CODE.Float32Array;
}

/**
 * Bytes per fragment of the array. ws hands a receiver each frame's payload in
 * one piece, assembling it when it spans several socket reads (64 KiB each): a
 * frame of several megabytes would be copied into a fresh buffer of that size
 * on every step, which costs more in garbage collection than in copying. Small
 * frames mostly lie within one read and come as views of it.
 */
export const TAIL_FRAGMENT_BYTES = 64 * 1024;

/**
 * `head` with `key: array` appended, as [everything before the array's bytes,
 * the array's bytes in pieces of TAIL_FRAGMENT_BYTES]. Send them as the
 * fragments of one message (sendFragments). The pieces are views of `array`:
 * it must not change until the message is on the wire. Given several arrays
 * (of one type), the message carries them one after another as one array.
 */
export function encodeWithTail(packr: Packr, head: object, key: string, array: Floats | readonly Floats[]): Buffer[] {
  const arrays: readonly Floats[] = Array.isArray(array) ? array : [array as Floats];
  const wide = arrays.length > 0 && arrays[0] instanceof Float64Array;
  let byteLength = 0;
  for (const a of arrays) {
    if (a instanceof Float64Array !== wide) throw new TypeError('encodeWithTail: arrays of one type only');
    byteLength += a.byteLength;
  }
  const empty = wide ? new Float64Array(0) : new Float32Array(0);
  const packed = packr.pack({ ...head, [key]: empty });
  // an empty typed array is ext 8: c7 01 74 <code>; grow it into the ext 32 header of the real one
  const n = packed.length;
  if (packed[n - 4] !== 0xc7 || packed[n - 3] !== 1 || packed[n - 2] !== 0x74) throw new Error('msgpackr wrote an unexpected typed-array header');
  const prefix = Buffer.allocUnsafe(n - 4 + EXT32_HEADER);
  packed.copy(prefix, 0, 0, n - 4);
  let at = n - 4;
  prefix[at++] = 0xc9;
  prefix.writeUInt32BE(byteLength + 1, at);
  at += 4;
  prefix[at++] = 0x74;
  prefix[at] = typeCode(empty);
  const fragments: Buffer[] = [prefix];
  for (const a of arrays) {
    for (let from = 0; from < a.byteLength; from += TAIL_FRAGMENT_BYTES) {
      fragments.push(Buffer.from(a.buffer, a.byteOffset + from, Math.min(TAIL_FRAGMENT_BYTES, a.byteLength - from)));
    }
  }
  return fragments;
}

/**
 * Sends the fragments of one message over a ws WebSocket, corking its socket so
 * that they leave in one system call rather than one each.
 */
export function sendFragments(ws: { send(data: Buffer, options: { fin: boolean }): void; _socket?: { cork(): void; uncork(): void } }, fragments: readonly Buffer[]): void {
  const socket = ws._socket;
  socket?.cork();
  for (let i = 0; i < fragments.length; i++) ws.send(fragments[i], { fin: i === fragments.length - 1 });
  socket?.uncork();
}

/** Total bytes of a fragmented message. */
function messageLength(fragments: readonly Uint8Array[]): number {
  let total = 0;
  for (const f of fragments) total += f.length;
  return total;
}

/** Copies bytes [from, from + length) of the fragmented message into `out` at `at`. */
function copyRange(fragments: readonly Uint8Array[], from: number, length: number, out: Uint8Array, at: number): void {
  let offset = 0;
  for (const f of fragments) {
    if (length === 0) return;
    const end = offset + f.length;
    if (end > from) {
      const start = from - offset;
      const n = Math.min(f.length - start, length);
      out.set(start === 0 && n === f.length ? f : f.subarray(start, start + n), at);
      at += n;
      from += n;
      length -= n;
    }
    offset = end;
  }
}

/**
 * Reads a message laid out by encodeWithTail whose array must be `into` (same
 * type, same length): copies the array's bytes into `into` and returns the other
 * fields, with `key` set to `into`. Returns null, with `into` untouched, when
 * the message is not laid out that way (the caller then decodes it the ordinary way).
 */
export function decodeWithTail(packr: Packr, fragments: readonly Uint8Array[], key: string, into: Floats): Record<string, unknown> | null {
  const total = messageLength(fragments);
  const tail = into.byteLength;
  const headLength = total - tail - EXT32_HEADER;
  if (headLength < 1 || headLength > 4096) return null;
  // the head, with nil in place of the array: a complete map iff the array was its last value
  const head = Buffer.allocUnsafe(headLength + EXT32_HEADER);
  copyRange(fragments, 0, headLength + EXT32_HEADER, head, 0);
  if (head[headLength] !== 0xc9 || head.readUInt32BE(headLength + 1) !== tail + 1 || head[headLength + 5] !== 0x74 || head[headLength + 6] !== typeCode(into)) return null;
  head[headLength] = 0xc0;
  let values: unknown[];
  try {
    values = packr.unpackMultiple(head.subarray(0, headLength + 1)) as unknown[];
  } catch {
    return null;
  }
  if (values.length !== 1) return null;
  const m = values[0];
  if (typeof m !== 'object' || m === null || Array.isArray(m)) return null;
  const fields = m as Record<string, unknown>;
  const keys = Object.keys(fields);
  if (keys[keys.length - 1] !== key || fields[key] !== null) return null;
  copyRange(fragments, total - tail, tail, new Uint8Array(into.buffer, into.byteOffset, tail), 0);
  fields[key] = into;
  return fields;
}
