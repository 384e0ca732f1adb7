/**
 * A slice server (docs/scaling.md): the process a worker starts beside itself
 * when its coordinator runs --aggregation slices. It serves one slice of the
 * parameters, [from, from + length), as the coordinator deals them each sending
 * of a step: it forwards that slice of the parameters to every worker, takes
 * every worker's pieces cut to the slice, sums them by the one tree (core's
 * PieceSum: the same additions as the coordinator's, so the same bits), and
 * sends the coordinator that slice of the sum. So the coordinator moves 2P bytes
 * a step (P: the parameters' bytes) and every slice server about 2P, whatever
 * the number of workers. It holds no state between steps: the coordinator keeps
 * the parameters, the optimizer and the checkpoints, so losing a slice server
 * loses nothing but the sending in flight, which goes out again.
 */
import type { WebSocket } from 'ws';
import { PieceSum, createKernels, prepareWasmKernels, type Dtype, type Floats, type Kernels } from '@shardprop/core';
import {
  PROTOCOL_VERSION, SocketTraffic, decodeHello, decodeSliceValues, decodeToSliceServer, encode, encodeSliceValues, listenWebSocket, sendFragments,
  type Part, type SliceExpectation, type SliceStep, type Traffic, type Transport,
} from '@shardprop/protocol';
import type { WorkerLog } from './log.js';
import { peerSocket } from './peer-socket.js';

export interface SliceServerOptions {
  /** The coordinator (ws://HOST:PORT), and its token if it wants one (the workers must show the same one here). */
  url: string;
  token?: string;
  ca?: Buffer;
  /** The address to listen on and announce: the one this machine reaches the coordinator from. */
  host: string;
  /** Port to listen on (0: any free one). */
  port?: number;
  /** Values in the model's parameters: bounds every message (maxSliceMessage). */
  parameters: number;
  name: string;
  log: WorkerLog;
}

/**
 * The largest message a slice server takes, for a model of `parameters` values: a worker's part is at most
 * all of them in float64 for each of its canonical pieces (at most 50: a range of the 2^24 blocks a step may
 * have), with room for the header; never more than ws allows.
 */
export function maxSliceMessage(parameters: number): number {
  return Math.min(2 ** 31 - 1, parameters * 8 * 50 + 64 * 1024);
}

/** One sending of a step as this server serves it. */
interface Serving {
  step: SliceStep;
  length: number;
  /** Each worker's slot: its position in step.workers. */
  slots: Map<number, number>;
  /** By slot: which workers' parts are in, and which were sent the parameters. */
  received: Uint8Array;
  missing: number;
  sent: Uint8Array;
}

export class SliceServer {
  private coordinator!: WebSocket;
  private readonly workers = new Map<number, WebSocket>();
  private serving: Serving | null = null;
  /** Sums of the current slice (remade when its length, dtype or kernels change); the last slice-step's parameters, decoded in place. */
  private sum: PieceSum | null = null;
  private kernels: Kernels | null = null;
  private params: Floats | null = null;
  private readonly expectation: SliceExpectation = { type: 'part', dtype: 'float32', step: 0, round: 0, length: 0, workerId: 0 };
  private readonly traffic = new SocketTraffic();
  private finished!: (why: string) => void;
  /** Resolves when the coordinator says done or goes away: why. */
  readonly ended: Promise<string>;

  private constructor(private readonly options: SliceServerOptions, private readonly transport: Transport) {
    this.ended = new Promise((resolve) => (this.finished = resolve));
    transport.wss.on('connection', (ws, req) => {
      this.traffic.count(req.socket);
      this.admit(ws);
    });
  }

  /** Listens, then greets the coordinator as a slice server; `ended` says when it is over. */
  static async start(options: SliceServerOptions): Promise<SliceServer> {
    await prepareWasmKernels();
    const transport = await listenWebSocket({
      host: options.host, port: options.port ?? 0, maxPayload: maxSliceMessage(options.parameters), verifyToken: options.token,
      onUnauthorised: (address, code, reason) => options.log('warn', 'slice server refused a connection', { address, code, reason }),
      onError: (err) => options.log('error', 'slice server: the server had an error; it goes on', { reason: err.message }),
    });
    const server = new SliceServer(options, transport);
    server.connect();
    return server;
  }

  /** Where workers reach it. */
  get serves(): string {
    const { host } = this.options;
    return `ws://${host.includes(':') ? `[${host}]` : host}:${this.transport.port}`;
  }

  /** Bytes read and written so far, over every connection it had. */
  bytes(): Traffic {
    return this.traffic.totals();
  }

  async close(): Promise<void> {
    this.coordinator.terminate();
    await this.transport.close();
    this.finished('closed');
  }

