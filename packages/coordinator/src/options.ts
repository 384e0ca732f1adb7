import { availableParallelism } from 'node:os';
import {
  ACTIVATIONS, DTYPES, INIT_SCHEMES, KERNEL_CHOICES, LOSSES, MAX_BLOCK, MAX_THREADS, OPTIMIZER_KINDS, resolveKernel,
  type ActivationName, type Dtype, type InitScheme, type KernelChoice, type KernelName, type LossName, type OptimizerKind,
} from '@shardprop/core';
import { AGGREGATIONS, GRADIENT_FORMS, isLoopback, type Aggregation, type GradientForm } from '@shardprop/protocol';
import { MAX_WORKERS } from './admission.js';

/** Where the coordinator listens and whom it waits for (`shardprop coordinator`). */
export interface ServeOptions {
  host?: string;
  port?: number;
  /** The shared secret workers must present; required when host is not a loopback address. */
  token?: string;
  /** Serve wss:// with this PEM certificate and key. */
  tls?: { cert: Buffer; key: Buffer };
  /** Wait for this many workers to connect by themselves instead of starting local ones. */
  expect?: number;
  /** Serve the live dashboard on the coordinator's port (distributed runs; the CLI's --dashboard, on unless --no-dashboard). */
  dashboard?: boolean;
}

/** A mistake in what the user asked for (flags, option values, their combinations): exit code 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** Everything `shardprop train` and the programmatic `train()` accept. */
export interface TrainOptions {
  /** mnist, xor, spirals, circles, or a path to a .json, .csv or IDX file. */
  data: string;
  /** Held-out data; sources that bring their own (mnist, spirals, circles) use it by default. */
  testData?: string;
  /** n_0,...,n_L. Default: [inputs, 30, outputs] of the data. Ignored with `init` (the model file's layers win). */
  layers?: number[];
  activation?: ActivationName;
  loss?: LossName;
  dtype?: Dtype;
  /** A shardprop.model/v1 file to start from. */
  init?: string;
  initScheme?: InitScheme;
  /** Where the trained model is saved (default: runs/<time>/model.json). */
  out?: string;
  epochs?: number;
  steps?: number;
  /** Mini-batch size, or 'full' for full-batch gradient descent. */
  batch?: number | 'full';
  /** Rows per canonical block K: the batch is summed in blocks of K positions and one fixed tree over them (default DEFAULT_BLOCK; a resumed run keeps its checkpoint's). */
  block?: number;
  lr?: number;
  optimizer?: OptimizerKind;
  momentum?: number;
  weightDecay?: number;
  seed?: number;
  /** 0: train in this process, no networking. */
  workers?: number;
  /** How workers send gradients: dense sums, or per-sample factors (small batches); auto picks. Same result either way. */
  gradientForm?: GradientFormChoice;
  /**
   * How steps travel (docs/scaling.md): 'star' through the coordinator, 'slices' through a slice
   * server beside each worker (no process moves more than about 2P a step, whatever the workers);
   * 'auto' (the default): slices when the coordinator listens beyond this machine without TLS, else star.
   * The same bits either way.
   */
  aggregation?: AggregationChoice;
  /** The matrix kernels: WebAssembly SIMD where available (auto), or forced; every worker uses the coordinator's. */
  kernel?: KernelChoice;
  /**
   * Threads of each process's kernels: this one's (in process: the training; with
   * workers: the coordinator's sums and updates) and each local worker's. Default:
   * every core here (defaultThreads), and the cores shared among N local workers
   * (localWorkerThreads). Any count gives the same bits.
   */
  threads?: number;
  /** CSV: the last `targets` columns are targets. */
  targets?: number;
  /** CSV: a class-label column (name or 0-based index) turned one-hot. */
  labelColumn?: string | number;
  /** CSV/IDX: number of classes for one-hot labels. */
  classes?: number;
  /** Append one JSON line per epoch here (and one every `metricsEvery` steps, when given). */
  metrics?: string;
  /**
   * A metrics line of the training risk every this many steps, as well as every
   * epoch: to the run folder's metrics and to `metrics`. Without it the run folder
   * gets one now and then (metrics-lines.ts) and `metrics` only the epochs.
   */
  metricsEvery?: number;
  /** Append one JSON line per step here: the global batch and each worker's part of it (for audits). */
  trace?: string;
  /** Where checkpoints go (checkpoint.bin, replaced atomically). The CLI also writes one on SIGINT or SIGTERM. */
  checkpointDir?: string;
  /** Write a checkpoint every this many steps (needs checkpointDir). */
  checkpointEvery?: number;
  /** Continue from the checkpoint in checkpointDir: the same trajectory as if never stopped. */
  resume?: boolean;
  /** Seconds a worker may take to answer a step before it is dropped and its samples go to the others (300). */
  stepTimeout?: number;
  /** Seconds to wait for a worker to join when every worker is gone, before the run fails (60). */
  waitWorkers?: number;
  /** Seconds a new connection has to say hello before it is dropped (10). */
  helloTimeout?: number;
}

