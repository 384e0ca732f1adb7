import { Backprop, BlockBackprop, Optimizer, Sampler, loadParamHash, type BatchResult, type Floats, type Model, type OptimizerConfig } from '@shardprop/core';
import { Keeper } from './keeping.js';
import { OutputError, appendLine } from './outputs.js';
import { StepWindow, samplesBefore, type StepMetrics } from './metrics-lines.js';
import { EVAL_CHUNK, type TrainingPlan } from './plan.js';
import type { RunTime } from './where-time-goes.js';

/**
 * Computes the gradient SUM of the global batch of one step. The in-process engine
 * runs backprop here; the distributed one asks the workers and adds their sums.
 */
export interface GradientEngine {
  readonly workers: number;
  gradient(step: number, indices: Uint32Array, model: Model, grad: Floats): BatchResult | Promise<BatchResult>;
  /** Who contributed what to the last step (distributed engines). */
  contributions?(): WorkerContribution[];
  /** Seconds spent so far computing vs. waiting for the slowest worker vs. communicating. */
  timing?(): EngineTiming;
  /**
   * The run is to stop: the step in flight finishes if any worker can compute it; one
   * that waits for workers fails at once, with the code SP_ERR_STOPPED.
   */
  stop?(): void;
  close?(): Promise<void>;
}

export interface EngineTiming {
  /** Backprop: the slowest worker's each step (and rebuilding sums from factors). */
  computeSeconds: number;
  /** Between the first and the last gradient of each step. */
  waitSeconds: number;
  /** The rest of each step's wall time at the coordinator. */
  commSeconds: number;
  /**
   * Distributed runs: per step, from the last gradient sent to the new parameters
   * received at every worker, by the workers' clocks (exact for local workers).
   */
  syncSeconds?: number;
}

export interface WorkerContribution {
  workerId: number;
  count: number;
  lossSum: number;
  /** The step's blocks it computed: [first, end), block j being batch positions [jK, (j+1)K). */
  blocks: [number, number];
}

/**
 * One line of --trace, written after each step: the global batch (sample indices
 * in order), its totals, the hash of the parameters after the step (core's
 * loadParamHash: XXH64, 16 hex digits) and, with workers, each one's part. A run
 * in process has no `workers`: it computed every block itself.
 */
export interface TraceLine {
  step: number;
  epoch: number;
  batch: number[];
  count: number;
  lossSum: number;
  params: string;
  workers?: WorkerContribution[];
}

/** What `shardprop train --json` prints and `train()` resolves to. */
export interface TrainSummary {
  steps: number;
  epochs: number;
  /** Samples whose gradients the steps of this run summed (from the checkpoint on, when it resumed). */
  samples: number;
  trainRisk: number;
  trainAccuracy: number;
  testRisk?: number;
  testAccuracy?: number;
  samplesPerSecond: number;
  seconds: number;
  model: string;
  workers: number;
  /** The matrix kernels (js or wasm) of the coordinator and every worker. */
  kernel: string;
  /** Threads of this process's kernels (in process: the training's; distributed: the coordinator's sums and updates). */
  threads: number;
  layers: number[];
  dtype: string;
  seed: number;
  /** XXH64 of the final parameters' bytes (core's loadParamHash), 16 hex digits: the same for runs that end bit for bit alike. */
  paramsHash: string;
  /** The run record written next to the model (train(); see run-record.ts). */
  runRecord?: string;
  /** Distributed runs (train()): where the steps' time went at the coordinator. */
  time?: RunTime;
}

export interface StepProgress {
  step: number;
  totalSteps: number;
  epoch: number;
  /** Mean loss over the batches of the current epoch so far. */
  risk: number;
  samplesPerSecond: number;
}

export interface EpochMetrics {
  kind: 'epoch';
  step: number;
  epoch: number;
  /** Samples seen since step 1. */
  samples: number;
  /** Mean loss over the epoch's batches. */
  risk: number;
  testRisk?: number;
  testAccuracy?: number;
  samplesPerSecond: number;
  seconds: number;
  computeSeconds?: number;
  syncSeconds?: number;
  waitSeconds?: number;
  commSeconds?: number;
}

export interface TrainingHooks {
  onStep?(progress: StepProgress): void;
  onEpoch?(metrics: EpochMetrics): void;
  /** A metrics line of steps: every --metrics-every steps, else now and then (StepWindow). */
  onMetrics?(line: StepMetrics): void;
  /** A checkpoint was written after `step`. */
  onCheckpoint?(step: number, path: string): void;
  /**
   * Aborted, it stops the run: after the step in flight, with a checkpoint when there is
   * a checkpoint directory; at once when the run waits for workers (with a checkpoint of
   * the last whole step, when there is one to write).
   */
  signal?: AbortSignal;
}

