/**
 * The flags the commands share, as yargs options, and how their values become
 * the programmatic APIs' options. Choices come from the lists of core and the
 * coordinator, never retyped here.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Argv } from 'yargs';
import { ACTIVATIONS, CHECKPOINT_FILE, DEFAULT_BLOCK, DTYPES, INIT_SCHEMES, KERNEL_CHOICES, LOSSES, OPTIMIZER_KINDS, type KernelChoice } from '@shardprop/core';
import { AGGREGATION_CHOICES, GRADIENT_FORM_CHOICES, UsageError, type TrainOptions } from '@shardprop/coordinator';
import { withConfigFile } from './config.js';
import { readInputFile } from './input-file.js';

/** Parsed arguments, as yargs hands them to a command. */
export type Args = Record<string, unknown>;

/** The headings of `--help` (yargs `.group`); a command shows them in the order it first uses them. */
export const GROUPS = {
  data: 'Data:',
  model: 'Model:',
  training: 'Training:',
  workers: 'Workers:',
  serving: 'Serving:',
  output: 'Output:',
  checkpoints: 'Checkpoints:',
} as const;

/** How a CSV or IDX source becomes inputs and targets: for train, coordinator, eval, and a worker that loads the data itself. */
export function dataSourceFlags<T>(y: Argv<T>) {
  return y
    .option('targets', { type: 'number', describe: 'CSV: the last N columns are targets (default 1)' })
    .option('label-column', { type: 'string', describe: 'CSV: a class-label column (name or 0-based index), one-hot encoded' })
    .option('classes', { type: 'number', describe: 'CSV/IDX: number of classes for one-hot labels' })
    .group(['targets', 'label-column', 'classes'], GROUPS.data);
}

/** The flags of `train` and `coordinator`: what to train, how, and how long (not `--workers`: local workers are train's, see trainFlags). */
export function trainingFlags<T>(y: Argv<T>) {
  return withConfigFile(dataSourceFlags(y.group(['data', 'test-data'], GROUPS.data)))
    .option('data', { type: 'string', demandOption: true, describe: 'mnist | xor | spirals | circles | a .json, .csv or IDX file (IMAGES,LABELS for IDX)' })
    .option('test-data', { type: 'string', describe: 'held-out data (mnist, spirals and circles bring their own)' })
    .option('layers', { type: 'string', describe: 'layer sizes n_0,...,n_L, e.g. 784,30,10 (default: inputs,30,outputs)' })
    .option('activation', { type: 'string', choices: Object.keys(ACTIVATIONS), describe: 'σ of the layers (default sigmoid)' })
    .option('loss', { type: 'string', choices: Object.keys(LOSSES), describe: 'quadratic (default) or softmax + cross-entropy' })
    .option('dtype', { type: 'string', choices: DTYPES, describe: 'number type (default float32)' })
    .option('init', { type: 'string', describe: 'start from this shardprop.model/v1 file (its layers win)' })
    .option('init-scheme', { type: 'string', choices: INIT_SCHEMES, describe: 'weights N(0,1)/sqrt(n_in) (default) or N(0,1)' })
    .option('out', { type: 'string', describe: 'where to save the trained model (default runs/<time>/model.json)' })
    .option('epochs', { type: 'number', describe: 'passes over the training data (default 10)' })
    .option('steps', { type: 'number', describe: 'optimizer steps, instead of --epochs' })
    .option('batch', { type: 'string', describe: 'mini-batch size, or "full" for full-batch gradient descent (default 10)' })
    .option('block', { type: 'number', describe: `rows per canonical block: the batch is summed in blocks of this many and one fixed tree, so any number of workers gives the same bits (default ${DEFAULT_BLOCK}; a resumed run keeps its checkpoint's)` })
    .option('lr', { type: 'number', describe: 'learning rate η (default 3 for sgd, 0.5 momentum, 0.001 adam)' })
    .option('optimizer', { type: 'string', choices: OPTIMIZER_KINDS, describe: 'default sgd' })
    .option('momentum', { type: 'number', describe: 'μ for --optimizer momentum (default 0.9)' })
    .option('weight-decay', { type: 'number', describe: 'L2 weight decay λ (default 0)' })
    .option('seed', { type: 'number', describe: 'seed of initialisation and batch order (default 0)' })
    .option('gradient-form', { type: 'string', choices: GRADIENT_FORM_CHOICES, describe: 'how workers send gradients: dense sums, or per-sample factors for small batches (default auto)' })
    .option('aggregation', { type: 'string', choices: AGGREGATION_CHOICES, describe: 'how steps travel: through the coordinator (star), or through a slice server each worker starts beside it (slices: no process moves more than about 2x the parameters a step); same bits either way (default auto: slices when listening beyond this machine, else star)' })
    .option('kernel', { type: 'string', choices: KERNEL_CHOICES, describe: 'matrix kernels: WebAssembly SIMD, or portable TypeScript; workers use the coordinator\'s (default $SHARDPROP_KERNEL, else auto: wasm where available)' })
    .option('threads', { type: 'number', describe: 'threads of each process\'s kernels: this one\'s and each local worker\'s; any count gives the same bits (default: every core; with --workers N, the cores shared among them)' })
    .option('metrics', { type: 'string', describe: 'append one JSON line of metrics per epoch to this file' })
    .option('metrics-every', { type: 'number', describe: 'a metrics line of the training risk every N steps as well as every epoch (run folder and --metrics)' })
    .option('trace', { type: 'string', describe: 'append one JSON line per step: the global batch, the hash of the parameters after it and each worker\'s blocks (compare two with shardprop trace-diff)' })
    .option('checkpoint-dir', { type: 'string', describe: 'write checkpoints here (and on SIGINT/SIGTERM)' })
    .option('checkpoint-every', { type: 'number', describe: 'checkpoint every N steps (needs --checkpoint-dir)' })
    .option('resume', { type: 'boolean', describe: 'continue from the checkpoint in --checkpoint-dir' })
    .option('resume-if-present', { type: 'boolean', describe: 'continue from the checkpoint in --checkpoint-dir when there is one, else start afresh (for a scheduler that restarts the coordinator)' })
    .option('step-timeout', { type: 'number', describe: 'seconds a worker may take to answer a step before its samples go to the others (default 300)' })
    .option('hello-timeout', { type: 'number', describe: 'seconds a new connection has to say hello before it is dropped (default 10)' })
    .option('wait-workers', { type: 'number', describe: 'seconds to wait for a worker when every worker is gone (default 60)' })
    .option('dashboard', { type: 'boolean', default: true, describe: 'serve a live web page of the run on the coordinator\'s port (--no-dashboard: none)' })
    .option('json', { type: 'boolean', default: false, describe: 'print one JSON summary on stdout' })
    .group(['layers', 'activation', 'loss', 'dtype', 'init', 'init-scheme'], GROUPS.model)
    .group(['epochs', 'steps', 'batch', 'block', 'lr', 'optimizer', 'momentum', 'weight-decay', 'seed', 'kernel', 'threads'], GROUPS.training)
    .group(['gradient-form', 'aggregation', 'step-timeout', 'hello-timeout', 'wait-workers', 'dashboard'], GROUPS.workers)
    .group(['out', 'metrics', 'trace', 'json'], GROUPS.output)
    .group(['checkpoint-dir', 'checkpoint-every', 'resume', 'resume-if-present'], GROUPS.checkpoints);
}

