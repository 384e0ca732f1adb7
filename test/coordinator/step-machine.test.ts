import { describe, expect, it } from 'vitest';
import { BlockBackprop, Model, Rng, ScalarTree, blockCount, jsKernels, makeDataset, type BatchResult, type Dtype, type Floats, type ModelSpec } from '@shardprop/core';
import { MAX_PENDING_CONNECTIONS, MAX_PENDING_PER_HOST, MAX_WORKERS, StepMachine, THROTTLE_MS, type Action, type ConnectionId, type MachineEvent, type TrainingPlan } from '@shardprop/coordinator';
import { PROTOCOL_VERSION, decodeGradient, decodeToWorker, encodeGradient, encodeStep, type Gradient, type GradientForm, type Step, type Welcome } from '@shardprop/protocol';
import { WorkerSession } from '@shardprop/worker';
import { dealBlocks } from '../../packages/coordinator/src/step-sum.js';

/**
 * The coordinator's rules as scripted events against the pure step machine, no
 * sockets: who joins (welcomed with the whole training set), the step and its
 * deal of blocks, resends after a loss, stale rounds, joiners, step timeouts,
 * every worker gone, heartbeats, hellos that do not come, invalid messages,
 * closing. Behind every connection is a real WorkerSession (the worker
 * package's pure part), or a gradient scripted here with core's BlockBackprop;
 * steps and gradients go through the protocol's encoding and checks exactly as
 * the ws adapter passes them, so the sums are real sums, checked bitwise
 * against the in-process engine (the same blocks, the same tree).
 */
const specOf = (dtype: Dtype): ModelSpec => ({ layers: [2, 3, 2], activation: 'sigmoid', loss: 'quadratic', dtype });
/** The plan's batch: 5 blocks of BLOCK positions, the last one short. */
const BATCH = 9;
const BLOCK = 2;
const BLOCKS = blockCount(BATCH, BLOCK);
const SAMPLES = 12;
/** Batches of the steps: any sample ids (every worker holds them all). */
const FIRST = [11, 0, 7, 3, 6, 2, 9, 4, 10];
const SECOND = [5, 9, 1, 10, 4, 8, 0, 11, 3];

type Plan = Pick<TrainingPlan, 'spec' | 'train' | 'kernels' | 'batchSize' | 'block' | 'fingerprint'>;

function makePlan(dtype: Dtype): Plan {
  const rng = new Rng(7);
  const x = Float64Array.from({ length: SAMPLES * 2 }, () => rng.uniform() * 2 - 1);
  const y = Float64Array.from({ length: SAMPLES * 2 }, () => rng.uniform());
  return { spec: specOf(dtype), train: makeDataset('scripted', x, y, 2, 2), kernels: jsKernels, batchSize: BATCH, block: BLOCK, fingerprint: 'fp-scripted' };
}

const STEP_TIMEOUT = 10_000;
const WAIT_WORKERS = 5000;
const HEARTBEAT = 500;
const HELLO_TIMEOUT = 200;

/** The bytes of an array, as hex: equal strings are equal bits (+0 and -0 differ). */
function hex(x: Floats): string {
  return Buffer.from(x.buffer, x.byteOffset, x.byteLength).toString('hex');
}

/**
 * A machine, its clock, and a WorkerSession behind every connection that said
 * hello. Steps broadcast to a worker wait in its inbox (encoded, as sent) until
 * the test makes it answer, so the order of arrivals is the test's.
 */
class Cluster {
  readonly plan: Plan;
  readonly machine: StepMachine;
  now = 0;
  /** Every action the machine returned, in order. */
  readonly actions: Action[] = [];
  readonly sessions = new Map<ConnectionId, WorkerSession>();
  readonly inbox = new Map<ConnectionId, Buffer[][]>();
  readonly model: Model;
  readonly grad: Floats;
  /** The last gradient the machine was fed, as the protocol decoded it. */
  lastGradient: Gradient | null = null;
  /** Scripted gradients: core's block engine, as a worker runs it. */
  private readonly blocks: BlockBackprop;
  private nextConnection = 1;

  constructor(readonly expect: number, readonly form: GradientForm = 'dense', dtype: Dtype = 'float64', tickMs?: number) {
    this.plan = makePlan(dtype);
    this.model = Model.init(this.plan.spec, 3);
    this.grad = jsKernels.alloc(dtype, this.model.params.length);
    this.blocks = new BlockBackprop(this.plan.spec, BLOCK, jsKernels);
    this.machine = new StepMachine({
      plan: this.plan, expect, gradientForm: form, url: 'ws://127.0.0.1:7070',
      stepTimeoutMs: STEP_TIMEOUT, waitWorkersMs: WAIT_WORKERS, heartbeatMs: HEARTBEAT, helloTimeoutMs: HELLO_TIMEOUT, tickMs,
    });
  }

  /** Feeds an event (at the cluster's clock); hands messages to the sessions; returns the actions. */
  feed(event: Omit<MachineEvent, 'now'> & { now?: number }): Action[] {
    const actions = this.machine.handle({ now: this.now, ...event } as MachineEvent);
    this.actions.push(...actions);
    for (const a of actions) {
      if (a.type === 'send') this.deliver(a.to, a.message);
      if (a.type !== 'broadcast-step') continue;
      this.checkDeal(a);
      // copied: the fragments are views of the parameters, and the inbox keeps them
      const frames = encodeStep(a.step, a.round, a.batch, a.workers, a.cuts, a.params).map((f) => Buffer.from(f));
      for (const to of a.to) this.inbox.get(to)?.push(frames);
    }
    return actions;
  }

  /** Every broadcast names each receiver's range: its worker id in slot order, and cuts as dealBlocks deals them. */
  private checkDeal(a: Extract<Action, { type: 'broadcast-step' }>): void {
    expect(Array.from(a.workers)).toEqual(a.to.map((to) => this.welcomeOf(to)!.workerId));
    const cuts = new Uint32Array(a.to.length + 1);
    dealBlocks(blockCount(a.batch.length, BLOCK), a.to.length, cuts);
    expect(Array.from(a.cuts)).toEqual(Array.from(cuts));
  }

  private deliver(to: ConnectionId, message: Extract<Action, { type: 'send' }>['message']): void {
    const session = this.sessions.get(to);
    if (!session || message.type === 'step') return;
    for (const a of session.handle({ type: 'message', message })) {
      if (a.type === 'finish' && a.exit.reason !== 'done') throw new Error(`worker ${to} stopped: ${JSON.stringify(a.exit)}`);
    }
  }

