import type { ServerResponse } from 'node:http';
import type { Logger } from '@shardprop/worker';
import { readSendQueues, type SendQueues } from './send-queue.js';
import type { Cursor, DashboardState } from './state.js';

/** Live-feed clients at most; the next one is answered 503. */
export const MAX_FEED_CLIENTS = 32;
/** A client with this much not yet taken gets no frame until it has taken it: its cursor waits, so it loses no point. */
export const MAX_BUFFERED_BYTES = 256 * 1024;
/** Time between frames: at most four a second, whatever the speed of training. */
export const PUBLISH_MS = 250;
/**
 * A client that has taken nothing of what it was sent for longer than this is
 * cut off, freeing its slot: a browser tab in the background or on a bad link
 * keeps taking, one that has stopped reading never does. What it has taken is
 * measured at the TCP level (send-queue.ts): what was written, less what Node
 * and the kernel still hold for it.
 */
export const STALLED_MS = 10_000;
/**
 * Every second a client is sent at least this much (a padded comment when there
 * is no frame): a connection that is not read fills its receive buffer (about
 * 128 KiB) and stops taking within seconds, even while the run is idle.
 */
export const HEARTBEAT_BYTES = 8 * 1024;
export const HEARTBEAT_MS = 1000;

interface Client {
  res: ServerResponse;
  cursor: Cursor | null;
  /** Bytes written to it, and of them taken when last measured. */
  written: number;
  taken: number;
  /** Date.now() when it last took something, or had nothing left to take. */
  tookAt: number;
  /** All but the points of the last frame sent: a frame with no new point and the same rest is not sent. */
  lastRest: string;
  /** Bytes written since the last heartbeat, and when that was. */
  sinceHeartbeat: number;
  heartbeatAt: number;
}

interface Encoded {
  data: string;
  /** Its length in bytes, counted once for every client it goes to. */
  bytes: number;
  cursor: Cursor;
  rest: string;
  newPoints: boolean;
}

/**
 * The dashboard's live feed: server-sent events, one JSON frame each. A timer
 * (only while someone watches) sends every client what is new since its
 * cursor; training never waits for it, and a slow browser skips frames
 * instead of making the coordinator buffer them.
 */
export class Feed {
  private readonly clients = new Set<Client>();
  private timer: NodeJS.Timeout | null = null;
  private failedOnce = false;
  private measuredAt = -Infinity;

  /** `measure`: the kernel's unacknowledged bytes of each socket, read at once (Linux's /proc; tests give their own). */
  constructor(private readonly state: DashboardState, private readonly log?: Logger, private readonly measure: () => SendQueues = readSendQueues) {}

  get full(): boolean {
    return this.clients.size >= MAX_FEED_CLIENTS;
  }

  /** A frame could not be made: the feed has ended every stream and takes no new client. */
  get failed(): boolean {
    return this.failedOnce;
  }

  /** Turns `res` into an event stream and sends it the whole state at once. */
  add(res: ServerResponse): void {
    // before anything is sent: a failing worker table is the caller's 500, not a broken stream
    this.state.refresh();
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', 'x-accel-buffering': 'no' });
    res.socket?.setNoDelay(true);
    // the browser reconnects by itself after this long when the stream breaks
    const now = Date.now();
    const client: Client = { res, cursor: null, written: 0, taken: 0, tookAt: now, lastRest: '', sinceHeartbeat: 0, heartbeatAt: now };
    this.write(client, 'retry: 2000\n\n');
    this.clients.add(client);
    res.on('close', () => {
      this.clients.delete(client);
      if (this.clients.size === 0) this.stop();
    });
    // a browser gone mid-write: 'close' follows and removes it
    res.on('error', () => {});
    this.send(client, new Map());
    this.timer ??= setInterval(() => this.publish(), PUBLISH_MS).unref();
  }

