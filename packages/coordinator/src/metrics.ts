/**
 * The run's figures for operators, as GET /metrics serves them on the coordinator's
 * port (Prometheus's text format, written by prom-client on a registry of its own).
 * The training loop's hooks and each finished step feed it (an addition or two); the
 * coordinator's totals (time, traffic, workers, drops) are read at each scrape.
 */
import { Counter, Gauge, Registry } from 'prom-client';
import type { TrainingPlan } from './plan.js';
import type { WorkerSnapshot } from './step-events.js';
import type { EngineTiming, EpochMetrics, StepProgress, TrainingHooks } from './training-loop.js';

/** What a scrape reads from the coordinator (ws-adapter.ts's Coordinator). */
export interface MetricsSource {
  timing(): EngineTiming;
  snapshot(): WorkerSnapshot[];
  /** Bytes read from and written to the workers' sockets (WebSocket frames, as the sockets count them), closed ones included. */
  traffic(): { bytesIn: number; bytesOut: number };
  /** Connections the coordinator cut off, by error code. */
  drops(): ReadonlyMap<string, number>;
}

/** Every state a worker's row can have, so each series is there from the first scrape (at 0). */
const WORKER_STATES: readonly WorkerSnapshot['state'][] = ['ready', 'joining', 'resharding', 'computing', 'waiting', 'idle'];

export const METRICS_CONTENT_TYPE = Registry.PROMETHEUS_CONTENT_TYPE;

export class RunMetrics {
  readonly registry = new Registry();
  private source: MetricsSource | null = null;
  private readonly steps: Counter;
  private readonly samples: Counter;
  private readonly step: Gauge;
  private readonly epoch: Gauge;
  private readonly risk: Gauge;
  private readonly testRisk: Gauge;
  private readonly testAccuracy: Gauge;
  private readonly checkpoints: Counter;

  constructor(plan: TrainingPlan) {
    const registers = [this.registry];
    const metrics = this;
    this.steps = new Counter({ name: 'shardprop_steps_total', help: 'Steps finished by this coordinator (a resumed run counts from its checkpoint).', registers });
    this.samples = new Counter({ name: 'shardprop_samples_total', help: 'Samples whose gradients those steps summed.', registers });
    this.step = new Gauge({ name: 'shardprop_step', help: 'The last step finished, as the run numbers them.', registers });
    new Gauge({ name: 'shardprop_steps_planned', help: 'The steps the run is to take in all.', registers }).set(plan.totalSteps);
    this.epoch = new Gauge({ name: 'shardprop_epoch', help: 'The epoch of the last step finished (from 1).', registers });
    this.risk = new Gauge({ name: 'shardprop_train_risk', help: 'Train risk: the mean loss over the current epoch\'s batches so far (NaN before the first step).', registers });
    this.testRisk = new Gauge({ name: 'shardprop_test_risk', help: 'Test risk after the last epoch (NaN without a test set).', registers });
    this.testAccuracy = new Gauge({ name: 'shardprop_test_accuracy', help: 'Test accuracy after the last epoch, from 0 to 1 (NaN without a test set).', registers });
    for (const g of [this.risk, this.testRisk, this.testAccuracy]) g.set(NaN);
    this.checkpoints = new Counter({ name: 'shardprop_checkpoints_total', help: 'Checkpoints written.', registers });
    new Counter({
      name: 'shardprop_step_seconds_total', help: 'Steps\' wall time at the coordinator, in parts: compute (the slowest worker\'s backprop), wait (first to last gradient) and communication (the rest).',
      labelNames: ['part'], registers,
      collect() {
        const t = metrics.source?.timing() ?? { computeSeconds: 0, waitSeconds: 0, commSeconds: 0 };
        // totals kept by the coordinator: set to them at each scrape (they only grow)
        this.reset();
        this.inc({ part: 'compute' }, t.computeSeconds);
        this.inc({ part: 'wait' }, t.waitSeconds);
        this.inc({ part: 'communication' }, t.commSeconds);
      },
    });
    new Gauge({
      name: 'shardprop_workers', help: 'Workers connected, by state.', labelNames: ['state'], registers,
      collect() {
        this.reset();
        for (const state of WORKER_STATES) this.set({ state }, 0);
        for (const w of metrics.source?.snapshot() ?? []) this.inc({ state: w.state });
      },
    });
    new Counter({
      name: 'shardprop_received_bytes_total', help: 'Bytes read from the workers\' connections.', registers,
      collect() {
        this.reset();
        this.inc(metrics.source?.traffic().bytesIn ?? 0);
      },
    });
    new Counter({
      name: 'shardprop_sent_bytes_total', help: 'Bytes written to the workers\' connections.', registers,
      collect() {
        this.reset();
        this.inc(metrics.source?.traffic().bytesOut ?? 0);
      },
    });
    new Counter({
      name: 'shardprop_workers_dropped_total', help: 'Connections the coordinator cut off (workers and would-be workers), by error code (docs/errors.md).', labelNames: ['code'], registers,
      collect() {
        this.reset();
        for (const [code, count] of metrics.source?.drops() ?? []) this.inc({ code }, count);
      },
    });
  }

  /** Where a scrape reads the coordinator's totals. */
  watch(source: MetricsSource): void {
    this.source = source;
  }

  /** A step's gradient sum is in: `count` samples. Called for every step (onStep is thinned out). */
  stepDone(step: number, count: number): void {
    this.steps.inc();
    this.samples.inc(count);
    this.step.set(step);
  }

  /** `hooks` with the metrics' own in front of onStep, onEpoch and onCheckpoint; every other hook as it was. */
  observe<T extends TrainingHooks>(hooks: T): T {
    return {
      ...hooks,
      onStep: (p: StepProgress) => {
        this.epoch.set(p.epoch);
        this.risk.set(p.risk);
        hooks.onStep?.(p);
      },
      onEpoch: (m: EpochMetrics) => {
        this.testRisk.set(m.testRisk ?? NaN);
        this.testAccuracy.set(m.testAccuracy ?? NaN);
        hooks.onEpoch?.(m);
      },
      onCheckpoint: (step: number, path: string) => {
        this.checkpoints.inc();
        hooks.onCheckpoint?.(step, path);
      },
    };
  }

  /** The text a scrape gets. */
  text(): Promise<string> {
    return this.registry.metrics();
  }
}
