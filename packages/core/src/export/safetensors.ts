/**
 * A model as a safetensors file: an 8-byte little-endian header length, a JSON
 * header naming each tensor's dtype, shape and byte range, then the raw
 * little-endian values. W^l is `layers.l.weight` [n_l, n_(l-1)] and b^l
 * `layers.l.bias` [n_l]; the flat parameter buffer is already in that order
 * (W^1, b^1, W^2, ...), so the data is written as it lies. `__metadata__` holds
 * the layer sizes, activation, loss and dtype (strings, as the format requires).
 */
import type { Model } from '../model.js';
import { MODEL_FORMAT } from '../model-file.js';
import { littleEndianBytes, tensorName } from './tensor-bytes.js';

interface TensorEntry {
  dtype: 'F32' | 'F64';
  shape: number[];
  data_offsets: [number, number];
}

/** The file's bytes, as pieces in order (the parameters are a view, not a copy). */
export function modelToSafetensors(model: Model): Uint8Array[] {
  const { layers, activation, loss, dtype } = model.spec;
  const { wOffset, bOffset } = model.layout;
  const size = dtype === 'float64' ? 8 : 4;
  const kind = dtype === 'float64' ? 'F64' : 'F32';
  const header: Record<string, TensorEntry | Record<string, string>> = {
    __metadata__: { format: MODEL_FORMAT, layers: layers.join(','), activation, loss, dtype },
  };
  for (let l = 1; l < layers.length; l++) {
    const w = wOffset[l - 1] * size;
    const b = bOffset[l - 1] * size;
    header[tensorName(l, 'weight')] = { dtype: kind, shape: [layers[l], layers[l - 1]], data_offsets: [w, b] };
    header[tensorName(l, 'bias')] = { dtype: kind, shape: [layers[l]], data_offsets: [b, b + layers[l] * size] };
  }
  let json = JSON.stringify(header);
  // spaces up to a multiple of 8, so the data starts aligned for any reader that maps it
  json += ' '.repeat((8 - ((8 + Buffer.byteLength(json)) % 8)) % 8);
  const text = new TextEncoder().encode(json);
  const length = new Uint8Array(8);
  new DataView(length.buffer).setBigUint64(0, BigInt(text.length), true);
  return [length, text, littleEndianBytes(model.params)];
}
