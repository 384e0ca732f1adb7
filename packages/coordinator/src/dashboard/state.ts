import type { StepMetrics } from '../metrics-lines.js';
import type { TrainingPlan } from '../plan.js';
import type { WorkerSnapshot } from '../step-events.js';
import type { EpochMetrics, StepProgress, TrainingHooks } from '../training-loop.js';

/** One worker's row in the dashboard's table: as the step machine's snapshot has it ('left' once it is gone, with why and when). */
export type WorkerRow = WorkerSnapshot;

export type RunStatus = 'waiting for workers' | 'training' | 'finished' | 'stopped' | 'failed';

/** The newest x the client has of each series: the next frame carries only later points. */
export interface Cursor {
  step: number;
  epoch: number;
}

/** What the page receives: the whole state (reset) or what is new since its cursor. */
export interface Frame {
  reset: boolean;
  run: RunInfo;
  status: RunStatus;
  /** Why the run failed (status failed). */
  reason?: string;
  step: number;
  epoch: number;
  samplesPerSecond: number;
  /** The figures shown: the latest metrics line's train risk and the latest epoch's test accuracy (null: none yet), whatever points the series kept. */
  risk: number | null;
  testAccuracy: number | null;
  /** The run's metrics step lines (metrics-lines.ts), columns [step, epoch, samples, seconds, train risk]: the risk of the steps since the line before. */
  steps: (number | null)[][];
  /** Columns [epoch, step, samples, seconds, train risk, test risk, test accuracy]. */
  epochs: (number | null)[][];
  workers: WorkerRow[];
}

export interface RunInfo {
  data: string;
  samples: number;
  testSamples: number;
  layers: number[];
  batch: number;
  totalSteps: number;
  optimizer: string;
  lr: number;
  dtype: string;
}

/** Points of each series kept, at most; more are thinned (the page keeps what it already has). */
export const MAX_POINTS = 4000;
/** Rows of workers that left, at most (the oldest go first). */
const MAX_LEFT = 64;

/**
 * Points (x, y1, y2, ...) with x increasing, at most `max`: when full, every
 * other point goes (the first and the last stay) and later points must be as far
 * apart in x as those kept, so adding costs O(1) amortised whatever the length
 * of the run. A point skipped for being too close is held until the next one:
 * flush() adds it, so a finished run's curve ends at its last point.
 */
export class Series {
  readonly columns: (number | null)[][];
  private gap = 0;
  /** The newest point offered and not kept (x, y1, ...), for flush(). */
  private skipped: number[] | null = null;

  constructor(width: number, private readonly max = MAX_POINTS) {
    this.columns = Array.from({ length: width }, () => []);
  }

  get length(): number {
    return this.columns[0].length;
  }

  get lastX(): number {
    const xs = this.columns[0];
    return xs.length > 0 ? (xs[xs.length - 1] as number) : -Infinity;
  }

  /** Adds a point; NaN and ±Infinity become null (a gap in the curve, and valid JSON). */
  add(x: number, ...ys: number[]): void {
    if (x - this.lastX < this.gap) {
      this.skipped = [x, ...ys];
      return;
    }
    this.push(x, ys);
  }

  /** Adds the last point add() skipped, if any: the series then ends at the newest x it was given. */
  flush(): void {
    const point = this.skipped;
    if (point !== null && point[0] > this.lastX) this.push(point[0], point.slice(1));
    this.skipped = null;
  }

  private push(x: number, ys: number[]): void {
    this.skipped = null;
    this.columns[0].push(x);
    ys.forEach((y, i) => this.columns[i + 1].push(Number.isFinite(y) ? y : null));
    if (this.length < this.max) return;
    for (const column of this.columns) {
      const last = column.length - 1;
      let kept = 0;
      for (let i = 0; i < column.length; i += 2) column[kept++] = column[i];
      if (last % 2 === 1) column[kept++] = column[last];
      column.length = kept;
    }
    // later points about as far apart as the ones kept
    this.gap = (this.lastX - (this.columns[0][0] as number)) / Math.max(1, this.length - 1);
  }

  /** The columns of the points with x > after (all of them for -Infinity). */
  since(after: number): (number | null)[][] {
    const xs = this.columns[0];
    let from = xs.length;
    while (from > 0 && (xs[from - 1] as number) > after) from--;
    return this.columns.map((column) => column.slice(from));
  }
}

