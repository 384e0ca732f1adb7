// The training workloads of the peers (../shared/peers/RESULTS.md): fp32, sigmoid on
// every layer, quadratic loss, plain SGD, 4096 synthetic samples.
import { Rng, makeDataset } from '../packages/core/dist/index.js';
export const WORKLOADS = {
  'W-seed': { key: 'seed', layers: [784, 30, 10], batch: 10, lr: 3 }, // Nielsen's network
  'W-large': { key: 'large', layers: [784, 512, 256, 10], batch: 256, lr: 0.5 }, // ~535k weights
};

/** Synthetic samples per data set, as the peers use. */
export const SAMPLES = 4096;

/** The workload whose short key ('seed', 'large') a probe was given; throws on anything else. */
export function workloadByKey(key) {
  const w = Object.values(WORKLOADS).find((v) => v.key === key);
  if (!w) throw new RangeError(`unknown workload "${key}" (expected ${Object.values(WORKLOADS).map((v) => v.key).join(' or ')})`);
  return w;
}

/** FLOPs of one training sample, as the peers count them: 6 per weight (2 forward, 4 backward). */
export function flopsPerSample(layers) {
  let weights = 0;
  for (let l = 1; l < layers.length; l++) weights += layers[l] * layers[l - 1];
  return 6 * weights;
}

/** The peers' synthetic data, float32: x uniform in [0, 1), y one-hot of a uniform class. */
export function syntheticData(layers, samples = SAMPLES) {
  const inputs = layers[0];
  const outputs = layers[layers.length - 1];
  const rng = new Rng(2);
  const x = new Float32Array(samples * inputs);
  for (let i = 0; i < x.length; i++) x[i] = rng.uniform();
  const y = new Float32Array(samples * outputs);
  for (let i = 0; i < samples; i++) y[i * outputs + rng.int(outputs)] = 1;
  return makeDataset('synthetic', x, y, inputs, outputs);
}

/**
 * Removes `--block K` from a probe's arguments (so the timing stays last) and returns K,
 * or `fallback` when it is absent: the canonical block size the probe trains with.
 */
export function takeBlock(args, fallback) {
  return takeCount(args, '--block', fallback);
}

/** `flag N` taken out of a probe's arguments (a positive integer), or `fallback` when absent. */
export function takeCount(args, flag, fallback) {
  const at = args.indexOf(flag);
  if (at < 0) return fallback;
  const given = args.splice(at, 2)[1];
  const count = Number(given);
  if (!(Number.isInteger(count) && count >= 1)) throw new RangeError(`${flag}: expected a positive integer, got ${given}`);
  return count;
}
