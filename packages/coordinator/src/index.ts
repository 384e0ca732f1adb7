export { train, type TrainCallbacks } from './train.js';
export { UsageError, type TrainOptions } from './options.js';
export type { TrainSummary, EpochMetrics, StepProgress, GradientEngine } from './training-loop.js';
export { planTraining, type TrainingPlan } from './plan.js';
export { runSweep, bestRun, type SweepRun, type SweepOptions, type SweepResult, type SweepRunRecord } from './sweep.js';