export const DEFAULT_LR: Record<OptimizerKind, number> = { sgd: 3, momentum: 0.5, adam: 0.001 };
export const DEFAULT_HIDDEN = 30;
export const DEFAULT_EPOCHS = 10;
export const DEFAULT_BATCH = 10;
export const DEFAULT_INIT_SCHEME: InitScheme = 'scaled';

/** --gradient-form: a form, or auto (chooseGradientForm picks; the default). */
export type GradientFormChoice = 'auto' | GradientForm;
export const GRADIENT_FORM_CHOICES: readonly GradientFormChoice[] = ['auto', ...GRADIENT_FORMS];
export const DEFAULT_GRADIENT_FORM: GradientFormChoice = 'auto';

/** --aggregation: a way, or auto (slices across machines, star on one). */
export type AggregationChoice = 'auto' | Aggregation;
export const AGGREGATION_CHOICES: readonly AggregationChoice[] = ['auto', ...AGGREGATIONS];

/** Checks the option values that make sense without the data; throws UsageError naming the option. */
export function validateTrainOptions(o: TrainOptions): void {
  if (typeof o.data !== 'string' || o.data.length === 0) throw new UsageError('--data is required: mnist, xor, spirals, circles, or a file path');
  if (o.epochs !== undefined && o.steps !== undefined) throw new UsageError('give either --epochs or --steps, not both');
  positiveInt('epochs', o.epochs);
  positiveInt('steps', o.steps);
  if (o.batch !== undefined && o.batch !== 'full') positiveInt('batch', o.batch);
  positiveInt('block', o.block);
  if (o.block !== undefined && o.block > MAX_BLOCK) throw new UsageError(`--block must be at most ${MAX_BLOCK} rows, got ${o.block}`);
  if (o.layers !== undefined) {
    if (!Array.isArray(o.layers) || o.layers.length < 2) throw new UsageError('--layers needs at least two sizes, e.g. 784,30,10');
    for (const n of o.layers) {
      if (!Number.isInteger(n) || n < 1 || n > 1_000_000) throw new UsageError(`--layers: sizes must be integers from 1 to 1000000, got ${n}`);
    }
  }
  if (o.activation !== undefined && !(Object.hasOwn(ACTIVATIONS, o.activation))) throw new UsageError(`--activation must be one of ${Object.keys(ACTIVATIONS).join(', ')}`);
  if (o.loss !== undefined && !(Object.hasOwn(LOSSES, o.loss))) throw new UsageError(`--loss must be one of ${Object.keys(LOSSES).join(', ')}`);
  if (o.dtype !== undefined && !DTYPES.includes(o.dtype)) throw new UsageError(`--dtype must be ${DTYPES.join(' or ')}`);
  if (o.initScheme !== undefined && !INIT_SCHEMES.includes(o.initScheme)) throw new UsageError(`--init-scheme must be ${INIT_SCHEMES.join(' or ')}`);
  if (o.optimizer !== undefined && !OPTIMIZER_KINDS.includes(o.optimizer)) throw new UsageError(`--optimizer must be one of ${OPTIMIZER_KINDS.join(', ')}`);
  if (o.lr !== undefined && !(Number.isFinite(o.lr) && o.lr > 0)) throw new UsageError(`--lr must be a positive number, got ${o.lr}`);
  if (o.weightDecay !== undefined && !(Number.isFinite(o.weightDecay) && o.weightDecay >= 0)) throw new UsageError(`--weight-decay must be a non-negative number, got ${o.weightDecay}`);
  if (o.momentum !== undefined && !(Number.isFinite(o.momentum) && o.momentum >= 0 && o.momentum < 1)) throw new UsageError(`--momentum must be in [0, 1), got ${o.momentum}`);
  validateSeed(o.seed);
  if (o.workers !== undefined) validateWorkerCount('--workers', o.workers, 0);
  if (o.gradientForm !== undefined && !GRADIENT_FORM_CHOICES.includes(o.gradientForm)) throw new UsageError(`--gradient-form must be one of ${GRADIENT_FORM_CHOICES.join(', ')}`);
  if (o.aggregation !== undefined && !AGGREGATION_CHOICES.includes(o.aggregation)) throw new UsageError(`--aggregation must be one of ${AGGREGATION_CHOICES.join(', ')}`);
  if (o.aggregation === 'slices' && o.gradientForm === 'factors') throw new UsageError('--aggregation slices sums dense pieces: leave out --gradient-form factors (or use --aggregation star)');
  if (o.threads !== undefined && !(Number.isInteger(o.threads) && o.threads >= 1 && o.threads <= MAX_THREADS)) throw new UsageError(`--threads must be an integer from 1 to ${MAX_THREADS}, got ${o.threads}`);
  if (o.kernel !== undefined && !KERNEL_CHOICES.includes(o.kernel)) throw new UsageError(`--kernel must be ${KERNEL_CHOICES.join(', ')}; got ${JSON.stringify(o.kernel)}`);
  positiveInt('checkpoint-every', o.checkpointEvery);
  positiveInt('metrics-every', o.metricsEvery);
  for (const [flag, v] of [['step-timeout', o.stepTimeout], ['wait-workers', o.waitWorkers], ['hello-timeout', o.helloTimeout]] as const) {
    if (v !== undefined && !(Number.isFinite(v) && v > 0 && v <= 86_400)) throw new UsageError(`--${flag} must be a number of seconds from 0 to 86400, got ${v}`);
  }
  if ((o.checkpointEvery !== undefined || o.resume) && (typeof o.checkpointDir !== 'string' || o.checkpointDir.length === 0)) {
    throw new UsageError(`${o.resume ? '--resume' : '--checkpoint-every'} needs --checkpoint-dir`);
  }
  positiveInt('targets', o.targets);
  positiveInt('classes', o.classes);
  if (o.classes !== undefined && o.classes < 2) throw new UsageError('--classes must be at least 2');
}

