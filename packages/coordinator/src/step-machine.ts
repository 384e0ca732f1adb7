/**
 * The coordinator's rules as a pure state machine: events in (a connection, a
 * hello, a gradient, an invalid message, a close, a pong, a step asked for, the
 * clock's tick), actions out (send, broadcast the step, ping, drop, step done or
 * failed, log); the vocabulary is step-events.ts. It owns no socket, timer, clock
 * or logger: every deadline is a timestamp checked on `tick`. ws-adapter.ts runs
 * it over WebSockets; test/coordinator/step-machine.test.ts with scripted events.
 */
import { blockCount, datasetAs, type Floats } from '@shardprop/core';
import {
  MAX_SLICES, PROTOCOL_VERSION, Throttle, failure, type Aggregation, type Checked, type ErrorCode, type Expectation, type Faulty, type Gradient, type GradientForm,
  type Hello, type ShardData, type SliceExpectation, type ToWorker,
} from '@shardprop/protocol';
import { MAX_PENDING_CONNECTIONS, MAX_PENDING_PER_HOST, admissionRefusal } from './admission.js';
import type { TrainingPlan } from './plan.js';
import {
  DEFAULT_HEARTBEAT_MS, DEFAULT_HELLO_TIMEOUT_MS, DEFAULT_STEP_TIMEOUT_SECONDS, DEFAULT_WAIT_WORKERS_SECONDS,
  type Action, type ConnectionId, type LogLevel, type MachineEvent, type MachineState, type StepTiming, type WorkerSnapshot,
} from './step-events.js';
import { StepSum } from './step-sum.js';
import type { WorkerContribution } from './training-loop.js';

export interface MachineOptions {
  /** The run: the model's shape, the data, the kernels, the batch size, the block size and the data's fingerprint. */
  plan: Pick<TrainingPlan, 'spec' | 'train' | 'kernels' | 'batchSize' | 'block' | 'fingerprint'>;
  /** Workers to wait for before training starts. */
  expect: number;
  gradientForm: GradientForm;
  /** 'slices': steps go through the slice servers the workers start (dense gradients only); 'star' (the default): through this process. */
  aggregation?: Aggregation;
  /** The address workers connect to, for the hint in the log when every worker is gone. */
  url: string;
  stepTimeoutMs?: number;
  waitWorkersMs?: number;
  /** Ping period; a worker not computing that misses a ping's answer by the next one is dropped. */
  heartbeatMs?: number;
  /** A connection that sends no hello within this long is dropped. */
  helloTimeoutMs?: number;
  /**
   * The period of the clock's ticks, when they come regularly (the ws adapter): a gap of more
   * than a second beyond it is time this process was held up (stopped, swapped out), which does
   * not count against the workers' --step-timeout. Unset (scripted clocks that jump): no such rule.
   */
  tickMs?: number;
}

interface Member {
  connection: ConnectionId;
  workerId: number;
  name: string;
  address: string;
  /** Position in the deal: slot i computes the i-th range of blocks. */
  slot: number;
  /** The worker loaded the same data set itself (fingerprints checked): its welcome goes without rows. */
  ownData: boolean;
  /** Threads of its kernels, as its hello said. */
  threads?: number;
  /** Answered the last heartbeat. */
  alive: boolean;
  /** Its part of the last step it answered, and its totals, for the dashboard. */
  arrivedAt: number;
  computeMs: number;
  last?: { stepMs: number; computeMs: number; waitMs: number };
  computeSeconds: number;
  waitSeconds: number;
  /** Its process's use, as its last gradient said. */
  cpu?: number;
  rssBytes?: number;
}

/** A slice server (docs/scaling.md): a process beside a worker that serves one slice of the parameters. */
interface SliceServer {
  connection: ConnectionId;
  name: string;
  address: string;
  /** Where the workers reach it. */
  serves: string;
  alive: boolean;
}

/** How long training waits at its start for the workers' slice servers (a worker starts its own once welcomed). */
export const SLICE_SERVERS_WAIT_MS = 10_000;

/** Rows of workers that left, kept for the dashboard at most (the oldest go first). */
const MAX_DEPARTED = 64;

/** The step out now: what the loop asked for, and this sending of it. */
interface InFlight {
  step: number;
  batch: Uint32Array;
  params: Floats;
  grad: Floats;
  round: number;
  sentAt: number;
  /** In step: when late workers are dropped (--step-timeout); waiting for joiners: when the step fails (--wait-workers). */
  deadline: number;
  /** A member was lost since it was sent: it goes out again once the event is handled. */
  lost: boolean;
  lastReceivedAt: number;
  lastPreviousSentAt: number;
}

