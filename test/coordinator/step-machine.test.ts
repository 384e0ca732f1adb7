import { describe, expect, it } from 'vitest';
import { Backprop, FactoredBackprop, Model, Rng, jsKernels, makeDataset, type ModelSpec } from '@shardprop/core';
import { MAX_PENDING_CONNECTIONS, MAX_PENDING_PER_HOST, MAX_WORKERS, StepMachine, THROTTLE_MS, type Action, type ConnectionId, type MachineEvent, type TrainingPlan } from '@shardprop/coordinator';
import { PROTOCOL_VERSION, decodeGradient, encodeGradient, type GradientForm, type Step, type ToWorker } from '@shardprop/protocol';
import { WorkerSession } from '@shardprop/worker';

/**
 * The coordinator's rules as scripted events against the pure step machine, no
 * sockets: who joins, shards, the step and its resends after a loss, stale
 * rounds, joiners, step timeouts, every worker gone, heartbeats, hellos that do
 * not come, invalid messages, closing. The workers are real WorkerSessions (the
 * worker package's pure part), and their gradients go through the protocol's
 * checks exactly as the ws adapter passes them, so the sums are real sums.
 */
const SPEC: ModelSpec = { layers: [2, 3, 2], activation: 'sigmoid', loss: 'quadratic', dtype: 'float64' };
const BATCH = 6;
const SAMPLES = 12;

function makePlan(): Pick<TrainingPlan, 'spec' | 'train' | 'kernels' | 'batchSize' | 'chunk' | 'fingerprint'> {
  const rng = new Rng(7);
  const x = Float64Array.from({ length: SAMPLES * 2 }, () => rng.uniform() * 2 - 1);
  const y = Float64Array.from({ length: SAMPLES * 2 }, () => rng.uniform());
  return { spec: SPEC, train: makeDataset('scripted', x, y, 2, 2), kernels: jsKernels, batchSize: BATCH, chunk: BATCH, fingerprint: 'fp-scripted' };
}

const STEP_TIMEOUT = 10_000;
const WAIT_WORKERS = 5000;
const HEARTBEAT = 500;
const HELLO_TIMEOUT = 200;

/**
 * A machine, its clock, and a WorkerSession behind every connection that said
 * hello. Steps broadcast to a worker wait in its inbox until the test makes it
 * answer, so the order of arrivals is the test's.
 */
class Cluster {
  readonly plan = makePlan();
  readonly machine: StepMachine;
  now = 0;
  /** Every action the machine returned, in order. */
  readonly actions: Action[] = [];
  readonly sessions = new Map<ConnectionId, WorkerSession>();
  readonly inbox = new Map<ConnectionId, Step[]>();
  readonly model = Model.init(SPEC, 3);
  readonly grad = new Float64Array(this.model.params.length);
  private nextConnection = 1;

  constructor(readonly expect: number, form: GradientForm = 'dense') {
    this.machine = new StepMachine({
      plan: this.plan, expect, gradientForm: form, url: 'ws://127.0.0.1:7070',
      stepTimeoutMs: STEP_TIMEOUT, waitWorkersMs: WAIT_WORKERS, heartbeatMs: HEARTBEAT, helloTimeoutMs: HELLO_TIMEOUT,
    });
  }

  /** Feeds an event (at the cluster's clock); hands messages to the sessions; returns the actions. */
  feed(event: Omit<MachineEvent, 'now'> & { now?: number }): Action[] {
    const actions = this.machine.handle({ now: this.now, ...event } as MachineEvent);
    this.actions.push(...actions);
    for (const a of actions) {
      if (a.type === 'send') this.deliver(a.to, a.message);
      if (a.type === 'broadcast-step') for (const to of a.to) this.inbox.get(to)?.push({ type: 'step', step: a.step, round: a.round, batch: a.batch, params: a.params.slice() });
    }
    return actions;
  }

  private deliver(to: ConnectionId, message: ToWorker): void {
    const session = this.sessions.get(to);
    if (!session || message.type === 'step') return;
    for (const a of session.handle({ type: 'message', message })) {
      if (a.type === 'finish' && a.exit.reason !== 'done') throw new Error(`worker ${to} stopped: ${JSON.stringify(a.exit)}`);
    }
  }

