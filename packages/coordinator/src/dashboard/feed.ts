import type { ServerResponse } from 'node:http';
import type { Logger } from '@shardprop/worker';
import type { Cursor, DashboardState } from './state.js';

/** Live-feed clients at most; the next one is answered 503. */
export const MAX_FEED_CLIENTS = 32;
/** A client with this much not yet taken gets no frame until it has taken it: its cursor waits, so it loses no point. */
export const MAX_BUFFERED_BYTES = 256 * 1024;
/** Time between frames: at most four a second, whatever the speed of training. */
export const PUBLISH_MS = 250;
/**
 * A client over MAX_BUFFERED_BYTES for longer than this is cut off, freeing its
 * slot: a browser tab in the background or on a bad link catches up within
 * seconds, one that has stopped reading never does.
 */
export const STALLED_MS = 10_000;

interface Client {
  res: ServerResponse;
  cursor: Cursor | null;
  /** Date.now() when it went over MAX_BUFFERED_BYTES (null: it keeps up). */
  stalledSince: number | null;
  /** All but the points of the last frame sent: a frame with no new point and the same rest is not sent. */
  lastRest: string;
}

interface Encoded {
  data: string;
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

  constructor(private readonly state: DashboardState, private readonly log?: Logger) {}

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
    res.write('retry: 2000\n\n');
    const client: Client = { res, cursor: null, stalledSince: null, lastRest: '' };
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
   * cursor share one encoding) and cuts off those stalled for STALLED_MS. Runs
   * from a timer, so it never throws: a frame that cannot be made (the worker
   * table's source failing, say) is logged and ends the feed, not the run.
   */
  publish(): void {
    if (this.clients.size === 0) return;
    try {
      this.state.refresh();
      const encoded = new Map<string, Encoded>();
      const now = Date.now();
      for (const client of this.clients) {
        if (client.res.writableLength <= MAX_BUFFERED_BYTES) {
          client.stalledSince = null;
          this.send(client, encoded);
        } else if (client.stalledSince === null) {
          client.stalledSince = now;
        } else if (now - client.stalledSince > STALLED_MS) {
          this.clients.delete(client);
          client.res.destroy();
        }
      }
      if (this.clients.size === 0) this.stop();
    } catch (err) {
      this.failedOnce = true;
      this.log?.error({ err }, 'the live dashboard feed failed: its streams are ended (training goes on)');
      this.endAll();
    }
  }

  private send(client: Client, encoded: Map<string, Encoded>): void {
    const key = client.cursor === null ? 'new' : `${client.cursor.step}/${client.cursor.epoch}`;
    let out = encoded.get(key);
    if (!out) {
      const { frame, cursor } = this.state.frame(client.cursor);
      const { steps, epochs, ...rest } = frame;
      const newPoints = frame.reset || steps[0].length > 0 || epochs[0].length > 0;
      out = { data: `data: ${JSON.stringify(frame)}\n\n`, cursor, rest: JSON.stringify(rest), newPoints };
      encoded.set(key, out);
    }
    if (!out.newPoints && out.rest === client.lastRest) return;
    client.res.write(out.data);
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
