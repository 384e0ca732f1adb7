import { expect } from 'vitest';
import { WasmKernels, jsKernels, prepareWasmKernels, type KernelName, type Kernels } from '@shardprop/core';

/** Both kernel implementations, for tests that run everything with each. */
export const KERNEL_NAMES: readonly KernelName[] = ['js', 'wasm'];

/** The kernels by name; the wasm ones must be available here (Node 20 has WebAssembly SIMD). */
export async function kernelsNamed(name: KernelName): Promise<Kernels> {
  if (name === 'js') return jsKernels;
  expect(await prepareWasmKernels()).toBe(true);
  return WasmKernels.create();
}