  /** A new connection that says hello: its connection id. A worker with data of its own says its fingerprint and holds the set. */
  join(name = `w${this.nextConnection}`, hello: Record<string, unknown> = {}, ownData = false): ConnectionId {
    const connection = this.connect();
    this.sessions.set(connection, new WorkerSession(ownData ? this.plan.train : undefined));
    this.inbox.set(connection, []);
    this.feed({ type: 'hello', connection, hello: { type: 'hello', version: PROTOCOL_VERSION, name, ...hello } });
    return connection;
  }

  connect(host = '127.0.0.1'): ConnectionId {
    const connection = this.nextConnection++;
    this.feed({ type: 'connected', connection, address: `${host}:${40000 + connection}` });
    return connection;
  }

  /** The training loop asks for step `step` over `batch`. */
  step(step: number, batch: number[]): Action[] {
    return this.feed({ type: 'step', step, batch: Uint32Array.from(batch), params: this.model.params, grad: this.grad });
  }

  /** The newest (or oldest) step in a worker's inbox, decoded as the worker decodes it. */
  private take(connection: ConnectionId, which: 'newest' | 'oldest'): Step {
    const queue = this.inbox.get(connection)!;
    const frames = which === 'newest' ? queue.pop()! : queue.shift()!;
    if (which === 'newest') queue.length = 0;
    const decoded = decodeToWorker(frames, this.sessions.get(connection)!.receiving);
    if (!decoded.ok || decoded.message.type !== 'step') throw new Error(`worker ${connection} cannot take its step: ${JSON.stringify(decoded)}`);
    return decoded.message;
  }

  /** Worker `connection` answers the newest step in its inbox, its gradient checked as the adapter checks it. */
  answer(connection: ConnectionId, which: 'newest' | 'oldest' = 'newest'): Action[] {
    const step = this.take(connection, which);
    const [sent] = this.sessions.get(connection)!.handle({ type: 'step', step, receivedAt: this.now, previousSentAt: 0 });
    if (sent.type !== 'send') throw new Error(`worker ${connection} sent nothing: ${JSON.stringify(sent)}`);
    return this.receive(connection, sent.fragments);
  }

  /**
   * The same, with the gradient made here by core's BlockBackprop over the
   * blocks the step deals this worker: the pieces (dense) or the factors of
   * its range. `edit` may change the message's head first.
   */
  answerScripted(connection: ConnectionId, edit: (head: Omit<Gradient, 'grad'>) => void = () => undefined): Action[] {
    const step = this.take(connection, 'newest');
    const i = step.workers.indexOf(this.welcomeOf(connection)!.workerId);
    const [first, end] = [step.cuts[i], step.cuts[i + 1]];
    const model = new Model(this.plan.spec, step.params.slice());
    const blockLoss = new Float64Array(end - first);
    let grad: Floats;
    let r: BatchResult;
    if (this.form === 'factors') {
      const count = Math.min(end * BLOCK, step.batch.length) - Math.min(first * BLOCK, step.batch.length);
      grad = jsKernels.alloc(this.plan.spec.dtype, count * this.blocks.factorWidth);
      r = this.blocks.factors(model, this.plan.train, step.batch, first, end, grad, blockLoss);
    } else {
      const made = this.blocks.pieces(model, this.plan.train, step.batch, first, end, blockLoss);
      grad = made.pieces.slice();
      r = made.result;
    }
    const head = { type: 'gradient' as const, step: step.step, round: step.round, count: r.count, blockLoss, correct: r.correct, computeMs: 0, receivedAt: this.now, previousSentAt: 0 };
    edit(head);
    return this.receive(connection, encodeGradient(head, grad));
  }

  /** A gradient's fragments, checked against what the machine expects from `connection`, then fed as the adapter feeds them. */
  private receive(connection: ConnectionId, fragments: Buffer[]): Action[] {
    const expected = this.machine.expecting(connection);
    const checked = expected.ok ? decodeGradient(fragments, expected.message.expectation, expected.message.into) : expected;
    this.lastGradient = checked.ok ? checked.message : null;
    return this.feed(checked.ok ? { type: 'gradient', connection, gradient: checked.message } : { type: 'invalid', connection, code: checked.code, reason: checked.reason });
  }

  /** The last welcome sent to a connection. */
  welcomeOf(connection: ConnectionId): Welcome | undefined {
    for (let i = this.actions.length - 1; i >= 0; i--) {
      const a = this.actions[i];
      if (a.type === 'send' && a.to === connection && a.message.type === 'welcome') return a.message;
    }
    return undefined;
  }

  /** The blocks [first, end) the last step sent to a connection deals it. */
  dealtTo(connection: ConnectionId): [number, number] {
    const a = ofType(this.actions, 'broadcast-step').filter((b) => b.to.includes(connection)).at(-1)!;
    const i = a.to.indexOf(connection);
    return [a.cuts[i], a.cuts[i + 1]];
  }

  /** The in-process engine's gradient sum over `batch` at the cluster's parameters: the tree's root, and its totals. */
  inProcess(batch: number[]): { grad: Floats; result: BatchResult } {
    const grad = jsKernels.alloc(this.plan.spec.dtype, this.grad.length);
    const result = new BlockBackprop(this.plan.spec, BLOCK, jsKernels).gradient(this.model, this.plan.train, batch, grad);
    return { grad, result };
  }
}

/** Actions as short lines, to assert a whole sequence at once: `send welcome to 2`, `log warn worker lost: ...`. */
function outline(actions: Action[]): string[] {
  return actions.map((a) => {
    switch (a.type) {
      case 'send':
        return `send ${a.message.type} to ${a.to}`;
      case 'broadcast-step':
        return `broadcast step ${a.step} round ${a.round} to ${a.to.join(',')}`;
      case 'drop':
        return `drop ${a.to} ${a.code}`;
      case 'log':
        return `log ${a.level} ${a.message}`;
      case 'ping':
      case 'done':
        return `${a.type} ${a.to.join(',')}`;
      default:
        return a.type;
    }
  });
}

const ofType = <T extends Action['type']>(actions: Action[], type: T) => actions.filter((a): a is Extract<Action, { type: T }> => a.type === type);
const logged = (actions: Action[], message: string | RegExp) => ofType(actions, 'log').filter((a) => (typeof message === 'string' ? a.message === message : message.test(a.message)));

/** Every order of 0..n-1. */
function permutations(n: number): number[][] {
  if (n === 0) return [[]];
  return permutations(n - 1).flatMap((p) => Array.from({ length: n }, (_, at) => [...p.slice(0, at), n - 1, ...p.slice(at)]));
}

