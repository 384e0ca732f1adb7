import { describe, expect, it } from 'vitest';
import { UsageMeter } from '../../packages/worker/src/usage.js';

describe('UsageMeter (a worker\'s CPU and memory for the dashboard)', () => {
  it('reads the process at most once a second (the figures in between are the last ones), its memory as the process\'s RSS', () => {
    let now = 5000;
    const meter = new UsageMeter(() => now);
    const first = meter.read();
    const rss = process.memoryUsage.rss();
    expect(first.rssBytes).toBeGreaterThan(rss / 2);
    expect(first.rssBytes).toBeLessThan(rss * 2);
    expect(Number.isFinite(first.cpu) && first.cpu >= 0).toBe(true);
    const before = { ...first };
    // within the second: nothing is read, whatever the process did meanwhile
    Buffer.alloc(32 << 20, 1);
    now += 999;
    expect(meter.read()).toEqual(before);
  });

  it('gives CPU as cores busy over the interval: the CPU time spent between readings over the time between them', () => {
    let now = 0;
    const meter = new UsageMeter(() => now);
    meter.read();
    const start = process.cpuUsage();
    let x = 0;
    for (let i = 0; i < 3e7; i++) x += Math.sqrt(i); // some CPU time, however long it takes
    const spent = process.cpuUsage(start);
    const spentMs = (spent.user + spent.system) / 1000;
    expect(x).toBeGreaterThan(0);
    // the clock says this long passed (at least the meter's second)
    now = Math.max(1000, 2 * spentMs);
    const { cpu } = meter.read();
    // the interval holds our loop, plus a little: the readings themselves, and the process's other threads (GC)
    expect(cpu).toBeGreaterThanOrEqual(spentMs / now);
    expect(cpu).toBeLessThan((spentMs + 50) / now);
  });
});
