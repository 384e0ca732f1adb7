// Probe: the machine's limit for WebAssembly SIMD128 float32 arithmetic, the ceiling of any
// wasm GEMM here. SIMD128 has no fused multiply-add, so a product term costs one f32x4.mul and
// one f32x4.add; this loop issues 8 independent mul+add pairs per turn, from registers only
// (no loads), so nothing but the multiply and add units bounds it. GFLOP/s = 2 flops per lane.
// Usage: node bench/simd-peak.mjs [warmMs windowMs]    prints one JSON line
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { measureRate, probeTiming } from './measure.mjs';

const TURNS = 1_000_000;
const sums = [0, 1, 2, 3, 4, 5, 6, 7];
const wat = `(module
  (func (export "run") (param $turns i32) (result f32)
    (local $x0 v128) (local $x1 v128) (local $c v128)
    ${sums.map((i) => `(local $s${i} v128)`).join(' ')}
    (local.set $x0 (v128.const f32x4 1.0001 1.0002 1.0003 1.0004))
    (local.set $x1 (v128.const f32x4 0.9999 0.9998 0.9997 0.9996))
    (local.set $c (v128.const f32x4 1e-7 1e-7 1e-7 1e-7))
    (loop $turn
      ${sums.map((i) => `(local.set $s${i} (f32x4.add (local.get $s${i}) (f32x4.mul (local.get $x${i % 2}) (local.get $c))))`).join('\n      ')}
      (local.set $turns (i32.sub (local.get $turns) (i32.const 1)))
      (br_if $turn (local.get $turns)))
    (f32x4.extract_lane 0 (f32x4.add ${sums.slice(1).reduce((acc, i) => `(f32x4.add ${acc} (local.get $s${i}))`, '(local.get $s0)')} (local.get $c)))))`;

// wabt is the core package's dependency (it assembles the kernels); take it from there
const wabtPath = createRequire(new URL('../packages/core/package.json', import.meta.url)).resolve('wabt');
const { default: initWabt } = await import(pathToFileURL(wabtPath).href);
const parsed = (await initWabt()).parseWat('peak.wat', wat, { simd: true });
parsed.resolveNames();
parsed.validate();
const { instance } = await WebAssembly.instantiate(parsed.toBinary({}).buffer);
const run = instance.exports.run;
const flopsPerTurn = sums.length * 4 * 2;
const { median, windows } = measureRate(() => (run(TURNS), 1), probeTiming(process.argv.slice(2)));
const gflops = (r) => +((r * TURNS * flopsPerTurn) / 1e9).toFixed(2);
console.log(JSON.stringify({ probe: 'simd128-f32-mul+add', gflops: gflops(median), windowsGflops: windows.map(gflops) }));
