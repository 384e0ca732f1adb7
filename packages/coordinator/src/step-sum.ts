/**
 * One step's gradient sum as the workers' parts come in, for the step machine:
 * the batch's canonical blocks dealt to the slots (workers) as ranges, what each
 * slot's gradient must look like and where its values land, and the sum by the
 * one tree (core's blocks.ts): dense pieces pushed in block order, or factors
 * rebuilt block by block and pushed likewise. The same blocks and tree as the
 * in-process engine, so the same bits for any number of workers. Arithmetic and
 * memory only: who is a member, and when, is the machine's business.
 */
import { BlockBackprop, PieceSum, ScalarTree, VectorTree, blockCount, blockStart, layoutOf, type BatchResult, type Floats } from '@shardprop/core';
import type { Expectation, Gradient, GradientForm } from '@shardprop/protocol';
import type { TrainingPlan } from './plan.js';

export type SumPlan = Pick<TrainingPlan, 'spec' | 'train' | 'kernels' | 'batchSize' | 'block'>;

/**
 * The blocks of a step dealt to `slots` workers: contiguous ranges in slot order,
 * as even as integer division allows (a slot gets no block when there are fewer
 * blocks than slots). Written into `cuts` (slots + 1 boundaries).
 */
export function dealBlocks(blocks: number, slots: number, cuts: Uint32Array): void {
  for (let i = 0; i <= slots; i++) cuts[i] = Math.floor((i * blocks) / slots);
}

export class StepSum {
  /** What every gradient is checked against; step, round, count, blocks and pieces are set per message. */
  private readonly expectation: Expectation;
  private readonly size: number;
  private readonly block: number;
  private slots = 0;
  /** Slot i computes blocks [cuts[i], cuts[i+1]) of this sending. */
  cuts = new Uint32Array(1);
  private counts = new Int32Array(0);
  private correct = new Int32Array(0);
  private received = new Uint8Array(0);
  private missing = 0;
  /** Sliced sending: which slice servers' sums are in (their values land in the step's grad directly). */
  private sums = new Uint8Array(0);
  private sumsMissing = 0;
  private sliced = false;
  private blocks = 0;
  private batchLength = 0;
  /** Each block's loss sum, as the slots sent them. */
  private readonly blockLoss: Float64Array;
  private readonly losses = new ScalarTree();
  /** Factors: where each slot's values are copied on arrival, its place in `factors`. */
  private incoming: Floats[] = [];
  /** Dense: each slot's pieces, and their sum by the tree. */
  private readonly pieces: PieceSum | null;
  /** Factors: the whole batch's factors, block after block (each slot's part lands in its place), and the rebuild. */
  private readonly factors: Floats | null;
  private readonly rebuild: BlockBackprop | null;
  private readonly tree: VectorTree | null;

  constructor(private readonly plan: SumPlan, readonly form: GradientForm) {
    const { layers, dtype } = plan.spec;
    const { kernels } = plan;
    this.size = layoutOf(layers).size;
    this.block = plan.block;
    const factored = form === 'factors';
    this.rebuild = factored ? new BlockBackprop(plan.spec, plan.block, kernels) : null;
    const factorWidth = this.rebuild?.factorWidth ?? 0;
    this.expectation = { size: this.size, dtype, form, factorWidth, step: 0, round: 0, count: 0, blocks: 0, pieces: 0, allFinite: (x) => kernels.allFinite(x) };
    this.factors = factored ? kernels.alloc(dtype, plan.batchSize * factorWidth) : null;
    this.tree = factored ? new VectorTree(this.size, dtype, kernels) : null;
    this.blockLoss = new Float64Array(blockCount(plan.batchSize, plan.block));
    this.pieces = factored ? null : new PieceSum(this.size, dtype, kernels);
  }

  /** `slots` workers from now on. */
  reslot(slots: number): void {
    this.slots = slots;
    this.cuts = new Uint32Array(slots + 1);
    this.counts = new Int32Array(slots);
    this.correct = new Int32Array(slots);
    this.received = new Uint8Array(slots);
    this.incoming = new Array<Floats>(slots);
    this.pieces?.reslot(slots);
  }

