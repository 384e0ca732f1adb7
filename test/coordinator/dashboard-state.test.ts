import { EventEmitter } from 'node:events';
import type { ServerResponse } from 'node:http';
import fc from 'fast-check';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { Feed, HEARTBEAT_BYTES, HEARTBEAT_MS, MAX_BUFFERED_BYTES, MAX_FEED_CLIENTS, PUBLISH_MS, STALLED_MS } from '../../packages/coordinator/src/dashboard/feed.js';
import { DashboardState, MAX_POINTS, Series, type Frame, type WorkerRow } from '../../packages/coordinator/src/dashboard/state.js';
import type { Logger } from '@shardprop/worker';
import type { EpochMetrics, StepMetrics } from '@shardprop/coordinator';
import { dashboardPlan } from '../helpers/dashboard.js';

const plan = dashboardPlan(100);

const progress = (step: number, risk = 1 / step) => ({ step, totalSteps: 100, epoch: step, risk, samplesPerSecond: 1000 });
/** A step as the training loop reports it, with a metrics line of its own (--metrics-every 1): 4 samples a step, 10 ms each. */
const line = (step: number, risk = 1 / step): StepMetrics => ({ kind: 'step', step, epoch: step, samples: 4 * step, seconds: step / 100, risk, steps: 1 });
function stepped(state: DashboardState, step: number, risk = 1 / step): void {
  state.onStep(progress(step, risk));
  state.onMetrics(line(step, risk));
}
const epochLine = (m: Omit<EpochMetrics, 'kind' | 'samples'>): EpochMetrics => ({ kind: 'epoch', samples: 4 * m.step, ...m });

function worker(id: number, state: WorkerRow['state'] = 'computing'): WorkerRow {
  return { id, name: `w${id}`, address: `127.0.0.1:${4000 + id}`, shard: 2, state, computeSeconds: 0, waitSeconds: 0 };
}

describe('dashboard series', () => {
  it('keeps at most MAX_POINTS of a long run, spread over all of it, x increasing', () => {
    const s = new Series(2);
    for (let x = 1; x <= 100_000; x++) s.add(x, x / 2);
    const [xs, ys] = s.columns as number[][];
    expect(s.length).toBeLessThanOrEqual(MAX_POINTS);
    expect(s.length).toBeGreaterThan(MAX_POINTS / 4);
    expect(xs[0]).toBe(1);
    expect(xs[xs.length - 1]).toBeGreaterThan(100_000 - 100_000 / s.length * 3);
    for (let i = 1; i < xs.length; i++) expect(xs[i]).toBeGreaterThan(xs[i - 1]);
    xs.forEach((x, i) => expect(ys[i]).toBe(x / 2));
  });

  it('since(x) is exactly the points after x; NaN and Infinity become null', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 5 }), { maxLength: 300 }), fc.integer({ min: 0, max: 1000 }), (gaps, after) => {
        const s = new Series(2, 64);
        let x = 0;
        for (const g of gaps) s.add((x += g), x);
        const [xs] = s.since(after);
        expect(xs).toEqual((s.columns[0] as number[]).filter((v) => v > after));
      }),
    );
    const s = new Series(3);
    s.add(1, NaN, Infinity);
    expect(s.columns).toEqual([[1], [null], [null]]);
  });

  it('thinning keeps the last point, and flush() adds the last point add() skipped', () => {
    const s = new Series(2, 8);
    for (let x = 1; x <= 8; x++) s.add(x, -x);
    expect(s.columns).toEqual([[1, 3, 5, 7, 8], [-1, -3, -5, -7, -8]]);
    s.add(9, -9); // closer than the gap of the kept points: skipped for now
    expect(s.lastX).toBe(8);
    s.flush();
    expect(s.columns).toEqual([[1, 3, 5, 7, 8, 9], [-1, -3, -5, -7, -8, -9]]);
    s.flush(); // nothing more
    expect(s.length).toBe(6);
  });
});

