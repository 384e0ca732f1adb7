/**
 * The coordinator on the network: a thin adapter that runs the step machine
 * (step-machine.ts) over WebSockets. Frames become events, actions become frames,
 * and one interval drives the machine's clock. The rules live in the machine;
 * this file only decodes, encodes, sends and keeps the sockets.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { WebSocket } from 'ws';
import { blockCount, factorWidth, stackDepth, type BatchResult, type Floats, type Model } from '@shardprop/core';
import {
  SocketTraffic, decodeFromSliceServer, decodeGradient, decodeHello, encode, encodeSliceStep, encodeStep, sendFragments, type Aggregation, type ErrorCode, type GradientForm, type Traffic,
} from '@shardprop/protocol';
import type { Logger } from '@shardprop/worker';
import { DivergenceCheck } from './divergence.js';
import { withHealth } from './health.js';
import { withJoinPage } from './join-page.js';
import { resolveGradientForm } from './gradient-form.js';
import type { TrainingPlan } from './plan.js';
import type { Action, ConnectionId, MachineEvent, WorkerSnapshot } from './step-events.js';
import { StepMachine } from './step-machine.js';
import { addStepTime } from './step-timing.js';
import type { EngineTiming, GradientEngine, WorkerContribution } from './training-loop.js';
import { ALIVE_EVERY_MS, listenWebSocket, type Transport } from '@shardprop/protocol';

/** How often the machine's deadlines are checked (hello, step, wait for workers, heartbeat). */
const TICK_MS = 100;

export interface CoordinatorOptions {
  host: string;
  port: number;
  /** Workers to wait for before training starts. */
  expect: number;
  plan: TrainingPlan;
  log: Logger;
  /** How workers send gradients; 'auto' picks by chooseGradientForm. */
  gradientForm?: GradientForm | 'auto';
  /** How steps travel: through this process ('star', the default) or through slice servers beside the workers ('slices'; dense gradients). */
  aggregation?: Aggregation;
  /** The shared secret workers must present at the WebSocket upgrade (checked in transport.ts, in constant time). */
  token?: string;
  /** PEM certificate and key: serve wss:// (TLS) instead of ws://. */
  tls?: { cert: Buffer; key: Buffer };
  stepTimeoutMs?: number;
  waitWorkersMs?: number;
  heartbeatMs?: number;
  helloTimeoutMs?: number;
  /** Plain HTTP requests on the port (the dashboard); without it they get 426. */
  onHttpRequest?(req: IncomingMessage, res: ServerResponse): void;
}

/** The log line of each kind of connection the transport closes before it became a request. */
const FLOOD_MESSAGES: Partial<Record<ErrorCode, string>> = {
  SP_ERR_UPGRADE_TIMEOUT: 'closed connections that made no request in time',
  SP_ERR_TOO_MANY_CONNECTIONS: 'closed connections: too many were open, the oldest idle ones went',
};

/** A failed step: every worker was lost (SP_ERR_WORKERS_LOST), or the coordinator closed. */
export class WorkerLostError extends Error {
  override name = 'WorkerLostError';
  constructor(message: string, readonly code: ErrorCode) {
    super(message);
  }
}

/**
 * A listening coordinator: admits workers, hands out shards, broadcasts every
 * step's parameters (one encoding, the same bytes to all) and collects gradient
 * sums, as the step machine says. It is the training loop's GradientEngine.
 */
export class Coordinator implements GradientEngine {
  private readonly machine: StepMachine;
  private readonly sockets = new Map<ConnectionId, WebSocket>();
  /** Connections from browser tabs (their upgrade had an Origin): told 'alive' every ALIVE_EVERY_MS, since a page cannot see pings. */
  private readonly tabs = new Set<WebSocket>();
  private readonly aliveTimer: NodeJS.Timeout;
  private nextConnection = 1;
  private readonly ticker: NodeJS.Timeout;
  private joined: { resolve: () => void; reject: (err: Error) => void } | null = null;
  private pending: { resolve: (r: BatchResult) => void; reject: (err: Error) => void } | null = null;
  /** The step asked for last, for the divergence check. */
  private current: { step: number; batch: Uint32Array; model: Model } | null = null;
  private readonly divergence: DivergenceCheck;
  /** Sends of 'done' still on their way (awaited by close). */
  private readonly goodbyes: Promise<void>[] = [];
  private readonly time = { computeSeconds: 0, waitSeconds: 0, commSeconds: 0, syncSeconds: 0 };
  /** Bytes over every connection, open or closed (for /metrics, and the log at the end). */
  private readonly wires = new SocketTraffic();
  private readonly dropCounts = new Map<string, number>();

