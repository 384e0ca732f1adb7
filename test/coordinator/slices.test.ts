import { describe, expect, it } from 'vitest';
import { BlockBackprop, Model, PieceSum, Rng, blockCount, jsKernels, makeDataset, type Floats, type ModelSpec } from '@shardprop/core';
import { SLICE_SERVERS_WAIT_MS, StepMachine, type Action, type ConnectionId, type MachineEvent, type TrainingPlan } from '@shardprop/coordinator';
import {
  PROTOCOL_VERSION, decodeFromSliceServer, decodeGradient, decodeToWorker, encodeSliceValues, encodeStep, type Step, type Welcome,
} from '@shardprop/protocol';
import { WorkerSession } from '@shardprop/worker';

/**
 * The step machine with --aggregation slices, as scripted events: workers are
 * real WorkerSessions, slice servers are played here with core's PieceSum over
 * the workers' pieces cut to their slices, and every message goes through the
 * protocol's encoding and checks as the adapters pass them. The step's sum is
 * the in-process root bit for bit, whichever slice servers come and go.
 */
const spec: ModelSpec = { layers: [2, 3, 2], activation: 'sigmoid', loss: 'quadratic', dtype: 'float64' };
const BLOCK = 2;
const BATCH = [11, 0, 7, 3, 6, 2, 9, 4, 10];
const STEP_TIMEOUT = 10_000;

type Plan = Pick<TrainingPlan, 'spec' | 'train' | 'kernels' | 'batchSize' | 'block' | 'fingerprint'>;

function makePlan(): Plan {
  const rng = new Rng(11);
  const x = Float64Array.from({ length: 24 }, () => rng.uniform() * 2 - 1);
  const y = Float64Array.from({ length: 24 }, () => rng.uniform());
  return { spec, train: makeDataset('scripted', x, y, 2, 2), kernels: jsKernels, batchSize: BATCH.length, block: BLOCK, fingerprint: 'fp' };
}

const hex = (x: Floats): string => Buffer.from(x.buffer, x.byteOffset, x.byteLength).toString('hex');

class SlicedRun {
  readonly plan = makePlan();
  readonly model = Model.init(spec, 5);
  readonly grad = jsKernels.alloc('float64', this.model.params.length);
  readonly machine: StepMachine;
  readonly actions: Action[] = [];
  readonly sessions = new Map<ConnectionId, WorkerSession>();
  /** Each worker's pieces of the last sliced step it computed. */
  readonly pieces = new Map<number, Floats>();
  now = 0;
  private next = 1;

  constructor(aggregation: 'slices' | 'star' = 'slices') {
    this.machine = new StepMachine({ plan: this.plan, expect: 2, gradientForm: 'dense', aggregation, url: 'ws://10.0.0.1:7070', stepTimeoutMs: STEP_TIMEOUT, heartbeatMs: 60_000 });
  }

  feed(event: Omit<MachineEvent, 'now'>): Action[] {
    const actions = this.machine.handle({ now: this.now, ...event } as MachineEvent);
    this.actions.push(...actions);
    for (const a of actions) {
      if (a.type !== 'send' || a.message.type !== 'welcome') continue;
      for (const x of this.sessions.get(a.to)!.handle({ type: 'message', message: a.message })) if (x.type === 'finish') throw new Error('worker stopped');
    }
    return actions;
  }

  connect(hello: Record<string, unknown>): ConnectionId {
    const connection = this.next++;
    this.feed({ type: 'connected', connection, address: `10.0.0.${connection}:4000` });
    this.feed({ type: 'hello', connection, hello: { type: 'hello', version: PROTOCOL_VERSION, name: `p${connection}`, ...hello } as never });
    return connection;
  }

  worker(): ConnectionId {
    const connection = this.next;
    this.sessions.set(connection, new WorkerSession(undefined));
    return this.connect({});
  }

  server(): ConnectionId {
    return this.connect({ role: 'slice', serves: `ws://10.0.0.${this.next}:9000` });
  }

  lastBroadcast(): Extract<Action, { type: 'broadcast-step' }> {
    return this.actions.filter((a): a is Extract<Action, { type: 'broadcast-step' }> => a.type === 'broadcast-step').at(-1)!;
  }

