/**
 * What a `shardprop worker` tells its user while it runs: that it waits for
 * training to start, that it trains (a progress line on a terminal, a log line every
 * few seconds otherwise), and a one-line summary at its end. It counts and reports;
 * the session computes. Local workers (train --workers N) report nothing.
 */
import type { WorkerLog } from './log.js';

/** 'terminal': a progress line rewritten in place; 'log': a log line every LOG_EVERY_MS. */
export type ActivityReport = 'terminal' | 'log';

/** How often a worker without a terminal logs its progress. */
export const LOG_EVERY_MS = 5000;
/** How often the terminal's progress line is redrawn. */
const DRAW_EVERY_MS = 200;

/** The totals of the summary line (over every connection of the process). */
export interface WorkerTotals {
  steps: number;
  samples: number;
  computeSeconds: number;
  /** From a gradient sent to the next step's parameters received: the slowest worker, the coordinator and the network. */
  waitSeconds: number;
}

export class WorkerActivity {
  readonly totals: WorkerTotals = { steps: 0, samples: 0, computeSeconds: 0, waitSeconds: 0 };
  /** Its id once welcomed (the last one, after a reconnection). */
  private workerId: number | null = null;
  private training = false;
  private lastReport = -Infinity;
  /** A progress line is on the terminal (cleared before any log line). */
  private shown = false;
  /** `log`, with the progress line cleared first. */
  readonly log: WorkerLog;

  constructor(
    private readonly report: ActivityReport,
    log: WorkerLog,
    private readonly stream: NodeJS.WritableStream = process.stderr,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.log = (level, message, fields) => {
      this.clear();
      log(level, message, fields);
    };
  }

  /** Welcomed as `workerId`: until the first step, it waits for the others (or for the run to start). */
  joined(workerId: number): void {
    this.workerId = workerId;
    this.training = false;
    this.log('info', 'waiting for training to start', { workerId });
  }

  /** A gradient computed over `count` samples in `computeMs`, after waiting `waitMs` for its parameters (0: the first of a connection). */
  computed(count: number, computeMs: number, waitMs: number): void {
    const t = this.totals;
    t.steps++;
    t.samples += count;
    t.computeSeconds += computeMs / 1000;
    t.waitSeconds += Math.max(0, waitMs) / 1000;
    const now = this.now();
    if (!this.training) {
      this.training = true;
      this.lastReport = now;
      this.log('info', 'training', { workerId: this.workerId });
    }
    if (now - this.lastReport < (this.report === 'terminal' ? DRAW_EVERY_MS : LOG_EVERY_MS)) return;
    this.lastReport = now;
    if (this.report === 'log') {
      this.log('info', 'computing gradients', { workerId: this.workerId, ...this.rounded() });
    } else {
      this.stream.write(`\r\x1b[2Kworker ${this.workerId}: ${this.line()}`);
      this.shown = true;
    }
  }

  /** The one-line summary the worker ends with, once it has joined (a worker refused at the door has nothing to sum up). */
  summary(): void {
    if (this.workerId === null) return;
    this.log('info', `worker done: ${this.line()}`, { workerId: this.workerId, ...this.rounded() });
  }

  /** The totals as the log line's fields have them (ms), so the line and its fields agree. */
  private line(): string {
    const t = this.rounded();
    return `${t.steps.toLocaleString('en-US')} steps computed, ${t.samples.toLocaleString('en-US')} samples, compute ${t.computeSeconds.toFixed(2)} s, waiting ${t.waitSeconds.toFixed(2)} s`;
  }

  private rounded(): WorkerTotals {
    const t = this.totals;
    return { steps: t.steps, samples: t.samples, computeSeconds: round3(t.computeSeconds), waitSeconds: round3(t.waitSeconds) };
  }

  private clear(): void {
    if (this.shown) this.stream.write('\r\x1b[2K');
    this.shown = false;
  }
}

function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}