export class StepMachine {
  private machineState: MachineState = 'waiting for workers';
  /** Connections that have not said hello, oldest first: where each comes from, and when it must have said it. */
  private readonly pending = new Map<ConnectionId, { address: string; host: string; deadline: number }>();
  /** Connections that made way for newer ones, and those that said no hello in time: logged a line at a time. */
  private readonly crowded = new Throttle();
  private readonly silent = new Throttle();
  /** In slot order once training started. */
  private members: Member[] = [];
  /** Joined during training: they get a share of the data at the next sending of a step. */
  private joining: Member[] = [];
  /** Workers that left, as the dashboard's table keeps them. */
  private readonly departed: WorkerSnapshot[] = [];
  /** The `now` of the event being handled. */
  private clock = 0;
  private readonly byConnection = new Map<ConnectionId, Member>();
  /** Workers came or went: the slots are made again before the next sending. */
  private stale = true;
  /** The members' ids in slot order, as the step message names them. */
  private memberIds = new Uint32Array(0);
  /** The data set as welcomes carry it: its ids, and its rows for the workers without data of their own (made once). */
  private ids: Uint32Array | null = null;
  private rows: { x: Floats; y: Floats } | null = null;
  private nextWorkerId = 1;
  private round = 0;
  private inFlight: InFlight | null = null;
  /** The step asked for last (the one in flight, or the one just done). */
  private lastStep = 0;
  private nextPingAt: number | null = null;
  /** The clock of the last tick: one far later than the one before means this process was held up. */
  private lastTickAt: number | null = null;
  /** The last loss during training, for the log when it leaves no worker. */
  private lastLoss = '';
  /** A stop was asked for: a step no worker is left to compute fails at once instead of waiting. */
  private stopping = false;
  /** The last step failed (diverged, stopped, waited out): gradients still on their way for it are stale, not offences. */
  private givenUp = false;
  private actions: Action[] = [];
  /** Slice servers, in the order they joined; those of the sending in flight (slice j served by dealt[j]) and its bounds. */
  private servers: SliceServer[] = [];
  private readonly serverByConnection = new Map<ConnectionId, SliceServer>();
  private dealt: SliceServer[] = [];
  private bounds = new Uint32Array(1);
  private readonly sumExpectation: SliceExpectation;
  /** Sliced: when training starts at the latest, while it waits for the workers' slice servers (null: not waiting). */
  private serversDueAt: number | null = null;

  /** The step's sum: one slot per member, made again when the members change. */
  private readonly sum: StepSum;
  private readonly stepTimeoutMs: number;
  private readonly waitWorkersMs: number;
  private readonly heartbeatMs: number;
  private readonly helloTimeoutMs: number;

  constructor(private readonly options: MachineOptions) {
    this.sum = new StepSum(options.plan, options.gradientForm);
    this.stepTimeoutMs = options.stepTimeoutMs ?? DEFAULT_STEP_TIMEOUT_SECONDS * 1000;
    this.waitWorkersMs = options.waitWorkersMs ?? DEFAULT_WAIT_WORKERS_SECONDS * 1000;
    this.heartbeatMs = options.heartbeatMs ?? DEFAULT_HEARTBEAT_MS;
    this.helloTimeoutMs = options.helloTimeoutMs ?? DEFAULT_HELLO_TIMEOUT_MS;
    const { kernels, spec } = options.plan;
    this.sumExpectation = { type: 'sum', dtype: spec.dtype, step: 0, round: 0, length: 0, allFinite: (x) => kernels.allFinite(x) };
  }

  /** Steps go through slice servers (when any have joined). */
  private get slicing(): boolean {
    return this.options.aggregation === 'slices' && this.options.gradientForm === 'dense';
  }

  /** True for a slice server's connection. */
  isSliceServer(connection: ConnectionId): boolean {
    return this.serverByConnection.has(connection);
  }

  /** What a slice server's next message must be now (its slice of the sum, or a faulty worker), and where the sum's values go. */
  expectingSum(connection: ConnectionId): Checked<{ expectation: SliceExpectation; into: Floats }> {
    const server = this.serverByConnection.get(connection);
    const j = server ? this.dealt.indexOf(server) : -1;
    if (j < 0 || this.machineState !== 'in step' || this.sum.hasSum(j)) {
      if (this.givenUp) return failure('SP_ERR_STALE_ROUND', 'a slice sum for a step given up');
      return failure('SP_ERR_UNASKED', 'a slice sum nobody asked for');
    }
    const f = this.inFlight!;
    const e = this.sumExpectation;
    e.step = f.step;
    e.round = f.round;
    e.length = this.bounds[j + 1] - this.bounds[j];
    return { ok: true, message: { expectation: e, into: f.grad.subarray(this.bounds[j], this.bounds[j + 1]) } };
  }

