/**
 * IDX files (the MNIST format), gzipped or not:
 *   bytes 0-1  0x0000
 *   byte  2    element type: 0x08 ubyte, 0x09 sbyte, 0x0B int16, 0x0C int32, 0x0D float32, 0x0E float64
 *   byte  3    rank d >= 1
 *   then d big-endian uint32 dims [count, ...], then the elements, big-endian, row-major.
 * `loadIdx(images, labels)` produces x: Float64Array [count, product of the other image dims]
 * (ubyte pixels scaled by 1/255, other types as stored) and y: Float64Array [count, outputs]:
 * a rank-1 labels file of class indices becomes one-hot rows, a higher-rank one raw target rows.
 * Samples in messages are 1-based.
 */
import { gunzipSync } from 'node:zlib';
import { DatasetError, makeDataset, type Dataset } from '../dataset.js';
import { MAX_CLASSES, readDataFile } from './file.js';

export interface IdxOptions {
  /** Width of the one-hot targets for a rank-1 labels file (default: max label + 1, at least 2). */
  classes?: number;
}

/** An IDX file's contents: dims[0] samples of `width` values each, row-major. */
export interface IdxArray {
  type: number;
  dims: number[];
  width: number;
  values: Float64Array;
}

type Reader = (view: DataView, at: number) => number;
const TYPES = new Map<number, { name: string; bytes: number; read: Reader }>([
  [0x08, { name: 'ubyte', bytes: 1, read: (v, at) => v.getUint8(at) }],
  [0x09, { name: 'sbyte', bytes: 1, read: (v, at) => v.getInt8(at) }],
  [0x0b, { name: 'short', bytes: 2, read: (v, at) => v.getInt16(at) }],
  [0x0c, { name: 'int', bytes: 4, read: (v, at) => v.getInt32(at) }],
  [0x0d, { name: 'float', bytes: 4, read: (v, at) => v.getFloat32(at) }],
  [0x0e, { name: 'double', bytes: 8, read: (v, at) => v.getFloat64(at) }],
]);

export function loadIdx(imagesPath: string, labelsPath: string, options: IdxOptions = {}): Dataset {
  const images = readIdx(imagesPath);
  const labels = readIdx(labelsPath);
  if (images.dims[0] !== labels.dims[0]) {
    throw new DatasetError(`${imagesPath} has ${images.dims[0]} samples but ${labelsPath} has ${labels.dims[0]}`);
  }
  if (images.type === 0x08) for (let i = 0; i < images.values.length; i++) images.values[i] /= 255;
  const source = `${imagesPath},${labelsPath}`;
  if (labels.dims.length > 1) return makeDataset(source, images.values, labels.values, images.width, labels.width);
  const y = oneHot(labelsPath, labels.values, options.classes);
  return makeDataset(source, images.values, y, images.width, y.length / labels.dims[0]);
}

/** A gzipped IDX file may expand to this many bytes (1 GiB; Fashion-MNIST's largest is 47 MB), so a gzip bomb is refused before it fills memory. */
export const MAX_IDX_BYTES = 2 ** 30;

/** Reads and checks one IDX file. Nothing is allocated from the declared dims before they match the file's size. */
export function readIdx(path: string, maxBytes = MAX_IDX_BYTES): IdxArray {
  let bytes = readDataFile(path);
  if (bytes[0] === 0x1f && bytes[1] === 0x8b) {
    try {
      bytes = gunzipSync(bytes, { maxOutputLength: maxBytes });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ERR_BUFFER_TOO_LARGE') throw new DatasetError(`${path}: the gzip data expands to more than ${maxBytes} bytes, the most an IDX file may have`);
      const why = code === 'Z_BUF_ERROR' ? 'truncated: the file ends before the gzip stream does' : (err as Error).message;
      throw new DatasetError(`${path}: corrupt gzip data (${why})`);
    }
  }
  if (bytes.length < 4) throw new DatasetError(`${path}: too short for an IDX header (${bytes.length} bytes)`);
  if (bytes[0] !== 0 || bytes[1] !== 0) {
    throw new DatasetError(`${path}: not an IDX file (magic bytes ${hex(bytes[0])} ${hex(bytes[1])}, expected 00 00)`);
  }
  const type = TYPES.get(bytes[2]);
  if (!type) throw new DatasetError(`${path}: unknown IDX element type 0x${hex(bytes[2])}`);
  const rank = bytes[3];
  if (rank === 0) throw new DatasetError(`${path}: IDX rank is 0, expected at least 1 (the sample count)`);
  const start = 4 + 4 * rank;
  if (bytes.length < start) throw new DatasetError(`${path}: truncated header (rank ${rank} needs ${start} bytes, the file has ${bytes.length})`);

  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const dims = Array.from({ length: rank }, (_, i) => view.getUint32(4 + 4 * i));
  if (dims.includes(0)) throw new DatasetError(`${path}: no data (dims ${dims.join('x')})`);
  // Exact below 2^53; above, far larger than any file, so the comparison still holds.
  const declared = dims.reduce((p, d) => p * d, 1) * type.bytes;
  const present = bytes.length - start;
  if (declared !== present) {
    const problem = declared > present ? 'truncated' : 'trailing bytes';
    throw new DatasetError(`${path}: ${problem}: dims ${dims.join('x')} of ${type.name} need ${declared} bytes of data, the file has ${present}`);
  }

  const values = new Float64Array(declared / type.bytes);
  if (bytes[2] === 0x08) {
    values.set(bytes.subarray(start));
  } else {
    for (let i = 0; i < values.length; i++) values[i] = type.read(view, start + i * type.bytes);
  }
  const width = values.length / dims[0];
  if (type.name === 'float' || type.name === 'double') {
    const bad = values.findIndex((v) => !Number.isFinite(v));
    if (bad >= 0) throw new DatasetError(`${path}: sample ${Math.floor(bad / width) + 1} holds ${values[bad]}, expected finite numbers`);
  }
  return { type: bytes[2], dims, width, values };
}

/** Class indices -> one-hot rows of width `classes` (default max label + 1, at least 2). */
function oneHot(path: string, labels: Float64Array, classes: number | undefined): Float64Array {
  if (classes !== undefined && !(Number.isInteger(classes) && classes >= 1 && classes <= MAX_CLASSES)) {
    throw new DatasetError(`${path}: classes must be an integer 1..${MAX_CLASSES}, got ${classes}`);
  }
  let maxLabel = 0;
  for (let i = 0; i < labels.length; i++) {
    const k = labels[i];
    if (!Number.isInteger(k) || k < 0 || k >= (classes ?? MAX_CLASSES)) {
      const expected = classes !== undefined ? `0..${classes - 1}` : `an integer 0..${MAX_CLASSES - 1}`;
      throw new DatasetError(`${path}: sample ${i + 1} has label ${k}, expected a class index ${expected}`);
    }
    maxLabel = Math.max(maxLabel, k);
  }
  const outputs = classes ?? Math.max(maxLabel + 1, 2);
  const y = new Float64Array(labels.length * outputs);
  for (let i = 0; i < labels.length; i++) y[i * outputs + labels[i]] = 1;
  return y;
}

function hex(byte: number): string {
  return byte.toString(16).padStart(2, '0');
}
