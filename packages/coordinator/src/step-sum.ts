/**
 * One step's gradient sum as the workers' parts come in, for the step machine:
 * how many of the batch's samples each slot (worker) holds, what its gradient
 * must look like and where its values land, and the sum in a fixed order (dense
 * sums in slot order; factors put back in batch order and rebuilt). Arithmetic
 * and memory only: who is a member, and when, is the machine's business.
 */
import { FactoredBackprop, factorBlocks, factorWidth, layoutOf, type BatchResult, type Floats } from '@shardprop/core';
import type { Expectation, Gradient, GradientForm } from '@shardprop/protocol';
import { IncomingBuffers } from './incoming.js';
import type { TrainingPlan } from './plan.js';
import { Reducer } from './reducer.js';
import { countPerShard, type Shard } from './sharding.js';

export type SumPlan = Pick<TrainingPlan, 'spec' | 'train' | 'kernels' | 'batchSize' | 'chunk'>;

export class StepSum {
  /** What every gradient is checked against; step, round and count are set per message. */
  private readonly expectation: Expectation;
  private counts = new Int32Array(0);
  private lossSums = new Float64Array(0);
  private reducer: Reducer;
  /** Where each slot's gradient is copied on arrival (reused every step). */
  private incoming: Floats[] = [];
  private readonly buffers: IncomingBuffers;
  /** owner[p]: the slot holding position p of the step's batch. */
  private readonly owner: Int32Array;
  /** Factors form: the whole batch's factors in batch order, and the backprop that turns them into the sum. */
  private readonly factors: Floats | null;
  private readonly rebuild: FactoredBackprop | null;
  private readonly factorWidths: number[];

  constructor(private readonly plan: SumPlan, readonly form: GradientForm) {
    const { layers, dtype } = plan.spec;
    const { kernels } = plan;
    this.expectation = { size: layoutOf(layers).size, dtype, form, factorWidth: factorWidth(layers), step: 0, round: 0, count: 0, allFinite: (x) => kernels.allFinite(x) };
    this.owner = new Int32Array(plan.batchSize);
    this.factorWidths = factorBlocks(layers);
    const factored = form === 'factors';
    this.factors = factored ? kernels.alloc(dtype, plan.batchSize * this.expectation.factorWidth) : null;
    // the chunk of the in-process engine: the same products over the same rows give the same sums
    this.rebuild = factored ? new FactoredBackprop(plan.spec, plan.chunk, kernels) : null;
    this.reducer = new Reducer(0, kernels);
    this.buffers = new IncomingBuffers((length) => kernels.alloc(dtype, length));
  }

  /** One slot per shard from now on, each with room for the largest gradient its shard can send. */
  reslot(shards: readonly Shard[]): void {
    const n = shards.length;
    this.counts = new Int32Array(n);
    this.lossSums = new Float64Array(n);
    this.reducer = new Reducer(n, this.plan.kernels);
    for (const b of this.incoming) this.buffers.release(b);
    const { size, factorWidth: width } = this.expectation;
    this.incoming = shards.map((s) => this.buffers.take(this.form === 'dense' ? size : Math.min(this.plan.batchSize, s.end - s.start) * width));
  }

  /** A new sending of a step over `batch`: who owes what, and nothing received yet. */
  begin(batch: Uint32Array, shards: readonly Shard[]): void {
    countPerShard(batch, shards, this.counts, this.owner);
    this.reducer.reset();
  }

  has(slot: number): boolean {
    return this.reducer.has(slot);
  }

  get complete(): boolean {
    return this.reducer.complete;
  }

  /** What slot `slot`'s gradient for this sending must be, and where its values go. */
  expecting(slot: number, step: number, round: number): { expectation: Expectation; into: Floats } {
    this.expectation.step = step;
    this.expectation.round = round;
    this.expectation.count = this.counts[slot];
    return { expectation: this.expectation, into: this.incoming[slot] };
  }

  add(slot: number, g: Gradient): void {
    this.lossSums[slot] = g.lossSum;
    this.reducer.add(slot, g, g.grad);
  }

  /** The step's gradient sum into `grad`, from every slot's dense sum or factors; the totals. */
  finish(batch: Uint32Array, grad: Floats): BatchResult {
    if (!this.factors || !this.rebuild) return this.reducer.reduce(grad);
    const m = batch.length;
    const factors = this.factors.subarray(0, m * this.expectation.factorWidth);
    const total = this.reducer.assemble(this.owner, m, this.factorWidths, factors);
    this.rebuild.gradientFromFactors(this.plan.train, batch, 0, m, factors, grad);
    return total;
  }

  /** Slot `slot`'s samples and loss sum in the last sending. */
  part(slot: number): { count: number; lossSum: number } {
    return { count: this.counts[slot], lossSum: this.lossSums[slot] };
  }
}
