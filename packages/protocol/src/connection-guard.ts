/**
 * Sockets before they are anything: a TCP connection (and, with TLS, its
 * handshake) that has not yet made an HTTP request or a WebSocket upgrade. A
 * stranger needs no token to open one, so they are bounded here, before any
 * code of ours reads a byte:
 * - one that has made no request within UPGRADE_TIMEOUT_MS is closed;
 * - open sockets are bounded per host and in all, well under the process's
 *   file limit (read from the system). A newcomer beyond a bound takes the place
 *   of the oldest socket that is still idle (its host's own first), so a flood
 *   that reconnects as fast as it is closed cannot keep a worker out; only when
 *   every socket is busy (workers, viewers) is the newcomer refused;
 * - what is closed is logged a line per THROTTLE_MS at most, with counts.
 */
import { readFileSync } from 'node:fs';
import type { Socket } from 'node:net';
import type { ErrorCode } from './errors.js';
import { THROTTLE_MS, Throttle } from './throttle.js';

/** Time from connecting to a complete request or upgrade (TLS handshake included). */
export const UPGRADE_TIMEOUT_MS = 5_000;

/** When the system does not say (no /proc): the usual soft limit. */
const FALLBACK_FILE_LIMIT = 1024;

export interface SocketBounds {
  /** Open sockets at most, in all. */
  total: number;
  /** Of them, from one host at most. */
  perHost: number;
}

/** This process's limit of open files ("Max open files" in /proc/self/limits), or the usual 1024. */
export function openFileLimit(limits = '/proc/self/limits'): number {
  try {
    const line = /^Max open files\s+(\S+)/m.exec(readFileSync(limits, 'utf8'));
    const soft = line ? Number(line[1]) : NaN; // "unlimited" is NaN: take the fallback, a bound is still wanted
    return Number.isSafeInteger(soft) && soft > 0 ? soft : FALLBACK_FILE_LIMIT;
  } catch {
    return FALLBACK_FILE_LIMIT;
  }
}

/** Half the file limit for sockets (the rest for data, checkpoints, logs, local workers' pipes); half of that per host. */
export function socketBounds(fileLimit = openFileLimit()): SocketBounds {
  const total = Math.max(16, Math.floor(fileLimit / 2));
  return { total, perHost: Math.max(8, Math.floor(total / 2)) };
}

export type FloodReport = (code: ErrorCode, dropped: number, reason: string) => void;

interface Entry {
  key: string;
  socket: Socket;
  host: string;
  /** Until the socket makes a request or an upgrade; null after. */
  timer: NodeJS.Timeout | null;
}

/** A throttle that also says what it held back once its window ends, without waiting for the next event. */
class FloodLog {
  private readonly throttle = new Throttle();
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly say: (dropped: number) => void) {}

  note(): void {
    const n = this.throttle.note(performance.now());
    if (n > 0) this.say(n);
    else this.timer ??= setTimeout(() => {
      this.timer = null;
      const held = this.throttle.flush();
      if (held > 0) this.say(held);
    }, THROTTLE_MS).unref();
  }

  flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const held = this.throttle.flush();
    if (held > 0) this.say(held);
  }
}

export class ConnectionGuard {
  /** Every open socket, by its remote address and port (the same for a TLS socket and the TCP socket under it). */
  private readonly open = new Map<string, Entry>();
  /** Those that have made no request yet, oldest first. */
  private readonly idle = new Map<string, Entry>();
  private readonly perHost = new Map<string, number>();
  private readonly crowded: FloodLog;
  private readonly silent: FloodLog;

  constructor(
    private readonly bounds: SocketBounds,
    report: FloodReport,
    private readonly timeoutMs = UPGRADE_TIMEOUT_MS,
  ) {
    this.crowded = new FloodLog((n) => report('SP_ERR_TOO_MANY_CONNECTIONS', n, `too many connections were open (${bounds.perHost} from one host, ${bounds.total} in all)`));
    this.silent = new FloodLog((n) => report('SP_ERR_UPGRADE_TIMEOUT', n, `no request within ${this.timeoutMs / 1000} s of connecting`));
  }

  /** A new TCP connection (the server's 'connection' event): admitted, or closed at once. */
  admit(socket: Socket): void {
    const host = socket.remoteAddress;
    if (host === undefined) return void socket.destroy(); // gone already
    const key = `${host}:${socket.remotePort}`;
    if ((this.perHost.get(host) ?? 0) >= this.bounds.perHost && !this.makeWay(host)) return this.refuse(socket);
    if (this.open.size >= this.bounds.total && !this.makeWay()) return this.refuse(socket);
    const entry: Entry = { key, socket, host, timer: null };
    // judged after the I/O already there is read (setImmediate follows the poll phase): a coordinator
    // held up past the deadline (a long evaluation) first sees the request that came in time
    entry.timer = setTimeout(() => setImmediate(() => {
      if (this.idle.get(key) !== entry) return; // it made its request meanwhile, or is gone
      this.silent.note();
      this.release(entry);
      socket.destroy();
    }), this.timeoutMs).unref();
    this.open.set(key, entry);
    this.idle.set(key, entry);
    this.perHost.set(host, (this.perHost.get(host) ?? 0) + 1);
    socket.once('close', () => this.release(entry));
  }

  /** The socket made a request or an upgrade (req.socket): from now on it is the server's and ws's to bound. */
  engaged(socket: Socket): void {
    const key = `${socket.remoteAddress}:${socket.remotePort}`;
    const entry = this.idle.get(key);
    if (!entry) return;
    this.idle.delete(key);
    clearTimeout(entry.timer!);
    entry.timer = null;
  }

  get size(): number {
    return this.open.size;
  }

  /** Says what the logs held back. */
  close(): void {
    for (const entry of this.idle.values()) clearTimeout(entry.timer!);
    this.crowded.flush();
    this.silent.flush();
  }

  /** Closes the oldest idle socket (of `host`, when given) for a newcomer; false when there is none. */
  private makeWay(host?: string): boolean {
    for (const entry of this.idle.values()) {
      if (host !== undefined && entry.host !== host) continue;
      this.crowded.note();
      this.release(entry); // counted no more: its place is the newcomer's
      entry.socket.destroy();
      return true;
    }
    return false;
  }

  private refuse(socket: Socket): void {
    this.crowded.note();
    socket.destroy();
  }

  /** Stops counting a socket (closed, or closing). */
  private release(entry: Entry): void {
    if (this.open.get(entry.key) !== entry) return;
    this.open.delete(entry.key);
    this.idle.delete(entry.key);
    if (entry.timer) clearTimeout(entry.timer);
    entry.timer = null;
    const left = (this.perHost.get(entry.host) ?? 1) - 1;
    if (left > 0) this.perHost.set(entry.host, left);
    else this.perHost.delete(entry.host);
  }
}
