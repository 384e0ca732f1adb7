import { resolve } from 'node:path';
import yargs, { type Argv } from 'yargs';
import { Backprop, CheckpointError, KERNEL_CHOICES, createKernels, resolveKernel, DatasetError, ModelFileError, fingerprint, loadModel, loadSource, type Dataset } from '@shardprop/core';
import { flagTypesOf, withConfigFile } from './config.js';
import { readInputFile } from './input-file.js';
import { createLogger } from './log.js';
import { GRADIENT_FORM_CHOICES, UsageError, validateSeed, validateTrainOptions, validateWorkerCount, type TrainOptions } from './options.js';
import { EVAL_CHUNK, timestamp } from './plan.js';
import { createProgress } from './progress.js';
import { runWorker } from '@shardprop/worker';
import { formatResults, runSweep, type SweepRun } from './sweep.js';
import { MAX_PARALLEL, readSweepFile, type SweepFile } from './sweep-file.js';
import { train, type ServeOptions } from './train.js';
import { TrainingInterrupted } from './training-loop.js';

/** Exit codes: 0 done, 1 the run failed, 2 bad input (flags, values, files). */
const EXIT_BAD_INPUT = 2;

/** How a CSV or IDX source becomes inputs and targets: for train, coordinator, eval, and a worker that loads the data itself. */
function dataSourceFlags<T>(y: Argv<T>) {
  return y
    .option('targets', { type: 'number', describe: 'CSV: the last N columns are targets (default 1)' })
    .option('label-column', { type: 'string', describe: 'CSV: a class-label column (name or 0-based index), one-hot encoded' })
    .option('classes', { type: 'number', describe: 'CSV/IDX: number of classes for one-hot labels' });
}

function trainingFlags<T>(y: Argv<T>) {
  return withConfigFile(dataSourceFlags(y))
    .option('data', { type: 'string', demandOption: true, describe: 'mnist | xor | spirals | circles | a .json, .csv or IDX file (IMAGES,LABELS for IDX)' })
    .option('test-data', { type: 'string', describe: 'held-out data (mnist, spirals and circles bring their own)' })
    .option('layers', { type: 'string', describe: 'layer sizes n_0,...,n_L, e.g. 784,30,10 (default: inputs,30,outputs)' })
    .option('activation', { type: 'string', choices: ['sigmoid', 'tanh', 'relu'], describe: 'σ of the layers (default sigmoid)' })
    .option('loss', { type: 'string', choices: ['quadratic', 'cross-entropy'], describe: 'quadratic (default) or softmax + cross-entropy' })
    .option('dtype', { type: 'string', choices: ['float32', 'float64'], describe: 'number type (default float32)' })
    .option('init', { type: 'string', describe: 'start from this shardprop.model/v1 file (its layers win)' })
    .option('init-scheme', { type: 'string', choices: ['scaled', 'normal'], describe: 'weights N(0,1)/sqrt(n_in) (default) or N(0,1)' })
    .option('out', { type: 'string', describe: 'where to save the trained model (default runs/<time>/model.json)' })
    .option('epochs', { type: 'number', describe: 'passes over the training data (default 10)' })
    .option('steps', { type: 'number', describe: 'optimizer steps, instead of --epochs' })
    .option('batch', { type: 'string', describe: 'mini-batch size, or "full" for full-batch gradient descent (default 10)' })
    .option('lr', { type: 'number', describe: 'learning rate η (default 3 for sgd, 0.5 momentum, 0.001 adam)' })
    .option('optimizer', { type: 'string', choices: ['sgd', 'momentum', 'adam'], describe: 'default sgd' })
    .option('momentum', { type: 'number', describe: 'μ for --optimizer momentum (default 0.9)' })
    .option('weight-decay', { type: 'number', describe: 'L2 weight decay λ (default 0)' })
    .option('seed', { type: 'number', describe: 'seed of initialisation and batch order (default 0)' })
    .option('workers', { type: 'number', describe: 'local worker processes (default: CPU cores); 0 trains in this process' })
    .option('gradient-form', { type: 'string', choices: GRADIENT_FORM_CHOICES, describe: 'how workers send gradients: dense sums, or per-sample factors for small batches (default auto)' })
    .option('kernel', { type: 'string', choices: KERNEL_CHOICES, describe: 'matrix kernels: WebAssembly SIMD, or portable TypeScript; workers use the coordinator\'s (default $SHARDPROP_KERNEL, else auto: wasm where available)' })
    .option('metrics', { type: 'string', describe: 'append one JSON line of metrics per epoch to this file' })
    .option('trace', { type: 'string', describe: 'append one JSON line per step: the global batch and each worker\'s part' })
    .option('checkpoint-dir', { type: 'string', describe: 'write checkpoints here (and on SIGINT/SIGTERM)' })
    .option('checkpoint-every', { type: 'number', describe: 'checkpoint every N steps (needs --checkpoint-dir)' })
    .option('resume', { type: 'boolean', describe: 'continue from the checkpoint in --checkpoint-dir' })
    .option('step-timeout', { type: 'number', describe: 'seconds a worker may take to answer a step before its samples go to the others (default 300)' })
    .option('wait-workers', { type: 'number', describe: 'seconds to wait for a worker when every worker is gone (default 60)' })
    .option('dashboard', { type: 'boolean', default: true, describe: 'serve a live web page of the run on the coordinator\'s port (--no-dashboard: none)' })
    .option('json', { type: 'boolean', default: false, describe: 'print one JSON summary on stdout' });
}

