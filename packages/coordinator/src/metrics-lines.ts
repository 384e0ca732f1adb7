/**
 * The training risk between metrics lines: every step adds its batch's loss sum
 * and count, and a line carries the mean over the steps since the line before
 * (the risk of the last N steps, not the epoch's running mean, which draws a
 * sawtooth). Pure: the loop gives it the step, the samples and the time.
 */

/** A metrics line of steps (`kind: 'step'`), beside the epoch lines (`kind: 'epoch'`, EpochMetrics). */
export interface StepMetrics {
  kind: 'step';
  step: number;
  /** Epochs done so far, fractional: step / batches per epoch. */
  epoch: number;
  /** Samples seen since step 1 (the x axis that lines up runs of different batch sizes). */
  samples: number;
  /** Seconds since the run (or its resume) started. */
  seconds: number;
  /** Mean loss over the samples of the `steps` steps since the line before; null when not finite (JSON has no NaN). */
  risk: number | null;
  steps: number;
}

/** Without --metrics-every, a line at most this often... */
export const MIN_LINE_SECONDS = 0.01;
/** ...and at most about this many lines per run (later lines further apart), so a long run's file stays small. */
export const LINES_PER_RUN = 2000;

/**
 * When a step line is due: every `every` steps when given (the same steps in
 * every run), else by the clock: every MIN_LINE_SECONDS, spreading out to
 * elapsed / LINES_PER_RUN. The last step of a run always gets one.
 */
export class StepWindow {
  private lossSum = 0;
  private count = 0;
  private steps = 0;
  private lastSeconds = 0;

  constructor(private readonly every: number | undefined) {}

  add(lossSum: number, count: number): void {
    this.lossSum += lossSum;
    this.count += count;
    this.steps++;
  }

  due(step: number, seconds: number, last: boolean): boolean {
    if (this.steps === 0) return false;
    if (last) return true;
    if (this.every !== undefined) return step % this.every === 0;
    return spacedOut(seconds, this.lastSeconds);
  }

  /** The line of the steps since the last one; the window starts again. */
  take(step: number, batchesPerEpoch: number, samples: number, seconds: number): StepMetrics {
    const risk = this.lossSum / this.count;
    const line: StepMetrics = {
      kind: 'step', step, epoch: step / batchesPerEpoch, samples, seconds, risk: Number.isFinite(risk) ? risk : null, steps: this.steps,
    };
    this.lossSum = 0;
    this.count = 0;
    this.steps = 0;
    this.lastSeconds = seconds;
    return line;
  }
}

/** By the clock: a line `seconds` into the run, the last one having been at `lastSeconds`, is due. */
export function spacedOut(seconds: number, lastSeconds: number): boolean {
  return seconds - lastSeconds >= Math.max(MIN_LINE_SECONDS, seconds / LINES_PER_RUN);
}

/** Samples seen in steps 1..`steps`: whole epochs of `count`, then full batches of the epoch under way (its last batch may be short). */
export function samplesBefore(steps: number, batchesPerEpoch: number, batchSize: number, count: number): number {
  const epochs = Math.floor(steps / batchesPerEpoch);
  return epochs * count + Math.min((steps % batchesPerEpoch) * batchSize, count);
}
