/**
 * What a worker holds once welcomed, and the one thing it computes: the gradient
 * message of a step over the samples of the batch that lie in its shard. Pure:
 * no sockets, timers or logs (the clock for computeMs is given).
 */
import {
  Backprop, FactoredBackprop, Model, allocFloats, bytesShown, createKernels, datasetAs, factorWidth, layoutOf, makeDataset, shortList, subset,
  type Dataset, type Floats, type Kernels,
} from '@shardprop/core';
import { encodeGradient, failure, type Checked, type Failure, type Receiving, type ShardData, type Step, type Welcome } from '@shardprop/protocol';
import type { ProcessUsage } from './usage.js';

export class ShardWorker {
  readonly model: Model;
  /** What coordinator messages are checked against (made once: decoding a step allocates nothing for it). */
  readonly receiving: Receiving;
  private readonly bp: Backprop;
  private readonly factored: FactoredBackprop | null;
  /** The coordinator's choice: parameters, gradient and scratch live where they work in place. */
  private readonly kernels: Kernels;
  private readonly factorWidth: number;
  // the shard, replaced when the coordinator reshards
  private data!: Dataset;
  /** The dense gradient sum, or room for the factors of up to a whole shard (kept when a new shard fits). */
  private grad: Floats | null = null;
  /** The shard's sample ids, ascending (the protocol checks it): a sample's row is its place here. */
  private ids!: Uint32Array;
  private local!: Uint32Array;
  /** The last gradient's samples and backprop time (ms), for the worker's report. */
  readonly last = { count: 0, computeMs: 0 };

  /** A worker for `welcome`; its shard is set by setShard, which the caller must check. */
  private constructor(readonly welcome: Welcome, private readonly ownData: Dataset | undefined, private readonly now: () => number) {
    this.kernels = createKernels(welcome.kernel);
    const { spec, chunk } = welcome;
    this.model = new Model(spec, this.kernels.alloc(spec.dtype, layoutOf(spec.layers).size));
    this.factored = welcome.gradientForm === 'factors' ? new FactoredBackprop(spec, chunk, this.kernels) : null;
    this.bp = this.factored ?? new Backprop(spec, chunk, this.kernels);
    this.factorWidth = factorWidth(spec.layers);
    this.receiving = { params: this.model.params, spec, total: welcome.total };
  }

  /** The worker a welcome makes, or why it cannot be made here: its shard does not fit, or the model needs more than `maxBytes`. */
  static fromWelcome(welcome: Welcome, ownData: Dataset | undefined, now: () => number, maxBytes: number): Checked<ShardWorker> {
    const need = bytesNeeded(welcome);
    if (need > maxBytes) {
      return failure('SP_ERR_TOO_LARGE', `the coordinator's model (layers ${shortList(welcome.spec.layers)}, ${welcome.spec.dtype}) needs ${bytesShown(need)} here, more than the ${bytesShown(maxBytes)} this worker may use`);
    }
    const worker = new ShardWorker(welcome, ownData, now);
    const set = worker.setShard(welcome.shard);
    return set ?? { ok: true, message: worker };
  }

  /** Takes `shard` as this worker's samples, in place of any it held; a failure when it cannot. */
  setShard(shard: ShardData): Failure | null {
    const { spec, total, workerId } = this.welcome;
    if (shard.x && shard.y) {
      this.data = makeDataset(`shard ${workerId}`, shard.x, shard.y, shard.inputs, shard.outputs);
    } else if (shard.indices.length === 0) {
      // no samples yet (joined during training): nothing to hold until the next reshard
      this.data = makeDataset(`shard ${workerId}`, allocFloats(spec.dtype, 0), allocFloats(spec.dtype, 0), shard.inputs, shard.outputs);
    } else {
      const local = this.ownData;
      if (!local) return failure('SP_ERR_NO_DATA', 'shard: no rows, and this worker has no data of its own');
      if (local.count !== total || local.inputs !== shard.inputs || local.outputs !== shard.outputs) return failure('SP_ERR_NO_DATA', 'shard: it does not fit this worker\'s data');
      this.data = datasetAs(subset(local, shard.indices, `shard ${workerId}`), spec.dtype);
    }
    const room = this.factored ? shard.indices.length * this.factorWidth : this.model.params.length;
    if (this.grad === null || this.grad.length < room) this.grad = this.kernels.alloc(spec.dtype, room);
    this.ids = shard.indices;
    this.local = new Uint32Array(Math.max(1, shard.indices.length));
    return null;
  }

  /** The gradient message of one step (its fragments): the sum, or the factors, over the batch's samples in this shard. */
  compute(step: Step, receivedAt: number, previousSentAt: number, usage?: ProcessUsage): Checked<Buffer[]> {
    const t0 = this.now();
    if (step.params !== this.model.params) this.model.params.set(step.params);
    let count = 0;
    const { batch } = step;
    for (let i = 0; i < batch.length; i++) {
      const g = batch[i];
      const row = rowOf(this.ids, g);
      if (row >= 0) {
        if (count === this.local.length) return failure('SP_ERR_REPEATED_SAMPLES', 'step: the batch repeats samples of this shard');
        this.local[count++] = row;
      }
    }
    let grad = this.grad!;
    let r;
    if (this.factored) {
      grad = grad.subarray(0, count * this.factorWidth);
      r = this.factored.factors(this.model, this.data, this.local, 0, count, grad);
    } else {
      r = this.bp.gradient(this.model, this.data, this.local, 0, count, grad);
    }
    const head = { type: 'gradient' as const, step: step.step, round: step.round, count: r.count, lossSum: r.lossSum, correct: r.correct, computeMs: this.now() - t0, receivedAt, previousSentAt, cpu: usage?.cpu, rssBytes: usage?.rssBytes };
    this.last.count = r.count;
    this.last.computeMs = head.computeMs;
    return { ok: true, message: encodeGradient(head, grad) };
  }
}

/** The place of `id` in the ascending `ids`, or -1. */
function rowOf(ids: Uint32Array, id: number): number {
  let lo = 0;
  let hi = ids.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    const v = ids[mid];
    if (v === id) return mid;
    if (v < id) lo = mid + 1;
    else hi = mid - 1;
  }
  return -1;
}

/**
 * The bytes a worker allocates for a welcome, beyond the message itself: the
 * parameters, the gradient (or the factors of its whole shard), and backprop's
 * scratch (Z, A and Δ of every layer for a chunk of rows, and the targets).
 */
export function bytesNeeded(w: Welcome): number {
  const { layers, dtype } = w.spec;
  const size = layoutOf(layers).size;
  const width = dtype === 'float64' ? 8 : 4;
  const neurons = layers.reduce((sum, n) => sum + n, 0);
  const gradient = w.gradientForm === 'factors' ? w.shard.indices.length * factorWidth(layers) : size;
  return width * (size + gradient + w.chunk * (3 * neurons + layers[layers.length - 1]));
}
