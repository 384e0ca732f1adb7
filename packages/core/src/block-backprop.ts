/**
 * Backprop by canonical blocks (blocks.ts): every block of K batch positions is
 * one backprop call over K rows from zero, and the blocks' sums are added in
 * the one tree. In process the tree runs to its root; a worker runs it over its
 * range of blocks and sends the pieces (dense), or sends its blocks' factors
 * for the coordinator to rebuild (factors.ts). Same blocks, same calls, same
 * tree: the same bits.
 */
import { Backprop, type BatchResult } from './backprop.js';
import { ScalarTree, VectorTree, blockCount, blockStart } from './blocks.js';
import type { Dataset } from './dataset.js';
import { FactoredBackprop, factorWidth } from './factors.js';
import type { Kernels } from './kernels/kernel.js';
import { layoutOf, type Model, type ModelSpec } from './model.js';
import type { Floats } from './numbers.js';

export class BlockBackprop {
  /** One call per block: a chunk of K rows, so a block is always one pass of the same products. */
  readonly bp: FactoredBackprop;
  readonly size: number;
  readonly factorWidth: number;
  private readonly tree: VectorTree;
  /** Where W^l starts in the parameters, l = 1..L (at index l − 1). */
  private readonly offsets: readonly number[];
  private readonly losses = new ScalarTree();
  private blockLoss = new Float64Array(0);

  constructor(readonly spec: ModelSpec, readonly block: number, readonly kernels: Kernels) {
    this.bp = new FactoredBackprop(spec, block, kernels);
    const layout = layoutOf(spec.layers);
    this.size = layout.size;
    this.offsets = layout.wOffset;
    this.factorWidth = factorWidth(spec.layers);
    this.tree = new VectorTree(this.size, spec.dtype, kernels);
  }

  /** Rows of block j of a batch of `batch` positions. */
  rows(j: number, batch: number): number {
    return blockStart(j + 1, batch, this.block) - blockStart(j, batch, this.block);
  }

  /** The gradient sum of the whole batch into `grad` (the tree's root); its loss sum is the tree's too. */
  gradient(model: Model, data: Dataset, batch: ArrayLike<number>, grad: Floats): BatchResult {
    const blocks = blockCount(batch.length, this.block);
    if (this.blockLoss.length < blocks) this.blockLoss = new Float64Array(blocks);
    this.tree.reset(blocks, grad);
    const total: BatchResult = { count: 0, lossSum: 0, correct: 0 };
    for (let j = 0; j < blocks; j++) this.pushBlock(model, data, batch, j, total, this.blockLoss, j);
    if (blocks === 0) grad.fill(0);
    total.lossSum = this.losses.sum(this.blockLoss, blocks);
    return total;
  }

  /**
   * A worker's dense part: the sums of blocks [first, end), added into the
   * range's canonical pieces (returned, one after another); each block's loss
   * sum into `blockLoss[0..end-first)`.
   */
  pieces(
    model: Model, data: Dataset, batch: ArrayLike<number>, first: number, end: number, blockLoss: Float64Array, onFinal?: (from: number, piece: Floats) => void,
  ): { result: BatchResult; pieces: Floats } {
    this.tree.reset(blockCount(batch.length, this.block));
    const result: BatchResult = { count: 0, lossSum: 0, correct: 0 };
    // A range of one block is one piece, backprop's own output (nothing is added to it after): values
    // [offset of W^l, size) are final as soon as layer l's gradient is, and `onFinal` hears of them then.
    if (onFinal && end - first === 1) {
      const piece = this.tree.next();
      this.bp.onLayerDone = (l) => onFinal(this.offsets[l - 1], piece);
    }
    try {
      for (let j = first; j < end; j++) this.pushBlock(model, data, batch, j, result, blockLoss, j - first);
    } finally {
      this.bp.onLayerDone = null;
    }
    return { result, pieces: this.tree.pieces() };
  }

  /**
   * A worker's factored part: the factors of blocks [first, end), each block
   * laid out as FactoredBackprop lays out its rows, one block after another
   * (so the coordinator's copy of the whole batch is the workers' parts side by
   * side); each block's loss sum into `blockLoss`.
   */
  factors(model: Model, data: Dataset, batch: ArrayLike<number>, first: number, end: number, out: Floats, blockLoss: Float64Array): BatchResult {
    const result: BatchResult = { count: 0, lossSum: 0, correct: 0 };
    let at = 0;
    for (let j = first; j < end; j++) {
      const from = j * this.block;
      const rows = this.rows(j, batch.length);
      const r = this.bp.factors(model, data, batch, from, from + rows, out.subarray(at, at + rows * this.factorWidth));
      at += rows * this.factorWidth;
      blockLoss[j - first] = r.lossSum;
      result.count += r.count;
      result.correct += r.correct;
    }
    return result;
  }

  private pushBlock(model: Model, data: Dataset, batch: ArrayLike<number>, j: number, total: BatchResult, blockLoss: Float64Array, at: number): void {
    const from = j * this.block;
    const r = this.bp.gradient(model, data, batch, from, from + this.rows(j, batch.length), this.tree.next());
    this.tree.push(j, j + 1);
    blockLoss[at] = r.lossSum;
    total.count += r.count;
    total.correct += r.correct;
  }
}
