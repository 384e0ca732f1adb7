import type { IncomingMessage, ServerResponse } from 'node:http';
import type { WebSocket } from 'ws';
import { Backprop, datasetAs, factorBlocks, factorWidth, subset, type BatchResult, type Floats, type Model } from '@shardprop/core';
import { PROTOCOL_VERSION, ProtocolError, StaleGradient, decodeGradient, decodeHello, encode, encodeStep, sendFragments, type Expectation, type GradientForm, type ShardData } from '@shardprop/worker/protocol';
import { MAX_PENDING_CONNECTIONS, admissionRefusal } from './admission.js';
import { resolveGradientForm } from './gradient-form.js';
import { listenWebSocket, type Transport } from './transport.js';
import type { WorkerRow } from './dashboard/state.js';
import type { Logger } from './log.js';
import type { TrainingPlan } from './plan.js';
import { Reducer } from './reducer.js';
import { countPerShard, shardIndices, splitShards, type Shard } from './sharding.js';
import type { EngineTiming, GradientEngine, WorkerContribution } from './training-loop.js';

/** Defaults of --step-timeout and --wait-workers (seconds). */
export const DEFAULT_STEP_TIMEOUT_SECONDS = 300;
export const DEFAULT_WAIT_WORKERS_SECONDS = 60;

export interface CoordinatorServerOptions {
  host: string;
  port: number;
  /** Workers to wait for before training starts. */
  expect: number;
  plan: TrainingPlan;
  log: Logger;
  handshakeTimeoutMs?: number;
  /** How workers send gradients; 'auto' picks by chooseGradientForm. */
  gradientForm?: GradientForm | 'auto';
  /** The shared secret workers must present at the WebSocket upgrade (checked in transport.ts, in constant time). */
  token?: string;
  /** PEM certificate and key: serve wss:// (TLS) instead of ws://. */
  tls?: { cert: Buffer; key: Buffer };
  /** A worker that has not answered a step within this long is dropped (default DEFAULT_STEP_TIMEOUT_SECONDS). */
  stepTimeoutMs?: number;
  /** With every worker gone, how long to wait for one to join before giving up (default DEFAULT_WAIT_WORKERS_SECONDS). */
  waitWorkersMs?: number;
  /** Ping period; a worker not computing that misses a ping's answer by the next one is dropped (default 5 s). */
  heartbeatMs?: number;
  /** Plain HTTP requests on the port (the dashboard); without it they get 426. */
  onHttpRequest?(req: IncomingMessage, res: ServerResponse): void;
}

interface Member {
  ws: WebSocket;
  workerId: number;
  name: string;
  address: string;
  /** Position in shard order (its shard is shards[slot]): gradients are added in this order. */
  slot: number;
  /** Where this worker's gradients are copied on arrival (one per worker, reused every step). */
  incoming: Floats | null;
  /** The worker loaded the same data set itself (fingerprints checked): its shard goes without rows. */
  ownData: boolean;
  /** Answered the last heartbeat. */
  alive: boolean;
  /** Its part of the steps, for the dashboard. */
  times: WorkerTimes;
}

/** A worker's last gradient and steps (ms, this process's clock), and its totals (s). */
interface WorkerTimes {
  arrivedAt: number;
  computeMs: number;
  last?: { stepMs: number; computeMs: number; waitMs: number };
  computeSeconds: number;
  waitSeconds: number;
}

/** A failed step: a worker left or sent something invalid. */
export class WorkerLostError extends Error {
  override name = 'WorkerLostError';
}

/**
 * The coordinator's network side: a WebSocket server that admits workers with
 * a versioned handshake, hands each its shard, broadcasts every step's
 * parameters (one encoding, the same bytes to all) and collects gradient sums.
 */
export class CoordinatorServer implements GradientEngine {
  private readonly transport: Transport;
  private readonly members: Member[] = [];
  /** Joined during training: they get a share of the data at the next step boundary. */
  private joining: Member[] = [];
  /** Set when workers came or went: the shards are cut again before the next sending of a step. */
  private reshardNeeded = false;
  private resendScheduled = false;
  private lastLoss = '';
  private closing = false;
  private pendingConnections = 0;
  /** Gradient buffers of workers that left, for the next ones (see bufferOf). */
  private readonly spareBuffers: Floats[] = [];
  private readonly heartbeat: NodeJS.Timeout;
  private stepTimer: NodeJS.Timeout | null = null;
  private waitTimer: NodeJS.Timeout | null = null;
  private nextWorkerId = 1;
  private training = false;
  private joined: { resolve: () => void; reject: (err: Error) => void } | null = null;
  readonly gradientForm: GradientForm;
  /** What the next gradient must look like (step and count change per step and worker). */
  private readonly expectation: Expectation;

