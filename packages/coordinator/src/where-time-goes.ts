/**
 * Where a distributed run's step time went (compute, wait, communication), and,
 * when the exchange outweighed the compute, the alternative measured: the same
 * model's gradient of a batch as large, timed in this process at the run's end.
 */
import { BlockBackprop, Sampler } from '@shardprop/core';
import type { TrainingPlan } from './plan.js';

export interface RunTime {
  /** Steps whose gradient the workers computed in this run (fewer than the run's when it resumed). */
  steps: number;
  computeSeconds: number;
  waitSeconds: number;
  commSeconds: number;
  /** Timed only when wait and communication together took longer than compute. */
  inProcess?: InProcessTiming;
}

export interface InProcessTiming {
  batch: number;
  /** Batches timed, and the mean seconds of one's gradient. */
  batches: number;
  secondsPerBatch: number;
}

/** At most this long, or MAX_BATCHES batches, is spent timing the in-process alternative (one batch at least). */
const BUDGET_SECONDS = 0.25;
const MAX_BATCHES = 1000;

/** The run's time at the coordinator, with the in-process alternative timed when compute was not most of it. */
export function whereTimeWent(plan: TrainingPlan, steps: number, t: Omit<RunTime, 'steps' | 'inProcess'>): RunTime {
  const time: RunTime = { steps, computeSeconds: t.computeSeconds, waitSeconds: t.waitSeconds, commSeconds: t.commSeconds };
  // then one step took longer than its compute alone: timing a batch here costs less than a step did
  if (steps > 0 && t.waitSeconds + t.commSeconds > t.computeSeconds) time.inProcess = timeInProcess(plan);
  return time;
}

/**
 * The gradient of the run's first batches at the trained parameters, computed here
 * as --workers 0 would (the same kernels, blocks and batch size); the model is read,
 * never changed. The first batch warms up and is not counted, when there is time.
 */
export function timeInProcess(plan: TrainingPlan): InProcessTiming {
  const bp = new BlockBackprop(plan.spec, plan.block, plan.kernels);
  const grad = plan.kernels.alloc(plan.spec.dtype, plan.model.params.length);
  const sampler = new Sampler(plan.train.count, plan.batchSize, plan.samplerSeed);
  const gradient = (): void => {
    const indices = sampler.next();
    bp.gradient(plan.model, plan.train, indices, grad);
  };
  const started = performance.now();
  gradient();
  const warm = performance.now();
  let batches = 0;
  while (batches < MAX_BATCHES && performance.now() - started < BUDGET_SECONDS * 1000) {
    gradient();
    batches++;
  }
  if (batches === 0) return { batch: plan.batchSize, batches: 1, secondsPerBatch: (warm - started) / 1000 };
  return { batch: plan.batchSize, batches, secondsPerBatch: (performance.now() - warm) / 1000 / batches };
}
