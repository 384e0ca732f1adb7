// Probe: shardprop's in-process training step, float32, with the wasm kernels (the
// default where WebAssembly SIMD is available; on --threads N threads, 1 by default)
// or the portable ones (one thread).
// Usage: node bench/ours.mjs seed|large [wasm|js] [--block K] [--threads N] [warmMs windowMs]    prints one JSON line
import { BlockBackprop, DEFAULT_BLOCK, Model, Optimizer, Sampler, allFinite, createKernels, resolveKernel } from '../packages/core/dist/index.js';
import { measureRate, probeTiming } from './measure.mjs';
import { SAMPLES, flopsPerSample, syntheticData, takeBlock, takeCount, workloadByKey } from './workloads.mjs';

const [key, ...rest] = process.argv.slice(2);
const block = takeBlock(rest, DEFAULT_BLOCK);
const threads = takeCount(rest, '--threads', 1);
const kernelName = await resolveKernel(rest[0] === 'js' || rest[0] === 'wasm' ? rest.shift() : 'wasm');
const timing = rest;
const kernels = createKernels(kernelName, threads);
const { layers, batch, lr } = workloadByKey(key);
const data = syntheticData(layers);

const spec = { layers, activation: 'sigmoid', loss: 'quadratic', dtype: 'float32' };
// parameters, gradient and scratch where the kernels work on them, as `shardprop train` keeps them
const initial = Model.init(spec, 1);
const model = new Model(spec, kernels.alloc('float32', initial.params.length));
model.params.set(initial.params);
// the batch in canonical blocks of K, added in the one tree, as the trainer's in-process engine does
const bp = new BlockBackprop(spec, block, kernels);
const opt = new Optimizer({ kind: 'sgd', lr }, model.params.length, 'float32', kernels);
const sampler = new Sampler(SAMPLES, batch, 3);
const grad = kernels.alloc('float32', model.params.length);

/** One SGD step on the next mini-batch; returns its sample count. */
function step() {
  const idx = sampler.next();
  const r = bp.gradient(model, data, idx, grad);
  opt.step(model.params, grad, r.count);
  return r.count;
}

const { median, windows } = measureRate(step, probeTiming(timing));
if (!allFinite(model.params)) throw new Error('training diverged: the timing would not be of real arithmetic');
console.log(JSON.stringify({ framework: 'shardprop', kernel: kernelName, threads: kernels.threads, workload: key, block, samplesPerSec: Math.round(median), gflops: +((median * flopsPerSample(layers)) / 1e9).toFixed(2), windows: windows.map(Math.round) }));
