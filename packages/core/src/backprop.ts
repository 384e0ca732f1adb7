/**
 * Batched backpropagation: the four equations as matrix products over a batch
 * (the fast path, through the kernels). The factored form of the gradient is
 * factors.ts; the plain per-sample loops the tests check this against are reference.ts.
 */
import type { Activation } from './activations.js';
import type { Dataset } from './dataset.js';
import { jsKernels } from './kernels/js.js';
import type { Kernels } from './kernels/kernel.js';
import { LOSSES, type Loss } from './losses.js';
import { layerViews, layoutOf, type Layout, type Model, type ModelSpec } from './model.js';
import type { Floats } from './numbers.js';

/** What one batch contributed: sums, never means, so shards add up exactly. */
export interface BatchResult {
  count: number;
  /** Σ over the samples of L. */
  lossSum: number;
  /** Samples whose prediction matches the target (argmax, or a 0.5 threshold for one output). */
  correct: number;
}

/**
 * Batched backpropagation for one model shape. A batch is a matrix with one
 * sample per row, so the four equations become matrix products:
 *
 *   Z^l = A^(l-1) (W^l)ᵀ + b^l,  A^l = σ(Z^l)                       forward
 *   Δ^L = (A^L − Y) ⊙ σ'(Z^L)                                        (BP1)
 *   Δ^l = (Δ^(l+1) W^(l+1)) ⊙ σ'(Z^l)                                (BP2)
 *   ∂W^l = (Δ^l)ᵀ A^(l-1),  ∂b^l = Σ_rows Δ^l   (sums over the batch; BP4, BP3)
 *
 * All scratch (Z, A, Δ per layer) is allocated once for `chunk` rows; larger
 * batches are processed in chunks of that many rows, accumulating the sums.
 */
export class Backprop {
  readonly layout: Layout;
  protected readonly layers: number[];
  protected readonly sigma: Activation;
  protected readonly loss: Loss;
  /** Z[l], A[l], D[l] hold chunk × n_l values; A[0] is the gathered input batch, Y the targets. */
  protected readonly Z: Floats[] = [];
  protected readonly A: Floats[] = [];
  protected readonly D: Floats[] = [];
  protected readonly Y: Floats;
  private gradArray: Floats | null = null;
  private gradW: Floats[] = [];
  private gradB: Floats[] = [];
  private readonly boundViews = new WeakMap<Floats, { W: Floats[]; b: Floats[] }>();

  constructor(readonly spec: ModelSpec, readonly chunk = 256, readonly kernels: Kernels = jsKernels) {
    if (!Number.isInteger(chunk) || chunk < 1) throw new RangeError(`chunk must be a positive integer, got ${chunk}`);
    this.layers = spec.layers;
    this.layout = layoutOf(spec.layers);
    this.sigma = kernels.activation(spec.activation);
    this.loss = LOSSES[spec.loss];
    // scratch where the kernels work in place (for wasm: in its memory)
    for (const n of spec.layers) {
      this.Z.push(kernels.alloc(spec.dtype, chunk * n));
      this.A.push(kernels.alloc(spec.dtype, chunk * n));
      this.D.push(kernels.alloc(spec.dtype, chunk * n));
    }
    this.Y = kernels.alloc(spec.dtype, chunk * spec.layers[spec.layers.length - 1]);
  }

  /**
   * Gradient SUM over the samples `indices[from..to)` of `data`, written into `grad`
   * (flat layout, overwritten). Returns the count, loss sum and correct predictions.
   */
  gradient(model: Model, data: Dataset, indices: ArrayLike<number>, from: number, to: number, grad: Floats): BatchResult {
    this.bindGradient(grad);
    const result: BatchResult = { count: 0, lossSum: 0, correct: 0 };
    if (to <= from) {
      grad.fill(0);
      return result;
    }
    for (let start = from; start < to; start += this.chunk) {
      const rows = Math.min(this.chunk, to - start);
      this.gather(data, indices, start, rows, true);
      this.forward(model, rows);
      // one chunk, someone waiting for each layer's gradient: layer by layer from the top
      if (this.onLayerDone && to - from <= this.chunk) this.backward(model, rows, result, this.onLayerDone);
      else {
        this.deltas(model, rows, result);
        this.accumulate(rows, start > from);
      }
      result.count += rows;
    }
    return result;
  }

