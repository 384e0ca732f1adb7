import { join } from 'node:path';
import {
  CheckpointError, DEFAULT_BLOCK, DEFAULT_SPEC, blockCount, stackDepth, Model, checkpointPath, createKernels, fingerprint, loadCheckpoint, loadModel, loadSource, shortList, validateOptimizer, validateSpec,
  type Checkpoint, type Dataset, type KernelName, type Kernels, type ModelSpec, type OptimizerConfig,
} from '@shardprop/core';
import { checkAppendable, checkFolder, checkReplaceable } from './outputs.js';
import { DEFAULT_BATCH, DEFAULT_EPOCHS, DEFAULT_HIDDEN, DEFAULT_INIT_SCHEME, DEFAULT_LR, UsageError, defaultThreads, defaultWorkers, validateTrainOptions, type TrainOptions } from './options.js';

/** Everything a run needs, resolved from the options and the data: the same for every number of workers. */
export interface TrainingPlan {
  options: TrainOptions;
  spec: ModelSpec;
  /** The starting model (from --init or seeded initialisation), its parameters where the kernels work on them. */
  model: Model;
  /** The matrix kernels of this run (the coordinator's; its workers use the same), on `kernels.threads` threads. */
  kernels: Kernels;
  train: Dataset;
  test?: Dataset;
  batchSize: number;
  /**
   * The canonical block size K (core's blocks.ts): every block of K batch positions is one
   * backprop pass from zero, wherever it is computed, and the blocks are added in one fixed
   * tree; so the result does not depend on the number of workers.
   */
  block: number;
  totalSteps: number;
  batchesPerEpoch: number;
  optimizer: OptimizerConfig;
  seed: number;
  /** Seed of the sampler's RNG (the global mini-batch sequence). */
  samplerSeed: number;
  outPath: string;
  /** Of the training data (core's `fingerprint`): checked by workers with their own data, checkpoints and the run record. */
  fingerprint: string;
  /** With --resume: the checkpoint the run continues from (already checked against this plan). */
  resumeFrom?: Checkpoint;
}

/** Independent seeds for independent uses of one user seed (init, sampling). */
export function deriveSeed(seed: number, purpose: 'init' | 'sampler'): number {
  return purpose === 'init' ? seed : (seed * 2654435761 + 0x7f4a7c15) % 0x100000000;
}

/**
 * `kernel` is resolved by the caller (resolveKernel is asynchronous: it compiles
 * the wasm module); the portable kernels when not given. `workers` is how many the
 * engine will use (0 in process), for the wasm kernels' memory.
 */