  get state(): MachineState {
    return this.machineState;
  }

  /** Training may start: the expected workers joined (and, sliced, their slice servers, or the wait for them is over). */
  get ready(): boolean {
    return this.machineState !== 'waiting for workers' && this.serversDueAt === null;
  }

  /** Workers taking part in the steps (not those still joining). */
  get workerCount(): number {
    return this.members.length;
  }

  /** True while `connection` has not said hello: its next message must be one. */
  awaitsHello(connection: ConnectionId): boolean {
    return this.pending.has(connection);
  }

  /** What a gradient from `connection` must be now, and where its values go; SP_ERR_UNASKED when none is wanted from it. */
  expecting(connection: ConnectionId): Checked<{ expectation: Expectation; into: Floats }> {
    const m = this.byConnection.get(connection);
    if (!this.owes(m)) {
      if (m && this.givenUp) return failure('SP_ERR_STALE_ROUND', 'a gradient for a step given up');
      return failure('SP_ERR_UNASKED', 'a gradient nobody asked for');
    }
    const f = this.inFlight!;
    return { ok: true, message: this.sum.expecting(m.slot, f.step, f.round) };
  }

  /** A member that has not answered the sending of the step in flight yet. */
  private owes(m: Member | undefined): m is Member {
    return m !== undefined && this.machineState === 'in step' && this.members[m.slot] === m && !this.sum.has(m.slot);
  }

  /** Takes one event; returns what to do, in order. */
  handle(event: MachineEvent): Action[] {
    this.actions = [];
    this.clock = event.now;
    switch (event.type) {
      case 'connected':
        this.onConnected(event.connection, event.address, event.now);
        break;
      case 'hello':
        this.onHello(event.connection, event.hello, event.now);
        break;
      case 'gradient':
        this.onGradient(event.connection, event.gradient, event.now);
        break;
      case 'sum':
        this.onSum(event.connection, event.now);
        break;
      case 'faulty':
        this.onFaulty(event.connection, event.faulty);
        break;
      case 'invalid':
        this.onInvalid(event.connection, event.code, event.reason);
        break;
      case 'closed':
        this.onClosed(event.connection);
        break;
      case 'pong': {
        const m = this.byConnection.get(event.connection) ?? this.serverByConnection.get(event.connection);
        if (m) m.alive = true;
        break;
      }
      case 'step':
        this.onStep(event);
        break;
      case 'tick':
        this.onTick(event.now);
        break;
      case 'stop':
        this.stopping = true;
        if (this.machineState === 'waiting for joiners') this.giveUp('SP_ERR_STOPPED', `stopped while no worker was left to compute step ${this.inFlight!.step}`);
        break;
      case 'diverged':
        if (this.machineState === 'in step') this.giveUp('SP_ERR_DIVERGED', event.reason);
        break;
      case 'close':
        this.onClose(event.reason);
        break;
    }
    this.resendIfLost(event.now);
    return this.actions;
  }

  /** The workers, for the dashboard's table. */
  snapshot(): WorkerSnapshot[] {
    const state = (m: Member): WorkerSnapshot['state'] => {
      if (this.joining.includes(m)) return 'joining';
      if (this.machineState === 'waiting for workers') return 'ready';
      if (this.stale) return 'resharding';
      if (this.machineState !== 'in step') return 'idle';
      return this.sum.has(m.slot) ? 'waiting' : 'computing';
    };
    const rows = [...this.members, ...this.joining].map((m) => this.row(m, state(m)));
    return [...rows, ...this.departed];
  }

  private row(m: Member, state: WorkerSnapshot['state']): WorkerSnapshot {
    // workers came or went: slots are stale until the next sending deals the blocks again
    const dealt = this.joining.includes(m) || this.stale || this.machineState === 'waiting for workers' ? 0 : this.sum.part(m.slot).count;
    return {
      id: m.workerId, name: m.name, address: m.address, shard: dealt, state, threads: m.threads, ...m.last,
      computeSeconds: m.computeSeconds, waitSeconds: m.waitSeconds, cpu: m.cpu, rssBytes: m.rssBytes,
    };
  }

  /** Who contributed what to the last finished step (for the trace): each member's samples, loss sum and range of blocks. */
  contributions(): WorkerContribution[] {
    const { cuts } = this.sum;
    return this.members.map((m) => ({ workerId: m.workerId, ...this.sum.part(m.slot), blocks: [cuts[m.slot], cuts[m.slot + 1]] }));
  }

  private log(level: LogLevel, fields: Record<string, unknown>, message: string): void {
    this.actions.push({ type: 'log', level, fields, message });
  }

