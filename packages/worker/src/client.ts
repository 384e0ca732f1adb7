/**
 * The worker's network side: one WebSocket to the coordinator at a time, each
 * message decoded and handed to a WorkerSession (session.ts), whose actions go
 * out here; and reconnecting with exponential backoff when the coordinator
 * cannot be reached or goes away.
 */
import { hostname } from 'node:os';
import { WebSocket } from 'ws';
import { prepareWasmKernels, type Dataset, type Floats } from '@shardprop/core';
import { PROTOCOL_VERSION, SocketTraffic, decodeToWorker, encode, sendFragments, type Step } from '@shardprop/protocol';
import { WorkerActivity, type ActivityReport } from './activity.js';
import { explainConnectError } from './connect-errors.js';
import { DEFAULT_SILENT_MS, Liveness } from './liveness.js';
import type { WorkerLog } from './log.js';
import { peerSocket } from './peer-socket.js';
import { WorkerSession, type SessionAction, type SessionEvent, type WorkerExit } from './session.js';
import { SliceChild } from './slice-child.js';
import { ParamArrival, SlicePeers } from './slice-peers.js';
import { UsageMeter } from './usage.js';

export interface WorkerOptions {
  /** ws://HOST:PORT of the coordinator. */
  url: string;
  name?: string;
  /** The coordinator's shared secret, if it wants one. */
  token?: string;
  /** PEM certificate(s) to trust for a wss:// coordinator (e.g. its self-signed certificate). */
  ca?: Buffer;
  /**
   * The training data, loaded by this worker itself (the same source as the
   * coordinator's): the coordinator then sends only which samples to hold, after
   * checking that the fingerprints agree. Without it the shard's rows come over the socket.
   */
  data?: { train: Dataset; fingerprint: string };
  /**
   * How long to keep trying when the coordinator cannot be reached or goes away
   * (exponential backoff from 100 ms to 5 s), in ms; 0 gives up at once. Default 30 s.
   * A coordinator that comes back (restarted with --resume) gets the worker again.
   */
  reconnectForMs?: number;
  /**
   * Silence from the coordinator (no message, no answer to the pings sent after 5 s
   * of it) after which it is taken for gone and the worker reconnects, in ms
   * (default 20 s). Also the time a connection attempt may take.
   */
  silentForMs?: number;
  /** Called with one-line log messages (the CLI hands them to pino). */
  log?: WorkerLog;
  /**
   * Tell the user what the worker does (activity.ts): waiting, training (a progress
   * line on a terminal, a log line every few seconds otherwise), and a summary at the end.
   */
  report?: ActivityReport;
  /** Threads the kernels compute on (default 1; `shardprop worker` defaults to every core). Any count gives the same bits. */
  threads?: number;
  /** The port of the slice server this worker starts when its coordinator slices (default 0: any free one). */
  slicePort?: number;
}

export type { WorkerLog } from './log.js';

/**
 * Joins a coordinator and computes gradient sums until it says training is over,
 * reconnecting (with backoff) when the coordinator cannot be reached or goes away.
 */
export async function runWorker(options: WorkerOptions): Promise<WorkerExit> {
  const activity = options.report ? new WorkerActivity(options.report, options.log ?? (() => {})) : null;
  const log = activity?.log ?? options.log ?? (() => {});
  const name = options.name ?? `${hostname()}:${process.pid}`;
  const windowMs = options.reconnectForMs ?? 30_000;
  let delay = 100;
  let lostSince: number | null = null;
  // compiled once, before any welcome: the coordinator may ask for the wasm kernels
  await prepareWasmKernels();
  // started when a coordinator slices (its welcome says so), and kept across reconnections
  const slices = new SliceChild(log);
  const traffic = new SocketTraffic();
  const arrival = new ParamArrival();
  /** Welcomed at least once: only then is what it moved worth a line (a worker that never joined says why in one). */
  let joined = false;
  const stop = async (graceMs?: number): Promise<void> => {
    await slices.stop(graceMs);
    if (joined) log('info', 'bytes moved over the connections of this worker', { ...traffic.totals() });
    if (arrival.totals().steps > 0) log('info', 'when the parameters of sliced steps came in', arrival.totals());
    activity?.summary();
  };
  for (;;) {
    const exit = await connectOnce(options, log, name, activity, slices, traffic, arrival, () => {
      joined = true;
      lostSince = null;
      delay = 100;
    });
    if (exit.reason !== 'error' && exit.reason !== 'closed') {
      // done: the slice server was told so too, and ends by itself; else it goes at once
      await stop(exit.reason === 'done' ? 2000 : 0);
      return exit;
    }
    lostSince ??= performance.now();
    const waited = performance.now() - lostSince;
    if (waited + delay > windowMs) {
      await stop(0);
      return windowMs > 0 ? { ...exit, message: `${exit.message}; gave up after trying for ${Math.round(waited / 1000)} s` } : exit;
    }
    log('warn', `${exit.message}; trying again in ${delay} ms`, { code: exit.code, retryMs: delay });
    await new Promise((r) => setTimeout(r, delay));
    delay = Math.min(delay * 2, 5000);
  }
}