/** Every flag of `train` (and of a sweep's runs): the training flags and the local workers. */
export function trainFlags<T>(y: Argv<T>) {
  return trainingFlags(y)
    .option('workers', { type: 'number', describe: 'local worker processes; 0 (the default, fastest on one machine) trains in this process' })
    .group(['workers'], GROUPS.workers);
}

/** The words of the command line being parsed, so a refused number is quoted as typed. */
let typed: readonly string[] = [];
export function rememberArgv(argv: readonly string[]): void {
  typed = argv;
}

/** What the user typed after --key (as `--key V` or `--key=V`), if it is on the command line. */
function typedValue(key: string): string | undefined {
  for (let i = 0; i < typed.length; i++) {
    if (typed[i] === `--${key}`) return typed[i + 1];
    if (typed[i].startsWith(`--${key}=`)) return typed[i].slice(key.length + 3);
  }
  return undefined;
}

/** Numbers from the command line; yargs turns "abc" into NaN, which we refuse by name, quoting what was typed. */
export function num(args: Args, key: string): number | undefined {
  const v = args[key];
  if (v === undefined) return undefined;
  if (Array.isArray(v)) throw new UsageError(`--${key} was given more than once`);
  if (typeof v !== 'number' || Number.isNaN(v)) {
    const shown = typeof v === 'number' ? typedValue(key) : String(v);
    throw new UsageError(shown === undefined ? `--${key} must be a number` : `--${key} must be a number, got ${JSON.stringify(shown)}`);
  }
  return v;
}

export function str(args: Args, key: string): string | undefined {
  const v = args[key];
  if (v === undefined) return undefined;
  if (Array.isArray(v)) throw new UsageError(`--${key} was given more than once`);
  return String(v);
}

