export { train, type TrainCallbacks } from './train.js';
export { evaluate, type EvalOptions, type EvalResult } from './evaluate.js';
export {
  UsageError, validateTrainOptions, validateSeed, validateWorkerCount, defaultWorkers, defaultThreads, localWorkerThreads, GRADIENT_FORM_CHOICES, AGGREGATION_CHOICES,
  type TrainOptions, type ServeOptions, type GradientFormChoice, type AggregationChoice,
} from './options.js';
export { TrainingInterrupted, type TrainSummary, type EpochMetrics, type StepProgress, type GradientEngine, type EngineTiming, type WorkerContribution, type TraceLine } from './training-loop.js';
export { planTraining, timestamp, type TrainingPlan } from './plan.js';
export { metricsPath, runRecordPath, type RunRecord, type RunRecordStatus } from './run-record.js';
export { serveBoard, type Board, type BoardOptions } from './board/http.js';
export { type StepMetrics } from './metrics-lines.js';
export { RunMetrics, METRICS_CONTENT_TYPE, type MetricsSource } from './metrics.js';
export { whereTimeWent, timeInProcess, type RunTime, type InProcessTiming } from './where-time-goes.js';
export { Coordinator, WorkerLostError, type CoordinatorOptions } from './ws-adapter.js';
export { StepMachine, SLICE_SERVERS_WAIT_MS, type MachineOptions } from './step-machine.js';
export {
  DEFAULT_STEP_TIMEOUT_SECONDS, DEFAULT_WAIT_WORKERS_SECONDS,
  type MachineEvent, type MachineState, type Action, type StepTiming, type WorkerSnapshot, type ConnectionId,
} from './step-events.js';
export { LocalWorkers, NODE_FLAGS } from './local-workers.js';
export { MAX_WORKERS, MAX_PENDING_CONNECTIONS, MAX_PENDING_PER_HOST } from './admission.js';
export { THROTTLE_MS } from '@shardprop/protocol';
export { loadModel, type Model } from '@shardprop/core';
export { predict, predictData, PREDICTION_TASKS, type Predictions, type PredictOptions, type PredictDataOptions, type DataPredictions, type PredictionTask } from './predict.js';
export { exportModel, EXPORT_FORMATS, type ExportFormat, type ExportOptions, type ExportResult } from './export-model.js';
export { checkReplaceable, OutputError } from './outputs.js';
export { readTrainedOn, type DataFlags, type TrainedOn } from './model-data.js';