/**
 * What the dashboard shows of a run: its settings, the risk of its metrics
 * lines, the test risk and accuracy per epoch, samples/s and the workers. Fed by the
 * training loop's hooks (cheap: a push per call) and read by the feed a few
 * times a second.
 */
export class DashboardState {
  readonly run: RunInfo;
  status: RunStatus = 'waiting for workers';
  reason?: string;
  private step = 0;
  private epoch = 0;
  private samplesPerSecond = 0;
  private risk: number | null = null;
  private testAccuracy: number | null = null;
  private readonly steps = new Series(5);
  private readonly epochs = new Series(7);
  private workerSource: () => WorkerRow[] = () => [];
  private rows: WorkerRow[] = [];
  private readonly left: WorkerRow[] = [];

  constructor(plan: TrainingPlan) {
    this.run = {
      data: plan.train.source,
      samples: plan.train.count,
      testSamples: plan.test?.count ?? 0,
      layers: [...plan.spec.layers],
      batch: plan.batchSize,
      totalSteps: plan.totalSteps,
      optimizer: plan.optimizer.kind,
      lr: plan.optimizer.lr,
      dtype: plan.spec.dtype,
    };
  }

  /** Where the rows of the worker table come from (the step machine's snapshot), read at each refresh. */
  watchWorkers(source: () => WorkerRow[]): void {
    this.workerSource = source;
  }

  /** `hooks` with the dashboard's own in front of onStep, onMetrics and onEpoch; every other hook as it was. */
  observe<T extends TrainingHooks>(hooks: T): T {
    return {
      ...hooks,
      onStep: (p: StepProgress) => {
        this.onStep(p);
        hooks.onStep?.(p);
      },
      onMetrics: (line: StepMetrics) => {
        this.onMetrics(line);
        hooks.onMetrics?.(line);
      },
      onEpoch: (m: EpochMetrics) => {
        this.onEpoch(m);
        hooks.onEpoch?.(m);
      },
    };
  }

  onStep(p: StepProgress): void {
    this.status = 'training';
    this.step = p.step;
    this.epoch = p.epoch;
    this.samplesPerSecond = p.samplesPerSecond;
  }

  onMetrics(line: StepMetrics): void {
    this.risk = line.risk;
    this.steps.add(line.step, line.epoch, line.samples, line.seconds, line.risk ?? NaN);
  }

  onEpoch(m: EpochMetrics): void {
    // an epoch without a test pass keeps the last figure
    this.testAccuracy = finiteOrNull(m.testAccuracy) ?? this.testAccuracy;
    this.epochs.add(m.epoch, m.step, m.samples, m.seconds, m.risk, m.testRisk ?? NaN, m.testAccuracy ?? NaN);
  }

  /** The run is over: its status, and the last points the series skipped (the curves end where the run did). */
  finish(status: 'finished' | 'stopped' | 'failed', reason?: string): void {
    this.status = status;
    this.reason = reason;
    this.steps.flush();
    this.epochs.flush();
  }

  /** Reads the workers again; those no longer there stay in the table as left. */
  refresh(): void {
    const now = this.workerSource();
    const ids = new Set(now.map((w) => w.id));
    for (const old of this.rows) {
      // a source that keeps the rows of those that left (the step machine) says why; one that does not, only that they did
      if (ids.has(old.id) || old.state === 'left') continue;
      this.left.push({ ...old, state: 'left' });
      if (this.left.length > MAX_LEFT) this.left.shift();
    }
    this.rows = now;
  }

  /** The frame for a client whose cursor is `cursor` (null: a new client, which gets everything). */
  frame(cursor: Cursor | null): { frame: Frame; cursor: Cursor } {
    const from = cursor ?? { step: -Infinity, epoch: -Infinity };
    const frame: Frame = {
      reset: cursor === null,
      run: this.run,
      status: this.status,
      reason: this.reason,
      step: this.step,
      epoch: this.epoch,
      samplesPerSecond: this.samplesPerSecond,
      risk: this.risk,
      testAccuracy: this.testAccuracy,
      steps: this.steps.since(from.step),
      epochs: this.epochs.since(from.epoch),
      workers: [...this.rows, ...this.left],
    };
    return { frame, cursor: { step: Math.max(from.step, this.steps.lastX), epoch: Math.max(from.epoch, this.epochs.lastX) } };
  }
}

/** NaN, ±Infinity and undefined are null in a frame (valid JSON, shown as "–"). */
function finiteOrNull(value: number | undefined): number | null {
  return value !== undefined && Number.isFinite(value) ? value : null;
}