/** --workers (from 0: in process) or --expect (from 1): an integer up to the coordinator's MAX_WORKERS. */
/**
 * Local workers when neither --workers nor --expect says: none, training in this
 * process, the fastest on one machine as measured (bench/README.md: on a 2-core
 * machine the README's MNIST job ran 10-20x faster in process than with a worker
 * per core, and a 784,512,512,10 model at batch 200 3x faster; local workers
 * exchange the parameters and gradients every step, and the cores they would add
 * are the ones the in-process kernels use).
 */
export function defaultWorkers(): number {
  return 0;
}

/** Threads of a process that has this machine to itself: every core (os.availableParallelism). */
export function defaultThreads(): number {
  return Math.min(availableParallelism(), MAX_THREADS);
}

/** Threads of each of `workers` local workers: --threads as given, else the cores shared among them (at least 1). */
export function localWorkerThreads(workers: number, threads: number | undefined): number {
  return threads ?? Math.max(1, Math.floor(defaultThreads() / Math.max(1, workers)));
}

export function validateWorkerCount(flag: string, n: number | undefined, min: number): void {
  if (n === undefined || !Number.isInteger(n) || n < min || n > MAX_WORKERS) throw new UsageError(`${flag} must be an integer from ${min} to ${MAX_WORKERS}, got ${n}`);
}

/** --seed: a non-negative safe integer, or absent. */
export function validateSeed(seed: number | undefined): void {
  if (seed !== undefined && !(Number.isSafeInteger(seed) && seed >= 0)) throw new UsageError(`--seed must be a non-negative integer, got ${seed}`);
}

function positiveInt(name: string, v: number | undefined): void {
  if (v === undefined) return;
  if (!Number.isSafeInteger(v) || v < 1) throw new UsageError(`--${name} must be a positive integer, got ${v}`);
}

/** The kernel choice resolved (auto: wasm where this Node has WebAssembly SIMD); a forced one that cannot run is a usage error. */
export async function resolveKernelOption(choice: KernelChoice | undefined): Promise<KernelName> {
  try {
    return await resolveKernel(choice);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

/**
 * --aggregation as this run does it: auto slices when the coordinator listens beyond this machine (workers
 * on other machines, where the star's 2NP bytes a step at the coordinator cost most) and star on one
 * machine; slice servers speak ws:// only, so a run with TLS stays star.
 */
export function resolveAggregation(choice: AggregationChoice | undefined, host: string, tls: boolean): Aggregation {
  if (choice === 'slices' && tls) throw new UsageError('--aggregation slices does not carry TLS yet (slice servers speak ws://): use --aggregation star with --cert, or slices on a network you trust');
  if (choice === 'star' || choice === 'slices') return choice;
  return isLoopback(host) || tls ? 'star' : 'slices';
}
