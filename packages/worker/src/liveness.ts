/**
 * Whether the coordinator is still there. A coordinator whose host crashed, or
 * that is cut off by a partition, closes nothing: TCP alone would not tell an
 * idle worker for hours. So the worker listens: every frame from the coordinator
 * (a message, a ping, a pong) counts as heard; after PING_AFTER_MS of silence it
 * pings (ws answers pings without our code, so a live coordinator always
 * answers), and after `silentMs` of silence it gives the connection up and
 * reconnects. Time spent computing a step does not count: the worker could not
 * have heard anything then. Pure: the caller gives the time.
 */
export const PING_AFTER_MS = 5_000;
/** Silence after which the coordinator is taken for gone (--silence-timeout). */
export const DEFAULT_SILENT_MS = 20_000;

export type Verdict = 'ok' | 'ping' | 'silent';

export class Liveness {
  private heardAt: number;
  private pingedAt = -Infinity;
  private readonly pingAfterMs: number;

  constructor(now: number, readonly silentMs = DEFAULT_SILENT_MS) {
    this.heardAt = now;
    // at least a few pings before giving up, however short the bound
    this.pingAfterMs = Math.min(PING_AFTER_MS, silentMs / 4);
  }

  /** A frame came from the coordinator, or the worker was busy until `now` (it could not have heard before). */
  heard(now: number): void {
    this.heardAt = Math.max(this.heardAt, now);
  }

  /** What to do at `now`: nothing, send a ping, or give the coordinator up. */
  check(now: number): Verdict {
    const silence = now - this.heardAt;
    if (silence >= this.silentMs) return 'silent';
    if (silence < this.pingAfterMs || now - this.pingedAt < this.pingAfterMs) return 'ok';
    this.pingedAt = now;
    return 'ping';
  }
}
