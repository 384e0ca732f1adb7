import { jsKernels } from './js.js';
import type { KernelName, Kernels } from './kernel.js';
import { WasmKernels } from './wasm.js';

/**
 * Kernels by name: the wasm ones are a new instance with a memory of their own
 * (arrays for one model and its backprop belong in one instance) computing on
 * `threads` threads, and need a resolved resolveKernel() or
 * prepareWasmKernels() first (in a browser, installWasmPlatform). The js kernels run on one thread whatever is asked.
 */
export function createKernels(name: KernelName, threads = 1): Kernels {
  return name === 'wasm' ? WasmKernels.create(threads) : jsKernels;
}