/** One connection: hello, then the session's messages, until it finishes or the connection ends. `onJoined` runs on the welcome. */
function connectOnce(
  options: WorkerOptions, log: WorkerLog, name: string, activity: WorkerActivity | null, slices: SliceChild, traffic: SocketTraffic, arrival: ParamArrival, onJoined: () => void,
): Promise<WorkerExit> {
  return new Promise((resolve) => {
    const session = new WorkerSession(options.data?.train, undefined, undefined, options.threads);
    /** Sliced steps: their parameters come from the slice servers, and the pieces go to them. */
    const peers = new SlicePeers({ token: options.token, ca: options.ca, name, log, traffic, arrival, onReady: (step) => queue(step, wallClock()) });
    let workerId = 0;
    /** Sliced steps send what backprop has finished while it goes on (SHARDPROP_OVERLAP=0: only at its end, for measuring). */
    const overlap = process.env.SHARDPROP_OVERLAP !== '0';
    /** The address this machine reaches the coordinator from: where its slice server listens. */
    let localAddress = '127.0.0.1';
    const usage = new UsageMeter();
    let settled = false;
    /** When the last gradient went out, in wall-clock ms (see Gradient.previousSentAt). */
    let sentAt = 0;
    /** The newest step message not yet computed. */
    let latest: { step: Step; arrived: number } | null = null;
    /** How long the step being computed waited for its parameters since the last gradient went out (ms; 0 for the first). */
    let waitedMs = 0;
    const wallClock = (): number => performance.timeOrigin + performance.now();
    const silentForMs = options.silentForMs ?? DEFAULT_SILENT_MS;
    /** From the upgrade on: is the coordinator still there? */
    let liveness: Liveness | null = null;
    const heard = (): void => liveness?.heard(performance.now());
    // run after the I/O already there is read (setImmediate follows the poll phase): a worker
    // held up computing hears what came meanwhile before it judges the silence
    const checker = setInterval(() => setImmediate(() => {
      if (settled || !liveness) return;
      const verdict = liveness.check(performance.now());
      if (verdict === 'ping') {
        if (ws.readyState === WebSocket.OPEN) ws.ping();
      }
      else if (verdict === 'silent') {
        const message = `the coordinator at ${options.url} has been silent for ${silentForMs / 1000} s (no message, no answer to pings): taken for gone`;
        finish({ reason: 'closed', message, code: 'SP_ERR_COORDINATOR_SILENT' }, true);
      }
    }), Math.max(50, Math.min(1000, silentForMs / 10)));
    checker.unref();
    /** Ends this connection; `hard`: without a closing handshake (a coordinator that is gone would never answer it). */
    const finish = (exit: WorkerExit, hard = false): void => {
      if (settled) return;
      settled = true;
      clearInterval(checker);
      session.close();
      peers.close();
      resolve(exit);
      if (hard) ws.terminate();
      else ws.close();
    };
    const act = (actions: SessionAction[]): void => {
      // said after the welcome's own log line
      let joinedAs: number | null = null;
      for (const a of actions) {
        if (settled) return;
        if (a.type === 'send') {
          if (a.sliced) peers.sendParts(a.sliced.step, a.sliced.workerId, a.sliced.pieces, session.receiving!.params.length);
          sendFragments(ws, a.fragments);
          sentAt = wallClock();
          activity?.computed(a.count, a.computeMs, waitedMs);
        } else if (a.type === 'log') log(a.level, a.message, a.fields);
        else if (a.type === 'joined') {
          onJoined();
          joinedAs = a.workerId;
          workerId = a.workerId;
          if (a.aggregation === 'slices') slices.ensure({ url: options.url, token: options.token, ca: options.ca?.toString(), host: localAddress, port: options.slicePort, parameters: a.parameters, name: `${name}/slice` });
        }
        else finish(a.exit);
      }
      if (joinedAs !== null && !settled) activity?.joined(joinedAs);
    };
    const handle = (event: SessionEvent): void => {
      let actions: SessionAction[];
      try {
        actions = session.handle(event);
      } catch (err) {
        // a message that passed its checks and still cannot be handled here (a limit of this machine, or a bug): stop, not crash
        actions = session.handle({ type: 'invalid', code: 'SP_ERR_UNEXPECTED', reason: (err as Error).message });
      }
      act(actions);
    };
    // a coordinator's host that is gone answers nothing, not even the TCP handshake
    const ws = peerSocket(options.url, { token: options.token, ca: options.ca, maxPayload: 2 ** 31 - 1, handshakeTimeout: silentForMs });
    ws.on('unexpected-response', (_req, res) => {
      const refused = res.statusCode === 401;
      const message = refused
        ? options.token === undefined
          ? 'the coordinator refused us: this coordinator needs a token (--token-file) and the worker gave none'
          : 'the coordinator refused us: wrong token (give the worker the same secret as the coordinator\'s --token-file)'
        : `something that is not a shardprop coordinator answers at ${options.url} (HTTP ${res.statusCode} instead of a WebSocket): check the address and port in --connect`;
      res.resume();
      if (refused) finish({ reason: 'refused', message, code: options.token === undefined ? 'SP_ERR_TOKEN_MISSING' : 'SP_ERR_TOKEN_WRONG' });
      // a coordinator that is closing may answer 503 for a moment: worth another try; any other answer is another server's
      else if (res.statusCode === 503) finish({ reason: 'error', message: `the coordinator at ${options.url} answered HTTP 503 (busy or closing)`, code: 'SP_ERR_UNREACHABLE' });
      else finish({ reason: 'refused', message, code: 'SP_ERR_NOT_COORDINATOR' });
    });
    ws.on('upgrade', (res) => {
      traffic.count(res.socket);
      const local = res.socket.localAddress;
      if (local) localAddress = local.startsWith('::ffff:') ? local.slice(7) : local;
    });
    ws.on('ping', heard);
    ws.on('pong', heard);
    ws.on('open', () => {
      liveness = new Liveness(performance.now(), silentForMs);
      ws.send(encode({ type: 'hello', version: PROTOCOL_VERSION, name, fingerprint: options.data?.fingerprint, threads: options.threads ?? 1 }));
    });
    ws.on('message', (data: Buffer[], isBinary: boolean) => {
      heard();
      const arrived = wallClock();
      if (!isBinary) return handle({ type: 'invalid', code: 'SP_ERR_TEXT_FRAME', reason: 'text frame' });
      const checked = decodeToWorker(data, session.receiving);
      if (!checked.ok) return handle({ type: 'invalid', code: checked.code, reason: checked.reason });
      const m = checked.message;
      if (m.type !== 'step') return handle({ type: 'message', message: m });
      // sliced: computed once every slice of its parameters is in (peers calls queue)
      if (m.slices && session.receiving) return peers.expect(m, session.receiving, workerId);
      queue(m, arrived);
    });
    /**
     * A step to compute once this batch of arrived messages is handled: when the coordinator
     * has sent the step again meanwhile (workers came or went), only the newest counts.
     */
    function queue(m: Step, arrived: number): void {
      const first = latest === null;
      latest = { step: m, arrived };
      if (!first) return;
      queueMicrotask(() => {
        const next = latest!;
        latest = null;
        if (settled) return;
        waitedMs = sentAt > 0 ? next.arrived - sentAt : 0;
        // sliced: the parts of the top layers go to their slice servers while backprop computes the rest
        const onFinal = next.step.slices && overlap ? (from: number, piece: Floats) => peers.sendFinal(next.step, workerId, piece, from) : undefined;
        handle({ type: 'step', step: next.step, receivedAt: next.arrived, previousSentAt: sentAt, usage: usage.read(), onFinal });
        heard(); // busy until now: the silence is counted from here
      });
    }
    /** Set while a failure before the upgrade is being explained (which may take a probe): the close that follows it says less. */
    let explaining = false;
    ws.on('error', (err) => {
      if (liveness !== null || settled) {
        finish({ reason: 'error', message: `lost the coordinator at ${options.url}: ${err.message}`, code: 'SP_ERR_UNREACHABLE' });
        return;
      }
      explaining = true;
      void explainConnectError(err, new URL(options.url), options.ca !== undefined).then((exit) => finish(exit));
    });
    ws.on('close', (code, reason) => {
      if (explaining) return;
      finish({ reason: 'closed', message: `the coordinator closed the connection (${code}${reason.length ? `: ${reason.toString()}` : ''})`, code: 'SP_ERR_CONNECTION_CLOSED' });
    });
  });
}