/** The last step's sum is bitwise the in-process engine's: the root of the same tree, the same loss sum, count and correct. */
function expectInProcess(c: Cluster, done: Action[], batch: number[]): void {
  const [finished] = ofType(done, 'step-done');
  expect(finished).toBeDefined();
  const want = c.inProcess(batch);
  expect(hex(c.grad)).toBe(hex(want.grad));
  expect(finished.result).toEqual(want.result);
  expect(Object.is(finished.result.lossSum, want.result.lossSum)).toBe(true);
}

const ALL_IDS = Array.from({ length: SAMPLES }, (_, i) => i);

describe('the step machine: joining', () => {
  it('waits for the expected workers, then welcomes each with the whole training set (ids and rows) and says training may start', () => {
    const c = new Cluster(2);
    expect(c.machine.state).toBe('waiting for workers');
    const a = c.join('a');
    expect(ofType(c.actions, 'workers-ready')).toHaveLength(0);
    expect(c.welcomeOf(a)).toBeUndefined(); // welcomed when training starts
    const b = c.join('b');
    expect(c.machine.state).toBe('idle');
    expect(ofType(c.actions, 'workers-ready')).toHaveLength(1);
    for (const id of [a, b]) {
      const { shard, total, block } = c.welcomeOf(id)!;
      expect(Array.from(shard.indices)).toEqual(ALL_IDS);
      expect([hex(shard.x!), hex(shard.y!)]).toEqual([hex(c.plan.train.x), hex(c.plan.train.y)]);
      expect([total, block, shard.inputs, shard.outputs]).toEqual([SAMPLES, BLOCK, 2, 2]);
    }
    const welcomes = ofType(c.actions, 'send').filter((s) => s.message.type === 'welcome');
    expect(welcomes.map((w) => w.message.type === 'welcome' && [w.to, w.message.version, w.message.workerId, w.message.gradientForm, w.message.kernel, w.message.fingerprint])).toEqual([
      [a, PROTOCOL_VERSION, 1, 'dense', 'js', 'fp-scripted'],
      [b, PROTOCOL_VERSION, 2, 'dense', 'js', 'fp-scripted'],
    ]);
  });

  it('before the first step the workers are idle and dealt nothing; the step deals each its blocks', () => {
    const c = new Cluster(2);
    c.join('a');
    c.join('b');
    expect(c.machine.snapshot().map((w) => [w.name, w.state, w.shard])).toEqual([['a', 'idle', 0], ['b', 'idle', 0]]);
    c.step(1, FIRST);
    // 5 blocks: a gets [0, 2) (4 samples), b [2, 5) (2 + 2 + 1)
    expect(c.machine.snapshot().map((w) => [w.name, w.state, w.shard])).toEqual([['a', 'computing', 4], ['b', 'computing', 5]]);
  });

  it('a worker with the data set of its own is welcomed with the ids alone, and its part adds up with the others\' all the same', () => {
    const c = new Cluster(2);
    const own = c.join('own', { fingerprint: 'fp-scripted' }, true);
    const plain = c.join('plain');
    const { shard } = c.welcomeOf(own)!;
    expect(Array.from(shard.indices)).toEqual(ALL_IDS);
    expect([shard.x, shard.y]).toEqual([undefined, undefined]);
    expect(c.welcomeOf(plain)!.shard.x).toBeDefined();
    c.step(1, FIRST);
    c.answer(own);
    expectInProcess(c, c.answer(plain), FIRST);
  });

  it('refuses another protocol version, a worker beyond those expected, and other data, each with its code', () => {
    const c = new Cluster(1);
    const future = c.connect();
    c.feed({ type: 'hello', connection: future, hello: { type: 'hello', version: PROTOCOL_VERSION + 1, name: 'future' } });
    expect(ofType(c.actions, 'refuse').at(-1)).toMatchObject({ to: future, code: 'SP_ERR_VERSION', closeCode: 1002 });
    const other = c.connect();
    c.feed({ type: 'hello', connection: other, hello: { type: 'hello', version: PROTOCOL_VERSION, name: 'x', fingerprint: 'not-fp' } });
    expect(ofType(c.actions, 'refuse').at(-1)).toMatchObject({ to: other, code: 'SP_ERR_DATA_MISMATCH', closeCode: 1008 });
    expect(ofType(c.actions, 'refuse').at(-1)!.reason).toMatch(/fingerprint not-fp on the worker, fp-scripted here/);
    c.join('only');
    const extra = c.connect();
    c.feed({ type: 'hello', connection: extra, hello: { type: 'hello', version: PROTOCOL_VERSION, name: 'extra' } });
    // training started with the one expected: the extra one is a joiner, not refused
    expect(ofType(c.actions, 'refuse')).toHaveLength(2);
    expect(logged(c.actions, /worker joined during training/)).toHaveLength(1);
  });

  it('a worker that leaves before training frees its place for another', () => {
    const c = new Cluster(2);
    const a = c.join('a');
    c.feed({ type: 'closed', connection: a });
    expect(logged(c.actions, 'worker left before training started')).toHaveLength(1);
    c.join('b');
    expect(c.machine.state).toBe('waiting for workers');
    c.join('c');
    expect(c.machine.state).toBe('idle');
    expect(c.machine.snapshot().map((w) => [w.name, w.state])).toEqual([['b', 'idle'], ['c', 'idle'], ['a', 'left']]);
  });

  it('drops a connection that sends no hello in time; a flood of them is logged a line at a time', () => {
    const c = new Cluster(1);
    const silent = c.connect();
    c.now = HELLO_TIMEOUT - 1;
    expect(ofType(c.feed({ type: 'tick' }), 'drop')).toHaveLength(0);
    c.now = HELLO_TIMEOUT;
    const first = c.feed({ type: 'tick' });
    expect(ofType(first, 'drop')).toEqual([{ type: 'drop', to: silent, code: 'SP_ERR_HELLO_TIMEOUT', reason: 'no hello in time' }]);
    expect(logged(first, 'dropped connections that sent no hello in time')[0].fields).toMatchObject({ dropped: 1 });
    for (let i = 0; i < 5; i++) c.connect('10.0.0.9');
    c.now += HELLO_TIMEOUT;
    const more = c.feed({ type: 'tick' });
    expect(ofType(more, 'drop')).toHaveLength(5);
    expect(logged(more, /no hello/)).toHaveLength(0); // within the window: counted, not logged
    c.now += THROTTLE_MS;
    expect(logged(c.feed({ type: 'tick' }), 'dropped connections that sent no hello in time')[0].fields).toMatchObject({ dropped: 5 });
  });

  it(`makes way for a newcomer when ${MAX_PENDING_CONNECTIONS} have not said hello, its host's oldest first: a flood keeps no worker out`, () => {
    const c = new Cluster(1);
    const flood = Array.from({ length: MAX_PENDING_PER_HOST }, () => c.connect('10.0.0.1'));
    expect(ofType(c.actions, 'drop')).toHaveLength(0);
    // one more from the same host: its own oldest goes
    const more = c.connect('10.0.0.1');
    expect(ofType(c.actions, 'drop')).toEqual([{ type: 'drop', to: flood[0], code: 'SP_ERR_TOO_MANY_PENDING', reason: 'too many connections have not said hello yet' }]);
    expect(logged(c.actions, /too many were waiting/)[0].fields).toMatchObject({ dropped: 1, address: expect.stringMatching(/^10\.0\.0\.1:/) });
    // other hosts fill every place; a newcomer then replaces the oldest of all
    for (let h = 2; c.machine.awaitsHello(more) && ofType(c.actions, 'drop').length === 1 && h < 100; h++) {
      for (let i = 0; i < MAX_PENDING_PER_HOST && ofType(c.actions, 'drop').length === 1; i++) c.connect(`10.0.0.${h}`);
    }
    const drops = ofType(c.actions, 'drop');
    expect(drops).toHaveLength(2);
    expect(drops[1].to).toBe(flood[1]); // the oldest still waiting
    expect(logged(c.actions, /too many were waiting/)).toHaveLength(1); // the second is counted for the next line
    // the honest worker that came last says hello and is in
    const honest = c.connect('192.168.1.7');
    c.feed({ type: 'hello', connection: honest, hello: { type: 'hello', version: PROTOCOL_VERSION, name: 'honest' } });
    expect(c.machine.state).toBe('idle');
    expect(c.machine.snapshot().map((w) => w.name)).toEqual(['honest']);
    c.now = THROTTLE_MS;
    expect(logged(c.feed({ type: 'tick' }), /too many were waiting/)[0].fields).toMatchObject({ dropped: 2 });
  });

  it('says at the close how many connections it dropped that were not logged yet', () => {
    const c = new Cluster(1);
    for (let i = 0; i < MAX_PENDING_PER_HOST + 3; i++) c.connect('10.0.0.1');
    expect(logged(c.actions, /too many were waiting/).map((l) => l.fields.dropped)).toEqual([1]);
    c.now = HELLO_TIMEOUT;
    c.feed({ type: 'tick' }); // the 16 still waiting time out: logged at once, the first of their kind
    const closing = c.feed({ type: 'close', reason: 'done' });
    expect(logged(closing, /too many were waiting/).map((l) => l.fields.dropped)).toEqual([2]);
  });

  it('drops a connection whose first message is not a valid hello, with the protocol\'s code', () => {
    const c = new Cluster(1);
    const rogue = c.connect();
    const actions = c.feed({ type: 'invalid', connection: rogue, code: 'SP_ERR_UNDECODABLE', reason: 'undecodable message: junk' });
    expect(ofType(actions, 'drop')).toEqual([{ type: 'drop', to: rogue, code: 'SP_ERR_UNDECODABLE', reason: 'undecodable message: junk' }]);
    expect(logged(actions, 'dropped a connection with an invalid hello')).toHaveLength(1);
    expect(c.machine.awaitsHello(rogue)).toBe(false);
  });
});


