import { Rng, type RngState } from './rng.js';

/**
 * Which samples form the global mini-batch of each step. The whole data set is
 * permuted by a seeded RNG at the start of every epoch and cut into batches in
 * order; the last batch of an epoch may be short. Nothing here depends on how
 * many workers there are: this is the one place that decides "which samples
 * form step t".
 */
export class Sampler {
  private readonly rng: Rng;
  private order: Uint32Array;
  /** Position of the next batch within the current epoch's order. */
  private cursor = 0;
  /** Epochs started so far. */
  private epochsStarted = 0;

  constructor(readonly count: number, readonly batchSize: number, seed: number, readonly shuffle = true) {
    if (!Number.isInteger(count) || count < 1) throw new RangeError(`the data set must have at least one sample, got ${count}`);
    if (!Number.isInteger(batchSize) || batchSize < 1) throw new RangeError(`batch size must be a positive integer, got ${batchSize}`);
    this.rng = new Rng(seed);
    this.order = new Uint32Array(count);
    this.cursor = count; // the first call starts epoch 0
  }

  get batchesPerEpoch(): number {
    return Math.ceil(this.count / this.batchSize);
  }

  /** The epoch (0-based) that the next batch belongs to. */
  get epoch(): number {
    return this.cursor >= this.count ? this.epochsStarted : this.epochsStarted - 1;
  }

  /** The sample indices of the next global batch; a view valid until the next call. */
  next(): Uint32Array {
    if (this.cursor >= this.count) {
      for (let i = 0; i < this.count; i++) this.order[i] = i;
      if (this.shuffle) this.rng.shuffle(this.order);
      this.cursor = 0;
      this.epochsStarted++;
    }
    const start = this.cursor;
    this.cursor = Math.min(this.count, start + this.batchSize);
    return this.order.subarray(start, this.cursor);
  }

  /** Enough to continue the same sequence of batches after a restart. */
  state(): { rng: RngState; order: Uint32Array; cursor: number; epochsStarted: number } {
    return { rng: this.rng.state(), order: this.order.slice(), cursor: this.cursor, epochsStarted: this.epochsStarted };
  }

  setState(state: { rng: readonly number[]; order: Uint32Array; cursor: number; epochsStarted: number }): void {
    if (state.order.length !== this.count) throw new RangeError(`sampler state is for ${state.order.length} samples, the data set has ${this.count}`);
    if (!Number.isInteger(state.cursor) || state.cursor < 0 || state.cursor > this.count) throw new RangeError('sampler state: bad cursor');
    this.rng.setState(state.rng);
    this.order.set(state.order);
    this.cursor = state.cursor;
    this.epochsStarted = state.epochsStarted;
  }
}
