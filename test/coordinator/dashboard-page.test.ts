/**
 * The dashboard page's own logic (assets/dashboard.js), run in a bare VM context
 * with stand-ins for the DOM, uPlot and EventSource: the frames are the real
 * DashboardState's, the checks are on what the page hands uPlot and shows. The
 * browser test (test/integration/dashboard.test.ts) covers it in Chromium.
 */
import { readFileSync } from 'node:fs';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { DashboardState, type Frame } from '../../packages/coordinator/src/dashboard/state.js';
import { dashboardPlan } from '../helpers/dashboard.js';

const PAGE = readFileSync(new URL('../../packages/coordinator/assets/dashboard.js', import.meta.url), 'utf8');
const SMOOTH = readFileSync(new URL('../../packages/coordinator/assets/smooth.js', import.meta.url), 'utf8');

const plan = dashboardPlan(100_000);

interface FakeElement {
  textContent: string;
  className: string;
  dataset: Record<string, string>;
  clientWidth: number;
  tBodies: { replaceChildren(...rows: unknown[]): void }[];
  append(child: unknown): void;
  addEventListener(type: string, listener: (e: { target: { value: string } }) => void): void;
}

/** Loads the page; returns its elements by id, the data its two charts were last given, and a way to deliver a frame. */
function loadPage() {
  const elements = new Map<string, FakeElement>();
  const listeners = new Map<string, (e: { target: { value: string } }) => void>();
  const element = (id = ''): FakeElement => ({
    textContent: '', className: '', dataset: {}, clientWidth: 800, tBodies: [{ replaceChildren() {} }], append() {},
    addEventListener: (type, f) => listeners.set(`${id}:${type}`, f),
  });
  const charts: { data: (number | null)[][] }[] = [];
  const feeds: { onmessage: (e: { data: string }) => void }[] = [];
  const context = {
    document: {
      title: '',
      getElementById: (id: string) => elements.get(id) ?? elements.set(id, element(id)).get(id),
      createElement: () => element(),
    },
    location: { search: '' },
    URLSearchParams,
    addEventListener() {},
    uPlot: class {
      data: (number | null)[][];
      constructor(_options: unknown, data: (number | null)[][]) {
        this.data = data;
        charts.push(this);
      }
      setData(data: (number | null)[][]) {
        this.data = data.map((column) => [...column]);
      }
      setSize() {}
      destroy() {}
    },
    EventSource: class {
      static CLOSED = 2;
      onmessage = (_e: { data: string }) => {};
      constructor() {
        feeds.push(this);
      }
    },
  };
  runInNewContext(`${SMOOTH}\n${PAGE}`, context);
  expect(charts).toHaveLength(2);
  return {
    text: (id: string) => elements.get(id)!.textContent,
    /** The newest risk chart's data (the page makes its charts again for another x axis): [x, train risk, its moving average]. */
    riskChart: () => charts[charts.length - 2].data,
    epochChart: () => charts[charts.length - 1].data,
    /** Chooses an x axis, or a smoothing weight, as the page's controls would. */
    choose: (id: 'x-axis' | 'smoothing', value: string) => listeners.get(`${id}:${id === 'x-axis' ? 'change' : 'input'}`)!({ target: { value } }),
    deliver: (frame: Frame) => feeds[0].onmessage({ data: JSON.stringify(frame) }),
  };
}

const progress = (step: number, risk: number) => ({ step, totalSteps: 100_000, epoch: 1, risk, samplesPerSecond: 1000 });
/** A step with a metrics line of its own: 4 samples and 10 ms a step, 10 steps an epoch. */
function stepped(state: DashboardState, step: number, risk: number): void {
  state.onStep(progress(step, risk));
  state.onMetrics({ kind: 'step', step, epoch: step / 10, samples: 4 * step, seconds: step / 100, risk: Number.isFinite(risk) ? risk : null, steps: 1 });
}

