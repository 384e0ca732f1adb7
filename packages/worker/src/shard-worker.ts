/**
 * What a worker holds once welcomed (the whole training set, so it can compute
 * any block), and the one thing it computes: the gradient message of a step over
 * the range of blocks dealt to it. Pure: no sockets, timers or logs (the clock
 * for computeMs is given).
 */
import {
  BlockBackprop, Model, blockStart, bytesShown, createKernels, datasetAs, layoutOf, makeDataset, shortList,
  type Dataset, type Floats, type Kernels,
} from '@shardprop/core';
import { encodeGradient, failure, type Checked, type Failure, type Receiving, type ShardData, type Step, type Welcome } from '@shardprop/protocol';
import type { ProcessUsage } from './usage.js';

export class ShardWorker {
  readonly model: Model;
  /** What coordinator messages are checked against (made once: decoding a step allocates nothing for it). */
  readonly receiving: Receiving;
  private readonly blocks: BlockBackprop;
  private readonly factored: boolean;
  /** The coordinator's choice: parameters, gradient and scratch live where they work in place. */
  private readonly kernels: Kernels;
  /** The training set, all of it. */
  private data!: Dataset;
  /** Factors form: room for the factors of the blocks dealt (grown when a larger range comes). */
  private factors: Floats;
  /** The loss sum of each block dealt (grown likewise). */
  private blockLoss = new Float64Array(16);
  /** The last gradient's samples and backprop time (ms), for the worker's report. */
  readonly last = { count: 0, computeMs: 0 };

  /** A worker for `welcome`; its rows are set by setData, which the caller must check. */
  private constructor(readonly welcome: Welcome, private readonly ownData: Dataset | undefined, private readonly now: () => number, threads: number) {
    this.kernels = createKernels(welcome.kernel, threads);
    const { spec, block } = welcome;
    this.model = new Model(spec, this.kernels.alloc(spec.dtype, layoutOf(spec.layers).size));
    this.blocks = new BlockBackprop(spec, block, this.kernels);
    this.factored = welcome.gradientForm === 'factors';
    this.factors = this.kernels.alloc(spec.dtype, 0);
    this.receiving = { params: this.model.params, spec, total: welcome.total, block };
  }

  /** The worker a welcome makes, or why it cannot be made here: the data does not fit, or the model needs more than `maxBytes`. */
  static fromWelcome(welcome: Welcome, ownData: Dataset | undefined, now: () => number, maxBytes: number, threads = 1): Checked<ShardWorker> {
    const need = bytesNeeded(welcome);
    if (need > maxBytes) {
      return failure('SP_ERR_TOO_LARGE', `the coordinator's model (layers ${shortList(welcome.spec.layers)}, ${welcome.spec.dtype}) needs ${bytesShown(need)} here, more than the ${bytesShown(maxBytes)} this worker may use`);
    }
    const worker = new ShardWorker(welcome, ownData, now, threads);
    const set = worker.setData(welcome.shard);
    if (set) worker.close();
    return set ?? { ok: true, message: worker };
  }

  /** Stops the kernels' helper threads: this worker's session is over. */
  close(): void {
    this.kernels.close();
  }

  /** Takes the welcome's rows, or this worker's own copy of the same data set; a failure when it cannot. */
  private setData(shard: ShardData): Failure | null {
    const { spec, total, workerId } = this.welcome;
    if (shard.x && shard.y) {
      this.data = makeDataset(`data of worker ${workerId}`, shard.x, shard.y, shard.inputs, shard.outputs);
      return null;
    }
    const local = this.ownData;
    if (!local) return failure('SP_ERR_NO_DATA', 'welcome: no rows, and this worker has no data of its own');
    if (local.count !== total || local.inputs !== shard.inputs || local.outputs !== shard.outputs) return failure('SP_ERR_NO_DATA', 'welcome: the data set does not fit this worker\'s data');
    this.data = datasetAs(local, spec.dtype);
    return null;
  }

  /**
   * The gradient message of one step (its fragments): the pieces, or the factors, of the blocks dealt to this
   * worker. A sliced step (its parameters already in the model, from the slice servers): the message carries
   * no values, and `pieces` are the pieces for the slice servers (valid until the next step); `onFinal`
   * hears of the values final before backprop is over (a range of one block: the top layers' first).
   */
  compute(
    step: Step, receivedAt: number, previousSentAt: number, usage?: ProcessUsage, onFinal?: (from: number, piece: Floats) => void,
  ): Checked<{ fragments: Buffer[]; pieces: Floats | null }> {
    const t0 = this.now();
    if (!step.slices && step.params !== this.model.params) this.model.params.set(step.params);
    const { batch, workers, cuts } = step;
    const i = workers.indexOf(this.welcome.workerId);
    if (i < 0) return failure('SP_ERR_BAD_FIELD', 'step: no range of blocks for this worker');
    const first = cuts[i];
    const end = cuts[i + 1];
    if (this.blockLoss.length < end - first) this.blockLoss = new Float64Array(end - first);
    const blockLoss = this.blockLoss.subarray(0, end - first);
    const { block } = this.welcome;
    const count = blockStart(end, batch.length, block) - blockStart(first, batch.length, block);
    let grad: Floats;
    let r;
    if (this.factored) {
      const width = this.blocks.factorWidth;
      if (this.factors.length < count * width) this.factors = this.kernels.alloc(this.welcome.spec.dtype, count * width);
      grad = this.factors.subarray(0, count * width);
      r = this.blocks.factors(this.model, this.data, batch, first, end, grad, blockLoss);
    } else {
      // sliced: values of the gradient final before backprop is over may go at once (onFinal)
      const made = this.blocks.pieces(this.model, this.data, batch, first, end, blockLoss, step.slices ? onFinal : undefined);
      grad = made.pieces;
      r = made.result;
    }
    const head = {
      type: 'gradient' as const, step: step.step, round: step.round, count: r.count, blockLoss, correct: r.correct, computeMs: this.now() - t0, receivedAt, previousSentAt,
      cpu: usage?.cpu, rssBytes: usage?.rssBytes,
    };
    this.last.count = r.count;
    this.last.computeMs = head.computeMs;
    if (step.slices) return { ok: true, message: { fragments: encodeGradient(head, grad.subarray(0, 0)), pieces: grad } };
    return { ok: true, message: { fragments: encodeGradient(head, grad), pieces: null } };
  }
}

/**
 * The bytes a worker allocates for a welcome, beyond the message itself (the
 * rows): the parameters, the tree's partial sums (dense: at least two; a long
 * range of blocks holds a few more), and backprop's scratch (Z, A and Δ of every layer for a block
 * of rows, and the targets). The factors of a step are allocated when dealt.
 */
export function bytesNeeded(w: Welcome): number {
  const { layers, dtype } = w.spec;
  const size = layoutOf(layers).size;
  const width = dtype === 'float64' ? 8 : 4;
  const neurons = layers.reduce((sum, n) => sum + n, 0);
  const gradient = w.gradientForm === 'factors' ? 0 : 2 * size;
  return width * (size + gradient + w.block * (3 * neurons + layers[layers.length - 1]));
}