describe('dashboard state', () => {
  it('a new client gets everything, then only what is new since its cursor', () => {
    const state = new DashboardState(plan);
    expect(state.frame(null).frame.status).toBe('waiting for workers');
    for (let step = 1; step <= 5; step++) stepped(state, step);
    state.onEpoch(epochLine({ step: 5, epoch: 1, risk: 0.5, testRisk: 0.25, testAccuracy: 0.75, samplesPerSecond: 1, seconds: 1 }));
    const first = state.frame(null);
    expect(first.frame).toMatchObject({
      reset: true, status: 'training', step: 5,
      steps: [[1, 2, 3, 4, 5], [1, 2, 3, 4, 5], [4, 8, 12, 16, 20], [0.01, 0.02, 0.03, 0.04, 0.05], [1, 0.5, 1 / 3, 0.25, 0.2]],
      epochs: [[1], [5], [20], [1], [0.5], [0.25], [0.75]],
    });
    expect(first.frame.run).toEqual({ data: 'xor', samples: 4, testSamples: 0, layers: [2, 4, 1], batch: 4, totalSteps: 100, optimizer: 'sgd', lr: 1, dtype: 'float64' });
    stepped(state, 6);
    const next = state.frame(first.cursor);
    expect(next.frame.reset).toBe(false);
    expect(next.frame.steps).toEqual([[6], [6], [24], [0.06], [1 / 6]]);
    expect(next.frame.epochs).toEqual([[], [], [], [], [], [], []]);
    expect(state.frame(next.cursor).frame.steps).toEqual([[], [], [], [], []]);
  });

  it('workers that are gone stay in the table as left; the hooks it wraps are all still called', () => {
    const state = new DashboardState(plan);
    let rows = [worker(1), worker(2)];
    state.watchWorkers(() => rows);
    state.refresh();
    rows = [worker(2, 'waiting'), worker(3, 'joining')];
    state.refresh();
    expect(state.frame(null).frame.workers.map((w) => [w.id, w.state])).toEqual([[2, 'waiting'], [3, 'joining'], [1, 'left']]);

    const seen: string[] = [];
    const stop = new AbortController().signal;
    const hooks = state.observe({ onStep: () => seen.push('step'), onMetrics: () => seen.push('metrics'), signal: stop, onPlan: () => seen.push('plan') });
    hooks.onStep!(progress(1));
    hooks.onMetrics!(line(1));
    hooks.onEpoch!(epochLine({ step: 1, epoch: 1, risk: 1, samplesPerSecond: 1, seconds: 1 }));
    hooks.onPlan();
    expect(seen).toEqual(['step', 'metrics', 'plan']);
    expect(hooks.signal).toBe(stop);
    expect(state.frame(null).frame.steps[0]).toEqual([1]);
    state.finish('failed', 'every worker was lost');
    expect(state.frame(null).frame).toMatchObject({ status: 'failed', reason: 'every worker was lost' });
  });

  it('a long run: the figures are the latest step\'s and epoch\'s, and finish() ends the curves at the last point', () => {
    const state = new DashboardState(plan);
    expect(state.frame(null).frame).toMatchObject({ risk: null, testAccuracy: null });
    const last = 99_999;
    let cursor: ReturnType<DashboardState['frame']>['cursor'] | null = null;
    let followed: number[] = [];
    for (let step = 1; step <= last; step++) {
      stepped(state, step);
      if (step % 100 === 0) state.onEpoch(epochLine({ step, epoch: step / 100, risk: 1 / step, testRisk: 1, testAccuracy: step / 1e6, samplesPerSecond: 1, seconds: 1 }));
      if (step % 997 === 0) {
        const next = state.frame(cursor);
        followed.push(...(next.frame.steps[0] as number[]));
        cursor = next.cursor;
      }
    }
    state.onEpoch(epochLine({ step: last, epoch: 1000, risk: 1, samplesPerSecond: 1, seconds: 1 })); // no test pass: the figure stays
    // before the end the thinned curve may stop short; the figures never do
    const running = state.frame(null).frame;
    expect(running).toMatchObject({ step: last, risk: 1 / last, testAccuracy: 99_900 / 1e6 });
    state.finish('finished');
    const whole = state.frame(null).frame;
    expect(whole.steps[0].at(-1)).toBe(last);
    expect(whole.steps[4].at(-1)).toBe(1 / last);
    expect(whole.epochs[0].at(-1)).toBe(1000);
    expect(whole.steps[0].length).toBeLessThanOrEqual(MAX_POINTS + 1);
    // a page that followed the run gets the last point too
    followed.push(...(state.frame(cursor).frame.steps[0] as number[]));
    expect(followed.at(-1)).toBe(last);
    followed = [...new Set(followed)];
    expect([...followed].sort((a, b) => a - b)).toEqual(followed);
  });
});

