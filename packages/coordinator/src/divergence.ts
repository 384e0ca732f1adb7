/**
 * Whether a step's math diverged, seen from the coordinator: when a worker sends a
 * gradient (or a loss) that is not finite, the coordinator computes the whole
 * batch's gradient itself, at the same parameters and with the same kernels. Not
 * finite here either: the run diverged, and no worker is to blame. Finite here:
 * that worker is broken or lying, and is dropped.
 */
import { BlockBackprop, type Floats, type Model } from '@shardprop/core';
import type { TrainingPlan } from './plan.js';

export class DivergenceCheck {
  private bp: BlockBackprop | null = null;
  private grad: Floats | null = null;
  /** The last verdict, for the step and round it was made for: every non-finite gradient of one sending costs one check. */
  private last: { step: number; round: number; reason: string | null } | null = null;

  constructor(private readonly plan: Pick<TrainingPlan, 'spec' | 'train' | 'kernels' | 'block'>) {}

  /** Why step `step` diverged (a one-line reason), or null when its gradient is finite and the worker was wrong. */
  diverged(step: number, round: number, model: Model, batch: Uint32Array): string | null {
    if (this.last?.step === step && this.last.round === round) return this.last.reason;
    const { spec, train, kernels, block } = this.plan;
    // made when first needed: most runs never diverge; the in-process engine's blocks and tree
    this.bp ??= new BlockBackprop(spec, block, kernels);
    this.grad ??= kernels.alloc(spec.dtype, model.params.length);
    const r = this.bp.gradient(model, train, batch, this.grad);
    // the same words as the in-process run's (training-loop.ts): a diverging run reads the same wherever it ran
    const reason = !Number.isFinite(r.lossSum) ? 'its risk is not a finite number' : !kernels.allFinite(this.grad) ? 'its gradient holds NaN or infinite values' : null;
    this.last = { step, round, reason };
    return reason;
  }
}
