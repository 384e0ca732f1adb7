/**
 * The bytes of a float array in little-endian order, as ONNX's raw_data and
 * safetensors store them: a view of the array itself on a little-endian machine,
 * a converted copy elsewhere.
 */
import { endianness } from 'node:os';
import type { Floats } from '../numbers.js';

export function littleEndianBytes(values: Floats): Uint8Array {
  if (endianness() === 'LE') return new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
  const bytes = new Uint8Array(values.byteLength);
  const view = new DataView(bytes.buffer);
  const f64 = values instanceof Float64Array;
  for (let i = 0; i < values.length; i++) {
    if (f64) view.setFloat64(i * 8, values[i], true);
    else view.setFloat32(i * 4, values[i], true);
  }
  return bytes;
}

/** The name of W^l and b^l in exported files: `layers.l.weight` ([n_l, n_(l-1)]) and `layers.l.bias` ([n_l]). */
export function tensorName(l: number, what: 'weight' | 'bias'): string {
  return `layers.${l}.${what}`;
}