  private onConnected(connection: ConnectionId, address: string, now: number): void {
    if (this.machineState === 'closed') {
      this.actions.push({ type: 'drop', to: connection, code: 'SP_ERR_CONNECTION_CLOSED', reason: 'the coordinator is closing' });
      return;
    }
    // Room for the newcomer: the oldest waiting connection goes (its host's own oldest first), so a
    // flood that reconnects as fast as it is dropped still cannot keep an honest worker out.
    const host = hostOf(address);
    let fromHost = 0;
    let oldestOfHost: ConnectionId | undefined;
    for (const [id, p] of this.pending) {
      if (p.host !== host) continue;
      fromHost++;
      oldestOfHost ??= id;
    }
    if (fromHost >= MAX_PENDING_PER_HOST) this.makeWay(oldestOfHost!, now);
    else if (this.pending.size >= MAX_PENDING_CONNECTIONS) this.makeWay(this.pending.keys().next().value!, now);
    this.pending.set(connection, { address, host, deadline: now + this.helloTimeoutMs });
  }

  /** Drops a waiting connection for a newer one; the flood is logged a line at a time. */
  private makeWay(connection: ConnectionId, now: number): void {
    const { address } = this.pending.get(connection)!;
    this.pending.delete(connection);
    this.actions.push({ type: 'drop', to: connection, code: 'SP_ERR_TOO_MANY_PENDING', reason: 'too many connections have not said hello yet' });
    this.logCrowded(this.crowded.note(now), address);
  }

  private logCrowded(dropped: number, address?: string): void {
    if (dropped === 0) return;
    this.log('warn', { dropped, address, pending: this.pending.size, code: 'SP_ERR_TOO_MANY_PENDING' }, 'dropped connections that had not said hello: too many were waiting, the oldest went');
  }

  private logSilent(dropped: number, address?: string): void {
    if (dropped === 0) return;
    this.log('warn', { dropped, address, code: 'SP_ERR_HELLO_TIMEOUT' }, 'dropped connections that sent no hello in time');
  }

  private onHello(connection: ConnectionId, hello: Hello, now: number): void {
    const greeting = this.pending.get(connection);
    if (!greeting) return;
    this.pending.delete(connection);
    const { address } = greeting;
    if (hello.role === 'slice') return this.onSliceServer(connection, hello, address);
    const training = this.machineState !== 'waiting for workers';
    const refusal = admissionRefusal(hello, { fingerprint: this.options.plan.fingerprint, training, workers: this.members.length + this.joining.length, expect: this.options.expect });
    if (refusal) {
      this.log('warn', { address, name: hello.name, code: refusal.code, reason: refusal.reason }, 'refused a worker');
      this.actions.push({ type: 'refuse', to: connection, reason: refusal.reason, code: refusal.code, closeCode: refusal.closeCode, closeReason: refusal.close });
      return;
    }
    const member: Member = {
      connection, workerId: this.nextWorkerId++, name: hello.name, address, slot: -1, ownData: hello.fingerprint !== undefined, threads: hello.threads, alive: true,
      arrivedAt: 0, computeMs: 0, computeSeconds: 0, waitSeconds: 0,
    };
    this.byConnection.set(connection, member);
    const { workerId, name, ownData } = member;
    if (!training) {
      member.slot = this.members.length;
      this.members.push(member);
      this.log('info', { workerId, name, address, ownData, joined: this.members.length, expect: this.options.expect }, 'worker joined');
      if (this.members.length === this.options.expect) this.start();
      return;
    }
    // during training: welcomed now; it is dealt blocks from the next sending on
    this.joining.push(member);
    this.welcome(member);
    this.log('info', { workerId, name, address, ownData }, 'worker joined during training: it is dealt blocks from the next step on');
    if (this.machineState === 'waiting for joiners') {
      this.log('info', { step: this.inFlight!.step, workers: this.joining.length }, 'workers are back: the step goes on');
      this.send(now);
    }
  }