  // the step in flight
  private step = 0;
  /** Sendings of steps so far: a step sent again after workers came or went gets a new round. */
  private round = 0;
  private model: Model | null = null;
  /** The step's samples and loss sum per slot, and its gradients: one slot per member, made by cutShards. */
  private counts = new Int32Array(0);
  private lossSums = new Float64Array(0);
  private reducer = new Reducer(0);
  /** owner[p]: the slot holding position p of the step's batch. */
  private readonly owner: Int32Array;
  private batch: Uint32Array = new Uint32Array(0);
  /** Factors form: the whole batch's factors in batch order, and the backprop that turns them into the sum. */
  private readonly factors: Floats | null;
  private readonly rebuild: Backprop | null;
  private readonly factorWidths: number[];
  /** The shards in slot order, cut once when training starts. */
  private shards: Shard[] = [];
  private pending: { resolve: (r: BatchResult) => void; reject: (err: Error) => void; grad: Floats } | null = null;
  private sentAt = 0;
  /** This step's latest parameter arrival and latest previous gradient send among the workers (their wall clocks). */
  private lastReceivedAt = 0;
  private lastPreviousSentAt = 0;
  private readonly time = { computeSeconds: 0, waitSeconds: 0, commSeconds: 0, syncSeconds: 0 };

  private constructor(private readonly options: CoordinatorServerOptions, transport: Transport, gradientForm: GradientForm) {
    this.transport = transport;
    const { plan } = options;
    const { layers, dtype } = plan.spec;
    const size = plan.model.params.length;
    this.gradientForm = gradientForm;
    const { kernels } = plan;
    this.expectation = { size, dtype, form: this.gradientForm, factorWidth: factorWidth(layers), step: 0, round: 0, count: 0, allFinite: (x) => kernels.allFinite(x) };
    this.owner = new Int32Array(plan.batchSize);
    this.factorWidths = factorBlocks(layers);
    const factored = this.gradientForm === 'factors';
    this.factors = factored ? plan.kernels.alloc(dtype, plan.batchSize * this.expectation.factorWidth) : null;
    // the chunk of the in-process engine: the same products over the same rows give the same sums
    this.rebuild = factored ? new Backprop(plan.spec, plan.chunk, plan.kernels) : null;
    transport.wss.on('connection', (ws, req) => this.admit(ws, `${req.socket.remoteAddress}:${req.socket.remotePort}`));
    this.heartbeat = setInterval(() => this.checkHeartbeats(), options.heartbeatMs ?? 5000);
    this.heartbeat.unref();
  }

  get workers(): number {
    return this.members.length;
  }

  static async listen(options: CoordinatorServerOptions): Promise<CoordinatorServer> {
    const { plan } = options;
    const form = resolveGradientForm(options.gradientForm, plan.spec.layers, plan.batchSize, plan.model.params.length);
    // the largest legitimate message from a worker: its gradient (dense, or the factors of a whole batch), in float64 at most
    const values = form === 'dense' ? plan.model.params.length : plan.batchSize * factorWidth(plan.spec.layers);
    const transport = await listenWebSocket({
      host: options.host,
      port: options.port,
      maxPayload: values * 8 + 64 * 1024,
      tls: options.tls,
      // only with a token: a stranger is turned away before it can send a byte of payload
      verifyToken: options.token,
      onUnauthorised: (address, reason) => options.log.warn({ address }, `refused a worker: ${reason}`),
      onError: (err) => options.log.error({ reason: err.message }, 'the server had an error; it goes on'),
      onRequest: options.onHttpRequest,
    });
    return new CoordinatorServer(options, transport, form);
  }

  get port(): number {
    return this.transport.port;
  }

  get url(): string {
    const host = this.options.host.includes(':') ? `[${this.options.host}]` : this.options.host;
    return `${this.transport.scheme}://${host}:${this.port}`;
  }

