import { describe, expect, it } from 'vitest';
import { LOG_EVERY_MS, WorkerActivity } from '@shardprop/worker';

/** A worker's reports on a scripted clock: what it logs and what it draws on a terminal. */
function scripted(report: 'terminal' | 'log') {
  let now = 0;
  const logged: { message: string; fields?: Record<string, unknown> }[] = [];
  let drawn = '';
  const stream = { write: (s: string) => ((drawn += s), true) } as unknown as NodeJS.WritableStream;
  const activity = new WorkerActivity(report, (_level, message, fields) => logged.push({ message, fields }), stream, () => now);
  return { activity, logged, drawn: () => drawn, advance: (ms: number) => (now += ms) };
}

describe('WorkerActivity', () => {
  it('says it waits, then that it trains, logs its totals every few seconds without a terminal, and sums them in its summary', () => {
    const w = scripted('log');
    w.activity.joined(3);
    w.activity.computed(5, 2, 0);
    expect(w.logged.map((l) => l.message)).toEqual(['waiting for training to start', 'training']);
    w.advance(LOG_EVERY_MS - 1);
    w.activity.computed(4, 3, 10);
    expect(w.logged).toHaveLength(2);
    w.advance(1);
    w.activity.computed(6, 5, 20);
    expect(w.logged[2]).toEqual({ message: 'computing gradients', fields: { workerId: 3, steps: 3, samples: 15, computeSeconds: 0.01, waitSeconds: 0.03 } });
    w.activity.summary();
    expect(w.logged[3].message).toBe('worker done: 3 steps computed, 15 samples, compute 0.01 s, waiting 0.03 s');
    expect(w.drawn()).toBe('');
  });

  it('has nothing to sum up when it never joined (refused at the door, or no coordinator there)', () => {
    const w = scripted('log');
    w.activity.summary();
    expect(w.logged).toEqual([]);
  });

  it('draws its progress on one terminal line and clears it before any log line', () => {
    const w = scripted('terminal');
    w.activity.joined(1);
    w.activity.computed(2, 1, 0);
    w.advance(1000);
    w.activity.computed(2, 1, 4);
    expect(w.drawn()).toBe('\r\x1b[2Kworker 1: 2 steps computed, 4 samples, compute 0.00 s, waiting 0.00 s');
    w.activity.summary();
    expect(w.drawn().endsWith('\r\x1b[2K')).toBe(true);
    expect(w.logged.at(-1)!.message).toBe('worker done: 2 steps computed, 4 samples, compute 0.00 s, waiting 0.00 s');
  });
});