  /** A slice server said hello: it serves a slice from the next sending of a step on. */
  private onSliceServer(connection: ConnectionId, hello: Hello, address: string): void {
    const refuse = (code: ErrorCode, reason: string, closeCode: number, close: string): void => {
      this.log('warn', { address, name: hello.name, code, reason }, 'refused a slice server');
      this.actions.push({ type: 'refuse', to: connection, reason, code, closeCode, closeReason: close });
    };
    if (hello.version !== PROTOCOL_VERSION) {
      return refuse('SP_ERR_VERSION', `protocol version mismatch: the slice server speaks version ${hello.version}, this coordinator speaks version ${PROTOCOL_VERSION}`, 1002, 'protocol version mismatch');
    }
    if (!this.slicing) return refuse('SP_ERR_NOT_SLICED', 'this coordinator aggregates through itself (--aggregation star): it takes no slice servers', 1008, 'not sliced');
    if (this.servers.length >= MAX_SLICES) return refuse('SP_ERR_FULL', `the run already has ${MAX_SLICES} slice servers`, 1008, 'full');
    const server: SliceServer = { connection, name: hello.name, address, serves: hello.serves!, alive: true };
    this.servers.push(server);
    this.serverByConnection.set(connection, server);
    this.log('info', { name: server.name, serves: server.serves, servers: this.servers.length }, 'slice server joined: it serves a slice of the parameters from the next sending of a step on');
    this.startIfServed(this.clock);
  }

  /** The welcome: the run's settings and the whole training set, its rows unless the worker loaded the same set itself. */
  private welcome(m: Member): void {
    const { plan, gradientForm } = this.options;
    const { train } = plan;
    const ids = { indices: this.allIds(), inputs: train.inputs, outputs: train.outputs };
    const shard: ShardData = m.ownData ? ids : { ...ids, ...this.dataRows() };
    const message: ToWorker = {
      type: 'welcome', version: PROTOCOL_VERSION, workerId: m.workerId, spec: plan.spec, total: train.count, block: plan.block,
      fingerprint: plan.fingerprint, gradientForm, kernel: plan.kernels.name, aggregation: this.slicing ? 'slices' : 'star', shard,
    };
    this.actions.push({ type: 'send', to: m.connection, message });
  }

  /** 0..count-1: the ids of the whole training set. */
  private allIds(): Uint32Array {
    if (!this.ids) {
      this.ids = new Uint32Array(this.options.plan.train.count);
      for (let i = 0; i < this.ids.length; i++) this.ids[i] = i;
    }
    return this.ids;
  }

  /** The training set's rows in the run's dtype, made once for every welcome. */
  private dataRows(): { x: Floats; y: Floats } {
    if (!this.rows) {
      const { x, y } = datasetAs(this.options.plan.train, this.options.plan.spec.dtype);
      this.rows = { x, y };
    }
    return this.rows;
  }

  /** All expected workers are here: send each its welcome (sliced: training starts once their slice servers joined, or in SLICE_SERVERS_WAIT_MS). */
  private start(): void {
    for (const m of this.members) this.welcome(m);
    this.reslot();
    this.log('info', { gradientForm: this.options.gradientForm, block: this.options.plan.block, aggregation: this.slicing ? 'slices' : 'star' }, 'workers send gradients');
    this.machineState = 'idle';
    if (this.slicing && this.servers.length < this.members.length) this.serversDueAt = this.clock + SLICE_SERVERS_WAIT_MS;
    else this.actions.push({ type: 'workers-ready' });
  }

  /** Training waits for the slice servers the workers start: it starts when there is one per worker, or when the wait is over. */
  private startIfServed(now: number): void {
    if (this.serversDueAt === null) return;
    const all = this.servers.length >= this.members.length;
    if (!all && now < this.serversDueAt) return;
    this.serversDueAt = null;
    if (!all) this.log('warn', { servers: this.servers.length, workers: this.members.length, waitedSeconds: SLICE_SERVERS_WAIT_MS / 1000 }, 'not every worker\'s slice server joined in time: training starts with those there');
    this.actions.push({ type: 'workers-ready' });
  }

  /** The members, in order, take the slots of the deal. */
  private reslot(): void {
    this.members.forEach((m, slot) => (m.slot = slot));
    this.memberIds = Uint32Array.from(this.members, (m) => m.workerId);
    this.sum.reslot(this.members.length);
    this.stale = false;
  }

  private onStep(e: Extract<MachineEvent, { type: 'step' }>): void {
    // the training loop asks for a step only once workers are ready and the last step is done
    if (this.machineState !== 'idle') throw new Error(`step ${e.step} asked for while ${this.machineState}`);
    this.lastStep = e.step;
    this.givenUp = false;
    this.inFlight = { step: e.step, batch: e.batch, params: e.params, grad: e.grad, round: 0, sentAt: 0, deadline: 0, lost: false, lastReceivedAt: 0, lastPreviousSentAt: 0 };
    if (this.members.length + this.joining.length === 0) this.waitForJoiners('no worker is left', e.now);
    else this.send(e.now);
  }

