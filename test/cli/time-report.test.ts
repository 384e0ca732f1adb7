import { describe, expect, it } from 'vitest';
import { timeReport } from '@shardprop/cli';

describe('timeReport', () => {
  const time = { steps: 100, computeSeconds: 0.1, waitSeconds: 0.2, commSeconds: 0.7 };

  it('gives the parts alone when compute dominates (nothing else was timed)', () => {
    expect(timeReport({ ...time, computeSeconds: 5 }, 2)).toEqual(['step time: compute 5.00 s, waiting for the slowest worker 0.20 s, communication 0.70 s']);
  });

  it('says what dominates and how much faster the measured in-process batch is', () => {
    // distributed: 1 s / 100 steps = 10 ms a batch; in process 2 ms: 5x
    const lines = timeReport({ ...time, inProcess: { batch: 10, batches: 50, secondsPerBatch: 0.002 } }, 2);
    expect(lines[1]).toBe("communication dominates: this model at batch 10 trains 5.0x faster with --workers 0 (measured: a batch's gradient took 10.0 ms with 2 workers, 2.0 ms in one process over 50 batches timed at the end)");
    const waiting = timeReport({ ...time, waitSeconds: 0.7, commSeconds: 0.2, inProcess: { batch: 10, batches: 1, secondsPerBatch: 0.02 } }, 1);
    expect(waiting[1]).toBe("waiting for the slowest worker dominates, yet --workers 0 measured no faster (measured: a batch's gradient took 10.0 ms with 1 worker, 20.0 ms in one process over 1 batch timed at the end)");
  });
});