type Args = Record<string, unknown>;

/** Numbers from the command line; yargs turns "abc" into NaN, which we refuse by name. */
function num(args: Args, key: string): number | undefined {
  const v = args[key];
  if (v === undefined) return undefined;
  if (Array.isArray(v)) throw new UsageError(`--${key} was given more than once`);
  if (typeof v !== 'number' || Number.isNaN(v)) throw new UsageError(`--${key} must be a number, got ${JSON.stringify(String(v))}`);
  return v;
}

function str(args: Args, key: string): string | undefined {
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

/** The data-source flags shared by train and eval (CSV targets or label column, classes). */
function sourceFlags(args: Args): Pick<TrainOptions, 'targets' | 'labelColumn' | 'classes'> {
  const labelColumn = str(args, 'label-column');
  return {
    targets: num(args, 'targets'),
    labelColumn: labelColumn !== undefined && /^\d+$/.test(labelColumn) ? Number(labelColumn) : labelColumn,
    classes: num(args, 'classes'),
  };
}

/** SHARDPROP_KERNEL: the kernels of every command that computes, where --kernel (or a config file) does not say. */
function kernelFromEnv(): (typeof KERNEL_CHOICES)[number] | undefined {
  const value = process.env.SHARDPROP_KERNEL;
  if (value === undefined || value === '') return undefined;
  const choice = KERNEL_CHOICES.find((c) => c === value);
  if (!choice) throw new UsageError(`SHARDPROP_KERNEL must be ${KERNEL_CHOICES.join(', ')}; got ${JSON.stringify(value)}`);
  return choice;
}

function trainOptionsFromArgs(args: Args): TrainOptions {
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
    lr: num(args, 'lr'),
    optimizer: str(args, 'optimizer') as TrainOptions['optimizer'],
    momentum: num(args, 'momentum'),
    weightDecay: num(args, 'weight-decay'),
    seed: num(args, 'seed'),
    workers: num(args, 'workers'),
    gradientForm: str(args, 'gradient-form') as TrainOptions['gradientForm'],
    kernel: (str(args, 'kernel') ?? kernelFromEnv()) as TrainOptions['kernel'],
    metrics: str(args, 'metrics'),
    trace: str(args, 'trace'),
    checkpointDir: str(args, 'checkpoint-dir'),
    checkpointEvery: num(args, 'checkpoint-every'),
    resume: args.resume === true ? true : undefined,
    stepTimeout: num(args, 'step-timeout'),
    waitWorkers: num(args, 'wait-workers'),
  };
}

/** The exit code of a run stopped by a signal: the shell's 128 + the signal's number. */
const SIGNAL_EXIT = { SIGINT: 130, SIGTERM: 143 } as const;

