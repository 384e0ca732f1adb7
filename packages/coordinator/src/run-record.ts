/**
 * The run record: a short JSON file next to the trained model that says how it was
 * made. For `model.json` it is `model.run.json` (the model's path without `.json`, plus
 * `.run.json`), so several models in one folder each keep their own record. It is
 * written when the run starts (status running, with its process) and again when it
 * ends, however it ends; `shardprop board` lists runs by it.
 */
import { existsSync, readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { resolve } from 'node:path';
import { DEFAULT_MOMENTUM, checkpointPath, fingerprint, writeFileAtomically, type Dataset } from '@shardprop/core';
import { PROTOCOL_VERSION } from '@shardprop/protocol';
import { DEFAULT_GRADIENT_FORM, DEFAULT_INIT_SCHEME, localWorkerThreads, resolveAggregation, type ServeOptions, type TrainOptions } from './options.js';
import type { TrainingPlan } from './plan.js';
import { DEFAULT_STEP_TIMEOUT_SECONDS, DEFAULT_WAIT_WORKERS_SECONDS } from './step-events.js';
import type { TrainSummary } from './training-loop.js';

export const RUN_RECORD_FORMAT = 'shardprop.run/v1';

/** How a run is (running) or ended. */
export type RunRecordStatus = 'running' | 'finished' | 'stopped' | 'failed';

export interface RunRecord {
  format: typeof RUN_RECORD_FORMAT;
  status: RunRecordStatus;
  /** Why the run stopped or failed. */
  reason?: string;
  startedAt: string;
  /** When it ended (absent while running). */
  endedAt?: string;
  /** The process that trains (threads: of its kernels): a record that says running with a process gone is a run that died. */
  process: { pid: number; host: string; threads: number };
  /** The workers that joined, with the threads of each one's kernels (distributed runs; their hellos said). */
  workerProcesses?: { id: number; name: string; threads?: number }[];
  /** The live dashboard's address while the run is on (without the token). */
  dashboard?: string;
  versions: { shardprop: string; node: string; protocol: number };
  /** What was asked for, with every default the run used filled in (never a token or TLS key). */
  config: Record<string, unknown>;
  data: { train: DataRecord; test?: DataRecord };
  /** What `train()` resolved to (`--json`'s summary, with the final parameters' hash `paramsHash`); absent until the run has finished. */
  result?: TrainSummary;
  /** Absolute paths of what the run wrote; runMetrics: its metrics lines, always written (metricsPath). */
  files: { model: string; runMetrics: string; metrics?: string; trace?: string; checkpointDir?: string; checkpoint?: string };
}

interface DataRecord {
  source: string;
  samples: number;
  inputs: number;
  outputs: number;
  /** SHA-256 of the values (core's `fingerprint`): the same data set whatever file it came from. */
  fingerprint: string;
}

/** model.json -> model.run.json; a model path without .json gets .run.json appended. */
export function runRecordPath(modelPath: string): string {
  return `${modelPath.replace(/\.json$/i, '')}.run.json`;
}

/** model.json -> model.metrics.jsonl: the run's metrics lines, beside its record. */
export function metricsPath(modelPath: string): string {
  return `${modelPath.replace(/\.json$/i, '')}.metrics.jsonl`;
}

export interface RunFacts {
  options: TrainOptions & ServeOptions;
  plan: TrainingPlan;
  status: RunRecordStatus;
  reason?: string;
  /** Worker processes the run has (0: trains in-process). */
  workers: number;
  dashboard?: string;
  /** The finished run's summary. */
  summary?: TrainSummary;
  /** The workers that joined so far (the coordinator's table). */
  workerProcesses?: RunRecord['workerProcesses'];
  startedAt: Date;
  endedAt?: Date;
}

/** Writes the record of a run next to its model (atomically: a reader sees the old record or the new) and returns its path. */
export function writeRunRecord(facts: RunFacts): string {
  const path = runRecordPath(facts.plan.outPath);
  const json = JSON.stringify(makeRunRecord(facts), null, 2) + '\n';
  writeFileAtomically(path, (put) => put(Buffer.from(json)));
  return path;
}

export function makeRunRecord({ options, plan, status, reason, workers, dashboard, summary, workerProcesses, startedAt, endedAt }: RunFacts): RunRecord {
  const { token: _token, tls: _tls, ...given } = options;
  const { optimizer, spec } = plan;
  const resolved = {
    layers: [...spec.layers],
    activation: spec.activation,
    loss: spec.loss,
    dtype: spec.dtype,
    initScheme: options.init === undefined && !options.resume ? (options.initScheme ?? DEFAULT_INIT_SCHEME) : undefined,
    out: plan.outPath,
    steps: plan.totalSteps,
    epochs: plan.totalSteps / plan.batchesPerEpoch,
    batch: plan.batchSize,
    block: plan.block,
    optimizer: optimizer.kind,
    lr: optimizer.lr,
    momentum: optimizer.kind === 'momentum' ? (optimizer.momentum ?? DEFAULT_MOMENTUM) : undefined,
    weightDecay: optimizer.weightDecay ?? 0,
    seed: plan.seed,
    workers: summary?.workers ?? workers,
    threads: plan.kernels.threads,
    // the local workers of --workers N (none with --expect: those say their own)
    workerThreads: workers > 0 && options.expect === undefined ? localWorkerThreads(workers, options.threads) : undefined,
    gradientForm: workers > 0 ? (options.gradientForm ?? DEFAULT_GRADIENT_FORM) : undefined,
    aggregation: workers > 0 ? resolveAggregation(options.aggregation, options.host ?? '127.0.0.1', options.tls !== undefined) : undefined,
    stepTimeout: workers > 0 ? (options.stepTimeout ?? DEFAULT_STEP_TIMEOUT_SECONDS) : undefined,
    waitWorkers: workers > 0 ? (options.waitWorkers ?? DEFAULT_WAIT_WORKERS_SECONDS) : undefined,
    resume: options.resume === true,
  };
  const dir = options.checkpointDir;
  return {
    format: RUN_RECORD_FORMAT,
    status,
    reason,
    startedAt: startedAt.toISOString(),
    endedAt: endedAt?.toISOString(),
    process: { pid: process.pid, host: hostname(), threads: plan.kernels.threads },
    workerProcesses: workerProcesses && workerProcesses.length > 0 ? workerProcesses : undefined,
    dashboard,
    versions: { shardprop: packageVersion(), node: process.version, protocol: PROTOCOL_VERSION },
    config: { ...given, ...resolved },
    data: {
      train: dataRecord(plan.train, plan.fingerprint),
      test: plan.test ? dataRecord(plan.test, fingerprint(plan.test)) : undefined,
    },
    result: summary,
    files: {
      model: resolve(plan.outPath),
      runMetrics: resolve(metricsPath(plan.outPath)),
      metrics: options.metrics === undefined ? undefined : resolve(options.metrics),
      trace: options.trace === undefined ? undefined : resolve(options.trace),
      checkpointDir: dir === undefined ? undefined : resolve(dir),
      checkpoint: dir !== undefined && existsSync(checkpointPath(dir)) ? resolve(checkpointPath(dir)) : undefined,
    },
  };
}

function dataRecord(set: Dataset, dataFingerprint: string): DataRecord {
  return { source: set.source, samples: set.count, inputs: set.inputs, outputs: set.outputs, fingerprint: dataFingerprint };
}

let version: string | undefined;

/** The version in @shardprop/coordinator's package.json (one folder above src/ and dist/ alike). */
export function packageVersion(): string {
  version ??= (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  return version;
}
