import { describe, expect, it } from 'vitest';
import { fingerprint, xor } from '@shardprop/core';
import { UsageError } from '../../packages/coordinator/src/options.js';
import { fitsWasmMemory, planTraining } from '../../packages/coordinator/src/plan.js';

/** Whether auto picks the wasm kernels for a model: their memory is 32-bit (4 GiB). */
describe('fitsWasmMemory', () => {
  it('counts the parameters, the gradient and one incoming gradient per worker against 3.5 GiB', () => {
    // W-large: 535,040 float32 parameters, with 256 workers: 258 x 2.14 MB = 552 MB
    expect(fitsWasmMemory(535_040, 'float32', 256)).toBe(true);
    // 400M float32 parameters in process: 3.2 GB fits, with one worker (4.8 GB) not
    expect(fitsWasmMemory(400_000_000, 'float32', 0)).toBe(true);
    expect(fitsWasmMemory(400_000_000, 'float32', 1)).toBe(false);
    expect(fitsWasmMemory(400_000_000, 'float64', 0)).toBe(false);
  });
});

describe('planTraining', () => {
  it('checks the wasm memory against the workers the engine will use (coordinator --expect), not --workers', () => {
    // 4M float32 parameters: 16 MB each; 258 of them (256 workers) outgrow 3.5 GiB, 2 (in process) do not
    const options = { data: 'xor', layers: [2, 1_000_000, 1], workers: 0 };
    expect(planTraining({ ...options, kernel: 'auto' }, 'wasm', 256).kernels.name).toBe('js');
    expect(() => planTraining({ ...options, kernel: 'wasm' }, 'wasm', 256)).toThrow(UsageError);
  });

  it('always has the data fingerprint, and one backprop chunk for every engine', () => {
    const plan = planTraining({ data: 'xor', batch: 3 });
    expect(plan.fingerprint).toBe(fingerprint(xor()));
    expect(plan.chunk).toBe(3);
  });
});