  private constructor(private readonly options: CoordinatorOptions, private readonly transport: Transport, readonly gradientForm: GradientForm) {
    this.machine = new StepMachine({
      plan: options.plan, expect: options.expect, gradientForm, aggregation: options.aggregation, url: this.url,
      stepTimeoutMs: options.stepTimeoutMs, waitWorkersMs: options.waitWorkersMs, heartbeatMs: options.heartbeatMs, helloTimeoutMs: options.helloTimeoutMs,
      tickMs: TICK_MS,
    });
    this.divergence = new DivergenceCheck(options.plan);
    transport.wss.on('connection', (ws, req) => this.connect(ws, req.socket, req.headers.origin !== undefined));
    // The tick waits for the I/O already there (setImmediate runs after this turn's poll phase): a loop held
    // up past a deadline reads the gradient that arrived in time before it drops anyone for being late.
    this.ticker = setInterval(() => setImmediate(() => this.feed({ type: 'tick', now: performance.now() })), TICK_MS);
    this.ticker.unref();
    const alive = encode({ type: 'alive' });
    this.aliveTimer = setInterval(() => {
      for (const ws of this.tabs) if (ws.readyState === ws.OPEN && ws.bufferedAmount === 0) ws.send(alive);
    }, ALIVE_EVERY_MS);
    this.aliveTimer.unref();
  }

  static async listen(options: CoordinatorOptions): Promise<Coordinator> {
    const { plan } = options;
    // slices sum dense pieces: the factors of a batch are rebuilt into sums here
    const form = options.aggregation === 'slices' ? 'dense' : resolveGradientForm(options.gradientForm, plan.spec.layers, plan.batchSize, plan.model.params.length);
    // the largest legitimate message from a worker: its pieces (dense: at most one per block, and at most a range's
    // stack of them) or the factors of a whole batch, in float64 at most; and a loss sum per block
    const blocks = blockCount(plan.batchSize, plan.block);
    const values = form === 'dense' ? plan.model.params.length * Math.min(blocks, stackDepth(blocks)) : plan.batchSize * factorWidth(plan.spec.layers);
    const transport = await listenWebSocket({
      host: options.host,
      port: options.port,
      maxPayload: (values + blocks) * 8 + 64 * 1024,
      tls: options.tls,
      // only with a token: a stranger is turned away before it can send a byte of payload
      verifyToken: options.token,
      onUnauthorised: (address, code, reason) => options.log.warn({ address, code, reason }, 'refused a worker'),
      onError: (err) => options.log.error({ reason: err.message }, 'the server had an error; it goes on'),
      onRequest: withHealth(withJoinPage(options.onHttpRequest, options.token, (address, code, reason) => options.log.warn({ address, code, reason }, 'refused a browser page\'s check'))),
      onFlood: (code, dropped, reason) => options.log.warn({ dropped, code, reason }, FLOOD_MESSAGES[code] ?? 'closed connections'),
    });
    return new Coordinator(options, transport, form);
  }

  get port(): number {
    return this.transport.port;
  }

  get url(): string {
    const host = this.options.host.includes(':') ? `[${this.options.host}]` : this.options.host;
    return `${this.transport.scheme}://${host}:${this.port}`;
  }

  get workers(): number {
    return this.machine.workerCount;
  }

