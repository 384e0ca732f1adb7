/**
 * `shardprop sweep`: many training runs, one after another or K at once, each in
 * its own directory (model.json, metrics.jsonl, run.json), on the programmatic
 * `train()`. After every run the results table (results.csv) is rewritten
 * atomically, so an interrupted sweep keeps what finished and `--resume` runs only
 * the rest; at the end an overlay plot of every run's metrics (metrics.svg) and
 * the best run (by test accuracy, else by lowest training risk).
 */
import { existsSync, mkdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { writeFileAtomically } from '@shardprop/core';
import { readSweepFile, type SweepFile } from './sweep-file.js';
import type { FlagTypes, FlagValues } from './config.js';
import { createLogger, type Logger } from './log.js';
import { UsageError, validateTrainOptions, type TrainOptions } from './options.js';
import { train } from './train.js';
import { TrainingInterrupted, type TrainSummary } from './training-loop.js';

export const RUN_RECORD_FILE = 'run.json';
export const RESULTS_FILE = 'results.csv';
export const PLOT_FILE = 'metrics.svg';

/** One run of a sweep: its name (its directory under `out`), the swept values, and what to train. */
export interface SweepRun {
  name: string;
  /** The swept flags' values, for the results table. */
  values: Record<string, string | number | boolean>;
  /** `out` and `metrics` are set by the sweep (the run's directory). */
  options: TrainOptions;
}

/** run.json: how a run ended. A run whose run.json says "done" is skipped by --resume. */
export interface SweepRunRecord {
  name: string;
  values: Record<string, string | number | boolean>;
  options: TrainOptions;
  status: 'done' | 'failed';
  summary?: TrainSummary;
  error?: string;
  /** From the start of train() to its end: loading the data, training, evaluating, saving. */
  wallSeconds: number;
  startedAt: string;
  finishedAt: string;
}

export interface SweepOptions {
  /** The sweep's directory: a subdirectory per run, results.csv and metrics.svg. */
  out: string;
  /** Runs at once (1). Runs with workers: 0 share this process's one thread. */
  parallel?: number;
  /** Skip the runs whose run.json says done (with the same options); run the others again. */
  resume?: boolean;
  /** Logs of the sweep (run started, done, failed); the runs' own logs at warn level and above. */
  log?: Logger;
  /** Asked before each run and after each step: true stops the sweep; runs in progress are not recorded. */
  shouldStop?(): boolean;
}

export interface SweepResult {
  out: string;
  csv: string;
  /** The overlay plot, when the sweep ran to its end and drew it. */
  plot?: string;
  plotError?: string;
  /** The runs that finished (done or failed), in the sweep's order. */
  records: SweepRunRecord[];
  total: number;
  /** Runs --resume found done and did not run again. */
  skipped: number;
  best?: SweepRunRecord;
  /** shouldStop ended the sweep before every run finished. */
  stopped: boolean;
}

/** Runs `runs`, `parallel` at once; a failed run is recorded with its error and the sweep goes on. */
export async function runSweep(runs: SweepRun[], options: SweepOptions): Promise<SweepResult> {
  const out = resolve(options.out);
  const log = options.log ?? createLogger('warn');
  const stop = options.shouldStop ?? (() => false);
  const csv = join(out, RESULTS_FILE);
  const swept = [...new Set(runs.flatMap((r) => Object.keys(r.values)))];
  const planned = runs.map((run) => ({ ...run, dir: join(out, run.name), options: { ...run.options, out: join(out, run.name, 'model.json'), metrics: join(out, run.name, 'metrics.jsonl') } }));
  if (new Set(runs.map((r) => r.name)).size !== runs.length) throw new UsageError('sweep: every run needs its own name');
  const badName = runs.find((r) => !/^[^/\\]+$/.test(r.name) || r.name === '.' || r.name === '..');
  if (badName) throw new UsageError(`sweep: a run's name is its directory's: ${JSON.stringify(badName.name)} is not a plain directory name`);

  const records = new Map<string, SweepRunRecord>();
  if (options.resume) {
    for (const run of planned) {
      const record = readRunRecord(run.dir);
      if (record?.status !== 'done') continue;
      if (JSON.stringify(record.options) !== JSON.stringify(run.options)) {
        throw new UsageError(`--resume: ${join(run.dir, RUN_RECORD_FILE)} was made with other options than this sweep gives that run; sweep into another directory`);
      }
      records.set(run.name, record);
    }
  } else if (existsSync(csv) || planned.some((run) => existsSync(run.dir))) {
    throw new UsageError(`${out} already holds a sweep; continue it with --resume, or choose another directory`);
  }
  mkdirSync(out, { recursive: true });
  const skipped = records.size;
  const write = (): void => writeResultsCsv(csv, swept, planned.map((run) => records.get(run.name)).filter((r) => r !== undefined));
  write();

  const todo = planned.filter((run) => !records.has(run.name));
  let next = 0;
  const lane = async (): Promise<void> => {
    for (;;) {
      // in-process training never yields to the event loop: let signal handlers run between runs
      await new Promise((r) => setImmediate(r));
      if (stop() || next >= todo.length) return;
      const run = todo[next++];
      log.info({ run: run.name, values: run.values }, `run ${run.name} started`);
      const record = await trainOne(run, run.dir, log.child({ run: run.name }, { level: 'warn' }), stop);
      if (record === undefined) {
        log.warn({ run: run.name }, `run ${run.name} stopped; it runs again with --resume`);
        continue;
      }
      records.set(run.name, record);
      write();
      const position = `${records.size}/${planned.length}`;
      if (record.status === 'done') {
        const s = record.summary!;
        log.info({ run: run.name, trainRisk: s.trainRisk, testAccuracy: s.testAccuracy, samplesPerSecond: s.samplesPerSecond, seconds: record.wallSeconds }, `run ${run.name} done (${position})`);
      } else {
        log.error({ run: run.name, error: record.error }, `run ${run.name} failed (${position})`);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(options.parallel ?? 1, todo.length)) }, lane));

  const finished = planned.map((run) => records.get(run.name)).filter((r) => r !== undefined);
  const result: SweepResult = { out, csv, records: finished, total: planned.length, skipped, best: bestRun(finished), stopped: finished.length < planned.length };
  if (result.stopped) return result;
  const drawn = finished.filter((r) => r.status === 'done' && nonEmpty(r.options.metrics!));
  if (drawn.length > 0) {
    try {
      // vega takes a fifth of a second to load: only a sweep that draws pays for it
      const { plotMetrics } = await import('./plot.js');
      await plotMetrics(drawn.map((r) => r.options.metrics!), join(out, PLOT_FILE), drawn.map((r) => r.name));
      result.plot = join(out, PLOT_FILE);
    } catch (err) {
      result.plotError = (err as Error).message;
      log.warn({ error: result.plotError }, 'the metrics plot could not be drawn');
    }
  }
  return result;
}

