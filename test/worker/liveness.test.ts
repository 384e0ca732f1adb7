import { describe, expect, it } from 'vitest';
import { DEFAULT_SILENT_MS, Liveness, PING_AFTER_MS } from '../../packages/worker/src/liveness.js';

/** The worker's judgement of a silent coordinator, on a scripted clock (ms). */
describe('liveness: is the coordinator still there', () => {
  it('pings after 5 s of silence, once per 5 s, and gives the coordinator up after 20 s', () => {
    const l = new Liveness(0);
    const verdicts = [];
    for (let t = 0; t <= DEFAULT_SILENT_MS; t += 1000) verdicts.push([t, l.check(t)]);
    expect(verdicts.filter(([, v]) => v === 'ping').map(([t]) => t)).toEqual([5000, 10000, 15000]);
    expect(verdicts.at(-1)).toEqual([DEFAULT_SILENT_MS, 'silent']);
    expect(verdicts.slice(0, -1).every(([, v]) => v !== 'silent')).toBe(true);
  });

  it('any frame heard starts the silence again: a coordinator that answers the pings is never given up', () => {
    const l = new Liveness(0);
    for (let t = 1000; t <= 120_000; t += 1000) {
      const v = l.check(t);
      expect(v).not.toBe('silent');
      if (v === 'ping') l.heard(t + 3); // its pong, 3 ms later
    }
  });

  it('time spent computing a step is not silence: it counts from when the worker could hear again', () => {
    const l = new Liveness(0);
    expect(l.check(4000)).toBe('ok');
    // a step computed from 4 s to 64 s: the timer could not run, nothing could be heard
    l.heard(64_000);
    expect(l.check(64_001)).toBe('ok');
    expect(l.check(64_000 + PING_AFTER_MS)).toBe('ping');
    expect(l.check(64_000 + DEFAULT_SILENT_MS - 1)).not.toBe('silent');
    expect(l.check(64_000 + DEFAULT_SILENT_MS)).toBe('silent');
    // a frame from before the step ended changes nothing
    l.heard(10_000);
    expect(l.check(64_000 + DEFAULT_SILENT_MS)).toBe('silent');
  });

  it('a short bound still pings a few times before giving up', () => {
    const l = new Liveness(0, 2000);
    const pings = [];
    for (let t = 0; t < 2000; t += 100) if (l.check(t) === 'ping') pings.push(t);
    expect(pings).toEqual([500, 1000, 1500]);
    expect(l.check(2000)).toBe('silent');
  });
});
