/**
 * How events that can come by the thousand (a flood of connections) are logged:
 * the first at once, then at most one line a window, saying how many came since
 * the line before. Pure: the caller gives the time.
 */
export const THROTTLE_MS = 10_000;

export class Throttle {
  private nextAt = -Infinity;
  private count = 0;

  constructor(private readonly windowMs = THROTTLE_MS) {}

  /** Counts `n` events at `now`: how many to log now (all since the last line), or 0 to stay quiet. */
  note(now: number, n = 1): number {
    this.count += n;
    return this.due(now);
  }

  /** Events counted and not logged yet, once the window since the last line is over (else 0). */
  due(now: number): number {
    if (this.count === 0 || now < this.nextAt) return 0;
    const n = this.count;
    this.count = 0;
    this.nextAt = now + this.windowMs;
    return n;
  }

  /** Every event counted and not logged yet, whatever the window (at the end, so none goes unsaid). */
  flush(): number {
    const n = this.count;
    this.count = 0;
    return n;
  }
}