describe('dashboard page', () => {
  it('gives the log-scale risk chart no 0, negative or NaN value (a gap instead)', () => {
    const page = loadPage();
    const state = new DashboardState(plan);
    [0.5, 0, -1, NaN, 0.25].forEach((risk, i) => stepped(state, i + 1, risk));
    page.deliver(state.frame(null).frame);
    // [x, risk, its moving average (w = 0.6, debiased)]: 0.5; (0.6·0.2 + 0.4·0)/(1 − 0.36) = 0.1875; then the −1 drags it below 0: gaps
    const [xs, raw, smooth] = page.riskChart();
    expect(xs).toEqual([1, 2, 3, 4, 5]);
    expect(raw).toEqual([0.5, null, null, null, 0.25]);
    expect(smooth[0]).toBeCloseTo(0.5, 15);
    expect(smooth[1]).toBeCloseTo(0.1875, 15);
    expect(smooth.slice(2)).toEqual([null, null, null]);
    const { cursor } = state.frame(null);
    stepped(state, 6, 0);
    page.deliver(state.frame(cursor).frame);
    expect(page.riskChart()[1].at(-1)).toBeNull();
    expect(page.text('risk')).toBe('0.00000'); // the figure is the true value
  });

  it('draws against the x axis chosen (samples, wall time, epoch) and smooths by the weight chosen', () => {
    const page = loadPage();
    const state = new DashboardState(plan);
    for (let step = 1; step <= 20; step++) stepped(state, step, step % 2 === 0 ? 0.2 : 0.4); // a sawtooth
    state.onEpoch({ kind: 'epoch', step: 10, epoch: 1, samples: 40, risk: 0.3, testRisk: 0.35, testAccuracy: 0.9, samplesPerSecond: 1, seconds: 0.1 });
    page.deliver(state.frame(null).frame);
    expect(page.riskChart()[0].slice(0, 3)).toEqual([1, 2, 3]);
    page.choose('x-axis', 'samples');
    expect(page.riskChart()[0].slice(0, 3)).toEqual([4, 8, 12]);
    expect(page.epochChart()).toEqual([[40], [0.3], [0.35], [0.9]]);
    page.choose('x-axis', 'seconds');
    expect(page.riskChart()[0].slice(0, 3)).toEqual([0.01, 0.02, 0.03]);
    page.choose('x-axis', 'epoch');
    expect(page.riskChart()[0].slice(0, 3)).toEqual([0.1, 0.2, 0.3]);
    expect(page.epochChart()[0]).toEqual([1]);
    // no smoothing: the sawtooth itself; much: its swing is gone
    const swing = () => {
      const tail = (page.riskChart()[2] as number[]).slice(10);
      return Math.max(...tail) - Math.min(...tail);
    };
    page.choose('smoothing', '0');
    expect(swing()).toBeCloseTo(0.2, 12);
    page.choose('smoothing', '0.9');
    expect(swing()).toBeLessThan(0.03);
    expect(page.text('smoothing-value')).toBe('0.90');
  });

  it('shows the frame\'s own figures, and its thinned curve still ends at the last point', () => {
    const page = loadPage();
    const state = new DashboardState(plan);
    const last = 20_003;
    let cursor = null;
    for (let step = 1; step <= last; step++) {
      stepped(state, step, 1 / step);
      // an epoch every step: the epoch curve is thinned too
      state.onEpoch({ kind: 'epoch', step, epoch: step, samples: 4 * step, risk: 1, testRisk: 1, testAccuracy: step / 1e5, samplesPerSecond: 1, seconds: 1 });
      if (step % 1000 === 1 || step === last) {
        const next = state.frame(cursor);
        page.deliver(next.frame);
        cursor = next.cursor;
      }
    }
    // the case at hand: neither curve's last kept point is the last step
    expect(state.frame(null).frame.steps[0].at(-1)).not.toBe(last);
    expect(state.frame(null).frame.epochs[0].at(-1)).not.toBe(last);
    expect(page.text('risk')).toBe((1 / last).toFixed(5));
    expect(page.text('accuracy')).toBe((last / 1e5).toFixed(4));
    state.finish('finished');
    page.deliver(state.frame(cursor).frame);
    expect(page.riskChart()[0].at(-1)).toBe(last);
    expect(page.text('step')).toBe(`${last} / 100000`);
    expect(page.text('status')).toBe('finished');

    // the page thins its own copy past 8000 points: the last stays
    const xs = Array.from({ length: 8002 }, (_, i) => i + 1);
    page.deliver({ ...state.frame(null).frame, steps: [xs, xs, xs, xs, xs.map((x) => 1 / x)] });
    expect(page.riskChart()[0].length).toBeLessThanOrEqual(4002);
    expect(page.riskChart()[0].at(-1)).toBe(8002);
  });
});