/**
 * A stand-in for an event-stream response: records frames. `buffered` plays the bytes Node
 * still holds for a slow browser; `takes` how many of the bytes written the browser has
 * taken (all, unless set), the rest being the kernel's (see kernelQueues).
 */
class FakeResponse extends EventEmitter {
  frames: Frame[] = [];
  written = 0;
  buffered = 0;
  takes = Infinity;
  ended = false;
  destroyed = false;
  readonly socket = { remoteAddress: '127.0.0.1', remotePort: 40000, owner: this, setNoDelay: () => {} };
  writeHead(status: number) {
    expect(status).toBe(200);
    return this;
  }
  write(chunk: string) {
    this.written += Buffer.byteLength(chunk);
    for (const line of chunk.split('\n')) if (line.startsWith('data: ')) this.frames.push(JSON.parse(line.slice(6)));
    return true;
  }
  end() {
    this.ended = true;
  }
  destroy() {
    this.destroyed = true;
  }
  get writableLength() {
    return this.buffered;
  }
}

/** The kernel's part, as the feed measures it: written, less what Node holds, less what the browser took. */
const kernelQueues = () => (socket: unknown) => {
  const r = (socket as { owner: FakeResponse }).owner;
  return Math.max(0, r.written - r.buffered - r.takes);
};