  /** A new connection that says hello: its connection id. */
  join(name = `w${this.nextConnection}`, hello: Record<string, unknown> = {}): ConnectionId {
    const connection = this.connect();
    this.sessions.set(connection, new WorkerSession(undefined));
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

  /** Worker `connection` answers the newest step in its inbox, its gradient checked as the adapter checks it. */
  answer(connection: ConnectionId, which: 'newest' | 'oldest' = 'newest'): Action[] {
    const queue = this.inbox.get(connection)!;
    const step = which === 'newest' ? queue.pop()! : queue.shift()!;
    if (which === 'newest') queue.length = 0;
    const [sent] = this.sessions.get(connection)!.handle({ type: 'step', step, receivedAt: this.now, previousSentAt: 0 });
    if (sent.type !== 'send') throw new Error(`worker ${connection} sent nothing: ${JSON.stringify(sent)}`);
    const expected = this.machine.expecting(connection);
    const checked = expected.ok ? decodeGradient(sent.fragments, expected.message.expectation, expected.message.into) : expected;
    return this.feed(checked.ok ? { type: 'gradient', connection, gradient: checked.message } : { type: 'invalid', connection, code: checked.code, reason: checked.reason });
  }

  /** The shard each connection holds now: the sample ids of its last welcome or reshard. */
  shardOf(connection: ConnectionId): number[] {
    for (let i = this.actions.length - 1; i >= 0; i--) {
      const a = this.actions[i];
      if (a.type === 'send' && a.to === connection && (a.message.type === 'welcome' || a.message.type === 'reshard')) return Array.from(a.message.shard.indices);
    }
    return [];
  }
}

/** Actions as short lines, to assert a whole sequence at once: `send reshard to 2`, `log warn worker lost: ...`. */
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

/** The dense sum the way the coordinator must make it: each slot's sum over its part of the batch, added in slot order. */
function slotOrderSum(c: Cluster, slots: number[][], batch: number[]): { grad: Float64Array; lossSum: number; count: number } {
  const bp = new Backprop(SPEC, BATCH, jsKernels);
  const sum = new Float64Array(c.grad.length);
  let lossSum = 0;
  let count = 0;
  let first = true;
  for (const shard of slots) {
    const mine = batch.filter((g) => shard.includes(g));
    if (mine.length === 0) continue;
    const part = new Float64Array(sum.length);
    const r = bp.gradient(c.model, c.plan.train, mine, 0, mine.length, part);
    for (let i = 0; i < sum.length; i++) sum[i] = first ? part[i] : sum[i] + part[i];
    first = false;
    lossSum += r.lossSum;
    count += r.count;
  }
  return { grad: sum, lossSum, count };
}

describe('the step machine: joining', () => {
  it('waits for the expected workers, then hands each a contiguous shard and says training may start', () => {
    const c = new Cluster(2);
    expect(c.machine.state).toBe('waiting for workers');
    const a = c.join('a');
    expect(ofType(c.actions, 'workers-ready')).toHaveLength(0);
    const b = c.join('b');
    expect(c.machine.state).toBe('idle');
    expect(ofType(c.actions, 'workers-ready')).toHaveLength(1);
    expect(c.shardOf(a)).toEqual([0, 1, 2, 3, 4, 5]);
    expect(c.shardOf(b)).toEqual([6, 7, 8, 9, 10, 11]);
    const welcomes = ofType(c.actions, 'send').filter((s) => s.message.type === 'welcome');
    expect(welcomes.map((w) => w.message.type === 'welcome' && [w.message.workerId, w.message.gradientForm, w.message.kernel, w.message.fingerprint])).toEqual([[1, 'dense', 'js', 'fp-scripted'], [2, 'dense', 'js', 'fp-scripted']]);
    expect(c.machine.snapshot().map((w) => [w.name, w.state, w.shard])).toEqual([['a', 'idle', 6], ['b', 'idle', 6]]);
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
  it('broadcasts the step once to every member and adds their sums in slot order, whatever order they arrive in', () => {
    const batch = [11, 0, 7, 3, 6, 2];
    const sums: Float64Array[] = [];
    for (const order of [[0, 1, 2], [2, 0, 1]]) {
      const c = new Cluster(3);
      const ids = [c.join(), c.join(), c.join()];
      const broadcast = ofType(c.step(1, batch), 'broadcast-step');
      expect(broadcast).toHaveLength(1);
      expect(broadcast[0]).toMatchObject({ to: ids, step: 1, round: 1 });
      expect(c.machine.state).toBe('in step');
      let done: Action[] = [];
      for (const i of order) done = c.answer(ids[i]);
      const [finished] = ofType(done, 'step-done');
      const want = slotOrderSum(c, ids.map((id) => c.shardOf(id)), batch);
      expect(finished.result).toEqual({ count: 6, lossSum: want.lossSum, correct: expect.any(Number) });
      expect(Array.from(c.grad)).toEqual(Array.from(want.grad));
      expect(c.machine.state).toBe('idle');
      sums.push(c.grad.slice());
    }
    expect(Array.from(sums[1])).toEqual(Array.from(sums[0]));
  });

  it('factors: the sum rebuilt from every worker\'s factors is bitwise the in-process one', () => {
    const c = new Cluster(3, 'factors');
    const ids = [c.join(), c.join(), c.join()];
    const batch = [5, 9, 1, 10, 4, 8];
    c.step(1, batch);
    for (const id of [ids[1], ids[2], ids[0]]) c.answer(id);
    const inProcess = new Float64Array(c.grad.length);
    new FactoredBackprop(SPEC, BATCH, jsKernels).gradient(c.model, c.plan.train, batch, 0, batch.length, inProcess);
    expect(Array.from(c.grad)).toEqual(Array.from(inProcess));
    expect(c.machine.contributions().map((w) => w.count)).toEqual([1, 2, 3]);
  });

  it('a second gradient from the same worker, or one from a worker with no step, is a gradient nobody asked for', () => {
    const c = new Cluster(2);
    const [a, b] = [c.join(), c.join()];
    expect(c.machine.expecting(a)).toMatchObject({ ok: false, code: 'SP_ERR_UNASKED' });
    c.step(1, [0, 1, 6, 7, 2, 8]);
    c.answer(a);
    expect(c.machine.expecting(a)).toMatchObject({ ok: false, code: 'SP_ERR_UNASKED' });
    const dropped = c.feed({ type: 'invalid', connection: a, code: 'SP_ERR_UNASKED', reason: 'a gradient nobody asked for' });
    expect(ofType(dropped, 'drop')).toEqual([{ type: 'drop', to: a, code: 'SP_ERR_UNASKED', reason: 'invalid message: a gradient nobody asked for' }]);
    // a is gone: the step goes out again to b alone, who then holds every sample
    expect(ofType(dropped, 'broadcast-step')).toEqual([expect.objectContaining({ to: [b], round: 2 })]);
    expect(c.shardOf(b)).toHaveLength(SAMPLES);
    expect(ofType(c.answer(b), 'step-done')).toHaveLength(1);
  });
});

describe('the step machine: faults', () => {
  it('a member lost mid-step: its samples go to the others, the step goes out again, and a gradient of the old round is ignored', () => {
    const c = new Cluster(3);
    const [a, b, d] = [c.join('a'), c.join('b'), c.join('d')];
    const batch = [0, 4, 5, 8, 9, 11];
    c.step(1, batch);
    c.answer(a, 'oldest'); // a answered round 1 before the loss
    const lost = c.feed({ type: 'closed', connection: b });
    expect(outline(lost)).toEqual([
      'log warn worker lost: its samples go to the others',
      `send reshard to ${a}`,
      'log info shard assigned',
      `send reshard to ${d}`,
      'log info shard assigned',
      `broadcast step 1 round 2 to ${a},${d}`,
    ]);
    expect(logged(lost, 'worker lost: its samples go to the others')[0].fields).toMatchObject({ step: 1, reason: 'the connection closed', left: 2 });
    const reshards = ofType(lost, 'send').filter((s) => s.message.type === 'reshard');
    expect(reshards.map((s) => s.to)).toEqual([a, d]);
    expect([...c.shardOf(a), ...c.shardOf(d)]).toEqual(Array.from({ length: SAMPLES }, (_, i) => i));
    expect(ofType(lost, 'broadcast-step')).toEqual([expect.objectContaining({ to: [a, d], step: 1, round: 2 })]);
    // d still answers the first sending: stale, not an offence
    const stale = c.answer(d, 'oldest');
    expect(stale).toEqual([]); // no drop, no log: nothing at all
    c.answer(a);
    const done = c.answer(d);
    expect(ofType(done, 'step-done')).toHaveLength(1);
    const want = slotOrderSum(c, [c.shardOf(a), c.shardOf(d)], batch);
    expect(Array.from(c.grad)).toEqual(Array.from(want.grad));
  });

  it('an invalid gradient drops its sender with the protocol\'s code, and the step goes on without it', () => {
    const c = new Cluster(2);
    const [a, b] = [c.join(), c.join()];
    c.step(1, [0, 1, 2, 6, 7, 8]);
    const actions = c.feed({ type: 'invalid', connection: a, code: 'SP_ERR_NOT_FINITE', reason: 'gradient: grad holds NaN or infinite values' });
    expect(logged(actions, 'dropped a worker')[0].fields).toMatchObject({ workerId: 1, code: 'SP_ERR_NOT_FINITE', reason: 'invalid message: gradient: grad holds NaN or infinite values' });
    expect(ofType(actions, 'drop')).toEqual([{ type: 'drop', to: a, code: 'SP_ERR_NOT_FINITE', reason: 'invalid message: gradient: grad holds NaN or infinite values' }]);
    expect(ofType(actions, 'broadcast-step')).toEqual([expect.objectContaining({ to: [b], round: 2 })]);
    expect(ofType(c.answer(b), 'step-done')).toHaveLength(1);
    // the socket's close comes after the drop: nothing more happens
    expect(c.feed({ type: 'closed', connection: a })).toEqual([]);
  });

  it('a worker that does not answer within --step-timeout is dropped, all the late ones at once, and the step goes out once more', () => {
    const c = new Cluster(3);
    const [a, b, d] = [c.join(), c.join(), c.join()];
    c.step(1, [0, 1, 4, 5, 8, 9]);
    c.answer(b);
    c.now = STEP_TIMEOUT - 1;
    expect(ofType(c.feed({ type: 'tick' }), 'drop')).toHaveLength(0);
    c.now = STEP_TIMEOUT;
    const timedOut = c.feed({ type: 'tick' });
    expect(outline(timedOut)).toEqual([
      'log warn dropped a worker',
      `drop ${a} SP_ERR_STEP_TIMEOUT`,
      'log warn worker lost: its samples go to the others',
      'log warn dropped a worker',
      `drop ${d} SP_ERR_STEP_TIMEOUT`,
      'log warn worker lost: its samples go to the others',
      `send reshard to ${b}`,
      'log info shard assigned',
      `broadcast step 1 round 2 to ${b}`,
    ]);
    expect(ofType(timedOut, 'drop').map((x) => [x.to, x.code, x.reason])).toEqual([
      [a, 'SP_ERR_STEP_TIMEOUT', 'no gradient within 10 s (--step-timeout)'],
      [d, 'SP_ERR_STEP_TIMEOUT', 'no gradient within 10 s (--step-timeout)'],
    ]);
    expect(ofType(timedOut, 'broadcast-step')).toEqual([expect.objectContaining({ to: [b], round: 2 })]);
    expect(ofType(c.answer(b), 'step-done')).toHaveLength(1);
  });

  it('every worker gone: the step waits --wait-workers for one to join, who takes it over; without one, the step fails', () => {
    const c = new Cluster(1);
    const a = c.join();
    const batch = [3, 1, 4, 10, 5, 9];
    c.step(1, batch);
    const gone = c.feed({ type: 'closed', connection: a });
    expect(c.machine.state).toBe('waiting for joiners');
    expect(logged(gone, /^worker 1 \(w1\) was lost at step 1 \(the connection closed\) and no worker is left: waiting up to 5 s for a worker to join \(shardprop worker --connect ws:\/\/127\.0\.0\.1:7070\)$/)).toHaveLength(1);
    c.now = WAIT_WORKERS - 1;
    c.feed({ type: 'tick' });
    const rescue = c.join('rescue');
    expect(logged(c.actions, 'workers are back: the step goes on')).toHaveLength(1);
    expect(ofType(c.actions, 'broadcast-step').at(-1)).toMatchObject({ to: [rescue], step: 1, round: 2 });
    expect(c.shardOf(rescue)).toHaveLength(SAMPLES);
    expect(ofType(c.answer(rescue), 'step-done')).toHaveLength(1);
    expect(Array.from(c.grad)).toEqual(Array.from(slotOrderSum(c, [c.shardOf(rescue)], batch).grad));

    // and once more, with nobody coming back
    c.step(2, batch);
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
    const asked = c.step(1, [0, 1, 2, 3, 4, 5]);
    expect(outline(asked)).toEqual(['log warn no worker is left: waiting up to 5 s for a worker to join (shardprop worker --connect ws://127.0.0.1:7070)']);
    expect(c.machine.state).toBe('waiting for joiners');
    c.now = WAIT_WORKERS;
    expect(outline(c.feed({ type: 'tick' }))).toEqual(['step-failed']);
  });

  it('a worker lost between steps is logged after the last step; the next step goes to those left, resharded', () => {
    const c = new Cluster(2);
    const [a, b] = [c.join(), c.join()];
    c.step(1, [0, 1, 2, 6, 7, 8]);
    c.answer(a);
    c.answer(b);
    const lost = c.feed({ type: 'closed', connection: a });
    expect(logged(lost, 'worker lost: its samples go to the others')[0].fields).toMatchObject({ step: 1, left: 1 });
    expect(ofType(lost, 'broadcast-step')).toHaveLength(0); // nothing is in flight
    expect(outline(c.step(2, [3, 9, 4, 10, 5, 11]))).toEqual([`send reshard to ${b}`, 'log info shard assigned', `broadcast step 2 round 2 to ${b}`]);
    expect(ofType(c.answer(b), 'step-done')).toHaveLength(1);
  });

  it('a gradient for another step or a later round drops its sender, with the protocol\'s code', () => {
    for (const [over, code] of [[{ step: 2 }, 'SP_ERR_WRONG_STEP'], [{ round: 9 }, 'SP_ERR_WRONG_ROUND']] as const) {
      const c = new Cluster(2);
      const [a, b] = [c.join(), c.join()];
      c.step(1, [0, 1, 2, 6, 7, 8]);
      const expected = c.machine.expecting(a);
      if (!expected.ok) throw new Error(expected.reason);
      const head = { type: 'gradient' as const, step: 1, round: 1, count: 3, lossSum: 0, correct: 0, computeMs: 0, receivedAt: 0, previousSentAt: 0, ...over };
      const checked = decodeGradient(encodeGradient(head, new Float64Array(c.grad.length)), expected.message.expectation, expected.message.into);
      expect(checked).toMatchObject({ ok: false, code });
      if (checked.ok) return;
      const actions = c.feed({ type: 'invalid', connection: a, code: checked.code, reason: checked.reason });
      expect(outline(actions)).toEqual(['log warn dropped a worker', `drop ${a} ${code}`, 'log warn worker lost: its samples go to the others', `send reshard to ${b}`, 'log info shard assigned', `broadcast step 1 round 2 to ${b}`]);
    }
  });

  it('a worker joining during training gets an empty welcome, then a share and the step from the next sending on', () => {
    const c = new Cluster(2);
    const [a, b] = [c.join(), c.join()];
    const batch = [0, 2, 6, 8, 10, 11];
    c.step(1, batch);
    const late = c.join('late');
    expect(c.shardOf(late)).toEqual([]);
    expect(c.machine.snapshot().find((w) => w.name === 'late')?.state).toBe('joining');
    // the step in flight is not sent to it again
    expect(ofType(c.actions, 'broadcast-step')).toHaveLength(1);
    c.answer(a);
    c.answer(b);
    const next = c.step(2, batch);
    expect(ofType(next, 'send').map((s) => [s.to, s.message.type])).toEqual([[a, 'reshard'], [b, 'reshard'], [late, 'reshard']]);
    expect(ofType(next, 'broadcast-step')).toEqual([expect.objectContaining({ to: [a, b, late], step: 2 })]);
    expect([c.shardOf(a), c.shardOf(b), c.shardOf(late)].map((s) => s.length)).toEqual([4, 4, 4]);
    c.answer(late);
    c.answer(a);
    expect(ofType(c.answer(b), 'step-done')).toHaveLength(1);
    expect(Array.from(c.grad)).toEqual(Array.from(slotOrderSum(c, [a, b, late].map((id) => c.shardOf(id)), batch).grad));
  });

  it('a joining worker that leaves again changes nothing', () => {
    const c = new Cluster(1);
    const a = c.join();
    c.step(1, [0, 1, 2, 3, 4, 5]);
    const late = c.join('late');
    const left = c.feed({ type: 'closed', connection: late });
    expect(logged(left, 'a joining worker left')).toHaveLength(1);
    expect(ofType(left, 'broadcast-step')).toHaveLength(0);
    expect(ofType(c.answer(a), 'step-done')).toHaveLength(1);
  });
});

describe('the step machine: heartbeats and closing', () => {
  it('pings the workers that are not computing; one that misses a ping by the next is dropped; a computing one never is', () => {
    const c = new Cluster(2);
    const [a, b] = [c.join(), c.join()];
    c.feed({ type: 'tick' }); // the first tick starts the heartbeat's clock
    c.step(1, [0, 1, 2, 6, 7, 8]);
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
      'log warn worker lost: its samples go to the others',
      `send reshard to ${b}`,
      'log info shard assigned',
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
    c.step(1, [0, 1, 2, 6, 7, 8]);
    c.answer(a);
    c.now = HEARTBEAT;
    c.feed({ type: 'tick' }); // a pinged, and stays silent
    c.now = STEP_TIMEOUT; // the next heartbeat and the step's deadline at once
    const both = c.feed({ type: 'tick' });
    expect(outline(both)).toEqual(['log warn dropped a worker', `drop ${a} SP_ERR_HEARTBEAT`, 'log warn worker lost: its samples go to the others', `send reshard to ${b}`, 'log info shard assigned', `broadcast step 1 round 2 to ${b}`]);
    expect(ofType(c.answer(b), 'step-done')).toHaveLength(1);
  });

  it('a stop fails a step that waits for joiners at once, and one asked for later never waits; a step being computed goes on', () => {
    const c = new Cluster(2);
    const [a, b] = [c.join(), c.join()];
    c.step(1, [0, 1, 2, 6, 7, 8]);
    expect(outline(c.feed({ type: 'stop' }))).toEqual([]); // the workers compute: the step finishes
    c.answer(a);
    expect(ofType(c.answer(b), 'step-done')).toHaveLength(1);
    c.step(2, [0, 1, 2, 6, 7, 8]);
    c.feed({ type: 'closed', connection: a });
    const gone = c.feed({ type: 'closed', connection: b });
    expect(outline(gone)).toEqual(['log warn worker lost: its samples go to the others', 'step-failed']);
    expect(ofType(gone, 'step-failed')).toEqual([{ type: 'step-failed', step: 2, code: 'SP_ERR_STOPPED', reason: 'stopped while no worker was left to compute step 2' }]);

    const w = new Cluster(1);
    const only = w.join();
    w.step(1, [0, 1, 2, 3, 4, 5]);
    w.feed({ type: 'closed', connection: only });
    expect(w.machine.state).toBe('waiting for joiners');
    expect(ofType(w.feed({ type: 'stop' }), 'step-failed')).toEqual([expect.objectContaining({ step: 1, code: 'SP_ERR_STOPPED' })]);
    expect(w.machine.state).toBe('idle');
  });

  it('a step that diverged fails without blaming anyone, and its gradients still on the way are stale', () => {
    const c = new Cluster(2);
    const [a, b] = [c.join(), c.join()];
    c.step(1, [0, 1, 2, 6, 7, 8]);
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
    c.step(1, [0, 1, 2, 3, 4, 5]);
    c.feed({ type: 'closed', connection: a });
    c.connect();
    expect(outline(c.feed({ type: 'close', reason: 'training finished' }))).toEqual(['step-failed']);
    expect(c.machine.state).toBe('closed');
  });

  it('closing tells every worker training is over and fails a step in flight', () => {
    const c = new Cluster(2);
    const [a, b] = [c.join(), c.join()];
    c.step(1, [0, 1, 2, 6, 7, 8]);
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

  it('the dashboard\'s snapshot names each worker\'s state and its last step\'s times', () => {
    const c = new Cluster(2);
    const [a, b] = [c.join('a'), c.join('b')];
    c.step(1, [0, 1, 2, 6, 7, 8]);
    c.now = 10;
    c.answer(a);
    expect(c.machine.snapshot().map((w) => w.state)).toEqual(['waiting', 'computing']);
    c.now = 25;
    c.answer(b);
    const [wa, wb] = c.machine.snapshot();
    expect(wa).toMatchObject({ state: 'idle', stepMs: 10, waitMs: 15 });
    expect(wb).toMatchObject({ state: 'idle', stepMs: 25, waitMs: 0 });
    c.now = 40;
    c.feed({ type: 'closed', connection: a });
    // one that left keeps its row: its last figures, why and when (the machine's clock)
    expect(c.machine.snapshot().map((w) => [w.name, w.state, w.shard])).toEqual([['b', 'resharding', 0], ['a', 'left', 0]]);
    expect(c.machine.snapshot()[1]).toMatchObject({ stepMs: 10, reason: 'the connection closed', leftAt: 40 });
  });
});
