/**
 * What a worker process uses, for the coordinator's dashboard: its CPU (cores
 * busy, 1 = one core, over the last second or so) and its resident memory. Read
 * at most once a second, so a step pays for it rarely (process.cpuUsage makes an
 * object); between readings the last figures are sent again.
 */

/** A gradient's usage fields (see the protocol's Gradient). */
export interface ProcessUsage {
  cpu: number;
  rssBytes: number;
}

const EVERY_MS = 1000;

export class UsageMeter {
  private readonly current: ProcessUsage = { cpu: 0, rssBytes: 0 };
  private cpuMicros = 0;
  private at = -Infinity;

  constructor(private readonly now: () => number = () => performance.now()) {}

  /** The latest figures, read again when a second has passed since the last reading. */
  read(): ProcessUsage {
    const now = this.now();
    if (now - this.at < EVERY_MS) return this.current;
    const { user, system } = process.cpuUsage();
    const micros = user + system;
    // the first reading has no interval before it: CPU over the process's life so far
    const spentMs = Number.isFinite(this.at) ? now - this.at : process.uptime() * 1000;
    this.current.cpu = spentMs > 0 ? (micros - this.cpuMicros) / 1000 / spentMs : 0;
    this.current.rssBytes = process.memoryUsage.rss();
    this.cpuMicros = micros;
    this.at = now;
    return this.current;
  }
}
