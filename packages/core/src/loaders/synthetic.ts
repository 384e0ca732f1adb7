/**
 * Small synthetic data sets, reproducible from a seed (our Rng, never Math.random).
 *   xor      x: [count, 2] the corners of the unit square, cycled; y: [count, 1] x_1 XOR x_2.
 *   spirals  x: [count, 2] points on `classes` interleaved spiral arms in [-1, 1]^2; y: [count, classes] one-hot.
 *   circles  x: [count, 2] points on two concentric circles (radius 1 and `factor`); y: [count, 2] one-hot,
 *            class 0 the outer circle.
 * Classes alternate sample by sample (i % classes), so every prefix is balanced.
 */
import { DatasetError, makeDataset, type Dataset } from '../dataset.js';
import { Rng } from '../rng.js';

export interface SyntheticOptions {
  count?: number;
  seed?: number;
  /** Standard deviation of the Gaussian noise added to each coordinate. */
  noise?: number;
}

const CORNERS = [[0, 0, 0], [0, 1, 1], [1, 0, 1], [1, 1, 0]]; // x_1, x_2, y

export function xor({ count = 4 }: { count?: number } = {}): Dataset {
  checkCount('xor', count);
  const x = new Float64Array(count * 2);
  const y = new Float64Array(count);
  for (let i = 0; i < count; i++) {
    const [x1, x2, label] = CORNERS[i % 4];
    x[2 * i] = x1;
    x[2 * i + 1] = x2;
    y[i] = label;
  }
  return makeDataset('xor', x, y, 2, 1);
}

export function spirals({ count = 1000, seed = 0, classes = 2, noise = 0.02 }: SyntheticOptions & { classes?: number } = {}): Dataset {
  checkCount('spirals', count);
  checkNoise('spirals', noise);
  if (!Number.isInteger(classes) || classes < 2) throw new DatasetError(`spirals: classes must be an integer >= 2, got ${classes}`);
  const rng = rngFor('spirals', seed);
  const x = new Float64Array(count * 2);
  const y = new Float64Array(count * classes);
  for (let i = 0; i < count; i++) {
    const k = i % classes;
    const t = rng.uniform(); // position along the arm: radius 0.1..1, one and a half turns
    const r = 0.1 + 0.9 * t;
    const angle = (2 * Math.PI * k) / classes + 3 * Math.PI * t;
    x[2 * i] = r * Math.cos(angle) + noise * rng.gaussian();
    x[2 * i + 1] = r * Math.sin(angle) + noise * rng.gaussian();
    y[i * classes + k] = 1;
  }
  return makeDataset('spirals', x, y, 2, classes);
}

export function circles({ count = 1000, seed = 0, noise = 0.05, factor = 0.5 }: SyntheticOptions & { factor?: number } = {}): Dataset {
  checkCount('circles', count);
  checkNoise('circles', noise);
  if (!(factor > 0 && factor < 1)) throw new DatasetError(`circles: factor (inner radius) must be in (0, 1), got ${factor}`);
  const rng = rngFor('circles', seed);
  const x = new Float64Array(count * 2);
  const y = new Float64Array(count * 2);
  for (let i = 0; i < count; i++) {
    const k = i % 2;
    const r = k === 0 ? 1 : factor;
    const angle = 2 * Math.PI * rng.uniform();
    x[2 * i] = r * Math.cos(angle) + noise * rng.gaussian();
    x[2 * i + 1] = r * Math.sin(angle) + noise * rng.gaussian();
    y[i * 2 + k] = 1;
  }
  return makeDataset('circles', x, y, 2, 2);
}

function checkCount(name: string, count: number): void {
  if (!Number.isSafeInteger(count) || count < 1) throw new DatasetError(`${name}: count must be a positive integer, got ${count}`);
}

function checkNoise(name: string, noise: number): void {
  if (!(Number.isFinite(noise) && noise >= 0)) throw new DatasetError(`${name}: noise must be a finite number >= 0, got ${noise}`);
}

function rngFor(name: string, seed: number): Rng {
  if (!Number.isSafeInteger(seed)) throw new DatasetError(`${name}: seed must be an integer, got ${seed}`);
  return new Rng(seed);
}
