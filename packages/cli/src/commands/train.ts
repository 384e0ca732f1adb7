/**
 * `shardprop train`: trains a model, in this process (--workers 0) or with local
 * worker processes, through the programmatic train(). The coordinator command
 * runs the same with its serving flags (runTraining below).
 */
import type { CommandModule } from 'yargs';
import { TrainingInterrupted, train, type ServeOptions, type TrainSummary } from '@shardprop/coordinator';
import { describeColumns } from '@shardprop/core';
import { createLogger } from '@shardprop/worker';
import { SIGNAL_EXIT, stopOnSignal } from '../exit.js';
import { str, trainFlags, trainOptionsFromArgs, type Args } from '../flags.js';
import { joinHint } from '../join-hint.js';
import { createProgress } from '../progress.js';
import { timeReport } from '../time-report.js';

export const trainCommand: CommandModule = {
  command: 'train',
  describe: 'train a model (in this process with --workers 0)',
  builder: (y) =>
    trainFlags(y)
      .example('$0 train --data mnist --layers 784,30,10 --epochs 1 --lr 3', 'the embedded digits, one local worker per CPU core')
      .example('$0 train --data xor --layers 2,4,1 --epochs 2000 --batch full --lr 2 --workers 0', 'XOR by full-batch gradient descent, in this process')
      .example('$0 train --data examples/xor.csv --label-column label --epochs 2000 --batch full --checkpoint-dir ckpt', 'a CSV file with a class column; Ctrl-C keeps a checkpoint'),
  handler: (args) => runTraining(args),
};

/** Trains as the flags say, with progress and logs; prints the summary (--json: as one JSON line). */
export async function runTraining(args: Args, serve: ServeOptions = {}): Promise<void> {
  const options = trainOptionsFromArgs(args);
  const json = args.json === true;
  const log = createLogger();
  const progress = createProgress(!json && process.stdout.isTTY === true && process.stderr.isTTY === true);
  let lastEpochLog = -Infinity;
  // SIGINT and SIGTERM end the run: with a checkpoint directory after the current step, with a checkpoint
  // (at once while it waits for workers); without one at once, saying what was lost. Local workers stop with it.
  const stopping = new AbortController();
  const stopCode = stopOnSignal((signal) => {
    if (options.checkpointDir !== undefined) log.warn(`${signal}: stopping after this step and writing a checkpoint`);
    stopping.abort();
  });
  let summary: TrainSummary;
  try {
    summary = await train({ ...options, ...serve, dashboard: args.dashboard !== false }, {
      log,
      signal: stopping.signal,
      onCheckpoint(step, path) {
        progress.clear();
        log.info({ step, path }, 'checkpoint written');
      },
      onListening(url, aggregation) {
        if (serve.expect === undefined) return;
        const hint = joinHint(url, { tokenFile: str(args, 'token-file'), cert: serve.tls && { path: str(args, 'tls-cert')!, pem: serve.tls.cert } });
        log.info({ alternatives: hint.alternatives.length > 0 ? hint.alternatives : undefined }, `workers join with: ${hint.command}`);
        // the link carries the token in its fragment (never sent with the page request) for a person at a
        // terminal to open; a log that is not a terminal never shows a token
        const fragment = serve.token === undefined ? '' : process.stderr.isTTY ? `#token=${encodeURIComponent(serve.token)}` : '';
        const how = serve.token !== undefined && fragment === '' ? ' (add #token= and the token of --token-file)' : '';
        // a tab cannot start a slice server beside it
        if (aggregation === 'slices') log.warn({ page: hint.page }, 'browser tabs cannot join this coordinator: it slices its steps (--aggregation slices, the default beyond this machine without TLS); give it --aggregation star for tabs');
        else log.info({ page: hint.page }, `browser tabs join at: ${hint.page}${fragment}${how}`);
        if (hint.warning !== undefined) log.warn(hint.warning);
      },
      onDashboard(url) {
        // the token itself is never printed
        const how = serve.token === undefined ? '' : ' (add ?token= and the token of --token-file)';
        log.info({ dashboard: url }, `live dashboard at ${url}${how}`);
      },
      onPlan(plan) {
        log.info(
          { data: plan.train.source, samples: plan.train.count, testSamples: plan.test?.count, layers: plan.spec.layers, batch: plan.batchSize, steps: plan.totalSteps, optimizer: plan.optimizer, dtype: plan.spec.dtype, kernel: plan.kernels.name, threads: plan.kernels.threads },
          'training',
        );
        // a CSV file: which of its columns the model learns from and which it predicts, before any time is spent
        if (plan.train.columns) log.info({ data: plan.train.source, inputs: plan.train.inputs, outputs: plan.train.outputs }, describeColumns(plan.train.columns, plan.train.outputs));
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
    log.warn({ step: err.step, checkpoint: err.checkpoint }, interruptedLine(err, options.checkpointDir));
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
    if (summary.time) process.stdout.write(timeReport(summary.time, summary.workers).map((line) => line + '\n').join(''));
  }
}

/** The one line of a run stopped by a signal: where to continue from, or (no --checkpoint-dir) what was lost and how to keep it next time. */
function interruptedLine(err: TrainingInterrupted, checkpointDir: string | undefined): string {
  if (err.checkpoint || (checkpointDir !== undefined && err.step > 0)) return `${err.message}; continue with --resume`;
  if (checkpointDir !== undefined || err.step === 0) return err.message;
  const steps = err.step === 1 ? 'the 1 step trained is' : `the ${err.step} steps trained are`;
  return `${err.message}: ${steps} lost (no --checkpoint-dir); next time give --checkpoint-dir DIR to keep a checkpoint when stopped and continue with --resume`;
}
