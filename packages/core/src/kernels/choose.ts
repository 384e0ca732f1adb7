import { jsKernels } from './js.js';
import type { KernelName, Kernels } from './kernel.js';
import { WasmKernels, prepareWasmKernels, wasmUnavailableReason } from './wasm.js';

/** What a user may ask for: 'auto' is wasm where this Node has WebAssembly SIMD, else js. */
export type KernelChoice = KernelName | 'auto';
export const KERNEL_CHOICES: readonly KernelChoice[] = ['auto', 'js', 'wasm'];

/** The kernels a run will use; prepares (compiles) the wasm module when it is chosen. */
export async function resolveKernel(choice: KernelChoice = 'auto'): Promise<KernelName> {
  if (choice === 'js') return 'js';
  const available = await prepareWasmKernels();
  if (choice === 'wasm' && !available) throw new Error(`the wasm kernels are not available in this Node (${wasmUnavailableReason()}); use --kernel js`);
  return available ? 'wasm' : 'js';
}

/**
 * Kernels by name: the wasm ones are a new instance with a memory of their own
 * (arrays for one model and its backprop belong in one instance) computing on
 * `threads` threads, and need a resolved resolveKernel() or
 * prepareWasmKernels() first. The js kernels run on one thread whatever is asked.
 */
export function createKernels(name: KernelName, threads = 1): Kernels {
  return name === 'wasm' ? WasmKernels.create(threads) : jsKernels;
}