  /**
   * Set: gradient() of a single chunk tells it as soon as layer l's gradient (∂W^l and ∂b^l) is final, l from L
   * down to 1, so that a worker can send those values while backprop goes on (BlockBackprop.pieces).
   */
  onLayerDone: ((l: number) => void) | null = null;

  /**
   * δ^l and layer l's gradient in turn from the top (BP1, then BP4 and BP3 for l, then BP2 for l − 1), `done(l)`
   * after each layer's gradient: the same products of the same values as deltas + accumulate, in another order.
   */
  private backward(model: Model, rows: number, result: BatchResult, done: (l: number) => void): void {
    this.outputDelta(rows, result);
    for (let l = this.layers.length - 1; l >= 1; l--) {
      this.layerGradient(rows, l, false);
      done(l);
      if (l > 1) this.deltaBelow(model, rows, l);
    }
  }

  /** Risk sums and correct predictions over samples without computing gradients. */
  evaluate(model: Model, data: Dataset, indices?: ArrayLike<number>): BatchResult {
    const n = indices ? indices.length : data.count;
    const result: BatchResult = { count: 0, lossSum: 0, correct: 0 };
    const L = this.layers.length - 1;
    const width = this.layers[L];
    for (let start = 0; start < n; start += this.chunk) {
      const rows = Math.min(this.chunk, n - start);
      this.gather(data, indices, start, rows, true);
      this.forward(model, rows);
      // The loss's delta also yields L; D[L] is scratch here.
      result.lossSum += this.loss.delta(this.sigma, this.Z[L], this.A[L], this.Y, this.D[L], rows, width);
      result.correct += this.countCorrect(rows);
      result.count += rows;
    }
    return result;
  }

  /** a^L for `rows` samples of x (row-major [rows, n_0]) into out ([rows, n_L]). */
  predict(model: Model, x: Floats, rows: number, out: Floats): void {
    const n0 = this.layers[0];
    const L = this.layers.length - 1;
    const width = this.layers[L];
    for (let start = 0; start < rows; start += this.chunk) {
      const r = Math.min(this.chunk, rows - start);
      const A0 = this.A[0];
      for (let i = 0; i < r * n0; i++) A0[i] = x[start * n0 + i];
      this.forward(model, r);
      const aL = this.A[L];
      for (let i = 0; i < r * width; i++) out[start * width + i] = aL[i];
    }
  }

  /** Copies rows (indices[start + r] or start + r) of the data set into A^0 and Y. */
  protected gather(data: Dataset, indices: ArrayLike<number> | undefined, start: number, rows: number, withTargets: boolean): void {
    const n0 = data.inputs;
    const nL = data.outputs;
    const X = this.A[0];
    const Y = this.Y;
    const dx = data.x;
    const dy = data.y;
    for (let r = 0; r < rows; r++) {
      const i = indices ? indices[start + r] : start + r;
      const src = i * n0;
      const dst = r * n0;
      for (let c = 0; c < n0; c++) X[dst + c] = dx[src + c];
      if (withTargets) {
        const ys = i * nL;
        const yd = r * nL;
        for (let c = 0; c < nL; c++) Y[yd + c] = dy[ys + c];
      }
    }
  }