/**
 * On SIGINT or SIGTERM the first signal asks to stop (`onFirst` says so in the log)
 * and a second exits at once. Returns the exit code for a stop: the first signal's,
 * undefined before any.
 */
function stopOnSignal(onFirst: (signal: NodeJS.Signals) => void): () => number | undefined {
  let code: number | undefined;
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.on(signal, () => {
      if (code !== undefined) process.exit(SIGNAL_EXIT[signal]);
      code = SIGNAL_EXIT[signal];
      onFirst(signal);
    });
  }
  return () => code;
}

async function trainCommand(args: Args, serve: ServeOptions = {}): Promise<void> {
  const options = trainOptionsFromArgs(args);
  const json = args.json === true;
  const log = createLogger();
  const progress = createProgress(!json && process.stdout.isTTY === true && process.stderr.isTTY === true);
  let lastEpochLog = -Infinity;
  // With a checkpoint directory, SIGINT and SIGTERM end the run after the current step, with a checkpoint.
  const stopCode = options.checkpointDir === undefined ? () => undefined : stopOnSignal((signal) => log.warn(`${signal}: stopping after this step and writing a checkpoint`));
  let summary;
  try {
    summary = await train({ ...options, ...serve, dashboard: args.dashboard !== false }, {
      log,
      shouldStop: () => stopCode() !== undefined,
      onCheckpoint(step, path) {
        progress.clear();
        log.info({ step, path }, 'checkpoint written');
      },
      onListening(url) {
        if (serve.expect !== undefined) log.info(`workers join with: shardprop worker --connect ${url}`);
      },
      onDashboard(url) {
        // the token itself is never printed
        const how = serve.token === undefined ? '' : ' (add ?token= and the token of --token-file)';
        log.info({ dashboard: url }, `live dashboard at ${url}${how}`);
      },
      onPlan(plan) {
        log.info(
          { data: plan.train.source, samples: plan.train.count, testSamples: plan.test?.count, layers: plan.spec.layers, batch: plan.batchSize, steps: plan.totalSteps, optimizer: plan.optimizer, dtype: plan.spec.dtype },
          'training',
        );
        if (plan.resumeFrom) log.info({ step: plan.resumeFrom.step, checkpointDir: options.checkpointDir }, `resuming after step ${plan.resumeFrom.step}`);
      },
      onStep: (p) => progress.update(p),
      onEpoch(m) {
        // tiny data sets finish thousands of epochs a second: log at most one a second
        const now = performance.now();
        if (now - lastEpochLog < 1000) return;
        lastEpochLog = now;
        progress.clear();
        log.info(m, `epoch ${m.epoch} done`);
      },
    });
  } catch (err) {
    if (!(err instanceof TrainingInterrupted)) throw err;
    progress.clear();
    log.warn({ step: err.step, checkpoint: err.checkpoint }, `${err.message}; continue with --resume`);
    process.exit(stopCode() ?? SIGNAL_EXIT.SIGINT);
  }
  progress.clear();
  log.info({ model: summary.model, runRecord: summary.runRecord }, 'model saved');
  if (json) {
    process.stdout.write(JSON.stringify(summary) + '\n');
  } else {
    const test = summary.testAccuracy !== undefined ? `, test risk ${summary.testRisk?.toFixed(5)}, test accuracy ${summary.testAccuracy.toFixed(4)}` : '';
    process.stdout.write(
      `trained ${summary.steps} steps (${summary.epochs.toFixed(2)} epochs) in ${summary.seconds.toFixed(2)} s, ` +
        `${Math.round(summary.samplesPerSecond)} samples/s: train risk ${summary.trainRisk.toFixed(5)}${test}\nmodel saved to ${summary.model}\n`,
    );
  }
}