  /**
   * Sends the step in flight (again, after workers came or went) to every member:
   * workers that joined since become members here, and the slots are made again
   * first whenever the members changed.
   */
  private send(now: number): void {
    const f = this.inFlight!;
    if (this.joining.length > 0) {
      this.members.push(...this.joining.splice(0));
      this.stale = true;
    }
    if (this.stale) this.reslot();
    // sliced when slice servers are there: every one serves a slice (at least one value each)
    const size = f.params.length;
    this.dealt = this.slicing ? this.servers.slice(0, Math.min(this.servers.length, size)) : [];
    const k = this.dealt.length;
    this.bounds = new Uint32Array(k + 1);
    for (let j = 0; j <= k; j++) this.bounds[j] = Math.floor((j * size) / k);
    this.sum.begin(f.batch, k);
    f.round = ++this.round;
    f.sentAt = now;
    f.deadline = now + this.stepTimeoutMs;
    f.lost = false;
    f.lastReceivedAt = 0;
    f.lastPreviousSentAt = 0;
    this.machineState = 'in step';
    const slices = k === 0 ? undefined : {
      addresses: this.dealt.map((s) => s.serves), bounds: this.bounds, servers: this.dealt.map((s) => s.connection), blocks: blockCount(f.batch.length, this.options.plan.block),
    };
    this.actions.push({
      type: 'broadcast-step', to: this.members.map((m) => m.connection), step: f.step, round: f.round, batch: f.batch, workers: this.memberIds, cuts: this.sum.cuts, params: f.params, slices,
    });
  }

  /**
   * Members were lost while the step was out: it goes out once more, to those left
   * (all the losses of one event at once), or, with none left, waits for one to join.
   */
  private resendIfLost(now: number): void {
    if (!this.inFlight?.lost || this.machineState !== 'in step') return;
    if (this.members.length + this.joining.length > 0) this.send(now);
    else this.waitForJoiners(`${this.lastLoss} and no worker is left`, now);
  }

  /** Every worker is gone: wait for one to join, up to --wait-workers, then fail the step (at once when stopping). */
  private waitForJoiners(why: string, now: number): void {
    if (this.stopping) return this.giveUp('SP_ERR_STOPPED', `stopped while no worker was left to compute step ${this.inFlight!.step}`);
    const seconds = this.waitWorkersMs / 1000;
    this.machineState = 'waiting for joiners';
    this.inFlight!.deadline = now + this.waitWorkersMs;
    this.log('warn', { step: this.inFlight!.step, waitSeconds: seconds }, `${why}: waiting up to ${seconds} s for a worker to join (shardprop worker --connect ${this.options.url})`);
  }

  /** The step in flight fails (stopped, diverged, waited out); the workers stay, and their gradients for it still on the way are stale. */
  private giveUp(code: ErrorCode, reason: string): void {
    const f = this.inFlight!;
    this.inFlight = null;
    this.machineState = 'idle';
    this.givenUp = true;
    this.actions.push({ type: 'step-failed', step: f.step, code, reason });
  }

  private onGradient(connection: ConnectionId, g: Gradient, now: number): void {
    const m = this.byConnection.get(connection);
    // checked by the protocol against expecting(): step, round and count are this sending's
    if (!this.owes(m)) {
      this.onInvalid(connection, 'SP_ERR_UNASKED', 'a gradient nobody asked for');
      return;
    }
    const f = this.inFlight!;
    f.lastReceivedAt = Math.max(f.lastReceivedAt, g.receivedAt);
    f.lastPreviousSentAt = Math.max(f.lastPreviousSentAt, g.previousSentAt);
    m.arrivedAt = now;
    m.computeMs = g.computeMs;
    if (g.cpu !== undefined) m.cpu = g.cpu;
    if (g.rssBytes !== undefined) m.rssBytes = g.rssBytes;
    this.sum.add(m.slot, g);
    this.finishIfComplete(now);
  }

  /** A slice server's slice of the sum arrived (checked, and already in the step's grad). */
  private onSum(connection: ConnectionId, now: number): void {
    const server = this.serverByConnection.get(connection);
    const j = server ? this.dealt.indexOf(server) : -1;
    if (j < 0 || this.machineState !== 'in step' || this.sum.hasSum(j)) return this.onInvalid(connection, 'SP_ERR_UNASKED', 'a slice sum nobody asked for');
    this.sum.addSum(j);
    this.finishIfComplete(now);
  }

  /** A slice server found a worker's part faulty (not a divergence: the adapter checked): the worker goes. */
  private onFaulty(connection: ConnectionId, faulty: Faulty): void {
    const server = this.serverByConnection.get(connection);
    const m = this.members.find((w) => w.workerId === faulty.workerId);
    if (!server || !m) return;
    this.drop(m, faulty.code, `invalid part for slice server ${server.name}: ${faulty.reason}`);
  }

