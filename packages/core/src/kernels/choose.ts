import type { KernelName } from './kernel.js';
import { wasmUnavailableReason } from './wasm.js';
import { prepareWasmKernels } from './wasm-node.js';

export { createKernels } from './create.js';

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