/** One run in its own directory; undefined when shouldStop interrupted it. */
async function trainOne(run: SweepRun, dir: string, log: Logger, stop: () => boolean): Promise<SweepRunRecord | undefined> {
  // a run tried before (failed, or stopped) starts over: metrics are appended to, and an old run.json must not outlive it
  mkdirSync(dir, { recursive: true });
  for (const file of [run.options.metrics!, join(dir, RUN_RECORD_FILE)]) rmSync(file, { force: true });
  const started = performance.now();
  const base = { name: run.name, values: run.values, options: run.options, startedAt: new Date().toISOString() };
  let record: SweepRunRecord;
  try {
    const summary = await train(run.options, { log, shouldStop: stop });
    record = { ...base, status: 'done', summary, wallSeconds: (performance.now() - started) / 1000, finishedAt: new Date().toISOString() };
  } catch (err) {
    // a run cut short by the stop (or by its local workers dying of the same Ctrl-C) did not fail
    if (err instanceof TrainingInterrupted || stop()) return undefined;
    const error = err instanceof Error ? err.message : String(err);
    record = { ...base, status: 'failed', error, wallSeconds: (performance.now() - started) / 1000, finishedAt: new Date().toISOString() };
  }
  writeFileAtomically(join(dir, RUN_RECORD_FILE), (put) => put(Buffer.from(JSON.stringify(record, null, 2) + '\n')));
  return record;
}

function readRunRecord(dir: string): SweepRunRecord | undefined {
  try {
    return JSON.parse(readFileSync(join(dir, RUN_RECORD_FILE), 'utf8')) as SweepRunRecord;
  } catch {
    return undefined; // not run yet, or cut short: run it again
  }
}

function nonEmpty(path: string): boolean {
  return existsSync(path) && statSync(path).size > 0;
}

/** Highest test accuracy when the runs have test data, else (and between equals) lowest training risk; the first of equals. */
export function bestRun(records: SweepRunRecord[]): SweepRunRecord | undefined {
  const done = records.filter((r) => r.status === 'done' && r.summary !== undefined && Number.isFinite(r.summary.trainRisk));
  const accuracy = (r: SweepRunRecord): number => r.summary!.testAccuracy ?? -Infinity;
  const better = (a: SweepRunRecord, b: SweepRunRecord): boolean => accuracy(b) > accuracy(a) || (accuracy(b) === accuracy(a) && b.summary!.trainRisk < a.summary!.trainRisk);
  return done.length > 0 ? done.reduce((a, b) => (better(a, b) ? b : a)) : undefined;
}

const CSV_COLUMNS = ['steps', 'epochs', 'train_risk', 'train_accuracy', 'test_risk', 'test_accuracy', 'samples_per_second', 'train_seconds', 'wall_seconds', 'model', 'error'];

/** results.csv: a row per finished run, written whole and renamed into place. */
function writeResultsCsv(path: string, swept: string[], records: SweepRunRecord[]): void {
  const rows = records.map((r) => {
    const s = r.summary;
    return [r.name, r.status, ...swept.map((flag) => r.values[flag]), s?.steps, s?.epochs, s?.trainRisk, s?.trainAccuracy, s?.testRisk, s?.testAccuracy, s?.samplesPerSecond, s?.seconds, r.wallSeconds, s?.model, r.error];
  });
  const text = [['run', 'status', ...swept, ...CSV_COLUMNS], ...rows].map((row) => row.map(csvField).join(',')).join('\n') + '\n';
  writeFileAtomically(path, (put) => put(Buffer.from(text)));
}