async function evalCommand(args: Args): Promise<void> {
  const modelPath = str(args, 'model') as string;
  const data = str(args, 'data') as string;
  const model = loadModel(modelPath);
  const loaded = loadSource(data, sourceFlags(args));
  const set = loaded.test ?? loaded.train;
  const { layers } = model.spec;
  if (layers[0] !== set.inputs || layers[layers.length - 1] !== set.outputs) {
    throw new UsageError(`the model's layers ${layers.join(',')} do not fit ${set.source}: it has ${set.inputs} inputs and ${set.outputs} outputs`);
  }
  // the kernels training uses by default, so the figures match the training summary's
  const kernels = createKernels(await resolveKernel(kernelFromEnv() ?? 'auto'));
  const r = new Backprop(model.spec, EVAL_CHUNK, kernels).evaluate(model, set);
  const result = { model: modelPath, data: set.source, samples: r.count, risk: r.lossSum / r.count, accuracy: r.correct / r.count };
  if (args.json === true) process.stdout.write(JSON.stringify(result) + '\n');
  else process.stdout.write(`${set.source}: ${r.count} samples, risk ${result.risk.toFixed(5)}, accuracy ${result.accuracy.toFixed(4)}\n`);
}

async function plotCommand(args: Args): Promise<void> {
  const files = (args.metrics as unknown[]).map(String);
  const labels = args.label === undefined ? undefined : [args.label].flat().map(String);
  const out = str(args, 'out') as string;
  // vega takes a fifth of a second to load: only the plot command pays for it
  const { plotMetrics } = await import('./plot.js');
  await plotMetrics(files, out, labels);
  process.stdout.write(`${files.length === 1 ? 'curves' : `${files.length} runs' curves`} drawn to ${out}\n`);
}

/** `shardprop sweep`: the sweep file's runs, as `shardprop train` would read their flags. */
async function sweepCommand(args: Args): Promise<void> {
  const file = readSweepFile(str(args, 'config') as string, flagTypesOf(trainingFlags(yargs([]))));
  const given = num(args, 'parallel');
  if (given !== undefined && !(Number.isInteger(given) && given >= 1 && given <= MAX_PARALLEL)) throw new UsageError(`--parallel must be an integer from 1 to ${MAX_PARALLEL}, got ${given}`);
  const parallel = given ?? file.parallel ?? 1;
  const outFlag = str(args, 'out');
  const out = outFlag !== undefined ? resolve(outFlag) : (file.out ?? resolve('sweeps', timestamp(new Date())));
  const runs = planRuns(file);

  const log = createLogger();
  const stopCode = stopOnSignal((signal) => log.warn(`${signal}: stopping the sweep; finished runs are kept (a second ${signal} stops at once)`));
  log.info({ runs: runs.length, parallel, out }, `sweep of ${runs.length} runs`);
  const result = await runSweep(runs, { out, parallel, resume: args.resume === true, log, shouldStop: () => stopCode() !== undefined });
  if (args.json === true) {
    process.stdout.write(JSON.stringify({ out: result.out, csv: result.csv, plot: result.plot, best: result.best?.name, total: result.total, skipped: result.skipped, stopped: result.stopped, runs: result.records }) + '\n');
  } else {
    process.stdout.write(formatResults(result));
  }
  if (result.stopped) {
    const resume = `shardprop sweep --config ${file.path} --out ${result.out} --resume`;
    log.warn(`sweep stopped: ${result.records.length} of ${result.total} runs finished, kept in ${result.csv}; continue with: ${resume}`);
    process.exit(stopCode() ?? SIGNAL_EXIT.SIGINT);
  }
  const failed = result.records.filter((r) => r.status === 'failed').length;
  if (failed > 0) fail(`${failed} of ${result.total} runs failed (see ${result.csv})`, 1);
}

/** Every run's flags as TrainOptions, checked before the first run starts: a mistake in run 7 should not wait for runs 1 to 6. */
function planRuns(file: SweepFile): SweepRun[] {
  return file.runs.map((run) => {
    try {
      const options = trainOptionsFromArgs(run.flags);
      validateTrainOptions(options);
      return { name: run.name, values: run.values, options };
    } catch (err) {
      if (err instanceof UsageError) throw new UsageError(`sweep file ${file.path}: run ${run.name}: ${err.message}`);
      throw err;
    }
  });
}

function serveOptionsFromArgs(args: Args): ServeOptions {
  const port = num(args, 'port');
  const expect = num(args, 'expect');
  if (port === undefined || !Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`--port must be an integer from 0 to 65535, got ${port}`);
  validateWorkerCount('--expect', expect, 1);
  if (args.workers !== undefined) throw new UsageError('the coordinator command waits for --expect workers; --workers is for train');
  const tlsCert = str(args, 'tls-cert');
  const tlsKey = str(args, 'tls-key');
  if ((tlsCert === undefined) !== (tlsKey === undefined)) throw new UsageError('--tls-cert and --tls-key go together');
  const tokenFile = str(args, 'token-file');
  return {
    host: str(args, 'host') ?? '127.0.0.1',
    port,
    expect,
    token: tokenFile === undefined ? undefined : readToken(tokenFile),
    tls: tlsCert === undefined ? undefined : { cert: readInputFile(tlsCert, '--tls-cert'), key: readInputFile(tlsKey!, '--tls-key') },
  };
}

/** The secret in a token file: its first line, trimmed; at least 16 characters. */
function readToken(path: string): string {
  const token = readInputFile(path, '--token-file').toString('utf8').split(/\r?\n/)[0].trim();
  if (token.length < 16) throw new UsageError(`--token-file ${path}: the token is ${token.length} characters; use at least 16 (for instance: openssl rand -hex 32 > ${path})`);
  return token;
}

async function workerCommand(args: Args): Promise<void> {
  const url = str(args, 'connect') as string;
  if (!/^wss?:\/\/[^\s/]+/.test(url)) throw new UsageError(`--connect must be a ws://HOST:PORT address, got "${url}"`);
  const log = createLogger();
  const source = str(args, 'data');
  let data: { train: Dataset; fingerprint: string } | undefined;
  if (source !== undefined) {
    const seed = num(args, 'seed');
    validateSeed(seed);
    const { train } = loadSource(source, { ...sourceFlags(args), seed });
    data = { train, fingerprint: fingerprint(train) };
    log.info({ data: train.source, samples: train.count, fingerprint: data.fingerprint }, 'loaded the data set; the coordinator will check it is the same as its own');
  }
  const reconnectFor = num(args, 'reconnect-for');
  if (reconnectFor !== undefined && !(reconnectFor >= 0 && reconnectFor <= 86_400)) throw new UsageError(`--reconnect-for must be a number of seconds from 0 to 86400, got ${reconnectFor}`);
  const tokenFile = str(args, 'token-file');
  const token = tokenFile !== undefined ? readToken(tokenFile) : process.env.SHARDPROP_TOKEN || undefined;
  const ca = str(args, 'ca');
  const exit = await runWorker({
    url,
    token,
    ca: ca === undefined ? undefined : readInputFile(ca, '--ca'),
    reconnectForMs: reconnectFor === undefined ? undefined : reconnectFor * 1000,
    name: str(args, 'name'),
    data,
    log: (level, message, fields) => log[level](fields ?? {}, message),
  });
  if (exit.reason === 'done') {
    log.info('training is over');
    return;
  }
  fail(exit.message, 1);
}

function fail(message: string, code: number): never {
  process.stderr.write(`shardprop: ${message}\n`);
  process.exit(code);
}

/** The exit code and one-line message for an error that reached the top. */
function report(err: unknown): never {
  if (err instanceof UsageError || err instanceof DatasetError || err instanceof ModelFileError || err instanceof CheckpointError) fail(err.message, EXIT_BAD_INPUT);
  if (process.env.SHARDPROP_DEBUG) console.error(err);
  fail(err instanceof Error ? err.message : String(err), 1);
}

export function buildCli(argv: string[]) {
  return yargs(argv)
    .scriptName('shardprop')
    .usage('$0 <command> [options]\n\nA data-parallel trainer for fully connected networks.')
    .command('train', 'train a model (in this process with --workers 0)', (y) => trainingFlags(y), (args) => trainCommand(args))
    .command(
      'coordinator',
      'serve on --port and train once --expect workers have joined',
      (y) =>
        trainingFlags(y)
          .option('port', { type: 'number', demandOption: true, describe: 'port to listen on (0: any free port)' })
          .option('host', { type: 'string', describe: 'address to listen on (default 127.0.0.1)' })
          .option('expect', { type: 'number', demandOption: true, describe: 'workers to wait for before training starts' })
          .option('token-file', { type: 'string', describe: 'a file holding the secret workers must present (required beyond 127.0.0.1)' })
          .option('tls-cert', { type: 'string', describe: 'PEM certificate: serve wss:// (with --tls-key)' })
          .option('tls-key', { type: 'string', describe: 'PEM private key of --tls-cert' }),
      (args) => trainCommand(args, serveOptionsFromArgs(args)),
    )
    .command(
      'worker',
      'join a coordinator and compute gradients on the shard it hands out',
      (y) =>
        dataSourceFlags(y)
          .option('connect', { type: 'string', demandOption: true, describe: 'the coordinator, ws://HOST:PORT' })
          .option('name', { type: 'string', describe: 'a name for logs (default HOST:PID)' })
          .option('token-file', { type: 'string', describe: 'a file holding the coordinator\'s secret (or set SHARDPROP_TOKEN)' })
          .option('ca', { type: 'string', describe: 'PEM certificate to trust for a wss:// coordinator (e.g. its self-signed one)' })
          .option('reconnect-for', { type: 'number', describe: 'seconds to keep trying to reach a coordinator that is not there or went away (default 30; 0: give up at once)' })
          .option('data', { type: 'string', describe: 'load the data set here instead of receiving the shard (the coordinator\'s source; fingerprints must agree)' })
          .option('seed', { type: 'number', describe: 'with --data: the coordinator\'s --seed (synthetic sources depend on it)' }),
      (args) => workerCommand(args),
    )
    .command(
      'eval',
      'risk and accuracy of a model on a data set (its held-out part where it has one)',
      (y) =>
        dataSourceFlags(y)
          .option('model', { type: 'string', demandOption: true, describe: 'a shardprop.model/v1 file' })
          .option('data', { type: 'string', demandOption: true, describe: 'a data source, as for train' })
          .option('json', { type: 'boolean', default: false }),
      (args) => evalCommand(args),
    )
    .command(
      'plot <metrics..>',
      'draw training risk and test accuracy against the step from --metrics files, one line per run (.svg or .png)',
      (y) =>
        y
          .positional('metrics', { type: 'string', array: true, describe: 'metrics files written by train --metrics' })
          .option('out', { alias: 'o', type: 'string', demandOption: true, describe: 'the picture: a .svg or .png file' })
          .option('label', { type: 'string', array: true, describe: 'name of a run in the legend, once per file in order (default: the file name without extension)' }),
      (args) => plotCommand(args),
    )
    .command(
      'sweep',
      'train every combination of a grid of flags (a JSON sweep file), each run in its own directory, with a results table and plot',
      (y) =>
        y
          .option('config', { type: 'string', demandOption: true, describe: 'the sweep file: { "base": {flags}, "grid": {flag: [values]}, "out": DIR }' })
          .option('out', { type: 'string', describe: 'the sweep\'s directory (default: the file\'s "out", else sweeps/<time>)' })
          .option('parallel', { type: 'number', describe: 'runs at once (default 1)' })
          .option('resume', { type: 'boolean', describe: 'skip the runs that already finished in --out' })
          .option('json', { type: 'boolean', default: false, describe: 'print the results as one JSON object' }),
      (args) => sweepCommand(args),
    )
    .demandCommand(1, 'name a command: train, coordinator, worker, eval, plot or sweep (see --help)')
    .strict()
    .recommendCommands()
    .help()
    .version(false)
    .wrap(Math.min(110, process.stdout.columns ?? 110))
    .fail((message, err) => {
      if (err) report(err);
      fail(`${message.split('\n').map((l) => l.trim()).filter(Boolean).join(' ')} (see shardprop --help)`, EXIT_BAD_INPUT);
    });
}

export async function main(argv: string[]): Promise<void> {
  try {
    await buildCli(argv).parseAsync();
  } catch (err) {
    report(err);
  }
}
