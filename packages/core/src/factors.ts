/**
 * The factored form of a gradient sum: per sample, δ^l for l = 1..L and the
 * hidden activations a^l for l = 1..L-1. BP4 and BP3 rebuild the sum from them
 * (with a^0 = the samples' inputs), and for a few samples of a large model they
 * are far fewer numbers than the gradient itself: what workers send instead.
 */
import { Backprop, type BatchResult } from './backprop.js';
import type { Dataset } from './dataset.js';
import type { Kernels } from './kernels/kernel.js';
import type { Model, ModelSpec } from './model.js';
import type { Floats } from './numbers.js';

/** The blocks of the factored form, per sample: the widths of δ^l for l = 1..L, then of a^l for l = 1..L-1. */
export function factorBlocks(layers: readonly number[]): number[] {
  return [...layers.slice(1), ...layers.slice(1, -1)];
}

/** Numbers per sample in the factored form: the sum of factorBlocks. */
export function factorWidth(layers: readonly number[]): number {
  return factorBlocks(layers).reduce((sum, n) => sum + n, 0);
}

/**
 * Backprop that also writes and reads the factored form. Laid out as blocks
 * [δ^1 … δ^L, a^1 … a^(L-1)], each [count, n_l] in sample order.
 */
export class FactoredBackprop extends Backprop {
  /** factorPrefix[q] · count is where factor block q starts; the last entry is factorWidth. */
  private readonly factorPrefix: number[];

  constructor(spec: ModelSpec, chunk = 256, kernels?: Kernels) {
    super(spec, chunk, kernels);
    this.factorPrefix = [0];
    for (const n of factorBlocks(spec.layers)) this.factorPrefix.push(this.factorPrefix[this.factorPrefix.length - 1] + n);
  }

  /** The gradient sum over `indices[from..to)` in factored form, into `out` (count × factorWidth values). */
  factors(model: Model, data: Dataset, indices: ArrayLike<number>, from: number, to: number, out: Floats): BatchResult {
    const count = Math.max(0, to - from);
    this.checkFactors(count, out.length);
    const result: BatchResult = { count: 0, lossSum: 0, correct: 0 };
    for (let start = from; start < to; start += this.chunk) {
      const rows = Math.min(this.chunk, to - start);
      this.gather(data, indices, start, rows, true);
      this.forward(model, rows);
      this.deltas(model, rows, result);
      this.copyFactors(out, count, start - from, rows, true);
      result.count += rows;
    }
    return result;
  }

  /**
   * The gradient sum (into `grad`, overwritten) from the factors of the samples
   * `indices[from..to)`, laid out as `factors` writes them. It runs the same
   * products over the same chunks as `gradient`, so the result is bitwise equal.
   */
  gradientFromFactors(data: Dataset, indices: ArrayLike<number>, from: number, to: number, factors: Floats, grad: Floats): void {
    this.bindGradient(grad);
    if (to <= from) {
      grad.fill(0);
      return;
    }
    this.checkFactors(to - from, factors.length);
    for (let start = from; start < to; start += this.chunk) {
      const rows = Math.min(this.chunk, to - start);
      this.gather(data, indices, start, rows, false);
      this.copyFactors(factors, to - from, start - from, rows, false);
      this.accumulate(rows, start > from);
    }
  }

  /** Checks that a factor buffer holds `count` samples. */
  private checkFactors(count: number, length: number): void {
    const expected = count * this.factorPrefix[this.factorPrefix.length - 1];
    if (length !== expected) throw new RangeError(`factor buffer has length ${length}, expected ${expected} for ${count} samples`);
  }

  /**
   * Copies rows [row, row + rows) of the factor blocks of `count` samples from the
   * scratch D[1..L], A[1..L-1] into `factors` (toFactors) or back.
   */
  private copyFactors(factors: Floats, count: number, row: number, rows: number, toFactors: boolean): void {
    const L = this.layers.length - 1;
    for (let q = 0; q < 2 * L - 1; q++) {
      const l = q < L ? q + 1 : q - L + 1;
      const scratch = q < L ? this.D[l] : this.A[l];
      const n = rows * this.layers[l];
      const at = count * this.factorPrefix[q] + row * this.layers[l];
      if (toFactors) for (let i = 0; i < n; i++) factors[at + i] = scratch[i];
      else for (let i = 0; i < n; i++) scratch[i] = factors[at + i];
    }
  }
}