describe('the step machine: a step', () => {
  it('broadcasts the step once to every member with the deal (worker ids in slot order, block cuts); the sum is bitwise the in-process one whatever order they arrive in', () => {
    for (const order of permutations(3)) {
      const c = new Cluster(3);
      const ids = [c.join(), c.join(), c.join()];
      const broadcast = ofType(c.step(1, FIRST), 'broadcast-step');
      expect(broadcast).toHaveLength(1);
      expect(broadcast[0]).toMatchObject({ to: ids, step: 1, round: 1 });
      expect([Array.from(broadcast[0].workers), Array.from(broadcast[0].cuts)]).toEqual([[1, 2, 3], [0, 1, 3, 5]]);
      expect(c.machine.state).toBe('in step');
      let done: Action[] = [];
      for (const i of order) done = c.answer(ids[i]);
      expectInProcess(c, done, FIRST);
      expect(c.machine.state).toBe('idle');
    }
  });

  for (const form of ['dense', 'factors'] as const) {
    for (const dtype of ['float64', 'float32'] as const) {
      it(`${form}, ${dtype}: the parts of 1, 2, 3 or 4 workers, scripted with core's BlockBackprop, add up bitwise to the in-process root in every order of arrival`, () => {
        for (let n = 1; n <= 4; n++) {
          for (const order of permutations(n)) {
            const c = new Cluster(n, form, dtype);
            const ids = Array.from({ length: n }, () => c.join());
            c.step(1, FIRST);
            let done: Action[] = [];
            for (const i of order) done = c.answerScripted(ids[i]);
            expectInProcess(c, done, FIRST);
          }
        }
      });
    }
  }

  it('float32: the tree is what fixes the bits; a left-to-right sum of the same blocks differs from its root (so the tests above can tell)', () => {
    const c = new Cluster(1, 'dense', 'float32');
    const bp = new BlockBackprop(c.plan.spec, BLOCK, jsKernels);
    const loss = new Float64Array(1);
    const running = bp.pieces(c.model, c.plan.train, FIRST, 0, 1, loss).pieces.slice();
    for (let j = 1; j < BLOCKS; j++) {
      const block = bp.pieces(c.model, c.plan.train, FIRST, j, j + 1, loss).pieces;
      for (let i = 0; i < running.length; i++) running[i] += block[i];
    }
    expect(hex(running)).not.toBe(hex(c.inProcess(FIRST).grad));
  });

  it('the loss sum is the tree\'s over the blocks\' loss sums (core\'s ScalarTree), not a running sum of the parts', () => {
    for (let n = 1; n <= 3; n++) {
      const c = new Cluster(n);
      const ids = Array.from({ length: n }, () => c.join());
      c.step(1, FIRST);
      const losses = new Float64Array(BLOCKS);
      const bp = new BlockBackprop(c.plan.spec, BLOCK, jsKernels);
      for (let j = 0; j < BLOCKS; j++) bp.pieces(c.model, c.plan.train, FIRST, j, j + 1, losses.subarray(j, j + 1));
      let done: Action[] = [];
      for (const id of ids) done = c.answer(id);
      expect(ofType(done, 'step-done')[0].result.lossSum).toBe(new ScalarTree().sum(losses, BLOCKS));
    }
    // block losses where the order shows: 2^53 + 1 rounds back to 2^53, and the tree adds 1 + 1 first
    const c = new Cluster(2);
    const [a, b] = [c.join(), c.join()];
    c.step(1, FIRST);
    expect([c.dealtTo(a), c.dealtTo(b)]).toEqual([[0, 2], [2, 5]]);
    c.answerScripted(a, (head) => void (head.blockLoss = Float64Array.of(1, 2 ** 53)));
    const done = c.answerScripted(b, (head) => void (head.blockLoss = Float64Array.of(1, 1, 1)));
    const { lossSum } = ofType(done, 'step-done')[0].result;
    expect(lossSum).toBe(new ScalarTree().sum([1, 2 ** 53, 1, 1, 1], BLOCKS));
    expect(lossSum).toBe(2 ** 53 + 4); // ((1 + 2^53) + (1 + 1)) + 1
    // each worker's own figure (for the trace) is its blocks' sum
    expect(c.machine.contributions().map((w) => [w.workerId, w.count, w.lossSum])).toEqual([[1, 4, 2 ** 53], [2, 5, 3]]);
  });

  for (const form of ['dense', 'factors'] as const) {
    it(`${form}: with more workers than blocks, a worker dealt none sends an empty gradient (count 0, no values, no block loss) and it is accepted`, () => {
      const c = new Cluster(BLOCKS + 1, form);
      const ids = Array.from({ length: BLOCKS + 1 }, () => c.join());
      const [broadcast] = ofType(c.step(1, FIRST), 'broadcast-step');
      expect(Array.from(broadcast.cuts)).toEqual([0, 0, 1, 2, 3, 4, 5]);
      expect(c.machine.expecting(ids[0])).toMatchObject({ ok: true, message: { expectation: { count: 0, blocks: 0, pieces: 0 } } });
      expect(outline(c.answer(ids[0]))).toEqual([]);
      expect(c.lastGradient).toMatchObject({ count: 0, correct: 0 });
      expect([c.lastGradient!.grad.length, c.lastGradient!.blockLoss.length]).toEqual([0, 0]);
      expect(c.machine.snapshot()[0]).toMatchObject({ state: 'waiting', shard: 0 });
      let done: Action[] = [];
      for (const id of ids.slice(1).reverse()) done = c.answer(id);
      expectInProcess(c, done, FIRST);
      expect(c.machine.contributions()[0]).toMatchObject({ count: 0, lossSum: 0 });
      // the same from core's engine: an empty range makes no pieces, no factors
      c.step(2, SECOND);
      for (const id of ids) done = c.answerScripted(id);
      expectInProcess(c, done, SECOND);
      // a worker dealt nothing that sends a block's loss all the same is dropped
      c.step(3, FIRST);
      const wrong = c.answerScripted(ids[0], (head) => void (head.blockLoss = Float64Array.of(0.5)));
      expect(ofType(wrong, 'drop')).toEqual([expect.objectContaining({ to: ids[0], code: 'SP_ERR_BAD_FIELD' })]);
    });
  }

  it('factors: each worker sends the factors of its blocks, block after block; each contributes its blocks\' samples', () => {
    const c = new Cluster(3, 'factors');
    const ids = [c.join(), c.join(), c.join()];
    c.step(1, SECOND);
    let done: Action[] = [];
    for (const id of [ids[1], ids[2], ids[0]]) done = c.answer(id);
    expectInProcess(c, done, SECOND);
    // blocks [0,1), [1,3), [3,5): 2, 4 and 2 + 1 samples
    expect(c.machine.contributions().map((w) => [w.workerId, w.count])).toEqual([[1, 2], [2, 4], [3, 3]]);
    expect(c.lastGradient!.grad.length).toBe(2 * new BlockBackprop(c.plan.spec, BLOCK, jsKernels).factorWidth);
  });

  it('a second gradient from the same worker, or one from a worker with no step, is a gradient nobody asked for', () => {
    const c = new Cluster(2);
    const [a, b] = [c.join(), c.join()];
    expect(c.machine.expecting(a)).toMatchObject({ ok: false, code: 'SP_ERR_UNASKED' });
    c.step(1, FIRST);
    c.answer(a);
    expect(c.machine.expecting(a)).toMatchObject({ ok: false, code: 'SP_ERR_UNASKED' });
    const dropped = c.feed({ type: 'invalid', connection: a, code: 'SP_ERR_UNASKED', reason: 'a gradient nobody asked for' });
    expect(ofType(dropped, 'drop')).toEqual([{ type: 'drop', to: a, code: 'SP_ERR_UNASKED', reason: 'invalid message: a gradient nobody asked for' }]);
    // a is gone: the step goes out again to b alone, who is then dealt every block
    expect(ofType(dropped, 'broadcast-step')).toEqual([expect.objectContaining({ to: [b], round: 2 })]);
    expect(c.dealtTo(b)).toEqual([0, BLOCKS]);
    expectInProcess(c, c.answer(b), FIRST);
  });
});

