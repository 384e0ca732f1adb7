import { expect } from 'vitest';
import { WasmKernels, jsKernels, prepareWasmKernels, type KernelChoice, type KernelName, type Kernels } from '@shardprop/core';

/** Both kernel implementations, for tests that run everything with each. */
export const KERNEL_NAMES: readonly KernelName[] = ['js', 'wasm'];

/** The kernels by name; the wasm ones must be available here (Node 20 has WebAssembly SIMD). */
export async function kernelsNamed(name: KernelName): Promise<Kernels> {
  if (name === 'js') return jsKernels;
  expect(await prepareWasmKernels()).toBe(true);
  return WasmKernels.create();
}

/**
 * The kernels a test's runs compute with when it does not name them: the CLI reads
 * SHARDPROP_KERNEL itself, and scripts/run-tests.mjs runs the integration tests a second
 * time with SHARDPROP_KERNEL=js; the programmatic API is given it explicitly.
 */
export const DEFAULT_KERNEL: KernelChoice = process.env.SHARDPROP_KERNEL === 'js' ? 'js' : 'auto';
