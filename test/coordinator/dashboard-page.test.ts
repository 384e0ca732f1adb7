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

const plan = dashboardPlan(100_000);

interface FakeElement {
  textContent: string;
  className: string;
  dataset: Record<string, string>;
  clientWidth: number;
  tBodies: { replaceChildren(...rows: unknown[]): void }[];
  append(child: unknown): void;
}

/** Loads the page; returns its elements by id, the data its two charts were last given, and a way to deliver a frame. */
function loadPage() {
  const elements = new Map<string, FakeElement>();
  const element = (): FakeElement => ({ textContent: '', className: '', dataset: {}, clientWidth: 800, tBodies: [{ replaceChildren() {} }], append() {} });
  const charts: { data: (number | null)[][] }[] = [];
  const feeds: { onmessage: (e: { data: string }) => void }[] = [];
  runInNewContext(PAGE, {
    document: {
      title: '',
      getElementById: (id: string) => elements.get(id) ?? elements.set(id, element()).get(id),
      createElement: element,
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
    },
    EventSource: class {
      static CLOSED = 2;
      onmessage = (_e: { data: string }) => {};
      constructor() {
        feeds.push(this);
      }
    },
  });
  expect(charts).toHaveLength(2);
  return {
    text: (id: string) => elements.get(id)!.textContent,
    riskChart: () => charts[0].data,
    deliver: (frame: Frame) => feeds[0].onmessage({ data: JSON.stringify(frame) }),
  };
}

const progress = (step: number, risk: number) => ({ step, totalSteps: 100_000, epoch: 1, risk, samplesPerSecond: 1000 });

describe('dashboard page', () => {
  it('gives the log-scale risk chart no 0, negative or NaN value (a gap instead)', () => {
    const page = loadPage();
    const state = new DashboardState(plan);
    [0.5, 0, -1, NaN, 0.25].forEach((risk, i) => state.onStep(progress(i + 1, risk)));
    page.deliver(state.frame(null).frame);
    expect(page.riskChart()).toEqual([[1, 2, 3, 4, 5], [0.5, null, null, null, 0.25]]);
    const { cursor } = state.frame(null);
    state.onStep(progress(6, 0));
    page.deliver(state.frame(cursor).frame);
    expect(page.riskChart()[1].at(-1)).toBeNull();
    expect(page.text('risk')).toBe('0.00000'); // the figure is the true value
  });

  it('shows the frame\'s own figures, and its thinned curve still ends at the last point', () => {
    const page = loadPage();
    const state = new DashboardState(plan);
    const last = 20_003;
    let cursor = null;
    for (let step = 1; step <= last; step++) {
      state.onStep(progress(step, 1 / step));
      // an epoch every step: the epoch curve is thinned too
      state.onEpoch({ step, epoch: step, risk: 1, testRisk: 1, testAccuracy: step / 1e5, samplesPerSecond: 1, seconds: 1 });
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
    page.deliver({ ...state.frame(null).frame, steps: [xs, xs.map((x) => 1 / x)] });
    expect(page.riskChart()[0].length).toBeLessThanOrEqual(4002);
    expect(page.riskChart()[0].at(-1)).toBe(8002);
  });
});
