/**
 * What a run leaves in its folder for `shardprop board`: the run record, written
 * when the run starts (status running, with its process and dashboard) and when
 * it ends, and the metrics lines (model.metrics.jsonl): step lines and epoch
 * lines. Writing here never costs the run: a failure is logged once, and the
 * lines after it are not written.
 */
import { writeFileSync } from 'node:fs';
import type { Logger } from '@shardprop/worker';
import { spacedOut, type StepMetrics } from './metrics-lines.js';
import type { ServeOptions, TrainOptions } from './options.js';
import { appendLine } from './outputs.js';
import type { TrainingPlan } from './plan.js';
import type { WorkerSnapshot } from './step-events.js';
import { metricsPath, writeRunRecord, type RunRecordStatus } from './run-record.js';
import type { EpochMetrics, TrainingHooks, TrainSummary } from './training-loop.js';

export class RunFolder {
  readonly metrics: string;
  private dashboard?: string;
  private workerTable?: () => WorkerSnapshot[];
  private broken = false;
  private lastEpochSeconds = -Infinity;

  constructor(private readonly options: TrainOptions & ServeOptions, private readonly plan: TrainingPlan, private readonly workers: number, private readonly log: Logger, private readonly startedAt: Date) {
    this.metrics = metricsPath(plan.outPath);
  }

  /** The record says running; a fresh run's metrics start empty (a resumed one appends, and the board drops the lines it redoes). */
  start(): void {
    this.guard(() => {
      if (!this.options.resume) writeFileSync(this.metrics, '');
      this.record('running');
    });
  }

  /** Where the record finds the workers that joined (the coordinator's table), when the run ends. */
  watchWorkers(snapshot: () => WorkerSnapshot[]): void {
    this.workerTable = snapshot;
  }

  /** The live dashboard's address, in the record from now on. */
  setDashboard(url: string): void {
    this.dashboard = url;
    this.guard(() => this.record('running'));
  }

  /** `hooks` with the folder's own in front of onMetrics and onEpoch. */
  observe<T extends TrainingHooks>(hooks: T): T {
    return {
      ...hooks,
      onMetrics: (line: StepMetrics) => {
        this.append(line);
        hooks.onMetrics?.(line);
      },
      onEpoch: (m: EpochMetrics) => {
        // many short epochs (a full batch is an epoch a step) are spaced out as step lines are, unless --metrics-every asks for each
        const due = this.options.metricsEvery !== undefined || m.step === this.plan.totalSteps || spacedOut(m.seconds, this.lastEpochSeconds);
        if (due) {
          this.lastEpochSeconds = m.seconds;
          this.append(m);
        }
        hooks.onEpoch?.(m);
      },
    };
  }

  /** The record of the run's end; returns its path (undefined when it could not be written: the model is saved all the same). */
  finish(status: Exclude<RunRecordStatus, 'running'>, summary?: TrainSummary, reason?: string): string | undefined {
    this.dashboard = undefined;
    try {
      return this.record(status, summary, reason);
    } catch (err) {
      this.log.warn({ err }, `the run record next to ${this.plan.outPath} could not be written`);
      return undefined;
    }
  }

  private record(status: RunRecordStatus, summary?: TrainSummary, reason?: string): string {
    const { options, plan, workers, dashboard, startedAt } = this;
    const workerProcesses = this.workerTable?.().map(({ id, name, threads }) => ({ id, name, threads }));
    return writeRunRecord({ options, plan, status, reason, workers, dashboard, summary, workerProcesses, startedAt, endedAt: status === 'running' ? undefined : new Date() });
  }

  private append(line: StepMetrics | EpochMetrics): void {
    if (!this.broken) this.guard(() => appendLine('--out', this.metrics, JSON.stringify(line) + '\n'));
  }

  private guard(write: () => void): void {
    try {
      write();
    } catch (err) {
      if (!this.broken) this.log.warn({ err, file: this.metrics }, 'the run folder cannot be written: the board will not show this run whole (training goes on)');
      this.broken = true;
    }
  }
}