export function planTraining(options: TrainOptions, kernel: KernelName = 'js', workers = options.workers ?? defaultWorkers()): TrainingPlan {
  validateTrainOptions(options);
  for (const [flag, path] of [['--metrics', options.metrics], ['--trace', options.trace]] as const) if (path !== undefined) checkAppendable(flag, path);
  const sourceOptions = { targets: options.targets, labelColumn: options.labelColumn, classes: options.classes, seed: options.seed };
  const loaded = loadSource(options.data, sourceOptions);
  const train = loaded.train;
  const testSource = options.testData !== undefined ? loadSource(options.testData, sourceOptions) : undefined;
  const test = testSource ? (testSource.test ?? testSource.train) : loaded.test;
  if (test && (test.inputs !== train.inputs || test.outputs !== train.outputs)) {
    throw new UsageError(`--test-data ${test.source} has ${test.inputs} inputs and ${test.outputs} outputs, the training data ${train.inputs} and ${train.outputs}`);
  }

  const seed = options.seed ?? 0;
  const resumeFrom = options.resume ? loadCheckpoint(options.checkpointDir!) : undefined;
  let model: Model;
  if (resumeFrom) {
    if (options.init !== undefined) throw new UsageError('give either --init or --resume, not both');
    const { spec } = resumeFrom;
    checkSpecAgrees(options, spec, `the checkpoint in ${options.checkpointDir}`);
    model = new Model(spec);
    model.params.set(resumeFrom.params);
  } else if (options.init !== undefined) {
    // loaded in --dtype when given, so only the other three can disagree
    model = loadModel(options.init, options.dtype);
    checkSpecAgrees(options, model.spec, `the model in --init ${options.init}`);
  } else {
    const spec: ModelSpec = {
      layers: options.layers ?? [train.inputs, DEFAULT_HIDDEN, train.outputs],
      activation: options.activation ?? DEFAULT_SPEC.activation,
      loss: options.loss ?? DEFAULT_SPEC.loss,
      dtype: options.dtype ?? DEFAULT_SPEC.dtype,
    };
    try {
      validateSpec(spec);
    } catch (err) {
      // the sizes came from the flags, or from the data (its inputs and outputs): name where
      const from = options.layers ? '--layers' : `${train.source} (${train.inputs} inputs, ${train.outputs} outputs)`;
      throw new UsageError(`${from}: ${(err as Error).message}`);
    }
    model = Model.init(spec, deriveSeed(seed, 'init'), options.initScheme ?? DEFAULT_INIT_SCHEME);
  }
  const { layers } = model.spec;
  if (layers[0] !== train.inputs || layers[layers.length - 1] !== train.outputs) {
    throw new UsageError(
      `the model's layers ${shortList(layers)} do not fit the data: ${train.source} has ${train.inputs} inputs and ${train.outputs} outputs`,
    );
  }
  if (model.spec.loss === 'cross-entropy' && train.outputs < 2) {
    throw new UsageError(`--loss cross-entropy needs at least 2 outputs; ${train.source} has ${train.outputs}`);
  }

  const batchSize = options.batch === 'full' ? train.count : Math.min(options.batch ?? DEFAULT_BATCH, train.count);
  const batchesPerEpoch = Math.ceil(train.count / batchSize);
  const totalSteps = options.steps ?? (options.epochs ?? DEFAULT_EPOCHS) * batchesPerEpoch;
  const kind = options.optimizer ?? 'sgd';
  const optimizer: OptimizerConfig = {
    kind,
    lr: options.lr ?? DEFAULT_LR[kind],
    weightDecay: options.weightDecay,
    momentum: options.momentum,
  };
  try {
    validateOptimizer(optimizer);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const dataFingerprint = fingerprint(train);
  if (resumeFrom) {
    const file = checkpointPath(options.checkpointDir!);
    const differs = (what: string, then: unknown, now: unknown): never => {
      throw new CheckpointError(file, `it belongs to another run: its ${what} was ${JSON.stringify(then)}, this run's is ${JSON.stringify(now)}`);
    };
    if (resumeFrom.fingerprint !== dataFingerprint) differs('data set fingerprint', resumeFrom.fingerprint, dataFingerprint);
    if (resumeFrom.batchSize !== batchSize) differs('batch size', resumeFrom.batchSize, batchSize);
    if (options.block !== undefined && resumeFrom.block !== undefined && resumeFrom.block !== options.block) differs('block size (--block)', resumeFrom.block, options.block);
    const norm = (c: OptimizerConfig) => JSON.stringify([c.kind, c.lr, c.weightDecay ?? 0, c.momentum ?? null, c.beta1 ?? null, c.beta2 ?? null, c.eps ?? null]);
    if (norm(resumeFrom.optimizer.config) !== norm(optimizer)) differs('optimizer', resumeFrom.optimizer.config, optimizer);
    if (resumeFrom.sampler.order.length !== train.count) differs('sample count', resumeFrom.sampler.order.length, train.count);
    if (totalSteps < resumeFrom.step) {
      const asked = options.steps !== undefined ? `--steps ${totalSteps}` : `${options.epochs ?? DEFAULT_EPOCHS} epochs (${totalSteps} steps)`;
      throw new UsageError(`${asked} is fewer than the ${resumeFrom.step} steps the checkpoint in ${options.checkpointDir} has already trained: to go on from it, give --steps (or --epochs) beyond that`);
    }
  }
  const block = options.block ?? resumeFrom?.block ?? DEFAULT_BLOCK;
  if (kernel === 'wasm' && !fitsWasmMemory(model.params.length, model.spec.dtype, workers, blockCount(batchSize, block))) {
    const size = `${model.params.length} ${model.spec.dtype} parameters`;
    if (options.kernel === 'wasm') throw new UsageError(`--kernel wasm (or SHARDPROP_KERNEL=wasm): a model of ${size} does not fit the wasm kernels' memory (4 GiB with its gradients); use --kernel js`);
    kernel = 'js'; // auto: the portable kernels have no such limit
  }
  // every output checked now: a finished run must not be lost to a path that cannot take it
  const outPath = options.out ?? defaultOutPath();
  checkReplaceable('--out', outPath);
  if (options.checkpointDir !== undefined) checkFolder('--checkpoint-dir', options.checkpointDir);
  const kernels = createKernels(kernel, options.threads ?? defaultThreads());
  const params = kernels.alloc(model.spec.dtype, model.params.length);
  params.set(model.params);
  return {
    options,
    fingerprint: dataFingerprint,
    resumeFrom,
    spec: model.spec,
    model: new Model(model.spec, params),
    kernels,
    train,
    test,
    batchSize,
    block,
    totalSteps,
    batchesPerEpoch,
    optimizer,
    seed,
    samplerSeed: deriveSeed(seed, 'sampler'),
    outPath,
  };
}

/** The flags the user gave for the model's shape must match the model the run starts from (`source` names it). */
function checkSpecAgrees(options: TrainOptions, spec: ModelSpec, source: string): void {
  for (const [flag, mine, theirs] of [
    ['--layers', options.layers?.join(','), spec.layers.join(',')],
    ['--activation', options.activation, spec.activation],
    ['--loss', options.loss, spec.loss],
    ['--dtype', options.dtype, spec.dtype],
  ] as const) {
    if (mine !== undefined && mine !== theirs) throw new UsageError(`${flag} ${mine} disagrees with ${source} (${theirs})`);
  }
}

/** Rows evaluation takes at a time (train's test figures and `shardprop eval` alike). */
export const EVAL_CHUNK = 256;

/**
 * Whether a model's arrays fit the wasm kernels' 32-bit memory, with room to spare: the
 * parameters, the gradient sum, the tree's stack of partial sums, and on a coordinator
 * the workers' pieces (dense: at most one per block, and at most stackDepth per worker).
 */
export function fitsWasmMemory(size: number, dtype: 'float32' | 'float64', workers: number, blocks = 1): boolean {
  const stack = stackDepth(blocks);
  const arrays = 2 + stack + (workers > 0 ? Math.min(blocks, workers * stack) : 0);
  return arrays * size * (dtype === 'float64' ? 8 : 4) <= 3.5 * 2 ** 30;
}

/** runs/<UTC time>/model.json under the current directory: a new folder per run, so nothing is overwritten. */
export function defaultOutPath(now = new Date()): string {
  return join('runs', timestamp(now), 'model.json');
}

/** The UTC time as a folder name: 2026-01-02T03-04-05-678 (runs/<time>, sweeps/<time>). */
export function timestamp(now: Date): string {
  return now.toISOString().replace(/[:.]/g, '-').replace('Z', '');
}
