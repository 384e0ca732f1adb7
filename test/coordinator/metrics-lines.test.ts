import { describe, expect, it } from 'vitest';
import { MIN_LINE_SECONDS, StepWindow, samplesBefore } from '../../packages/coordinator/src/metrics-lines.js';

describe('StepWindow (the metrics step lines)', () => {
  it('with --metrics-every N: a line every N steps and at the last step, the risk the mean over the samples since the line before', () => {
    const w = new StepWindow(3);
    const lines = [];
    for (let step = 1; step <= 7; step++) {
      w.add(step * 10, 5); // each batch: 5 samples, loss sum 10·step
      if (w.due(step, 0, step === 7)) lines.push(w.take(step, 4, step * 5, step / 10));
    }
    expect(lines.map((l) => [l.step, l.steps, l.risk, l.epoch, l.samples])).toEqual([
      [3, 3, (10 + 20 + 30) / 15, 0.75, 15],
      [6, 3, (40 + 50 + 60) / 15, 1.5, 30],
      [7, 1, 70 / 5, 1.75, 35],
    ]);
    expect(lines.every((l) => l.kind === 'step')).toBe(true);
  });

  it('by the clock: no line sooner than MIN_LINE_SECONDS after the last, later ones further apart; a non-finite risk is null', () => {
    const w = new StepWindow(undefined);
    w.add(1, 1);
    expect(w.due(1, MIN_LINE_SECONDS / 2, false)).toBe(false);
    expect(w.due(1, MIN_LINE_SECONDS, false)).toBe(true);
    w.take(1, 1, 1, MIN_LINE_SECONDS);
    expect(w.due(2, 1, false)).toBe(false); // nothing added since
    w.add(Number.NaN, 1);
    // 1000 s into a run, lines are at least 1000/2000 s apart
    expect(w.due(2, 1000, false)).toBe(true);
    expect(w.take(2, 1, 2, 1000).risk).toBeNull();
    w.add(1, 1);
    expect(w.due(3, 1000.4, false)).toBe(false);
    expect(w.due(3, 1000.6, false)).toBe(true);
  });

  it('samplesBefore counts whole epochs and the full batches of the one under way', () => {
    // 25 samples in batches of 10: 3 batches an epoch (10, 10, 5)
    expect([0, 1, 2, 3, 4, 6, 7].map((s) => samplesBefore(s, 3, 10, 25))).toEqual([0, 10, 20, 25, 35, 50, 60]);
  });
});