/** The run stopped early because its signal was aborted; a checkpoint (if any) holds where it stopped. */
export class TrainingInterrupted extends Error {
  override name = 'TrainingInterrupted';
  constructor(readonly step: number, readonly checkpoint?: string, message = `training stopped after step ${step}`) {
    super(`${message}${checkpoint ? `; checkpoint written to ${checkpoint}` : ''}`);
  }
}

/** A step (or the wait for workers) given up because the run is to stop, not because it failed. */
export function isStop(err: unknown): boolean {
  return (err as { code?: unknown } | null)?.code === 'SP_ERR_STOPPED';
}

/** A step whose gradient or risk is not finite, for every worker alike: the math diverged (SP_ERR_DIVERGED). */
function isDiverged(err: unknown): boolean {
  return (err as { code?: unknown } | null)?.code === 'SP_ERR_DIVERGED';
}

function diverged(why: string): Error & { code: string } {
  return Object.assign(new Error(why), { code: 'SP_ERR_DIVERGED' });
}

/** The run diverged: its risk or gradient left the finite numbers. Not a worker's fault, nor bad input. */
export class TrainingDiverged extends Error {
  override name = 'TrainingDiverged';
  readonly code = 'SP_ERR_DIVERGED';
  constructor(readonly step: number, why: string, optimizer: OptimizerConfig, kept?: { step: number; path: string }) {
    const smaller = optimizer.weightDecay ? `a smaller --lr than ${optimizer.lr} or --weight-decay than ${optimizer.weightDecay}` : `a smaller --lr than ${optimizer.lr}`;
    const checkpoint = kept ? `; the last checkpoint, of step ${kept.step} (finite parameters), is ${kept.path}` : '';
    super(`training diverged at step ${step}: ${why}; try ${smaller}${checkpoint}`);
  }
}

/** Gradients computed in this process, by the same blocks and tree as the workers': the reference every distributed run matches bit for bit. */
export function inProcessEngine(plan: TrainingPlan): GradientEngine {
  const bp = new BlockBackprop(plan.spec, plan.block, plan.kernels);
  let computeSeconds = 0;
  let lastYield = performance.now();
  return {
    workers: 0,
    async gradient(_step, indices, model, grad) {
      const t0 = performance.now();
      const result = bp.gradient(model, plan.train, indices, grad);
      computeSeconds += (performance.now() - t0) / 1000;
      // this engine never waits on a socket: let signal handlers and timers run now and then (before the loop reads the signal)
      if (performance.now() - lastYield > 50) {
        await new Promise((resolve) => setImmediate(resolve));
        lastYield = performance.now();
      }
      return result;
    },
    timing: () => ({ computeSeconds, waitSeconds: 0, commSeconds: 0 }),
  };
}

/**
 * The training loop, the same whoever computes the gradients: draw the global
 * batch, get its gradient sum, take the optimizer step (dividing by the count
 * once), evaluate at each epoch's end; then save the model and summarise.
 */
