import { jsKernels, type BatchResult, type Floats, type Kernels } from '@shardprop/core';

/**
 * Combines the shards' contributions to one step, always in shard order (or,
 * for factors, batch order) whatever order they arrived in, so a run is
 * reproducible. The mean is taken once, later, by the optimizer (sum / total count).
 */
export class Reducer {
  private readonly parts: (Floats | null)[];
  private readonly results: (BatchResult | null)[];
  private missing: number;
  private readonly cursor: Int32Array;

  constructor(readonly slots: number, private readonly kernels: Kernels = jsKernels) {
    this.cursor = new Int32Array(slots);
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

  /** The summed count, loss and correct predictions, in slot order. */
  totals(): BatchResult {
    const total: BatchResult = { count: 0, lossSum: 0, correct: 0 };
    for (let s = 0; s < this.slots; s++) {
      const r = this.results[s];
      if (!r) throw new RangeError(`slot ${s} has not reported`);
      total.count += r.count;
      total.lossSum += r.lossSum;
      total.correct += r.correct;
    }
    return total;
  }

  /** Dense gradient sums: Σ over slots in order into `out`; returns the totals. */
  reduce(out: Floats): BatchResult {
    const total = this.totals();
    let first = true;
    for (let s = 0; s < this.slots; s++) {
      const g = this.parts[s]!;
      if (this.results[s]!.count === 0) continue;
      if (first) out.set(g);
      else this.kernels.addRowVector(1, out.length, g, out); // out += g: one row of one vector
      first = false;
    }
    if (first) out.fill(0);
    return total;
  }

  /**
   * Gradient factors (Backprop.factors): puts every slot's sample rows back in
   * batch order, into `out` laid out as factors of the whole batch. `owner[p]` is
   * the slot holding batch position p; each slot sent its rows in batch order.
   * Returns the totals; the caller rebuilds the sum with gradientFromFactors.
   */
  assemble(owner: Int32Array, batchSize: number, widths: readonly number[], out: Floats): BatchResult {
    const total = this.totals();
    let prefix = 0;
    for (const w of widths) {
      this.cursor.fill(0);
      for (let p = 0; p < batchSize; p++) {
        const s = owner[p];
        const rows = this.results[s]!.count;
        const src = this.parts[s]!;
        const from = rows * prefix + this.cursor[s]++ * w;
        const to = batchSize * prefix + p * w;
        for (let i = 0; i < w; i++) out[to + i] = src[from + i];
      }
      prefix += w;
    }
    return total;
  }
}