describe('the step machine: faults', () => {
  it('a member lost mid-step: its blocks go to the others, the step goes out again with a new deal, and a gradient of the old round is ignored', () => {
    const c = new Cluster(3);
    const [a, b, d] = [c.join('a'), c.join('b'), c.join('d')];
    c.step(1, FIRST);
    expect([a, b, d].map((id) => c.dealtTo(id))).toEqual([[0, 1], [1, 3], [3, 5]]);
    c.answer(a, 'oldest'); // a answered round 1 before the loss
    const lost = c.feed({ type: 'closed', connection: b });
    // nothing but the step goes out: every worker holds every sample
    expect(outline(lost)).toEqual(['log warn worker lost: its blocks go to the others', `broadcast step 1 round 2 to ${a},${d}`]);
    expect(logged(lost, 'worker lost: its blocks go to the others')[0].fields).toMatchObject({ step: 1, reason: 'the connection closed', left: 2 });
    const [again] = ofType(lost, 'broadcast-step');
    expect([Array.from(again.workers), Array.from(again.cuts)]).toEqual([[1, 3], [0, 2, 5]]);
    // d still answers the first sending: stale, not an offence
    const stale = c.answer(d, 'oldest');
    expect(stale).toEqual([]); // no drop, no log: nothing at all
    c.answer(a);
    expectInProcess(c, c.answer(d), FIRST);
  });

  it('an invalid gradient drops its sender with the protocol\'s code, and the step goes on without it', () => {
    const c = new Cluster(2);
    const [a, b] = [c.join(), c.join()];
    c.step(1, FIRST);
    const actions = c.feed({ type: 'invalid', connection: a, code: 'SP_ERR_NOT_FINITE', reason: 'gradient: grad holds NaN or infinite values' });
    expect(logged(actions, 'dropped a worker')[0].fields).toMatchObject({ workerId: 1, code: 'SP_ERR_NOT_FINITE', reason: 'invalid message: gradient: grad holds NaN or infinite values' });
    expect(ofType(actions, 'drop')).toEqual([{ type: 'drop', to: a, code: 'SP_ERR_NOT_FINITE', reason: 'invalid message: gradient: grad holds NaN or infinite values' }]);
    expect(ofType(actions, 'broadcast-step')).toEqual([expect.objectContaining({ to: [b], round: 2 })]);
    expectInProcess(c, c.answer(b), FIRST);
    // the socket's close comes after the drop: nothing more happens
    expect(c.feed({ type: 'closed', connection: a })).toEqual([]);
  });

  it('a worker that does not answer within --step-timeout is dropped, all the late ones at once, and the step goes out once more', () => {
    const c = new Cluster(3);
    const [a, b, d] = [c.join(), c.join(), c.join()];
    c.step(1, FIRST);
    c.answer(b);
    c.now = STEP_TIMEOUT - 1;
    expect(ofType(c.feed({ type: 'tick' }), 'drop')).toHaveLength(0);
    c.now = STEP_TIMEOUT;
    const timedOut = c.feed({ type: 'tick' });
    expect(outline(timedOut)).toEqual([
      'log warn dropped a worker',
      `drop ${a} SP_ERR_STEP_TIMEOUT`,
      'log warn worker lost: its blocks go to the others',
      'log warn dropped a worker',
      `drop ${d} SP_ERR_STEP_TIMEOUT`,
      'log warn worker lost: its blocks go to the others',
      `broadcast step 1 round 2 to ${b}`,
    ]);
    expect(ofType(timedOut, 'drop').map((x) => [x.to, x.code, x.reason])).toEqual([
      [a, 'SP_ERR_STEP_TIMEOUT', 'no gradient within 10 s (--step-timeout)'],
      [d, 'SP_ERR_STEP_TIMEOUT', 'no gradient within 10 s (--step-timeout)'],
    ]);
    expect(ofType(timedOut, 'broadcast-step')).toEqual([expect.objectContaining({ to: [b], round: 2 })]);
    expect(c.dealtTo(b)).toEqual([0, BLOCKS]);
    expectInProcess(c, c.answer(b), FIRST);
  });

  it('with ticks every 100 ms, time the coordinator was held up (a gap between ticks) does not count against --step-timeout', () => {
    const c = new Cluster(2, 'dense', 'float64', 100);
    const [a, b] = [c.join(), c.join()];
    c.step(1, FIRST);
    c.answer(b);
    // b, idle, answers every ping at once, as a live worker does
    const dropsAt = (now: number) => {
      c.now = now;
      const actions = c.feed({ type: 'tick' });
      if (ofType(actions, 'ping').some((p) => p.to.includes(b))) c.feed({ type: 'pong', connection: b });
      return ofType(actions, 'drop');
    };
    for (let t = 100; t <= 500; t += 100) expect(dropsAt(t)).toHaveLength(0);
    // held up for 30 s, three step timeouts: on waking, a is not late yet
    expect(dropsAt(30_500)).toHaveLength(0);
    // its deadline moved by the 29.9 s held up: 10 s of the coordinator's running time in all
    for (let t = 30_600; t < 39_900; t += 100) expect(dropsAt(t)).toHaveLength(0);
    expect(dropsAt(39_900).map((x) => [x.to, x.code])).toEqual([[a, 'SP_ERR_STEP_TIMEOUT']]);
  });

  it('every worker gone: the step waits --wait-workers for one to join, who takes it over; without one, the step fails', () => {
    const c = new Cluster(1);
    const a = c.join();
    c.step(1, FIRST);
    const gone = c.feed({ type: 'closed', connection: a });
    expect(c.machine.state).toBe('waiting for joiners');
    expect(logged(gone, /^worker 1 \(w1\) was lost at step 1 \(the connection closed\) and no worker is left: waiting up to 5 s for a worker to join \(shardprop worker --connect ws:\/\/127\.0\.0\.1:7070\)$/)).toHaveLength(1);
    c.now = WAIT_WORKERS - 1;
    c.feed({ type: 'tick' });
    const rescue = c.join('rescue');
    expect(logged(c.actions, 'workers are back: the step goes on')).toHaveLength(1);
    expect(Array.from(c.welcomeOf(rescue)!.shard.indices)).toEqual(ALL_IDS);
    const [resent] = ofType(c.actions, 'broadcast-step').slice(-1);
    expect(resent).toMatchObject({ to: [rescue], step: 1, round: 2 });
    expect([Array.from(resent.workers), Array.from(resent.cuts)]).toEqual([[2], [0, BLOCKS]]);
    expectInProcess(c, c.answer(rescue), FIRST);

    // and once more, with nobody coming back
    c.step(2, SECOND);
    c.feed({ type: 'closed', connection: rescue });
    c.now += WAIT_WORKERS;
    const failed = c.feed({ type: 'tick' });
    expect(ofType(failed, 'step-failed')).toEqual([{ type: 'step-failed', step: 2, code: 'SP_ERR_WORKERS_LOST', reason: 'every worker was lost by step 2 and none joined within 5 s (--wait-workers)' }]);
    expect(c.machine.state).toBe('idle');
  });

  it('a step asked for with no worker left waits for one from the start', () => {
    const c = new Cluster(1);
    const a = c.join();
    c.feed({ type: 'closed', connection: a }); // between steps
    expect(c.machine.snapshot().map((w) => w.state)).toEqual(['left']);
    const asked = c.step(1, FIRST);
    expect(outline(asked)).toEqual(['log warn no worker is left: waiting up to 5 s for a worker to join (shardprop worker --connect ws://127.0.0.1:7070)']);
    expect(c.machine.state).toBe('waiting for joiners');
    c.now = WAIT_WORKERS;
    expect(outline(c.feed({ type: 'tick' }))).toEqual(['step-failed']);
  });

  it('a worker lost between steps is logged after the last step; the next step deals every block to those left', () => {
    const c = new Cluster(2);
    const [a, b] = [c.join(), c.join()];
    c.step(1, FIRST);
    c.answer(a);
    c.answer(b);
    const lost = c.feed({ type: 'closed', connection: a });
    expect(logged(lost, 'worker lost: its blocks go to the others')[0].fields).toMatchObject({ step: 1, left: 1 });
    expect(ofType(lost, 'broadcast-step')).toHaveLength(0); // nothing is in flight
    expect(outline(c.step(2, SECOND))).toEqual([`broadcast step 2 round 2 to ${b}`]);
    expect(c.dealtTo(b)).toEqual([0, BLOCKS]);
    expectInProcess(c, c.answer(b), SECOND);
  });

  it('a gradient for another step or a later round drops its sender, with the protocol\'s code', () => {
    for (const [over, code] of [[{ step: 2 }, 'SP_ERR_WRONG_STEP'], [{ round: 9 }, 'SP_ERR_WRONG_ROUND']] as const) {
      const c = new Cluster(2);
      const [a, b] = [c.join(), c.join()];
      c.step(1, FIRST);
      const expected = c.machine.expecting(a);
      if (!expected.ok) throw new Error(expected.reason);
      const { expectation, into } = expected.message;
      const head = { type: 'gradient' as const, step: 1, round: 1, count: expectation.count, blockLoss: new Float64Array(expectation.blocks), correct: 0, computeMs: 0, receivedAt: 0, previousSentAt: 0, ...over };
      const checked = decodeGradient(encodeGradient(head, new Float64Array(expectation.pieces * expectation.size)), expectation, into);
      expect(checked).toMatchObject({ ok: false, code });
      if (checked.ok) return;
      const actions = c.feed({ type: 'invalid', connection: a, code: checked.code, reason: checked.reason });
      expect(outline(actions)).toEqual(['log warn dropped a worker', `drop ${a} ${code}`, 'log warn worker lost: its blocks go to the others', `broadcast step 1 round 2 to ${b}`]);
    }
  });

  it('a worker joining during training is welcomed at once with the whole training set, then dealt blocks from the next sending on', () => {
    const c = new Cluster(2);
    const [a, b] = [c.join(), c.join()];
    c.step(1, FIRST);
    const late = c.join('late');
    const welcome = c.welcomeOf(late)!;
    expect([welcome.workerId, Array.from(welcome.shard.indices)]).toEqual([3, ALL_IDS]);
    expect(hex(welcome.shard.x!)).toBe(hex(c.plan.train.x));
    expect(c.machine.snapshot().find((w) => w.name === 'late')).toMatchObject({ state: 'joining', shard: 0 });
    // the step in flight is not sent to it again
    expect(ofType(c.actions, 'broadcast-step')).toHaveLength(1);
    c.answer(a);
    expectInProcess(c, c.answer(b), FIRST);
    const next = c.step(2, SECOND);
    // nothing but the step: no data moves when the deal changes
    expect(outline(next)).toEqual([`broadcast step 2 round 2 to ${a},${b},${late}`]);
    expect([a, b, late].map((id) => c.dealtTo(id))).toEqual([[0, 1], [1, 3], [3, 5]]);
    c.answer(late);
    c.answer(a);
    expectInProcess(c, c.answer(b), SECOND);
  });

  it('a joining worker that leaves again changes nothing', () => {
    const c = new Cluster(1);
    const a = c.join();
    c.step(1, FIRST);
    const late = c.join('late');
    const left = c.feed({ type: 'closed', connection: late });
    expect(logged(left, 'a joining worker left')).toHaveLength(1);
    expect(ofType(left, 'broadcast-step')).toHaveLength(0);
    expectInProcess(c, c.answer(a), FIRST);
  });
});