  /**
   * Sends every client that keeps up what is new for it (clients at the same
   * cursor share one encoding) and cuts off those that have taken nothing for
   * STALLED_MS. Runs from a timer, so it never throws: a frame that cannot be
   * made (the worker table's source failing, say) is logged and ends the feed,
   * not the run.
   */
  publish(): void {
    if (this.clients.size === 0) return;
    try {
      this.state.refresh();
      const encoded = new Map<string, Encoded>();
      const now = Date.now();
      for (const client of this.clients) {
        if (client.res.writableLength > MAX_BUFFERED_BYTES) continue; // skips frames: its cursor waits
        this.send(client, encoded);
        this.heartbeat(client, now);
      }
      // what each has taken, measured once a second (the kernel's tables are read for all at once)
      if (now - this.measuredAt >= HEARTBEAT_MS) {
        this.measuredAt = now;
        const unacknowledged = this.measure();
        for (const client of this.clients) this.checkTaken(client, unacknowledged, now);
      }
      if (this.clients.size === 0) this.stop();
    } catch (err) {
      this.failedOnce = true;
      this.log?.error({ err }, 'the live dashboard feed failed: its streams are ended (training goes on)');
      this.endAll();
    }
  }

  /** A client that took something since the last look, or has nothing left to take, is live; one that took nothing for STALLED_MS is cut. */
  private checkTaken(client: Client, unacknowledged: SendQueues, now: number): void {
    const taken = client.written - client.res.writableLength - unacknowledged(client.res.socket);
    if (taken > client.taken || taken >= client.written) {
      client.taken = Math.max(client.taken, taken);
      client.tookAt = now;
      return;
    }
    if (now - client.tookAt <= STALLED_MS) return;
    this.clients.delete(client);
    const socket = client.res.socket;
    this.log?.warn({ address: socket ? `${socket.remoteAddress}:${socket.remotePort}` : undefined, waiting: client.written - client.taken }, 'cut off a live dashboard viewer that took nothing for 10 s');
    client.res.destroy();
  }

  /** At least HEARTBEAT_BYTES a second: a comment, which the page's EventSource ignores. */
  private heartbeat(client: Client, now: number): void {
    if (now - client.heartbeatAt < HEARTBEAT_MS) return;
    const missing = HEARTBEAT_BYTES - client.sinceHeartbeat;
    if (missing > 0) this.write(client, `:${' '.repeat(Math.max(0, missing - 3))}\n\n`);
    client.sinceHeartbeat = 0;
    client.heartbeatAt = now;
  }

  private write(client: Client, text: string, bytes = Buffer.byteLength(text)): void {
    client.written += bytes;
    client.sinceHeartbeat += bytes;
    client.res.write(text);
  }

  private send(client: Client, encoded: Map<string, Encoded>): void {
    const key = client.cursor === null ? 'new' : `${client.cursor.step}/${client.cursor.epoch}`;
    let out = encoded.get(key);
    if (!out) {
      const { frame, cursor } = this.state.frame(client.cursor);
      const { steps, epochs, ...rest } = frame;
      const newPoints = frame.reset || steps[0].length > 0 || epochs[0].length > 0;
      const data = `data: ${JSON.stringify(frame)}\n\n`;
      out = { data, bytes: Buffer.byteLength(data), cursor, rest: JSON.stringify(rest), newPoints };
      encoded.set(key, out);
    }
    if (!out.newPoints && out.rest === client.lastRest) return;
    this.write(client, out.data, out.bytes);
    client.cursor = out.cursor;
    client.lastRest = out.rest;
  }

  /** Sends the last frame (the run is over) and ends every stream. */
  close(): void {
    this.publish();
    this.endAll();
  }

  /** Ends every stream; one over MAX_BUFFERED_BYTES is destroyed, as end() would wait for it to drain first. */
  private endAll(): void {
    for (const client of this.clients) {
      if (client.res.writableLength > MAX_BUFFERED_BYTES) client.res.destroy();
      else client.res.end();
    }
    this.clients.clear();
    this.stop();
  }

  private stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }
}