  /** Worker `connection` computes the last broadcast step (its parameters set as the slice servers would) and reports. */
  answer(connection: ConnectionId): Action[] {
    const a = this.lastBroadcast();
    const slices = a.slices && { addresses: a.slices.addresses, bounds: a.slices.bounds };
    const session = this.sessions.get(connection)!;
    const decoded = decodeToWorker(encodeStep(a.step, a.round, a.batch, a.workers, a.cuts, a.params, slices).map((f) => Buffer.from(f)), session.receiving);
    if (!decoded.ok) throw new Error(decoded.reason);
    const step = decoded.message as Step;
    if (slices) session.receiving!.params.set(this.model.params);
    const [sent] = session.handle({ type: 'step', step, receivedAt: 0, previousSentAt: 0 });
    if (sent.type !== 'send') throw new Error('no gradient');
    if (sent.sliced) this.pieces.set(sent.sliced.workerId, sent.sliced.pieces.slice());
    const expected = this.machine.expecting(connection);
    if (!expected.ok) throw new Error(expected.reason);
    const g = decodeGradient(sent.fragments, expected.message.expectation, expected.message.into);
    if (!g.ok) throw new Error(g.reason);
    return this.feed({ type: 'gradient', connection, gradient: g.message });
  }

  /** Slice server number `j` of the last broadcast sums its slice of every worker's pieces and sends it. */
  sum(j: number): Action[] {
    const a = this.lastBroadcast();
    const { bounds, servers } = a.slices!;
    const size = this.model.params.length;
    const length = bounds[j + 1] - bounds[j];
    const sum = new PieceSum(length, 'float64', jsKernels);
    sum.reslot(a.workers.length);
    sum.deal(a.cuts, blockCount(a.batch.length, BLOCK));
    a.workers.forEach((id, slot) => {
      const pieces = this.pieces.get(id)!;
      for (let p = 0; p < sum.pieces(slot); p++) sum.part(slot).set(pieces.subarray(p * size + bounds[j], p * size + bounds[j + 1]), p * length);
    });
    const frames = encodeSliceValues({ type: 'sum', step: a.step, round: a.round }, sum.sum());
    const expected = this.machine.expectingSum(servers[j]);
    if (!expected.ok) throw new Error(expected.reason);
    const decoded = decodeFromSliceServer(frames, expected.message.expectation, expected.message.into);
    if (!decoded.ok || decoded.message.type !== 'sum') throw new Error(JSON.stringify(decoded));
    return this.feed({ type: 'sum', connection: servers[j], sum: decoded.message });
  }

  step(step: number): Action[] {
    return this.feed({ type: 'step', step, batch: Uint32Array.from(BATCH), params: this.model.params, grad: this.grad });
  }

  /** The in-process gradient sum: the whole batch's blocks, one range, one root. */
  reference(): string {
    const bp = new BlockBackprop(spec, BLOCK, jsKernels);
    const { pieces } = bp.pieces(this.model, this.plan.train, BATCH, 0, blockCount(BATCH.length, BLOCK), new Float64Array(blockCount(BATCH.length, BLOCK)));
    return hex(pieces);
  }
}

const done = (actions: Action[]) => actions.filter((a) => a.type === 'step-done');