describe('the step machine: heartbeats and closing', () => {
  it('pings the workers that are not computing; one that misses a ping by the next is dropped; a computing one never is', () => {
    const c = new Cluster(2);
    const [a, b] = [c.join(), c.join()];
    c.feed({ type: 'tick' }); // the first tick starts the heartbeat's clock
    c.step(1, FIRST);
    c.answer(a); // a waits, b computes
    c.now = HEARTBEAT;
    const first = c.feed({ type: 'tick' });
    expect(ofType(first, 'ping')).toEqual([{ type: 'ping', to: [a] }]);
    c.feed({ type: 'pong', connection: a });
    c.now = 2 * HEARTBEAT;
    expect(ofType(c.feed({ type: 'tick' }), 'ping')).toEqual([{ type: 'ping', to: [a] }]);
    // a stays silent this time; b is still computing (the step timeout watches it, not the heartbeat)
    c.now = 3 * HEARTBEAT;
    const third = c.feed({ type: 'tick' });
    expect(outline(third)).toEqual([
      'log warn dropped a worker',
      `drop ${a} SP_ERR_HEARTBEAT`,
      'log warn worker lost: its blocks go to the others',
      `broadcast step 1 round 2 to ${b}`,
    ]);
    expect(ofType(third, 'drop')).toEqual([{ type: 'drop', to: a, code: 'SP_ERR_HEARTBEAT', reason: 'it did not answer a heartbeat' }]);
    expect(ofType(third, 'drop').some((d) => d.to === b)).toBe(false);
    // a's loss sends the step again, to b
    expect(ofType(third, 'broadcast-step')).toEqual([expect.objectContaining({ to: [b], round: 2 })]);
  });

  it(`refuses a worker beyond ${MAX_WORKERS} during training`, () => {
    const c = new Cluster(1);
    for (let i = 0; i < MAX_WORKERS; i++) c.join();
    const extra = c.connect();
    c.feed({ type: 'hello', connection: extra, hello: { type: 'hello', version: PROTOCOL_VERSION, name: 'one too many' } });
    expect(ofType(c.actions, 'refuse')).toEqual([expect.objectContaining({ to: extra, code: 'SP_ERR_FULL', reason: `training already has ${MAX_WORKERS} workers` })]);
  });

  it('a joiner that stops answering pings is dropped like any worker', () => {
    const c = new Cluster(1);
    c.join();
    c.feed({ type: 'tick' });
    const late = c.join('late');
    c.now = HEARTBEAT;
    expect(ofType(c.feed({ type: 'tick' }), 'ping')).toEqual([{ type: 'ping', to: [1, late] }]);
    c.feed({ type: 'pong', connection: 1 });
    c.now = 2 * HEARTBEAT;
    const dropped = c.feed({ type: 'tick' });
    expect(outline(dropped)).toEqual(['ping 1', 'log warn dropped a worker', `drop ${late} SP_ERR_HEARTBEAT`, 'log warn a joining worker left']);
  });

  it('a heartbeat loss and the step\'s deadline in one tick: the step goes out again first, so the computing worker is not late', () => {
    const c = new Cluster(2);
    const [a, b] = [c.join(), c.join()];
    c.feed({ type: 'tick' });
    c.step(1, FIRST);
    c.answer(a);
    c.now = HEARTBEAT;
    c.feed({ type: 'tick' }); // a pinged, and stays silent
    c.now = STEP_TIMEOUT; // the next heartbeat and the step's deadline at once
    const both = c.feed({ type: 'tick' });
    expect(outline(both)).toEqual(['log warn dropped a worker', `drop ${a} SP_ERR_HEARTBEAT`, 'log warn worker lost: its blocks go to the others', `broadcast step 1 round 2 to ${b}`]);
    expectInProcess(c, c.answer(b), FIRST);
  });

  it('a stop fails a step that waits for joiners at once, and one asked for later never waits; a step being computed goes on', () => {
    const c = new Cluster(2);
    const [a, b] = [c.join(), c.join()];
    c.step(1, FIRST);
    expect(outline(c.feed({ type: 'stop' }))).toEqual([]); // the workers compute: the step finishes
    c.answer(a);
    expect(ofType(c.answer(b), 'step-done')).toHaveLength(1);
    c.step(2, SECOND);
    c.feed({ type: 'closed', connection: a });
    const gone = c.feed({ type: 'closed', connection: b });
    expect(outline(gone)).toEqual(['log warn worker lost: its blocks go to the others', 'step-failed']);
    expect(ofType(gone, 'step-failed')).toEqual([{ type: 'step-failed', step: 2, code: 'SP_ERR_STOPPED', reason: 'stopped while no worker was left to compute step 2' }]);

    const w = new Cluster(1);
    const only = w.join();
    w.step(1, FIRST);
    w.feed({ type: 'closed', connection: only });
    expect(w.machine.state).toBe('waiting for joiners');
    expect(ofType(w.feed({ type: 'stop' }), 'step-failed')).toEqual([expect.objectContaining({ step: 1, code: 'SP_ERR_STOPPED' })]);
    expect(w.machine.state).toBe('idle');
  });

  it('a step that diverged fails without blaming anyone, and its gradients still on the way are stale', () => {
    const c = new Cluster(2);
    const [a, b] = [c.join(), c.join()];
    c.step(1, FIRST);
    c.answer(a);
    const failed = c.feed({ type: 'diverged', reason: 'its risk is not a finite number' });
    expect(failed).toEqual([{ type: 'step-failed', step: 1, code: 'SP_ERR_DIVERGED', reason: 'its risk is not a finite number' }]);
    expect(c.machine.expecting(b)).toMatchObject({ ok: false, code: 'SP_ERR_STALE_ROUND' });
    expect(c.feed({ type: 'invalid', connection: b, code: 'SP_ERR_STALE_ROUND', reason: 'a gradient for a step given up' })).toEqual([]);
    expect(c.machine.snapshot()).toHaveLength(2); // nobody dropped
  });

  it('closing while waiting for joiners fails the step; a connection without hello is left to the adapter', () => {
    const c = new Cluster(1);
    const a = c.join();
    c.step(1, FIRST);
    c.feed({ type: 'closed', connection: a });
    c.connect();
    expect(outline(c.feed({ type: 'close', reason: 'training finished' }))).toEqual(['step-failed']);
    expect(c.machine.state).toBe('closed');
  });

  it('closing tells every worker training is over and fails a step in flight', () => {
    const c = new Cluster(2);
    const [a, b] = [c.join(), c.join()];
    c.step(1, FIRST);
    const late = c.join('late');
    const closed = c.feed({ type: 'close', reason: 'training finished' });
    expect(closed).toEqual([
      { type: 'step-failed', step: 1, code: 'SP_ERR_CONNECTION_CLOSED', reason: 'the coordinator closed' },
      { type: 'done', to: [a, b, late], reason: 'training finished' },
    ]);
    expect(c.machine.state).toBe('closed');
    const stranger = c.connect();
    expect(ofType(c.actions, 'drop').at(-1)).toMatchObject({ to: stranger, code: 'SP_ERR_CONNECTION_CLOSED' });
  });

  it('the dashboard\'s snapshot names each worker\'s state, the samples of its blocks and its last step\'s times', () => {
    const c = new Cluster(2);
    const [a, b] = [c.join('a'), c.join('b')];
    c.step(1, FIRST);
    c.now = 10;
    c.answer(a);
    expect(c.machine.snapshot().map((w) => [w.state, w.shard])).toEqual([['waiting', 4], ['computing', 5]]);
    c.now = 25;
    c.answer(b);
    const [wa, wb] = c.machine.snapshot();
    expect(wa).toMatchObject({ state: 'idle', shard: 4, stepMs: 10, waitMs: 15 });
    expect(wb).toMatchObject({ state: 'idle', shard: 5, stepMs: 25, waitMs: 0 });
    c.now = 40;
    c.feed({ type: 'closed', connection: a });
    // one that left keeps its row: its last figures, why and when (the machine's clock)
    expect(c.machine.snapshot().map((w) => [w.name, w.state, w.shard])).toEqual([['b', 'resharding', 0], ['a', 'left', 0]]);
    expect(c.machine.snapshot()[1]).toMatchObject({ stepMs: 10, reason: 'the connection closed', leftAt: 40 });
    // the next step deals b every block
    c.step(2, SECOND);
    expect(c.machine.snapshot().map((w) => [w.name, w.state, w.shard])).toEqual([['b', 'computing', BATCH], ['a', 'left', 0]]);
  });
});