export async function runTraining(plan: TrainingPlan, engine: GradientEngine, hooks: TrainingHooks = {}): Promise<TrainSummary> {
  const { model, train, test } = plan;
  const sampler = new Sampler(train.count, plan.batchSize, plan.samplerSeed);
  const optimizer = new Optimizer(plan.optimizer, model.params.length, plan.spec.dtype, plan.kernels);
  const grad = plan.kernels.alloc(plan.spec.dtype, model.params.length);
  const evaluator = new Backprop(plan.spec, EVAL_CHUNK, plan.kernels);
  const keeper = new Keeper(plan, model, optimizer, sampler, plan.kernels, hooks.onCheckpoint);
  const hash = await loadParamHash();
  const started = performance.now();
  let samples = 0;
  let epochLoss = 0;
  let epochCount = 0;
  let lastProgress = 0;
  const window = new StepWindow(plan.options.metricsEvery);

  const elapsed = (): number => (performance.now() - started) / 1000;
  const { checkpointEvery, metrics: metricsFile, metricsEvery, trace } = plan.options;
  let firstStep = 1;
  const resume = plan.resumeFrom;
  if (resume) {
    // the plan's model already holds the checkpoint's parameters
    optimizer.setState(resume.optimizer.state);
    sampler.setState(resume.sampler);
    firstStep = resume.step + 1;
  }
  // samples seen since step 1, resumed runs included (the samples axis of the curves)
  let seen = samplesBefore(firstStep - 1, plan.batchesPerEpoch, plan.batchSize, train.count);
  const endEpoch = (step: number, epoch: number): void => {
    const metrics: EpochMetrics = {
      kind: 'epoch',
      step,
      epoch,
      samples: seen,
      risk: epochCount > 0 ? epochLoss / epochCount : NaN,
      samplesPerSecond: samples / Math.max(elapsed(), 1e-9),
      seconds: elapsed(),
      ...engine.timing?.(),
    };
    if (test) {
      const r = evaluator.evaluate(model, test);
      metrics.testRisk = r.lossSum / r.count;
      metrics.testAccuracy = r.correct / r.count;
    }
    if (metricsFile) appendLine('--metrics', metricsFile, JSON.stringify(metrics) + '\n');
    hooks.onEpoch?.(metrics);
    epochLoss = 0;
    epochCount = 0;
  };

  const stop = () => engine.stop?.();
  hooks.signal?.addEventListener('abort', stop, { once: true });
  let step = firstStep;
  try {
    for (; step <= plan.totalSteps; step++) {
      const epoch = sampler.epoch;
      const indices = sampler.next();
      let result: BatchResult;
      try {
        result = await engine.gradient(step, indices, model, grad);
        if (!Number.isFinite(result.lossSum)) throw diverged('its risk is not a finite number');
      } catch (err) {
        // the run cannot go on; what it did so far is kept for --resume (a diverged run's last finite parameters)
        const path = keeper.checkpoint(step - 1, indices.length);
        if (isStop(err)) throw new TrainingInterrupted(step - 1, path);
        if (isDiverged(err)) throw new TrainingDiverged(step, (err as Error).message, plan.optimizer, keeper.kept());
        if (err instanceof Error) err.message += keeper.recovery();
        throw err;
      }
      optimizer.step(model.params, grad, result.count);
      if (trace) {
        const record: TraceLine = { step, epoch: epoch + 1, batch: Array.from(indices), count: result.count, lossSum: result.lossSum, params: hash.of(model.params), workers: engine.contributions?.() };
        appendLine('--trace', trace, JSON.stringify(record) + '\n');
      }
      samples += result.count;
      seen += result.count;
      epochLoss += result.lossSum;
      epochCount += result.count;
      window.add(result.lossSum, result.count);
      if (window.due(step, elapsed(), step === plan.totalSteps)) {
        const line = window.take(step, plan.batchesPerEpoch, seen, elapsed());
        if (metricsFile && metricsEvery !== undefined) appendLine('--metrics', metricsFile, JSON.stringify(line) + '\n');
        hooks.onMetrics?.(line);
      }
      const epochDone = sampler.epoch !== epoch || step === plan.totalSteps;
      if (hooks.onStep && (epochDone || performance.now() - lastProgress > 100)) {
        lastProgress = performance.now();
        hooks.onStep({ step, totalSteps: plan.totalSteps, epoch: epoch + 1, risk: epochLoss / epochCount, samplesPerSecond: samples / Math.max(elapsed(), 1e-9) });
      }
      if (epochDone) endEpoch(step, epoch + 1);
      if (checkpointEvery !== undefined && step % checkpointEvery === 0) keeper.checkpoint(step);
      if (hooks.signal?.aborted) throw new TrainingInterrupted(step, keeper.checkpoint(step));
    }
  } catch (err) {
    // a log or a checkpoint that could not be written after a whole step: that step is kept if it can be
    if (err instanceof OutputError && err.flag !== '--checkpoint-dir') {
      try {
        keeper.checkpoint(step);
      } catch {
        // the checkpoint folder refuses too: the message says which checkpoint is left
      }
      err.message += keeper.recovery();
    }
    throw err;
  } finally {
    hooks.signal?.removeEventListener('abort', stop);
  }
  const seconds = elapsed();

  keeper.saveModel(plan.totalSteps);
  const trainEval = evaluator.evaluate(model, train);
  const summary: TrainSummary = {
    steps: plan.totalSteps,
    epochs: plan.totalSteps / plan.batchesPerEpoch,
    samples,
    trainRisk: trainEval.lossSum / trainEval.count,
    trainAccuracy: trainEval.correct / trainEval.count,
    samplesPerSecond: samples / Math.max(seconds, 1e-9),
    seconds,
    model: plan.outPath,
    workers: engine.workers,
    kernel: plan.kernels.name,
    threads: plan.kernels.threads,
    layers: [...plan.spec.layers],
    dtype: plan.spec.dtype,
    seed: plan.seed,
    paramsHash: hash.of(model.params),
  };
  if (test) {
    const r = evaluator.evaluate(model, test);
    summary.testRisk = r.lossSum / r.count;
    summary.testAccuracy = r.correct / r.count;
  }
  return summary;
}
