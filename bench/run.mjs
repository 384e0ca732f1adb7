// pnpm bench: training throughput of shardprop's in-process trainer, single thread,
// float32, on the two workloads of the peers (../shared/peers/RESULTS.md), and the
// GEMM kernel alone. Method as the peers': 1.5 s warm-up, median of 3 windows of 2 s.
// Usage: node bench/run.mjs [--quick]
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { cpus } from 'node:os';
import { Backprop, Model, Optimizer, Rng, Sampler, jsKernels, makeDataset } from '../packages/core/dist/index.js';

const quick = process.argv.includes('--quick');
const WARM = quick ? 300 : 1500;
const WINDOW = quick ? 400 : 2000;

const WORKLOADS = {
  'W-seed': { layers: [784, 30, 10], batch: 10, lr: 3 },
  'W-large': { layers: [784, 512, 256, 10], batch: 256, lr: 0.5 },
};
// from ../shared/peers/RESULTS.md, measured on a machine of this kind (not in this run)
const PEERS = {
  'W-seed': { 'tfjs-cpu': 4300, 'tfjs-wasm': 1550, 'pytorch-1thread': 71932 },
  'W-large': { 'tfjs-cpu': 330, 'tfjs-wasm': 1500, 'pytorch-1thread': 43662 },
};

/**
 * Runs the peers' own TensorFlow.js script (../shared/peers/tfjs/bench.mjs, unchanged) in a
 * child process, against this workspace's pinned @tensorflow/tfjs: the script is copied
 * into bench/.peers/ next to a link to our node_modules so its imports resolve.
 */
function tfjsRate(backend, workload) {
  const script = fileURLToPath(new URL('../../shared/peers/tfjs/bench.mjs', import.meta.url));
  if (!existsSync(script)) return { skipped: '../shared/peers/tfjs/bench.mjs is not there' };
  const dir = fileURLToPath(new URL('./.peers/tfjs/', import.meta.url));
  mkdirSync(dir, { recursive: true });
  copyFileSync(script, dir + 'bench.mjs');
  if (!existsSync(dir + 'node_modules')) symlinkSync(fileURLToPath(new URL('../node_modules', import.meta.url)), dir + 'node_modules');
  const secs = String((3 * WINDOW) / 1000);
  const r = spawnSync(process.execPath, [dir + 'bench.mjs', backend, workload, secs], { encoding: 'utf8' });
  const line = r.stdout.trim().split('\n').pop();
  try {
    return { samplesPerSecond: JSON.parse(line).samplesPerSec };
  } catch {
    return { skipped: `tfjs-${backend} did not run: ${r.stderr.split('\n').find((l) => l.includes('Error')) ?? r.stderr.trim().slice(-200)}` };
  }
}

function median3(run) {
  const end = performance.now() + WARM;
  while (performance.now() < end) run();
  const rates = [];
  for (let w = 0; w < 3; w++) {
    let n = 0;
    const t0 = performance.now();
    while (performance.now() - t0 < WINDOW) n += run();
    rates.push(n / ((performance.now() - t0) / 1000));
  }
  return rates.sort((a, b) => a - b)[1];
}

function trainingRate({ layers, batch, lr }) {
  const spec = { layers, activation: 'sigmoid', loss: 'quadratic', dtype: 'float32' };
  const model = Model.init(spec, 1);
  const rng = new Rng(2);
  const count = 4096;
  const x = new Float32Array(count * layers[0]).map(() => rng.uniform());
  const out = layers[layers.length - 1];
  const y = new Float32Array(count * out);
  for (let i = 0; i < count; i++) y[i * out + rng.int(out)] = 1;
  const data = makeDataset('synthetic', x, y, layers[0], out);
  const bp = new Backprop(spec, batch);
  const opt = new Optimizer({ kind: 'sgd', lr }, model.params.length, 'float32');
  const sampler = new Sampler(count, batch, 3);
  const grad = new Float32Array(model.params.length);
  return median3(() => {
    const idx = sampler.next();
    const r = bp.gradient(model, data, idx, 0, idx.length, grad);
    opt.step(model.params, grad, r.count);
    return r.count;
  });
}

function gemmGflops(m = 256, k = 784, n = 512) {
  const rng = new Rng(4);
  const A = new Float32Array(m * k).map(() => rng.uniform());
  const B = new Float32Array(n * k).map(() => rng.uniform());
  const C = new Float32Array(m * n);
  return (median3(() => (jsKernels.gemmNT(m, n, k, A, B, C, false), 1)) * 2 * m * n * k) / 1e9;
}

const results = { machine: { cpu: cpus()[0]?.model, cores: cpus().length, node: process.version, date: new Date().toISOString() }, quick, training: {}, gemm: {} };
console.log(`shardprop bench on ${results.machine.cpu} (${results.machine.cores} cores), node ${process.version}${quick ? ' [quick]' : ''}`);
console.log('| workload | shardprop samples/s | tfjs-cpu | ratio | tfjs-wasm | ratio | PyTorch 1 thread* | ratio |');
console.log('|---|---|---|---|---|---|---|---|');
for (const [name, w] of Object.entries(WORKLOADS)) {
  const ours = trainingRate(w);
  const key = name === 'W-seed' ? 'seed' : 'large';
  const cpu = tfjsRate('cpu', key);
  const wasm = tfjsRate('wasm', key);
  const torch = PEERS[name]['pytorch-1thread'];
  results.training[name] = { samplesPerSecond: ours, 'tfjs-cpu': cpu, 'tfjs-wasm': wasm, 'pytorch-1thread (recorded)': torch };
  const cell = (p) => (p.samplesPerSecond ? `${Math.round(p.samplesPerSecond)} | ${(ours / p.samplesPerSecond).toFixed(2)}x` : `skipped | -`);
  console.log(`| ${name} | ${Math.round(ours)} | ${cell(cpu)} | ${cell(wasm)} | ${torch} | ${(ours / torch).toFixed(2)}x |`);
  for (const p of [cpu, wasm]) if (p.skipped) console.log(`  (${p.skipped})`);
}
const g = gemmGflops();
results.gemm = { shape: '256x784 @ (512x784)T fp32', kernel: 'js', gflops: g };
console.log(`GEMM (js kernel) 256x784 @ 784x512 fp32: ${g.toFixed(2)} GFLOP/s (OpenBLAS 1 thread: 149*)`);
console.log('tfjs measured in this run (one child process each, one after another); * PyTorch and OpenBLAS from ../shared/peers/RESULTS.md (python3-torch is not installed here).');
mkdirSync(new URL('./results/', import.meta.url), { recursive: true });
writeFileSync(new URL('./results/latest.json', import.meta.url), JSON.stringify(results, null, 2));
