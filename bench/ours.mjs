// Probe: shardprop's in-process training step, single thread, float32.
// Usage: node bench/ours.mjs seed|large [warmMs windowMs]    prints one JSON line
import { Backprop, Model, Optimizer, Sampler } from '../packages/core/dist/index.js';
import { measureRate, probeTiming } from './measure.mjs';
import { SAMPLES, flopsPerSample, syntheticData, workloadByKey } from './workloads.mjs';

const [key, ...timing] = process.argv.slice(2);
const { layers, batch, lr } = workloadByKey(key);
const data = syntheticData(layers);

const spec = { layers, activation: 'sigmoid', loss: 'quadratic', dtype: 'float32' };
const model = Model.init(spec, 1);
const bp = new Backprop(spec, batch);
const opt = new Optimizer({ kind: 'sgd', lr }, model.params.length, 'float32');
const sampler = new Sampler(SAMPLES, batch, 3);
const grad = new Float32Array(model.params.length);

/** One SGD step on the next mini-batch; returns its sample count. */
function step() {
  const idx = sampler.next();
  const r = bp.gradient(model, data, idx, 0, idx.length, grad);
  opt.step(model.params, grad, r.count);
  return r.count;
}

const { median, windows } = measureRate(step, probeTiming(timing));
if (!model.params.every(Number.isFinite)) throw new Error('training diverged: the timing would not be of real arithmetic');
console.log(JSON.stringify({ framework: 'shardprop', workload: key, samplesPerSec: Math.round(median), gflops: +((median * flopsPerSample(layers)) / 1e9).toFixed(2), windows: windows.map(Math.round) }));