  protected forward(model: Model, rows: number): void {
    const K = this.kernels;
    const L = this.layers.length - 1;
    for (let l = 1; l <= L; l++) {
      const n = this.layers[l];
      // z^l = W^l a^(l-1) + b^l, one row per sample
      K.gemmNT(rows, n, this.layers[l - 1], this.A[l - 1], model.W[l], this.Z[l], false);
      K.addRowVector(rows, n, model.b[l], this.Z[l]);
      if (l < L) this.sigma.apply(this.Z[l], this.A[l], rows * n);
      else this.loss.output(this.sigma, this.Z[l], this.A[l], rows, n);
    }
  }

  /** δ^L (BP1), then δ^l for l = L-1..1 (BP2), into D; adds the batch's loss and correct predictions to `result`. */
  protected deltas(model: Model, rows: number, result: BatchResult): void {
    this.outputDelta(rows, result);
    for (let l = this.layers.length - 1; l > 1; l--) this.deltaBelow(model, rows, l);
  }

  /** Adds (or writes, when !accumulate) the chunk's ∂W^l and ∂b^l sums from D and A into the bound gradient. */
  protected accumulate(rows: number, accumulate: boolean): void {
    for (let l = this.layers.length - 1; l >= 1; l--) this.layerGradient(rows, l, accumulate);
  }

  /** δ^L (BP1) into D[L], with the chunk's loss sum and correct predictions. */
  private outputDelta(rows: number, result: BatchResult): void {
    const L = this.layers.length - 1;
    result.lossSum += this.loss.delta(this.sigma, this.Z[L], this.A[L], this.Y, this.D[L], rows, this.layers[L]);
    result.correct += this.countCorrect(rows);
  }

  /** δ^(l-1) = ((W^l)ᵀ δ^l) ⊙ σ'(z^(l-1))  (BP2), as Δ^(l-1) = Δ^l W^l. */
  private deltaBelow(model: Model, rows: number, l: number): void {
    const nPrev = this.layers[l - 1];
    this.kernels.gemmNN(rows, nPrev, this.layers[l], this.D[l], model.W[l], this.D[l - 1], false);
    this.sigma.scaleByDerivative(this.Z[l - 1], this.A[l - 1], this.D[l - 1], rows * nPrev);
  }

  /** ∂R/∂W^l (BP4, summed over samples) = (Δ^l)ᵀ A^(l-1), and ∂R/∂b^l (BP3, summed) = Σ_rows Δ^l. */
  private layerGradient(rows: number, l: number, accumulate: boolean): void {
    const n = this.layers[l];
    this.kernels.gemmTN(n, this.layers[l - 1], rows, this.D[l], this.A[l - 1], this.gradW[l], accumulate);
    this.kernels.sumRows(rows, n, this.D[l], this.gradB[l], accumulate);
  }

  private countCorrect(rows: number): number {
    const L = this.layers.length - 1;
    const width = this.layers[L];
    const a = this.A[L];
    const y = this.Y;
    let correct = 0;
    for (let r = 0; r < rows; r++) {
      const o = r * width;
      if (width === 1) {
        if (a[o] >= 0.5 === y[o] >= 0.5) correct++;
        continue;
      }
      let best = 0;
      let target = 0;
      for (let j = 1; j < width; j++) {
        if (a[o + j] > a[o + best]) best = j;
        if (y[o + j] > y[o + target]) target = j;
      }
      if (best === target) correct++;
    }
    return correct;
  }

  /**
   * Views of ∂W^l and ∂b^l into `grad` (gradW[l], gradB[l], l = 1..L), made once
   * per array: the blocks of a step are summed into a few arrays in turn.
   */
  protected bindGradient(grad: Floats): void {
    if (grad === this.gradArray) return;
    if (grad.length !== this.layout.size) throw new RangeError(`gradient buffer has length ${grad.length}, expected ${this.layout.size}`);
    this.gradArray = grad;
    let views = this.boundViews.get(grad);
    if (!views) {
      views = layerViews(this.layers, grad);
      this.boundViews.set(grad, views);
    }
    ({ W: this.gradW, b: this.gradB } = views);
  }
}
