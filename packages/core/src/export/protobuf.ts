/**
 * A protocol-buffers writer just large enough for ONNX's ModelProto: varints,
 * strings, bytes, 32-bit floats and nested messages, written as a list of byte
 * pieces (large tensors are not copied). No reader, no schema: onnx.ts names the fields.
 */

/** Wire types of the encoding: varint, 64-bit, length-delimited, 32-bit. */
const VARINT = 0;
const LENGTH_DELIMITED = 2;
const FIXED32 = 5;

/** The largest message protobuf parsers accept (2 GiB − 1). */
export const MAX_MESSAGE_BYTES = 2 ** 31 - 1;

/** One message being written: its pieces in order and their total length. */
export class ProtoMessage {
  readonly pieces: Uint8Array[] = [];
  length = 0;

  /** A non-negative integer field (int64, int32, enum) as a varint. */
  int(field: number, value: number): this {
    this.tag(field, VARINT);
    return this.push(varint(value));
  }

  float(field: number, value: number): this {
    this.tag(field, FIXED32);
    const bytes = new Uint8Array(4);
    new DataView(bytes.buffer).setFloat32(0, value, true);
    return this.push(bytes);
  }

  string(field: number, value: string): this {
    return this.bytes(field, new TextEncoder().encode(value));
  }

  bytes(field: number, value: Uint8Array): this {
    this.tag(field, LENGTH_DELIMITED);
    this.push(varint(value.length));
    return this.push(value);
  }

  message(field: number, value: ProtoMessage): this {
    this.tag(field, LENGTH_DELIMITED);
    this.push(varint(value.length));
    for (const piece of value.pieces) this.push(piece);
    return this;
  }

  private tag(field: number, wireType: number): void {
    this.push(varint(field * 8 + wireType));
  }

  private push(bytes: Uint8Array): this {
    this.pieces.push(bytes);
    this.length += bytes.length;
    return this;
  }
}

/** Base-128 varint, least significant group first; arithmetic, not bit operators, so values past 2^31 stay right. */
export function varint(value: number): Uint8Array {
  if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`a varint must be a non-negative safe integer, got ${value}`);
  const bytes: number[] = [];
  let v = value;
  while (v >= 0x80) {
    bytes.push((v % 0x80) + 0x80);
    v = Math.floor(v / 0x80);
  }
  bytes.push(v);
  return Uint8Array.from(bytes);
}