describe('dashboard feed', () => {
  it('a slow client skips frames but loses no point; the same frame is not sent twice; the last frame ends the stream', () => {
    const state = new DashboardState(plan);
    const feed = new Feed(state, undefined, kernelQueues);
    const fast = new FakeResponse();
    const slow = new FakeResponse();
    feed.add(fast as unknown as ServerResponse);
    feed.add(slow as unknown as ServerResponse);
    expect(fast.frames).toHaveLength(1);
    expect(fast.frames[0].reset).toBe(true);

    slow.buffered = MAX_BUFFERED_BYTES + 1;
    for (let step = 1; step <= 3; step++) {
      stepped(state, step);
      feed.publish();
    }
    feed.publish(); // nothing new: nothing sent
    expect(fast.frames.map((f) => f.steps[0])).toEqual([[], [1], [2], [3]]);
    expect(slow.frames).toHaveLength(1);

    slow.buffered = 0;
    stepped(state, 4);
    state.finish('finished');
    feed.close();
    expect(slow.frames.map((f) => f.steps[0])).toEqual([[], [1, 2, 3, 4]]);
    expect(slow.frames[1].status).toBe('finished');
    expect(fast.frames.at(-1)!.steps[0]).toEqual([4]);
    expect(fast.ended && slow.ended).toBe(true);
  });

  it(`is full at ${MAX_FEED_CLIENTS} clients, and has room again when one goes`, () => {
    const feed = new Feed(new DashboardState(plan), undefined, kernelQueues);
    const clients = Array.from({ length: MAX_FEED_CLIENTS }, () => new FakeResponse());
    clients.forEach((c, i) => {
      expect(feed.full).toBe(false);
      feed.add(c as unknown as ServerResponse);
      expect(feed.full).toBe(i === MAX_FEED_CLIENTS - 1);
    });
    clients[0].emit('close');
    expect(feed.full).toBe(false);
    feed.close();
  });

  describe('on its timer', () => {
    afterEach(() => {
      vi.useRealTimers();
    });

    it(`cuts off a client that takes nothing for ${STALLED_MS} ms, whether Node or the kernel holds what it did not take, freeing its slot; one that takes slowly stays; close() ends every client`, () => {
      vi.useFakeTimers();
      const cut: unknown[] = [];
      const log = { warn: (fields: unknown) => cut.push(fields) } as unknown as Logger;
      const feed = new Feed(new DashboardState(plan), log, kernelQueues);
      const clients = Array.from({ length: MAX_FEED_CLIENTS }, () => new FakeResponse());
      for (const c of clients) feed.add(c as unknown as ServerResponse);
      const [reads, inKernel, inNode, slow, stuckAtEnd] = clients;
      // stops reading: what it has not taken waits in the kernel (its receive window is shut)
      inKernel.takes = inKernel.written;
      // Node holds more than it may, and nothing drains
      inNode.buffered = MAX_BUFFERED_BYTES + 1;
      inNode.takes = 0;
      // a bad link: it takes, slowly
      slow.takes = 0;
      const slowly = setInterval(() => (slow.takes += 100), 2000);
      vi.advanceTimersByTime(STALLED_MS - HEARTBEAT_MS);
      expect(clients.some((c) => c.destroyed)).toBe(false);
      expect(feed.full).toBe(true);
      vi.advanceTimersByTime(2 * HEARTBEAT_MS + PUBLISH_MS);
      expect([inKernel.destroyed, inNode.destroyed, slow.destroyed, reads.destroyed]).toEqual([true, true, false, false]);
      expect(cut).toHaveLength(2);
      expect(feed.full).toBe(false);
      // the idle run still sent every reader its heartbeat: at least HEARTBEAT_BYTES a second
      expect(reads.written).toBeGreaterThanOrEqual(HEARTBEAT_BYTES * (STALLED_MS / HEARTBEAT_MS));
      clearInterval(slowly);

      // at the end: a client that takes nothing would keep end() waiting forever: it is destroyed
      stuckAtEnd.buffered = MAX_BUFFERED_BYTES + 1;
      feed.close();
      expect(stuckAtEnd.destroyed && slow.ended).toBe(true);
      expect(clients.filter((c) => c !== inKernel && c !== inNode).every((c) => c.ended || c.destroyed)).toBe(true);
      expect(feed.full).toBe(false);
    });

    it('a frame that cannot be made is logged and ends the feed; nothing is thrown from the timer', () => {
      vi.useFakeTimers();
      const state = new DashboardState(plan);
      let broken = false;
      state.watchWorkers(() => {
        if (broken) throw new Error('the member list is gone');
        return [worker(1)];
      });
      const errors: unknown[][] = [];
      const log = { error: (...args: unknown[]) => errors.push(args) } as unknown as Logger;
      const feed = new Feed(state, log, kernelQueues);
      const c = new FakeResponse();
      feed.add(c as unknown as ServerResponse);
      vi.advanceTimersByTime(PUBLISH_MS);
      expect(c.ended).toBe(false);
      broken = true;
      expect(() => vi.advanceTimersByTime(PUBLISH_MS * 4)).not.toThrow();
      expect(c.ended).toBe(true);
      expect(feed.failed).toBe(true);
      expect(errors).toHaveLength(1);
      expect((errors[0][0] as { err: Error }).err.message).toBe('the member list is gone');
      expect(vi.getTimerCount()).toBe(0);
      expect(() => feed.close()).not.toThrow();
    });
  });
});
