/**
 * `shardprop sweep`: many training runs, one after another or K at once, each in
 * its own directory (model.json, its run record model.run.json, metrics.jsonl and
 * run.json), on the programmatic `train()`. After every run the results table
 * (results.csv) is rewritten atomically, so an interrupted sweep keeps what finished
 * and `--resume` runs only the rest; at the end an overlay plot of every run's
 * metrics (metrics.svg) and the best run (by test accuracy, else by lowest training risk).
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { writeFileAtomically } from '@shardprop/core';
import { TrainingInterrupted, UsageError, train, type RunRecord, type TrainOptions, type TrainSummary } from '@shardprop/coordinator';
import { createLogger, type Logger } from '@shardprop/worker';

const RUN_FILE = 'run.json';
const RESULTS_FILE = 'results.csv';
const PLOT_FILE = 'metrics.svg';

/** One run of a sweep: its name (its directory under `out`), the swept values, and what to train. */
export interface SweepRun {
  name: string;
  /** The swept flags' values, for the results table. */
  values: Record<string, string | number | boolean>;
  /** `out` and `metrics` are set by the sweep (the run's directory). */
  options: TrainOptions;
}

/** How a run of the sweep ended. */
export interface SweepRunRecord {
  name: string;
  values: Record<string, string | number | boolean>;
  status: 'done' | 'failed';
  /** A done run's train() summary (for a run --resume skipped: its run record's result). */
  summary?: TrainSummary;
  error?: string;
  /** From the start of train() to its end: loading the data, training, evaluating, saving. */
  wallSeconds: number;
}

/**
 * run.json: what only the sweep knows of a run. The options, summary and times are
 * in the run record train() writes next to the model (run-record.ts), named here.
 */
interface RunFile {
  name: string;
  values: Record<string, string | number | boolean>;
  status: 'done' | 'failed';
  error?: string;
  /** The run record of a done run (absent when it could not be written: --resume runs it again). */
  runRecord?: string;
  /** SHA-256 of the options the sweep gave the run: --resume skips a done run only for the same options. */
  options: string;
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
  /** Aborted, it stops the sweep: no run starts after it, and runs in progress stop (they are not recorded). */
  signal?: AbortSignal;
}

export interface SweepResult {
  out: string;
  csv: string;
  /** The overlay plot, when the sweep ran to its end and drew it. */
  plot?: string;
  plotError?: string;
  /** The swept flags (every key of the runs' values): the results table's columns. */
  swept: string[];
  /** The runs that finished (done or failed), in the sweep's order. */
  records: SweepRunRecord[];
  total: number;
  /** Runs --resume found done and did not run again. */
  skipped: number;
  best?: SweepRunRecord;
  /** The signal ended the sweep before every run finished. */
  stopped: boolean;
}

/** Runs `runs`, `parallel` at once; a failed run is recorded with its error and the sweep goes on. */
export async function runSweep(runs: SweepRun[], options: SweepOptions): Promise<SweepResult> {
  const out = resolve(options.out);
  const log = options.log ?? createLogger('warn');
  const stop = (): boolean => options.signal?.aborted === true;
  const csv = join(out, RESULTS_FILE);
  const swept = [...new Set(runs.flatMap((r) => Object.keys(r.values)))];
  const planned = runs.map((run) => ({ ...run, dir: join(out, run.name), options: { ...run.options, out: join(out, run.name, 'model.json'), metrics: join(out, run.name, 'metrics.jsonl') } }));
  if (new Set(runs.map((r) => r.name)).size !== runs.length) throw new UsageError('sweep: every run needs its own name');
  const badName = runs.find((r) => !/^[^/\\]+$/.test(r.name) || r.name === '.' || r.name === '..');
  if (badName) throw new UsageError(`sweep: a run's name is its directory's: ${JSON.stringify(badName.name)} is not a plain directory name`);

  const records = new Map<string, SweepRunRecord>();
  if (options.resume) {
    for (const run of planned) {
      const record = readDoneRun(run);
      if (record !== undefined) records.set(run.name, record);
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
      const record = await trainOne(run, run.dir, log.child({ run: run.name }, { level: 'warn' }), options.signal);
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
  const result: SweepResult = { out, csv, swept, records: finished, total: planned.length, skipped, best: bestRun(finished), stopped: finished.length < planned.length };
  if (result.stopped) return result;
  const drawn = planned.filter((run) => records.get(run.name)?.status === 'done' && nonEmpty(run.options.metrics!));
  if (drawn.length > 0) {
    try {
      // vega takes a fifth of a second to load: only a sweep that draws pays for it
      const { plotMetrics } = await import('./plot.js');
      await plotMetrics(drawn.map((run) => run.options.metrics!), join(out, PLOT_FILE), drawn.map((run) => run.name));
      result.plot = join(out, PLOT_FILE);
    } catch (err) {
      result.plotError = (err as Error).message;
      log.warn({ error: result.plotError }, 'the metrics plot could not be drawn');
    }
  }
  return result;
}

/** One run in its own directory; undefined when the signal interrupted it. */
async function trainOne(run: SweepRun, dir: string, log: Logger, signal: AbortSignal | undefined): Promise<SweepRunRecord | undefined> {
  // a run tried before (failed, or stopped) starts over: metrics are appended to, and an old run.json must not outlive it
  mkdirSync(dir, { recursive: true });
  for (const file of [run.options.metrics!, join(dir, RUN_FILE)]) rmSync(file, { force: true });
  const started = performance.now();
  let record: SweepRunRecord;
  let runRecord: string | undefined;
  try {
    const summary = await train(run.options, { log, signal });
    runRecord = summary.runRecord;
    record = { name: run.name, values: run.values, status: 'done', summary, wallSeconds: (performance.now() - started) / 1000 };
  } catch (err) {
    // a run cut short by the stop (or by its local workers dying of the same Ctrl-C) did not fail
    if (err instanceof TrainingInterrupted || signal?.aborted) return undefined;
    const error = err instanceof Error ? err.message : String(err);
    record = { name: run.name, values: run.values, status: 'failed', error, wallSeconds: (performance.now() - started) / 1000 };
  }
  const file: RunFile = { name: run.name, values: run.values, status: record.status, error: record.error, runRecord, options: optionsDigest(run.options) };
  writeFileAtomically(join(dir, RUN_FILE), (put) => put(Buffer.from(JSON.stringify(file, null, 2) + '\n')));
  return record;
}

/**
 * A run an earlier sweep finished, read back for --resume from its run.json and its
 * run record; undefined for a run to train (again): not run, cut short, failed.
 */
function readDoneRun(run: SweepRun & { dir: string }): SweepRunRecord | undefined {
  const file = readJson<RunFile>(join(run.dir, RUN_FILE));
  if (file?.status !== 'done') return undefined;
  if (file.options !== optionsDigest(run.options)) {
    throw new UsageError(`--resume: ${join(run.dir, RUN_FILE)} was made with other options than this sweep gives that run; sweep into another directory`);
  }
  const record = file.runRecord === undefined ? undefined : readJson<RunRecord>(file.runRecord);
  if (record?.result === undefined || record.endedAt === undefined) return undefined;
  return { name: run.name, values: run.values, status: 'done', summary: record.result, wallSeconds: (Date.parse(record.endedAt) - Date.parse(record.startedAt)) / 1000 };
}

function readJson<T>(path: string): T | undefined {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as T;
  } catch {
    return undefined; // not written yet, or cut short
  }
}

function optionsDigest(options: TrainOptions): string {
  return createHash('sha256').update(JSON.stringify(options)).digest('hex');
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
  const { swept } = result;
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