function csvField(value: unknown): string {
  if (value === undefined || value === null || (typeof value === 'number' && !Number.isFinite(value))) return '';
  const text = String(value);
  return /[",\n\r]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/** The results as an aligned text table, with the best run named below it. */
export function formatResults(result: SweepResult): string {
  const swept = [...new Set(result.records.flatMap((r) => Object.keys(r.values)))];
  const fixed = (x: number | undefined, digits: number): string => (x === undefined || !Number.isFinite(x) ? '-' : x.toFixed(digits));
  const header = ['run', ...swept, 'status', 'risk', 'test acc', 'samples/s', 'wall s'];
  const rows = result.records.map((r) => [
    r.name, ...swept.map((flag) => String(r.values[flag] ?? '')), r.status,
    fixed(r.summary?.trainRisk, 5), fixed(r.summary?.testAccuracy, 4), fixed(r.summary?.samplesPerSecond, 0), fixed(r.wallSeconds, 2),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i].length)));
  const line = (cells: string[]): string => cells.map((c, i) => (i === 0 || i <= swept.length ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ').trimEnd();
  const lines = [line(header), ...rows.map(line)];
  for (const r of result.records.filter((r) => r.status === 'failed')) lines.push(`${r.name} failed: ${r.error}`);
  const best = result.best;
  if (best) {
    const by = best.summary!.testAccuracy !== undefined ? `test accuracy ${best.summary!.testAccuracy.toFixed(4)}` : `training risk ${best.summary!.trainRisk.toFixed(5)}`;
    lines.push(`best run: ${best.name} (${by}), model ${best.summary!.model}`);
  }
  lines.push(`results: ${result.csv}${result.plot ? `; plot: ${result.plot}` : ''}`);
  return lines.join('\n') + '\n';
}

/** `shardprop sweep`: the sweep file's runs, as `shardprop train` would read their flags. */
export async function sweepCommand(args: Record<string, unknown>, trainFlags: FlagTypes, toTrainOptions: (flags: FlagValues) => TrainOptions): Promise<void> {
  for (const key of ['config', 'out', 'parallel']) {
    if (Array.isArray(args[key])) throw new UsageError(`--${key} was given more than once`);
  }
  const file = readSweepFile(String(args.config), trainFlags);
  const parallel = (args.parallel as number | undefined) ?? file.parallel ?? 1;
  if (!(Number.isInteger(parallel) && parallel >= 1 && parallel <= 64)) throw new UsageError(`--parallel must be an integer from 1 to 64, got ${parallel}`);
  const out = args.out !== undefined ? resolve(String(args.out)) : (file.out ?? resolve('sweeps', new Date().toISOString().replace(/[:.]/g, '-').replace('Z', '')));
  const runs = planRuns(file, toTrainOptions);

  const log = createLogger();
  let stopSignal: NodeJS.Signals | null = null;
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.on(signal, () => {
      if (stopSignal) process.exit(signal === 'SIGINT' ? 130 : 143); // a second signal: stop now
      stopSignal = signal;
      log.warn(`${signal}: stopping the sweep; finished runs are kept (a second ${signal} stops at once)`);
    });
  }
  log.info({ runs: runs.length, parallel, out }, `sweep of ${runs.length} runs`);
  const result = await runSweep(runs, { out, parallel, resume: args.resume === true, log, shouldStop: () => stopSignal !== null });
  if (args.json === true) {
    process.stdout.write(JSON.stringify({ out: result.out, csv: result.csv, plot: result.plot, best: result.best?.name, total: result.total, skipped: result.skipped, stopped: result.stopped, runs: result.records }) + '\n');
  } else {
    process.stdout.write(formatResults(result));
  }
  if (result.stopped) {
    const resume = `shardprop sweep --config ${file.path} --out ${result.out} --resume`;
    log.warn(`sweep stopped: ${result.records.length} of ${result.total} runs finished, kept in ${result.csv}; continue with: ${resume}`);
    process.exit(stopSignal === 'SIGTERM' ? 143 : 130);
  }
  const failed = result.records.filter((r) => r.status === 'failed').length;
  if (failed > 0) {
    process.stderr.write(`shardprop: ${failed} of ${result.total} runs failed (see ${result.csv})\n`);
    process.exit(1);
  }
}

/** Every run's flags as TrainOptions, checked before the first run starts: a mistake in run 7 should not wait for runs 1 to 6. */
function planRuns(file: SweepFile, toTrainOptions: (flags: FlagValues) => TrainOptions): SweepRun[] {
  return file.runs.map((run) => {
    try {
      const options = toTrainOptions(run.flags);
      validateTrainOptions(options);
      return { name: run.name, values: run.values, options };
    } catch (err) {
      if (err instanceof UsageError) throw new UsageError(`sweep file ${file.path}: run ${run.name}: ${err.message}`);
      throw err;
    }
  });
}