  /** Resolves when `expect` workers have joined and received their shards. */
  waitForWorkers(): Promise<void> {
    if (this.machine.ready) return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.joined = { resolve, reject };
    });
  }

  /** Fails a pending waitForWorkers (for instance when local worker processes died before joining). */
  abortWait(err: Error): void {
    this.joined?.reject(err);
    this.joined = null;
  }

  gradient(step: number, batch: Uint32Array, model: Model, grad: Floats): Promise<BatchResult> {
    this.current = { step, batch, model };
    return new Promise((resolve, reject) => {
      this.pending = { resolve, reject };
      // the parameters go out straight from model.params: they do not change before every worker has answered
      this.feed({ type: 'step', step, batch, params: model.params, grad, now: performance.now() });
    });
  }

  contributions(): WorkerContribution[] {
    return this.machine.contributions();
  }

  timing(): EngineTiming {
    return { ...this.time };
  }

  /** Every worker as the dashboard's table shows it; when one left, in wall-clock ms (the machine's clock is performance.now()). */
  snapshot(): WorkerSnapshot[] {
    return this.machine.snapshot().map((w) => (w.leftAt === undefined ? w : { ...w, leftAt: performance.timeOrigin + w.leftAt }));
  }

  /** Bytes read from and written to the workers' (and slice servers') sockets so far, closed ones included. */
  traffic(): Traffic {
    return this.wires.totals();
  }

  /** Connections cut off so far, by error code. */
  drops(): ReadonlyMap<string, number> {
    return this.dropCounts;
  }

  /** The run is to stop: a step in flight finishes if anyone can compute it; waiting for workers ends now (SP_ERR_STOPPED). */
  stop(): void {
    this.feed({ type: 'stop', now: performance.now() });
    this.abortWait(new WorkerLostError('stopped while waiting for workers', 'SP_ERR_STOPPED'));
  }

  /** Tells every worker that training is over and closes the server. */
  async close(reason = 'training finished'): Promise<void> {
    clearInterval(this.ticker);
    clearInterval(this.aliveTimer);
    this.feed({ type: 'close', reason, now: performance.now() });
    await Promise.all(this.goodbyes);
    // whoever is still connected (strangers that never said hello, workers slow to close) is cut off
    await this.transport.close();
    this.options.log.info(this.traffic(), 'bytes moved over the connections of this run');
  }

  private connect(ws: WebSocket, socket: Socket, browser: boolean): void {
    const address = `${socket.remoteAddress}:${socket.remotePort}`;
    const connection = this.nextConnection++;
    this.sockets.set(connection, ws);
    if (browser) this.tabs.add(ws);
    this.wires.count(socket);
    // the fragments of a message as they arrived: a gradient's values are copied from them, not assembled first
    ws.binaryType = 'fragments';
    ws.on('message', (data: Buffer[], isBinary: boolean) => this.receive(connection, data, isBinary));
    ws.on('close', () => {
      this.sockets.delete(connection);
      this.tabs.delete(ws);
      this.feed({ type: 'closed', connection, now: performance.now() });
    });
    ws.on('pong', () => this.feed({ type: 'pong', connection, now: performance.now() }));
    ws.on('error', () => ws.terminate());
    this.feed({ type: 'connected', connection, address, now: performance.now() });
  }

  /** A frame as the machine's event: a hello first, gradients after, each checked by the protocol. */
  private receive(connection: ConnectionId, data: Buffer[], isBinary: boolean): void {
    try {
      this.feed(this.eventOf(connection, data, isBinary));
    } catch (err) {
      // a message that passed its checks and still could not be handled (a bug, or a limit): its sender goes, the coordinator stays
      this.feed({ type: 'invalid', connection, code: 'SP_ERR_UNEXPECTED', reason: (err as Error).message, now: performance.now() });
    }
  }

  private eventOf(connection: ConnectionId, data: Buffer[], isBinary: boolean): MachineEvent {
    if (!isBinary) return { type: 'invalid', connection, code: 'SP_ERR_TEXT_FRAME', reason: 'text frame', now: performance.now() };
    if (this.machine.awaitsHello(connection)) {
      const hello = decodeHello(data);
      return hello.ok ? { type: 'hello', connection, hello: hello.message, now: performance.now() } : { type: 'invalid', connection, code: hello.code, reason: hello.reason, now: performance.now() };
    }
    if (this.machine.isSliceServer(connection)) return this.sliceEventOf(connection, data);
    const expected = this.machine.expecting(connection);
    const gradient = expected.ok ? decodeGradient(data, expected.message.expectation, expected.message.into) : expected;
    // stamped once checked: copying and checking the values is part of its arrival, not of the wait for the next one
    const now = performance.now();
    if (gradient.ok) return { type: 'gradient', connection, gradient: gradient.message, now };
    const diverged = gradient.code === 'SP_ERR_NOT_FINITE' && expected.ok ? this.diverged(expected.message.expectation.round) : null;
    return diverged ?? { type: 'invalid', connection, code: gradient.code, reason: gradient.reason, now };
  }

  /** Values that are not finite: the math's fault or the sender's? The same batch, computed here, tells (an event when the run diverged). */
  private diverged(round: number): MachineEvent | null {
    if (!this.current) return null;
    const { step, batch, model } = this.current;
    const reason = this.divergence.diverged(step, round, model, batch);
    return reason === null ? null : { type: 'diverged', reason, now: performance.now() };
  }

  /** A slice server's message: its slice of the sum, or a worker it found faulty; values that are not finite may mean the run diverged. */
  private sliceEventOf(connection: ConnectionId, data: Buffer[]): MachineEvent {
    const expected = this.machine.expectingSum(connection);
    const decoded = expected.ok ? decodeFromSliceServer(data, expected.message.expectation, expected.message.into) : expected;
    const now = performance.now();
    if (!decoded.ok) {
      const diverged = decoded.code === 'SP_ERR_NOT_FINITE' && expected.ok ? this.diverged(expected.message.expectation.round) : null;
      return diverged ?? { type: 'invalid', connection, code: decoded.code, reason: decoded.reason, now };
    }
    const m = decoded.message;
    if (m.type === 'sum') return { type: 'sum', connection, sum: m, now };
    // a part that was not finite: the worker's fault only if the batch does not diverge here
    const diverged = m.code === 'SP_ERR_NOT_FINITE' && expected.ok ? this.diverged(expected.message.expectation.round) : null;
    return diverged ?? { type: 'faulty', connection, faulty: m, now };
  }

  private feed(event: MachineEvent): void {
    for (const action of this.machine.handle(event)) this.perform(action);
  }

  private perform(a: Action): void {
    switch (a.type) {
      case 'send':
        this.sockets.get(a.to)?.send(encode(a.message));
        break;
      case 'broadcast-step': {
        const { slices } = a;
        const message = encodeStep(a.step, a.round, a.batch, a.workers, a.cuts, a.params, slices && { addresses: slices.addresses, bounds: slices.bounds });
        for (const to of a.to) {
          const ws = this.sockets.get(to);
          if (ws) sendFragments(ws, message);
        }
        if (!slices) break;
        const { kernels, model } = this.options.plan;
        slices.servers.forEach((to, j) => {
          const from = slices.bounds[j];
          const head = { type: 'slice-step' as const, step: a.step, round: a.round, kernel: kernels.name, size: model.params.length, blocks: slices.blocks, workers: a.workers, cuts: a.cuts, from };
          const ws = this.sockets.get(to);
          if (ws) sendFragments(ws, encodeSliceStep(head, a.params.subarray(from, slices.bounds[j + 1])));
        });
        break;
      }
      case 'refuse': {
        const ws = this.sockets.get(a.to);
        ws?.send(encode({ type: 'refused', reason: a.reason, code: a.code }), () => ws.close(a.closeCode, a.closeReason));
        break;
      }
      case 'ping':
        for (const to of a.to) this.sockets.get(to)?.ping();
        break;
      case 'drop':
        this.dropCounts.set(a.code, (this.dropCounts.get(a.code) ?? 0) + 1);
        this.sockets.get(a.to)?.terminate();
        break;
      case 'done':
        for (const to of a.to) this.goodbyes.push(this.sayDone(to, a.reason));
        break;
      case 'workers-ready':
        this.joined?.resolve();
        this.joined = null;
        break;
      case 'step-done':
        addStepTime(this.time, a.timing, performance.now(), this.gradientForm === 'factors');
        this.settle()?.resolve(a.result);
        break;
      case 'step-failed':
        this.settle()?.reject(new WorkerLostError(a.reason, a.code));
        break;
      case 'log':
        this.options.log[a.level](a.fields, a.message);
        break;
    }
  }

  private settle(): { resolve: (r: BatchResult) => void; reject: (err: Error) => void } | null {
    const p = this.pending;
    this.pending = null;
    return p;
  }

  /** 'done' to one worker, then a clean close; a worker that does not take it within 5 s is left to transport.close. */
  private sayDone(to: ConnectionId, reason: string): Promise<void> {
    const ws = this.sockets.get(to);
    return new Promise<void>((resolve) => {
      if (!ws || ws.readyState !== ws.OPEN) return resolve();
      const timer = setTimeout(resolve, 5000);
      ws.send(encode({ type: 'done', reason }), () => {
        clearTimeout(timer);
        ws.close(1000, 'done');
        resolve();
      });
    });
  }
}