function parseLayers(text: string | undefined): number[] | undefined {
  if (text === undefined) return undefined;
  const parts = text.split(',').map((s) => s.trim());
  if (parts.some((p) => !/^\d+$/.test(p))) throw new UsageError(`--layers must be sizes separated by commas, e.g. 784,30,10; got "${text}"`);
  return parts.map(Number);
}

function parseBatch(text: string | undefined): number | 'full' | undefined {
  if (text === undefined) return undefined;
  if (text === 'full') return 'full';
  if (!/^\d+$/.test(text) || Number(text) < 1) throw new UsageError(`--batch must be a positive integer or "full", got "${text}"`);
  return Number(text);
}

/** The data-source flags shared by train, eval and a worker with its own data (CSV targets or label column, classes). */
export function sourceFlags(args: Args): Pick<TrainOptions, 'targets' | 'labelColumn' | 'classes'> {
  const labelColumn = str(args, 'label-column');
  return {
    targets: num(args, 'targets'),
    labelColumn: labelColumn !== undefined && /^\d+$/.test(labelColumn) ? Number(labelColumn) : labelColumn,
    classes: num(args, 'classes'),
  };
}

/** SHARDPROP_KERNEL: the kernels of every command that computes, where --kernel (or a config file) does not say. */
export function kernelFromEnv(): KernelChoice | undefined {
  const value = process.env.SHARDPROP_KERNEL;
  if (value === undefined || value === '') return undefined;
  const choice = KERNEL_CHOICES.find((c) => c === value);
  if (!choice) throw new UsageError(`SHARDPROP_KERNEL must be ${KERNEL_CHOICES.join(', ')}; got ${JSON.stringify(value)}`);
  return choice;
}

/** train()'s options from the training flags (the command line, or a sweep's run). */
export function trainOptionsFromArgs(args: Args): TrainOptions {
  for (const key of Object.keys(args)) {
    if (Array.isArray(args[key]) && key !== '_') throw new UsageError(`--${key} was given more than once`);
  }
  return {
    ...sourceFlags(args),
    data: str(args, 'data') as string,
    testData: str(args, 'test-data'),
    layers: parseLayers(str(args, 'layers')),
    activation: str(args, 'activation') as TrainOptions['activation'],
    loss: str(args, 'loss') as TrainOptions['loss'],
    dtype: str(args, 'dtype') as TrainOptions['dtype'],
    init: str(args, 'init'),
    initScheme: str(args, 'init-scheme') as TrainOptions['initScheme'],
    out: str(args, 'out'),
    epochs: num(args, 'epochs'),
    steps: num(args, 'steps'),
    batch: parseBatch(str(args, 'batch')),
    block: num(args, 'block'),
    lr: num(args, 'lr'),
    optimizer: str(args, 'optimizer') as TrainOptions['optimizer'],
    momentum: num(args, 'momentum'),
    weightDecay: num(args, 'weight-decay'),
    seed: num(args, 'seed'),
    workers: num(args, 'workers'),
    gradientForm: str(args, 'gradient-form') as TrainOptions['gradientForm'],
    aggregation: str(args, 'aggregation') as TrainOptions['aggregation'],
    kernel: (str(args, 'kernel') ?? kernelFromEnv()) as TrainOptions['kernel'],
    threads: num(args, 'threads'),
    metrics: str(args, 'metrics'),
    metricsEvery: num(args, 'metrics-every'),
    trace: str(args, 'trace'),
    checkpointDir: str(args, 'checkpoint-dir'),
    checkpointEvery: num(args, 'checkpoint-every'),
    resume: args.resume === true || resumeIfPresent(args) ? true : undefined,
    stepTimeout: num(args, 'step-timeout'),
    waitWorkers: num(args, 'wait-workers'),
    helloTimeout: num(args, 'hello-timeout'),
  };
}

/** --resume-if-present: is there a checkpoint to continue from? */
function resumeIfPresent(args: Args): boolean {
  if (args['resume-if-present'] !== true) return false;
  const dir = str(args, 'checkpoint-dir');
  if (dir === undefined) throw new UsageError('--resume-if-present needs --checkpoint-dir: the folder whose checkpoint a restarted run continues from');
  return existsSync(join(dir, CHECKPOINT_FILE));
}

/** The secret in a token file: its first line, trimmed; at least 16 characters. */
export function readToken(path: string): string {
  const token = readInputFile(path, '--token-file').toString('utf8').split(/\r?\n/)[0].trim();
  if (token.length < 16) throw new UsageError(`--token-file ${path}: the token is ${token.length} characters; use at least 16 (for instance: openssl rand -hex 32 > ${path})`);
  return token;
}
