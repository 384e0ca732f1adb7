/**
 * What a browser tab's worker uses of the core (packages/worker/src/browser/):
 * the model, backprop by blocks and the kernels, nothing that reads files. The
 * browser bundle maps `@shardprop/core` here; Node imports index.ts.
 */
export { Model, layoutOf, validateSpec, type ModelSpec } from './model.js';
export type { Dtype, Floats } from './numbers.js';
export type { Kernels, KernelName } from './kernels/kernel.js';
export { MAX_THREADS } from './kernels/kernel.js';
export { allFinite } from './kernels/js.js';
export { WasmKernels, installWasmPlatform, type WasmModule, type WasmPlatform } from './kernels/wasm.js';
export { HELPER_LOOP, type HelperData, type HelperThread, type SpawnHelper } from './kernels/team.js';
export { createKernels } from './kernels/create.js';
export { makeDataset, datasetAs, type Dataset } from './dataset.js';
export { shown, shortList, oneLine, bytesShown } from './quote.js';
export { MAX_BLOCK, blockCount, blockStart } from './blocks.js';
export { BlockBackprop } from './block-backprop.js';
export type { ActivationName } from './activations.js';
export type { LossName } from './losses.js';