  /** Resolves when `expect` workers have joined and received their shards. */
  waitForWorkers(): Promise<void> {
    if (this.members.length >= this.options.expect) return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.joined = { resolve, reject };
    });
  }

  /** Fails a pending waitForWorkers (for instance when local worker processes died before joining). */
  abortWait(err: Error): void {
    this.joined?.reject(err);
    this.joined = null;
  }

  private admit(ws: WebSocket, address: string): void {
    const log = this.options.log;
    if (this.closing) {
      ws.terminate();
      return;
    }
    if (this.pendingConnections >= MAX_PENDING_CONNECTIONS) {
      log.warn({ address, pending: this.pendingConnections }, 'dropped a connection: too many connections have not said hello yet');
      ws.terminate();
      return;
    }
    this.pendingConnections++;
    let pending = true;
    const settle = () => {
      if (pending) this.pendingConnections--;
      pending = false;
    };
    const timer = setTimeout(() => {
      log.warn({ address }, 'dropped a connection that sent no hello in time');
      settle();
      ws.terminate();
    }, this.options.handshakeTimeoutMs ?? 10_000);
    ws.once('close', () => {
      clearTimeout(timer);
      settle();
    });
    // the fragments of a message as they arrived: a gradient's values are copied from them, not assembled first
    ws.binaryType = 'fragments';
    ws.once('message', (data: Buffer[], isBinary: boolean) => {
      clearTimeout(timer);
      settle();
      try {
        if (!isBinary) throw new ProtocolError('text frame');
        const hello = decodeHello(data);
        const refusal = admissionRefusal(hello, {
          fingerprint: this.options.plan.fingerprint,
          training: this.training,
          workers: this.members.length + this.joining.length,
          expect: this.options.expect,
        });
        if (refusal) {
          log.warn({ address, name: hello.name }, `refused a worker: ${refusal.reason}`);
          ws.send(encode({ type: 'refused', reason: refusal.reason }), () => ws.close(refusal.code, refusal.close));
          return;
        }
        this.join(ws, hello.name, address, hello.fingerprint !== undefined);
      } catch (err) {
        log.warn({ address, reason: (err as Error).message }, 'dropped a connection with an invalid hello');
        ws.terminate();
      }
    });
    ws.on('error', () => ws.terminate());
  }

  private join(ws: WebSocket, name: string, address: string, ownData: boolean): void {
    const times: WorkerTimes = { arrivedAt: 0, computeMs: 0, computeSeconds: 0, waitSeconds: 0 };
    const member: Member = { ws, workerId: this.nextWorkerId++, name, address, slot: -1, incoming: null, ownData, alive: true, times };
    ws.on('message', (data: Buffer[], isBinary: boolean) => this.onWorkerMessage(member, data, isBinary));
    ws.on('close', () => this.onWorkerGone(member, 'the connection closed'));
    ws.on('pong', () => (member.alive = true));
    if (!this.training) {
      member.slot = this.members.length;
      this.members.push(member);
      this.options.log.info({ workerId: member.workerId, name, address, ownData, joined: this.members.length, expect: this.options.expect }, 'worker joined');
      if (this.members.length === this.options.expect) this.start();
      return;
    }
    // during training: welcomed with no samples; it gets a share when the shards are cut again
    this.joining.push(member);
    this.sendWelcome(member, { indices: new Uint32Array(0), inputs: this.options.plan.train.inputs, outputs: this.options.plan.train.outputs });
    this.options.log.info({ workerId: member.workerId, name, address, ownData }, 'worker joined during training: it gets a share of the data at the next step');
    if (this.waitTimer) this.resumeWithJoiners();
  }

  private sendWelcome(m: Member, shard: ShardData): void {
    const { plan } = this.options;
    m.ws.send(
      encode({
        type: 'welcome',
        version: PROTOCOL_VERSION,
        workerId: m.workerId,
        spec: plan.spec,
        total: plan.train.count,
        chunk: plan.chunk,
        fingerprint: plan.fingerprint,
        gradientForm: this.gradientForm,
        kernel: plan.kernels.name,
        shard,
      }),
    );
  }

  /** Cuts the data set into one contiguous shard per member, in member order, and tells each its own (welcome or reshard). */
  private cutShards(welcome: boolean): void {
    const { plan } = this.options;
    const n = this.members.length;
    this.shards = splitShards(plan.train.count, n);
    this.counts = new Int32Array(n);
    this.lossSums = new Float64Array(n);
    this.reducer = new Reducer(n, plan.kernels);
    const { size, factorWidth: width } = this.expectation;
    this.members.forEach((m, slot) => {
      m.slot = slot;
      const range = this.shards[slot];
      const need = this.gradientForm === 'dense' ? size : Math.min(plan.batchSize, range.end - range.start) * width;
      if (!m.incoming || m.incoming.length < need) {
        if (m.incoming) this.spareBuffers.push(m.incoming);
        m.incoming = this.bufferOf(need);
      }
      const ids = shardIndices(range);
      const shard: ShardData = { indices: ids, inputs: plan.train.inputs, outputs: plan.train.outputs };
      if (!m.ownData) {
        const part = datasetAs(subset(plan.train, ids), plan.spec.dtype);
        shard.x = part.x;
        shard.y = part.y;
      }
      if (welcome) this.sendWelcome(m, shard);
      else m.ws.send(encode({ type: 'reshard', shard }));
      this.options.log.info({ workerId: m.workerId, shard: [range.start, range.end], samples: ids.length }, 'shard assigned');
    });
    this.reshardNeeded = false;
  }

  /** All expected workers are here: cut the shards and send each its welcome. */
  private start(): void {
    this.cutShards(true);
    this.options.log.info({ gradientForm: this.gradientForm }, 'workers send gradients as ' + (this.gradientForm === 'dense' ? 'dense sums' : 'factors'));
    this.training = true;
    this.joined?.resolve();
    this.joined = null;
  }

  gradient(step: number, indices: Uint32Array, model: Model, grad: Floats): Promise<BatchResult> {
    this.step = step;
    this.batch = indices;
    this.model = model;
    return new Promise((resolve, reject) => {
      this.pending = { resolve, reject, grad };
      if (this.members.length + this.joining.length === 0) this.waitForJoiners('no worker is left');
      else this.sendStep();
    });
  }

  /**
   * Sends the current step (again, after workers came or went) to every member:
   * workers that joined since become members here, and the shards are cut again
   * first whenever the members changed.
   */
  private sendStep(): void {
    if (this.joining.length > 0) {
      this.members.push(...this.joining.splice(0));
      this.reshardNeeded = true;
    }
    if (this.reshardNeeded) this.cutShards(false);
    countPerShard(this.batch, this.shards, this.counts, this.owner);
    this.reducer.reset();
    this.lastReceivedAt = 0;
    this.lastPreviousSentAt = 0;
    this.round++;
    // the parameters go out straight from model.params: they do not change before every worker has answered
    const message = encodeStep(this.step, this.round, this.batch, this.model!.params);
    this.sentAt = performance.now();
    for (const m of this.members) sendFragments(m.ws, message);
    if (this.stepTimer) clearTimeout(this.stepTimer);
    const timeoutMs = this.options.stepTimeoutMs ?? DEFAULT_STEP_TIMEOUT_SECONDS * 1000;
    this.stepTimer = setTimeout(() => {
      // all the late ones first: dropping one sends the step again, after which nobody has answered
      const late = this.members.filter((m) => !this.reducer.has(m.slot));
      for (const m of late) this.drop(m, `no gradient within ${timeoutMs / 1000} s (--step-timeout)`);
    }, timeoutMs);
  }

  /** Every worker is gone: wait for one to join, up to waitWorkersMs, then fail the step. */
  private waitForJoiners(why: string): void {
    const waitMs = this.options.waitWorkersMs ?? DEFAULT_WAIT_WORKERS_SECONDS * 1000;
    this.options.log.warn({ step: this.step, waitSeconds: waitMs / 1000 }, `${why}: waiting up to ${waitMs / 1000} s for a worker to join (shardprop worker --connect ${this.url})`);
    this.waitTimer = setTimeout(() => {
      this.waitTimer = null;
      // the training loop stops at this rejection: no later step is asked for
      this.pending?.reject(new WorkerLostError(`every worker was lost by step ${this.step} and none joined within ${waitMs / 1000} s (--wait-workers)`));
      this.pending = null;
    }, waitMs);
  }

  /** Workers joined while none was left: they take over the waiting step. */
  private resumeWithJoiners(): void {
    if (this.waitTimer) clearTimeout(this.waitTimer);
    this.waitTimer = null;
    this.options.log.info({ step: this.step, workers: this.joining.length }, 'workers are back: the step goes on');
    this.sendStep();
  }

  /** Pings every worker that is not computing; one that did not answer the previous ping is dropped. */
  private checkHeartbeats(): void {
    const silent: Member[] = [];
    for (const m of [...this.members, ...this.joining]) {
      const computing = this.pending !== null && m.slot >= 0 && this.members.includes(m) && !this.reducer.has(m.slot);
      if (computing) continue; // a busy worker cannot answer; the step timeout watches it
      if (!m.alive) silent.push(m);
      m.alive = false;
      m.ws.ping();
    }
    for (const m of silent) this.drop(m, 'it did not answer a heartbeat');
  }

  contributions(): WorkerContribution[] {
    return this.members.map((m) => ({ workerId: m.workerId, count: this.counts[m.slot], lossSum: this.lossSums[m.slot] }));
  }

  timing(): EngineTiming {
    return { ...this.time };
  }

  /** Every worker as the dashboard's table shows it. */
  workerRows(): WorkerRow[] {
    const state = (m: Member): WorkerRow['state'] => {
      if (this.joining.includes(m)) return 'joining';
      if (this.reshardNeeded) return 'resharding';
      if (!this.training) return 'ready';
      if (!this.pending) return 'idle';
      return this.reducer.has(m.slot) ? 'waiting' : 'computing';
    };
    return [...this.members, ...this.joining].map((m) => {
      // a worker left: slots and shards are stale until the next step cuts them again
      const range = this.joining.includes(m) || this.reshardNeeded ? undefined : this.shards[m.slot];
      const { last, computeSeconds, waitSeconds } = m.times;
      return { id: m.workerId, name: m.name, address: m.address, shard: range ? range.end - range.start : 0, state: state(m), ...last, computeSeconds, waitSeconds };
    });
  }

  private onWorkerMessage(member: Member, data: Buffer[], isBinary: boolean): void {
    const pending = this.pending;
    try {
      if (!isBinary) throw new ProtocolError('text frame');
      if (!pending || !this.members.includes(member) || this.reducer.has(member.slot)) throw new ProtocolError('a gradient nobody asked for');
      this.expectation.step = this.step;
      this.expectation.round = this.round;
      this.expectation.count = this.counts[member.slot];
      let g;
      try {
        g = decodeGradient(data, this.expectation, member.incoming ?? undefined);
      } catch (err) {
        if (err instanceof StaleGradient) return; // overtaken by a resend of this step
        throw err;
      }
      const now = performance.now();
      this.lastReceivedAt = Math.max(this.lastReceivedAt, g.receivedAt);
      this.lastPreviousSentAt = Math.max(this.lastPreviousSentAt, g.previousSentAt);
      member.times.arrivedAt = now;
      member.times.computeMs = g.computeMs;
      this.lossSums[member.slot] = g.lossSum;
      this.reducer.add(member.slot, g, g.grad);
      if (this.reducer.complete) {
        const result = this.combine(pending.grad);
        const end = performance.now();
        const wall = (end - this.sentAt) / 1000;
        // every member answered this sending of the step (a resend makes them all answer again)
        let firstArrival = now;
        let maxComputeMs = 0;
        for (const m of this.members) {
          firstArrival = Math.min(firstArrival, m.times.arrivedAt);
          maxComputeMs = Math.max(maxComputeMs, m.times.computeMs);
        }
        // rebuilding the sum from factors is backprop's BP4 done here; adding dense sums is part of the exchange
        // The step's wall time in three parts that add up to it. When the slowest worker is also the
        // last to answer, its backprop and the wait for it overlap: the overlap counts as compute.
        const compute = Math.min(wall, (maxComputeMs + (this.factors ? end - now : 0)) / 1000);
        const wait = Math.min((now - firstArrival) / 1000, wall - compute);
        this.time.computeSeconds += compute;
        // the previous step's synchronization: from its last gradient sent to these parameters received at every worker
        if (this.lastPreviousSentAt > 0) this.time.syncSeconds += Math.max(0, this.lastReceivedAt - this.lastPreviousSentAt) / 1000;
        this.time.waitSeconds += wait;
        this.time.commSeconds += wall - compute - wait;
        for (const m of this.members) recordStep(m.times, this.sentAt, now);
        this.pending = null;
        if (this.stepTimer) clearTimeout(this.stepTimer);
        this.stepTimer = null;
        pending.resolve(result);
      }
    } catch (err) {
      this.drop(member, `invalid message: ${(err as Error).message}`);
    }
  }

  /** The step's gradient sum into `grad`, from every slot's dense sum or factors. */
  private combine(grad: Floats): BatchResult {
    if (!this.factors || !this.rebuild) return this.reducer.reduce(grad);
    const m = this.batch.length;
    const factors = this.factors.subarray(0, m * this.expectation.factorWidth);
    const total = this.reducer.assemble(this.owner, m, this.factorWidths, factors);
    this.rebuild.gradientFromFactors(this.options.plan.train, this.batch, 0, m, factors, grad);
    return total;
  }

  /**
   * Room for a worker's gradients where the kernels check and add them in place: a spare
   * one (of a worker that left) when one is large enough, so workers that come and go
   * never grow the kernels' memory past what the largest membership needed.
   */
  private bufferOf(length: number): Floats {
    let best = -1;
    this.spareBuffers.forEach((b, i) => {
      if (b.length >= length && (best < 0 || b.length < this.spareBuffers[best].length)) best = i;
    });
    if (best >= 0) return this.spareBuffers.splice(best, 1)[0];
    return this.options.plan.kernels.alloc(this.options.plan.spec.dtype, length);
  }

  private drop(member: Member, reason: string): void {
    this.options.log.warn({ workerId: member.workerId, name: member.name, reason }, 'dropped a worker');
    member.ws.terminate();
    this.onWorkerGone(member, reason);
  }

  private onWorkerGone(member: Member, reason: string): void {
    const j = this.joining.indexOf(member);
    if (j >= 0) {
      this.joining.splice(j, 1);
      this.options.log.warn({ workerId: member.workerId, reason }, 'a joining worker left');
      return;
    }
    const i = this.members.indexOf(member);
    if (i < 0) return;
    if (member.incoming) this.spareBuffers.push(member.incoming);
    member.incoming = null;
    if (!this.training) {
      // before training, a leaving worker just frees its place
      this.members.splice(i, 1);
      this.members.forEach((m, slot) => (m.slot = slot));
      this.options.log.warn({ workerId: member.workerId, reason }, 'worker left before training started');
      return;
    }
    // during training: its samples go to the others, and a step in flight is sent again to them
    this.members.splice(i, 1);
    this.reshardNeeded = true;
    this.options.log.warn({ workerId: member.workerId, name: member.name, step: this.step, reason, left: this.members.length }, 'worker lost: its samples go to the others');
    this.lastLoss = `worker ${member.workerId} (${member.name}) was lost at step ${this.step} (${reason})`;
    this.scheduleResend();
  }

  /**
   * Sends the step in flight again to the workers there are now (those joining
   * too), once for all the losses of this turn of the event loop; with none left,
   * waits for one.
   */
  private scheduleResend(): void {
    if (this.resendScheduled) return;
    this.resendScheduled = true;
    queueMicrotask(() => {
      this.resendScheduled = false;
      if (!this.pending || this.waitTimer || this.closing) return;
      if (this.members.length + this.joining.length > 0) this.sendStep();
      else this.waitForJoiners(`${this.lastLoss} and no worker is left`);
    });
  }

  /** Tells every worker that training is over and closes the server. */
  async close(reason = 'training finished'): Promise<void> {
    this.closing = true;
    this.training = false;
    if (this.pending) {
      this.pending.reject(new WorkerLostError('the coordinator closed'));
      this.pending = null;
    }
    clearInterval(this.heartbeat);
    if (this.stepTimer) clearTimeout(this.stepTimer);
    if (this.waitTimer) clearTimeout(this.waitTimer);
    this.members.push(...this.joining.splice(0));
    const done = encode({ type: 'done', reason });
    await Promise.all(
      this.members.map(
        (m) =>
          new Promise<void>((resolve) => {
            if (m.ws.readyState !== m.ws.OPEN) return resolve();
            // a worker that does not take the message within 5 s is cut off (transport.close)
            const timer = setTimeout(resolve, 5000);
            m.ws.send(done, () => {
              clearTimeout(timer);
              m.ws.close(1000, 'done');
              resolve();
            });
          }),
      ),
    );
    this.members.length = 0;
    // whoever is still connected (members closing, strangers that never said hello) is cut off
    await this.transport.close();
  }
}

/** A worker's part of a finished step: from the step sent to its gradient received, its backprop, then its wait for the last gradient. */
function recordStep(t: WorkerTimes, sentAt: number, lastArrival: number): void {
  t.last = { stepMs: t.arrivedAt - sentAt, computeMs: t.computeMs, waitMs: lastArrival - t.arrivedAt };
  t.computeSeconds += t.computeMs / 1000;
  t.waitSeconds += t.last.waitMs / 1000;
}