  private connect(): void {
    const { url, token, ca, name, log } = this.options;
    const ws = peerSocket(url, { token, ca, maxPayload: maxSliceMessage(this.options.parameters) });
    this.coordinator = ws;
    ws.on('upgrade', (res) => this.traffic.count(res.socket));
    ws.on('open', () => ws.send(encode({ type: 'hello', version: PROTOCOL_VERSION, name, role: 'slice', serves: this.serves })));
    ws.on('message', (data: Buffer[]) => this.fromCoordinator(data));
    ws.on('error', (err) => log('warn', 'slice server: lost the coordinator', { reason: err.message }));
    ws.on('close', () => this.finished('the coordinator went away'));
  }

  private fromCoordinator(data: Buffer[]): void {
    const decoded = decodeToSliceServer(data, this.params ?? undefined);
    if (!decoded.ok) {
      this.options.log('error', 'slice server: invalid message from the coordinator', { code: decoded.code, reason: decoded.reason });
      this.coordinator.close(1008, 'invalid message');
      return;
    }
    const m = decoded.message;
    if (m.type === 'done') return this.finished('training finished');
    if (m.type === 'refused') {
      this.options.log('warn', 'slice server refused by the coordinator: the worker trains on without it', { reason: m.reason });
      return this.finished(m.reason);
    }
    this.begin(m);
  }

  /** A new sending of a step: room for every worker's part, and the parameters out to every worker already here. */
  private begin(step: SliceStep): void {
    const length = step.params.length;
    const dtype: Dtype = step.params instanceof Float64Array ? 'float64' : 'float32';
    if (!this.sum || !this.kernels || this.kernels.name !== step.kernel || this.sum.size !== length || this.expectation.dtype !== dtype) {
      this.kernels?.close();
      this.kernels = createKernels(step.kernel, 1);
      this.sum = new PieceSum(length, dtype, this.kernels);
      this.expectation.dtype = dtype;
      const { kernels } = this;
      this.expectation.allFinite = (x) => kernels.allFinite(x);
    }
    // decoded into this array next time when the slice keeps its length (no copy of the message)
    if (this.params !== step.params) this.params = step.params;
    this.sum.reslot(step.workers.length);
    this.sum.deal(step.cuts, step.blocks);
    const n = step.workers.length;
    const slots = new Map<number, number>();
    step.workers.forEach((id, slot) => slots.set(id, slot));
    this.serving = { step, length, slots, received: new Uint8Array(n), missing: n, sent: new Uint8Array(n) };
    for (let slot = 0; slot < n; slot++) this.sendParams(slot);
  }

  /** This sending's parameters to the worker of `slot`, once, when it is connected. */
  private sendParams(slot: number): void {
    const s = this.serving!;
    const ws = this.workers.get(s.step.workers[slot]);
    if (!ws || s.sent[slot] === 1) return;
    s.sent[slot] = 1;
    const { step, round, from, params } = s.step;
    sendFragments(ws, encodeSliceValues({ type: 'params', step, round, from }, params));
  }

  /** A worker's connection (the token was checked at the upgrade): a hello with its id, then its parts. */
  private admit(ws: WebSocket): void {
    ws.binaryType = 'fragments';
    let workerId: number | null = null;
    ws.on('error', () => ws.terminate());
    ws.on('close', () => {
      if (workerId !== null && this.workers.get(workerId) === ws) this.workers.delete(workerId);
    });
    ws.on('message', (data: Buffer[], isBinary: boolean) => {
      if (!isBinary) return ws.close(1003, 'binary frames only');
      if (workerId === null) {
        const hello = decodeHello(data);
        if (!hello.ok || hello.message.workerId === undefined || hello.message.version !== PROTOCOL_VERSION) return ws.close(1008, 'a worker\'s hello with its id first');
        workerId = hello.message.workerId;
        this.workers.get(workerId)?.terminate();
        this.workers.set(workerId, ws);
        const slot = this.serving?.slots.get(workerId);
        if (slot !== undefined) this.sendParams(slot);
        return;
      }
      this.onPart(workerId, ws, data);
    });
  }

  private onPart(workerId: number, ws: WebSocket, data: Buffer[]): void {
    const s = this.serving;
    const slot = s?.slots.get(workerId);
    if (!s || slot === undefined || s.received[slot] === 1) return void ws.close(1008, 'a part nobody asked for');
    const e = this.expectation;
    e.step = s.step.step;
    e.round = s.step.round;
    e.workerId = workerId;
    e.length = this.sum!.pieces(slot) * s.length;
    const part = decodeSliceValues<Part>(data, e, this.sum!.part(slot));
    if (!part.ok) {
      if (part.code === 'SP_ERR_STALE_ROUND') return;
      // the coordinator decides: a diverging run, or a faulty worker
      this.coordinator.send(encode({ type: 'faulty', step: e.step, round: e.round, workerId, code: part.code, reason: part.reason }));
      return;
    }
    s.received[slot] = 1;
    if (--s.missing > 0) return;
    const root = this.sum!.sum();
    sendFragments(this.coordinator, encodeSliceValues({ type: 'sum', step: e.step, round: e.round }, root));
  }
}