  /**
   * A new sending of a step over `batch`: the blocks dealt, room for every part, and nothing received yet.
   * Sliced over `slices` slice servers: the workers' gradients carry no values, each server sends its slice of the sum.
   */
  begin(batch: Uint32Array, slices = 0): void {
    this.sliced = slices > 0;
    this.sums = new Uint8Array(slices);
    this.sumsMissing = slices;
    const B = batch.length;
    this.batchLength = B;
    this.blocks = blockCount(B, this.block);
    dealBlocks(this.blocks, this.slots, this.cuts);
    const width = this.expectation.factorWidth;
    this.pieces?.deal(this.cuts, this.blocks);
    for (let s = 0; s < this.slots; s++) {
      const from = blockStart(this.cuts[s], B, this.block);
      const to = blockStart(this.cuts[s + 1], B, this.block);
      this.counts[s] = to - from;
      this.incoming[s] = this.factors ? this.factors.subarray(from * width, to * width) : this.pieces!.part(s);
    }
    this.received.fill(0);
    this.missing = this.slots;
  }

  has(slot: number): boolean {
    return this.received[slot] === 1;
  }

  get complete(): boolean {
    return this.missing === 0 && this.sumsMissing === 0;
  }

  hasSum(server: number): boolean {
    return this.sums[server] === 1;
  }

  /** Slice server `server`'s slice of the sum is in the step's grad. */
  addSum(server: number): void {
    if (this.sums[server] === 1) throw new RangeError(`slice ${server} already reported`);
    this.sums[server] = 1;
    this.sumsMissing--;
  }

  /** What slot `slot`'s gradient for this sending must be, and where its values go. */
  expecting(slot: number, step: number, round: number): { expectation: Expectation; into: Floats } {
    const e = this.expectation;
    e.step = step;
    e.round = round;
    e.count = this.counts[slot];
    e.blocks = this.cuts[slot + 1] - this.cuts[slot];
    e.pieces = this.sliced ? 0 : this.pieces?.pieces(slot) ?? 0;
    return { expectation: e, into: this.sliced ? this.incoming[slot].subarray(0, 0) : this.incoming[slot] };
  }

  add(slot: number, g: Gradient): void {
    if (this.received[slot] === 1) throw new RangeError(`slot ${slot} already reported`);
    this.blockLoss.set(g.blockLoss, this.cuts[slot]);
    this.correct[slot] = g.correct;
    this.received[slot] = 1;
    this.missing--;
  }

  /** The step's gradient sum into `grad` (the tree's root), and the totals; the loss sum by the same tree. */
  finish(batch: Uint32Array, grad: Floats): BatchResult {
    const total: BatchResult = { count: this.batchLength, lossSum: this.losses.sum(this.blockLoss, this.blocks), correct: 0 };
    for (let s = 0; s < this.slots; s++) total.correct += this.correct[s];
    if (this.rebuild && this.factors && this.tree) {
      const { block } = this;
      const width = this.rebuild.factorWidth;
      this.tree.reset(this.blocks, grad);
      for (let j = 0; j < this.blocks; j++) {
        const from = blockStart(j, this.batchLength, block);
        const to = blockStart(j + 1, this.batchLength, block);
        this.rebuild.bp.gradientFromFactors(this.plan.train, batch, from, to, this.factors.subarray(from * width, to * width), this.tree.next());
        this.tree.push(j, j + 1);
      }
      return total;
    }
    // sliced: the servers' sums are already in grad
    if (!this.sliced) grad.set(this.pieces!.sum());
    return total;
  }

  /** Slot `slot`'s samples and loss sum in the last sending (its blocks' loss sums added in order: for the trace and the dashboard). */
  part(slot: number): { count: number; lossSum: number } {
    let lossSum = 0;
    for (let j = this.cuts[slot]; j < this.cuts[slot + 1]; j++) lossSum += this.blockLoss[j];
    return { count: this.counts[slot], lossSum };
  }
}
