import { describe, expect, it } from 'vitest';
import { fitsWasmMemory } from '../../packages/coordinator/src/plan.js';

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