  /** Every worker and every slice server answered this sending: the step is done. */
  private finishIfComplete(now: number): void {
    const f = this.inFlight!;
    if (!this.sum.complete) return;
    const result = this.sum.finish(f.batch, f.grad);
    // every member answered this sending of the step (a resend makes them all answer again)
    let firstArrival = now;
    let maxComputeMs = 0;
    for (const w of this.members) {
      firstArrival = Math.min(firstArrival, w.arrivedAt);
      maxComputeMs = Math.max(maxComputeMs, w.computeMs);
      // a worker's part: from the step sent to its gradient received, its backprop, then its wait for the last gradient
      w.last = { stepMs: w.arrivedAt - f.sentAt, computeMs: w.computeMs, waitMs: now - w.arrivedAt };
      w.computeSeconds += w.computeMs / 1000;
      w.waitSeconds += w.last.waitMs / 1000;
    }
    const timing: StepTiming = { sentAt: f.sentAt, firstArrival, lastArrival: now, maxComputeMs, lastReceivedAt: f.lastReceivedAt, lastPreviousSentAt: f.lastPreviousSentAt };
    this.inFlight = null;
    this.machineState = 'idle';
    this.actions.push({ type: 'step-done', step: f.step, result, timing });
  }

  private onInvalid(connection: ConnectionId, code: ErrorCode, reason: string): void {
    const greeting = this.pending.get(connection);
    if (greeting) {
      this.pending.delete(connection);
      this.log('warn', { address: greeting.address, code, reason }, 'dropped a connection with an invalid hello');
      this.actions.push({ type: 'drop', to: connection, code, reason });
      return;
    }
    // overtaken by a resend of this step: not an offence
    if (code === 'SP_ERR_STALE_ROUND') return;
    const server = this.serverByConnection.get(connection);
    if (server) return this.dropServer(server, code, `invalid message: ${reason}`);
    const m = this.byConnection.get(connection);
    if (!m) {
      this.actions.push({ type: 'drop', to: connection, code, reason });
      return;
    }
    this.drop(m, code, `invalid message: ${reason}`);
  }

  private dropServer(server: SliceServer, code: ErrorCode, reason: string): void {
    this.log('warn', { name: server.name, code, reason }, 'dropped a slice server');
    this.actions.push({ type: 'drop', to: server.connection, code, reason });
    this.serverGone(server, reason);
  }

  /** A slice server is gone: a step waiting on it goes out again, its slice served by the others (or by this process). */
  private serverGone(server: SliceServer, reason: string): void {
    this.serverByConnection.delete(server.connection);
    this.servers.splice(this.servers.indexOf(server), 1);
    const j = this.dealt.indexOf(server);
    const waiting = j >= 0 && this.machineState === 'in step' && !this.sum.hasSum(j);
    this.log('warn', { name: server.name, step: this.lastStep, reason, servers: this.servers.length }, waiting ? 'slice server lost: the step goes out again, its slice served by the others' : 'slice server lost');
    if (waiting) this.inFlight!.lost = true;
  }

  private onClosed(connection: ConnectionId): void {
    if (this.pending.delete(connection)) return;
    const server = this.serverByConnection.get(connection);
    if (server) return this.serverGone(server, 'the connection closed');
    const m = this.byConnection.get(connection);
    if (m) this.gone(m, 'the connection closed');
  }

  private drop(m: Member, code: ErrorCode, reason: string): void {
    this.log('warn', { workerId: m.workerId, name: m.name, code, reason }, 'dropped a worker');
    this.actions.push({ type: 'drop', to: m.connection, code, reason });
    this.gone(m, reason);
  }

  /** A member or joiner is gone: during training its samples go to the others, and a step in flight goes out again (handle). */
  private gone(m: Member, reason: string): void {
    this.byConnection.delete(m.connection);
    this.departed.push({ ...this.row(m, 'left'), shard: 0, reason, leftAt: this.clock });
    if (this.departed.length > MAX_DEPARTED) this.departed.shift();
    const j = this.joining.indexOf(m);
    if (j >= 0) {
      this.joining.splice(j, 1);
      this.log('warn', { workerId: m.workerId, reason }, 'a joining worker left');
      return;
    }
    const i = this.members.indexOf(m);
    if (i < 0) return;
    this.members.splice(i, 1);
    if (this.machineState === 'waiting for workers') {
      // before training, a leaving worker just frees its place
      this.members.forEach((w, slot) => (w.slot = slot));
      this.log('warn', { workerId: m.workerId, reason }, 'worker left before training started');
      return;
    }
    this.stale = true;
    const step = this.lastStep;
    this.log('warn', { workerId: m.workerId, name: m.name, step, reason, left: this.members.length }, 'worker lost: its blocks go to the others');
    this.lastLoss = `worker ${m.workerId} (${m.name}) was lost at step ${step} (${reason})`;
    if (this.inFlight) this.inFlight.lost = true;
  }