describe('dealBlocks', () => {
  const deal = (blocks: number, slots: number): number[] => {
    const cuts = new Uint32Array(slots + 1).fill(99);
    dealBlocks(blocks, slots, cuts);
    return Array.from(cuts);
  };

  it('deals by hand-checked cuts: contiguous ranges in slot order, the larger ones last; a slot gets none when blocks are fewer', () => {
    expect(deal(5, 1)).toEqual([0, 5]);
    expect(deal(5, 2)).toEqual([0, 2, 5]);
    expect(deal(5, 3)).toEqual([0, 1, 3, 5]);
    expect(deal(4, 2)).toEqual([0, 2, 4]);
    expect(deal(5, 6)).toEqual([0, 0, 1, 2, 3, 4, 5]);
    expect(deal(1, 3)).toEqual([0, 0, 0, 1]);
    expect(deal(0, 2)).toEqual([0, 0, 0]);
  });

  it('for 0..40 blocks and 1..12 slots the ranges cover every block once, ascending, and their sizes differ by at most one', () => {
    const wrong: string[] = [];
    for (let blocks = 0; blocks <= 40; blocks++) {
      for (let slots = 1; slots <= 12; slots++) {
        const cuts = deal(blocks, slots);
        const sizes = cuts.slice(1).map((cut, i) => cut - cuts[i]);
        const even = Math.max(...sizes) - Math.min(...sizes) <= 1;
        if (cuts[0] !== 0 || cuts[slots] !== blocks || sizes.some((s) => s < 0) || !even) wrong.push(`${blocks} blocks, ${slots} slots: ${cuts.join(',')}`);
      }
    }
    expect(wrong).toEqual([]);
  });
});
