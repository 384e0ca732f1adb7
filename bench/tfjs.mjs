// Probe: TensorFlow.js training step, sigmoid MLP, quadratic loss, plain SGD, float32.
// Usage: node bench/tfjs.mjs cpu|wasm seed|large [warmMs windowMs]    prints one JSON line
//
// This mirrors ../shared/peers/tfjs/bench.mjs (the script behind the tfjs figures of
// ../shared/peers/RESULTS.md) line for line in the model, data and step; only the timing
// (measure.mjs, the same method) and the output keys are ours. Keep the two in step.
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-cpu';
import { setThreadsCount, setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { createRequire } from 'node:module';
import path from 'node:path';
import { measureRate, probeTiming } from './measure.mjs';
import { SAMPLES, flopsPerSample, workloadByKey } from './workloads.mjs';

const [backend, key, ...timing] = process.argv.slice(2);
if (backend !== 'cpu' && backend !== 'wasm') throw new RangeError(`unknown backend "${backend}" (expected cpu or wasm)`);
const W = workloadByKey(key);
if (backend === 'wasm') {
  const require = createRequire(import.meta.url);
  setWasmPaths(path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')) + '/dist/');
  setThreadsCount(1);
}
await tf.setBackend(backend);
await tf.ready();

const L = W.layers;
const params = [];
for (let l = 1; l < L.length; l++) {
  params.push(tf.variable(tf.randomNormal([L[l - 1], L[l]], 0, 1 / Math.sqrt(L[l - 1]))));
  params.push(tf.variable(tf.randomNormal([L[l]])));
}
const X = tf.randomUniform([SAMPLES, L[0]]);
const labels = tf.randomUniform([SAMPLES], 0, L.at(-1), 'int32');
const Y = tf.cast(tf.oneHot(labels, L.at(-1)), 'float32');
const opt = tf.train.sgd(W.lr);

function loss(xb, yb) {
  let a = xb;
  for (let i = 0; i < params.length; i += 2) a = tf.sigmoid(tf.add(tf.matMul(a, params[i]), params[i + 1]));
  return tf.mul(0.5, tf.mean(tf.sum(tf.square(tf.sub(a, yb)), 1)));
}
let pos = 0;
function step() {
  if (pos + W.batch > SAMPLES) pos = 0;
  tf.tidy(() => {
    const xb = tf.slice(X, [pos, 0], [W.batch, L[0]]);
    const yb = tf.slice(Y, [pos, 0], [W.batch, L.at(-1)]);
    opt.minimize(() => loss(xb, yb), false, params);
  });
  pos += W.batch;
  return W.batch;
}

// The peer awaits params[0].data() at the end of each window; cpu and wasm are synchronous, so dataSync is the same.
const { median, windows } = measureRate(step, probeTiming(timing), () => params[0].dataSync());
const env = backend === 'wasm' ? { simd: await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT'), threads: 1 } : {};
console.log(JSON.stringify({ framework: `tfjs-${backend}`, version: tf.version_core, workload: key, samplesPerSec: Math.round(median), gflops: +((median * flopsPerSample(L)) / 1e9).toFixed(2), windows: windows.map(Math.round), ...env }));