  private onTick(now: number): void {
    // Held up (stopped, swapped out, a long pause) between two ticks: that time does not count against
    // the workers. A step sent just before the hold-up may have reached some workers only after it.
    const { tickMs } = this.options;
    const gap = tickMs === undefined || this.lastTickAt === null ? 0 : now - this.lastTickAt - tickMs;
    this.lastTickAt = now;
    if (gap > 1000 && this.inFlight && this.machineState === 'in step') this.inFlight.deadline += gap;
    this.logCrowded(this.crowded.due(now));
    this.startIfServed(now);
    let timedOut = 0;
    let lastSilent: string | undefined;
    for (const [connection, { address, deadline }] of this.pending) {
      if (deadline > now) continue;
      this.pending.delete(connection);
      this.actions.push({ type: 'drop', to: connection, code: 'SP_ERR_HELLO_TIMEOUT', reason: 'no hello in time' });
      timedOut++;
      lastSilent = address;
    }
    this.logSilent(this.silent.note(now, timedOut), lastSilent);
    this.nextPingAt ??= now + this.heartbeatMs;
    if (now >= this.nextPingAt) this.heartbeat(now);
    // a heartbeat's losses send the step again first, with a new deadline: those still computing are not late yet
    this.resendIfLost(now);
    const f = this.inFlight;
    if (!f || now < f.deadline) return;
    if (this.machineState === 'in step') {
      // all the late ones first: dropping one sends the step again, after which nobody has answered
      const late = this.members.filter((m) => !this.sum.has(m.slot));
      for (const m of late) this.drop(m, 'SP_ERR_STEP_TIMEOUT', `no gradient within ${this.stepTimeoutMs / 1000} s (--step-timeout)`);
      // every worker answered: the slice servers that have not sent their sums are late
      if (late.length === 0) {
        const slow = this.dealt.filter((_, j) => !this.sum.hasSum(j));
        for (const server of slow) this.dropServer(server, 'SP_ERR_STEP_TIMEOUT', `no slice sum within ${this.stepTimeoutMs / 1000} s (--step-timeout)`);
      }
    } else if (this.machineState === 'waiting for joiners') {
      // the training loop stops at this failure: no later step is asked for
      this.giveUp('SP_ERR_WORKERS_LOST', `every worker was lost by step ${f.step} and none joined within ${this.waitWorkersMs / 1000} s (--wait-workers)`);
    }
  }

  /** Pings every worker that is not computing; one that did not answer the previous ping is dropped. */
  private heartbeat(now: number): void {
    this.nextPingAt = now + this.heartbeatMs;
    const silent: Member[] = [];
    const pinged: ConnectionId[] = [];
    for (const m of [...this.members, ...this.joining]) {
      // a busy worker cannot answer; the step timeout watches it
      const computing = this.machineState === 'in step' && this.members[m.slot] === m && !this.sum.has(m.slot);
      if (computing) continue;
      if (!m.alive) {
        silent.push(m);
        continue;
      }
      m.alive = false;
      pinged.push(m.connection);
    }
    const quiet: SliceServer[] = [];
    for (const server of this.servers) {
      if (!server.alive) quiet.push(server);
      server.alive = false;
      pinged.push(server.connection);
    }
    if (pinged.length > 0) this.actions.push({ type: 'ping', to: pinged });
    for (const m of silent) this.drop(m, 'SP_ERR_HEARTBEAT', 'it did not answer a heartbeat');
    for (const server of quiet) this.dropServer(server, 'SP_ERR_HEARTBEAT', 'it did not answer a heartbeat');
  }

  private onClose(reason: string): void {
    const f = this.inFlight;
    if (f) this.actions.push({ type: 'step-failed', step: f.step, code: 'SP_ERR_CONNECTION_CLOSED', reason: 'the coordinator closed' });
    this.inFlight = null;
    this.machineState = 'closed';
    const everyone = [...this.members, ...this.joining, ...this.servers].map((m) => m.connection);
    if (everyone.length > 0) this.actions.push({ type: 'done', to: everyone, reason });
    this.members = [];
    this.joining = [];
    this.servers = [];
    this.byConnection.clear();
    this.serverByConnection.clear();
    this.pending.clear();
    // what the throttles held back is said before the end
    this.logCrowded(this.crowded.flush());
    this.logSilent(this.silent.flush());
  }
}

/** The host of a host:port address (IPv6 in brackets or not): connections are counted per machine. */
function hostOf(address: string): string {
  const colon = address.lastIndexOf(':');
  return colon < 0 ? address : address.slice(0, colon);
}
