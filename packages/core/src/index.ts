export { Rng, type RngState } from './rng.js';
export {
  Model, layoutOf, allocFloats, validateSpec, DEFAULT_SPEC,
  type ModelSpec, type Layout, type Dtype, type Floats, type InitScheme,
} from './model.js';
export { ACTIVATIONS, type Activation, type ActivationName } from './activations.js';
export { LOSSES, type Loss, type LossName } from './losses.js';
export type { Kernels, KernelName } from './kernels/kernel.js';
export { jsKernels, allFinite } from './kernels/js.js';
export { WasmKernels, prepareWasmKernels } from './kernels/wasm.js';
export { KERNEL_CHOICES, resolveKernel, createKernels, type KernelChoice } from './kernels/choose.js';
export { Backprop, factorBlocks, factorWidth, type BatchResult } from './backprop.js';
export { Optimizer, OPTIMIZER_KINDS, DEFAULT_MOMENTUM, validateOptimizer, type OptimizerConfig, type OptimizerKind, type OptimizerState } from './optimizers.js';
export { Sampler } from './sampler.js';
export { DatasetError, makeDataset, datasetAs, subset, fingerprint, type Dataset } from './dataset.js';
export { ModelFileError, MODEL_FORMAT, modelToJson, saveModel, parseModel, loadModel, type ModelJson } from './model-file.js';
export { loadSource, readDataFile, BUILT_IN_SOURCES, type SourceOptions } from './loaders/source.js';
export { loadJson } from './loaders/json.js';
export { loadCsv, type CsvOptions } from './loaders/csv.js';
export { loadIdx, readIdx, type IdxOptions, type IdxArray } from './loaders/idx.js';
export { loadMnist, type MnistOptions } from './loaders/mnist.js';
export { xor, spirals, circles, type SyntheticOptions } from './loaders/synthetic.js';
export { CheckpointError, CHECKPOINT_FILE, checkpointPath, saveCheckpoint, loadCheckpoint, type Checkpoint } from './checkpoint.js';
export { writeFileAtomically } from './atomic-file.js';
