import type { BatchResult, Floats } from '@shardprop/core';

/**
 * Adds the gradient sums of the shards of one step, always in shard order
 * whatever order they arrived in, so a run is reproducible. The mean is taken
 * once, later, by the optimizer (sum / total count).
 */
export class Reducer {
  private readonly parts: (Floats | null)[];
  private readonly results: (BatchResult | null)[];
  private missing: number;

  constructor(readonly slots: number) {
    this.parts = new Array(slots).fill(null);
    this.results = new Array(slots).fill(null);
    this.missing = slots;
  }

  /** Ready for the next step. */
  reset(): void {
    this.parts.fill(null);
    this.results.fill(null);
    this.missing = this.slots;
  }

  get complete(): boolean {
    return this.missing === 0;
  }

  has(slot: number): boolean {
    return this.results[slot] !== null;
  }

  add(slot: number, result: BatchResult, grad: Floats): void {
    if (this.results[slot] !== null) throw new RangeError(`slot ${slot} already reported`);
    this.parts[slot] = grad;
    this.results[slot] = result;
    this.missing--;
  }

  /** Σ over slots in order into `out`; returns the summed count, loss and correct predictions. */
  reduce(out: Floats): BatchResult {
    const total: BatchResult = { count: 0, lossSum: 0, correct: 0 };
    out.fill(0);
    for (let s = 0; s < this.slots; s++) {
      const r = this.results[s];
      const g = this.parts[s];
      if (!r || !g) throw new RangeError(`slot ${s} has not reported`);
      total.count += r.count;
      total.lossSum += r.lossSum;
      total.correct += r.correct;
      if (r.count === 0) continue;
      for (let i = 0; i < out.length; i++) out[i] += g[i];
    }
    return total;
  }
}