describe('the step machine with slice servers', () => {
  it('welcomes workers to a sliced run, deals the parameters to the slice servers, and finishes a step only with every sum: the in-process bits', () => {
    const run = new SlicedRun();
    const [w1, w2] = [run.worker(), run.worker()];
    const welcome = run.actions.find((a) => a.type === 'send' && a.message.type === 'welcome') as { message: Welcome };
    expect(welcome.message.aggregation).toBe('slices');
    // training waits for the workers' slice servers: none comes, so it starts when the wait is over
    run.now = SLICE_SERVERS_WAIT_MS - 1;
    run.feed({ type: 'tick' });
    expect(run.machine.ready).toBe(false);
    expect(run.actions.some((a) => a.type === 'workers-ready')).toBe(false);
    run.now = SLICE_SERVERS_WAIT_MS;
    const started = run.feed({ type: 'tick' });
    expect(run.machine.ready).toBe(true);
    expect(started).toContainEqual({ type: 'workers-ready' });
    expect(started).toContainEqual(expect.objectContaining({ type: 'log', level: 'warn', message: expect.stringContaining('not every worker\'s slice server joined in time') }));
    // without any slice server: the step goes through the coordinator (the same bits)
    run.step(1);
    expect(run.lastBroadcast().slices).toBeUndefined();
    run.answer(w1);
    expect(done(run.answer(w2))).toHaveLength(1);
    const starBits = hex(run.grad);
    expect(starBits).toBe(run.reference());

    const servers = [run.server(), run.server(), run.server()];
    expect(run.actions.filter((a) => a.type === 'log' && a.message.startsWith('slice server joined'))).toHaveLength(3);
    run.grad.fill(0);
    run.step(2);
    const b = run.lastBroadcast();
    const size = run.model.params.length;
    expect(b.slices!.servers).toEqual(servers);
    expect(Array.from(b.slices!.bounds)).toEqual([0, Math.floor(size / 3), Math.floor((2 * size) / 3), size]);
    expect(b.slices!.addresses).toEqual(servers.map((s) => `ws://10.0.0.${s}:9000`));
    run.answer(w1);
    expect(done(run.answer(w2))).toHaveLength(0);
    run.sum(2);
    expect(done(run.sum(0))).toHaveLength(0);
    // a sum already in is not asked for again
    expect(run.machine.expectingSum(servers[0]).ok).toBe(false);
    expect(done(run.sum(1))).toHaveLength(1);
    expect(hex(run.grad)).toBe(starBits);
  });

  it('sends a step again when a slice server is lost before its sum, its slice served by the others; a late one is dropped at the step timeout', () => {
    const run = new SlicedRun();
    const [w1, w2] = [run.worker(), run.worker()];
    const s1 = run.server();
    // training starts once there is a slice server for every worker
    expect(run.machine.ready).toBe(false);
    const s2 = run.server();
    expect(run.machine.ready).toBe(true);
    expect(run.actions.filter((a) => a.type === 'workers-ready')).toHaveLength(1);
    run.step(1);
    const first = run.lastBroadcast();
    run.answer(w1);
    // s1 goes before it summed
    const resent = run.feed({ type: 'closed', connection: s1 });
    const again = resent.find((a) => a.type === 'broadcast-step') as Extract<Action, { type: 'broadcast-step' }>;
    expect(again.round).toBe(first.round + 1);
    expect(again.slices!.servers).toEqual([s2]);
    expect(resent.some((a) => a.type === 'log' && a.message.startsWith('slice server lost: the step goes out again'))).toBe(true);
    run.answer(w1);
    run.answer(w2);
    expect(done(run.sum(0))).toHaveLength(1);
    expect(hex(run.grad)).toBe(run.reference());

    // the next step: both workers answer, the one slice server never sums
    const s3 = run.server();
    run.step(2);
    run.answer(w1);
    run.answer(w2);
    run.sum(1);
    run.now += STEP_TIMEOUT + 1;
    const late = run.feed({ type: 'tick' });
    const drops = late.filter((a) => a.type === 'drop');
    expect(drops).toEqual([expect.objectContaining({ to: s2, code: 'SP_ERR_STEP_TIMEOUT' })]);
    const last = run.lastBroadcast();
    expect(last.slices!.servers).toEqual([s3]);
    run.answer(w1);
    run.answer(w2);
    expect(done(run.sum(0))).toHaveLength(1);
  });

  it('drops the worker a slice server found faulty, and refuses slice servers when it does not slice', () => {
    const run = new SlicedRun();
    const [w1, w2] = [run.worker(), run.worker()];
    const s1 = run.server();
    run.step(1);
    const actions = run.feed({ type: 'faulty', connection: s1, faulty: { type: 'faulty', step: 1, round: run.lastBroadcast().round, workerId: 2, code: 'SP_ERR_WRONG_ARRAY', reason: 'part: grad has 3 values, expected 4' } });
    expect(actions).toContainEqual(expect.objectContaining({ type: 'drop', to: w2, code: 'SP_ERR_WRONG_ARRAY' }));
    expect(run.lastBroadcast().workers).toEqual(Uint32Array.of(1));
    run.answer(w1);
    expect(done(run.sum(0))).toHaveLength(1);
    expect(hex(run.grad)).toBe(run.reference());

    const star = new SlicedRun('star');
    star.worker();
    const refused = star.feed({ type: 'connected', connection: 99, address: '10.0.0.9:4000' }).concat(
      star.feed({ type: 'hello', connection: 99, hello: { type: 'hello', version: PROTOCOL_VERSION, name: 's', role: 'slice', serves: 'ws://10.0.0.9:9000' } }),
    );
    expect(refused).toContainEqual(expect.objectContaining({ type: 'refuse', to: 99, code: 'SP_ERR_NOT_SLICED' }));
  });
});
