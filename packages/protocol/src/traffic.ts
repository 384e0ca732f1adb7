import type { Socket } from 'node:net';

/** Bytes read and written. */
export interface Traffic {
  bytesIn: number;
  bytesOut: number;
}

/**
 * Bytes a process moved over its connections: the open sockets' counters, plus
 * what those already closed had moved (for /metrics, and the traffic each
 * process logs at its end).
 */
export class SocketTraffic {
  private readonly open = new Set<Socket>();
  private readonly closed: Traffic = { bytesIn: 0, bytesOut: 0 };

  /** Counts this socket from now on, and after it closed. */
  count(socket: Socket): void {
    if (this.open.has(socket)) return;
    this.open.add(socket);
    socket.once('close', () => {
      this.open.delete(socket);
      this.closed.bytesIn += socket.bytesRead;
      this.closed.bytesOut += socket.bytesWritten;
    });
  }

  totals(): Traffic {
    const total = { ...this.closed };
    for (const s of this.open) {
      total.bytesIn += s.bytesRead;
      total.bytesOut += s.bytesWritten;
    }
    return total;
  }
}
