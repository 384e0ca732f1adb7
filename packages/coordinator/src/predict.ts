/**
 * predict(): what a trained model says about rows of inputs, the programmatic API
 * (with loadModel()) and, through predictData(), the one behind `shardprop predict`.
 * The forward pass is training's, on the same kernels (auto: those training uses).
 */
import { allocFloats, areClassLabels, classesOf, createKernels, loadModel, predictOutputs, shown, type Floats, type KernelChoice, type Model } from '@shardprop/core';
import { loadModelData, trainedOnClasses, type DataFlags } from './model-data.js';
import { UsageError, resolveKernelOption } from './options.js';

/** Whether predictions are classes with per-class scores or plain output values. */
export const PREDICTION_TASKS = ['classification', 'regression'] as const;
export type PredictionTask = (typeof PREDICTION_TASKS)[number];

export interface Predictions {
  /** a^L of each row: the per-class scores (softmax probabilities under cross-entropy), or the regression outputs. */
  outputs: number[][];
  /** Each row's class: the first largest output, or for one output 1 where it is ≥ 0.5, else 0. */
  classes: number[];
}

export interface PredictOptions {
  /** The kernels (auto: those training uses by default). */
  kernel?: KernelChoice;
}

/** Predictions for rows of inputs, each of the model's n_0 finite numbers. */
export async function predict(model: Model, inputs: readonly (readonly number[])[], options: PredictOptions = {}): Promise<Predictions> {
  const { layers, dtype } = model.spec;
  const n0 = layers[0];
  const width = layers[layers.length - 1];
  if (!Array.isArray(inputs)) throw new UsageError(`predict: inputs must be an array of rows of ${n0} numbers, got ${shown(inputs)}`);
  const x = allocFloats(dtype, inputs.length * n0);
  inputs.forEach((row, r) => {
    if (!Array.isArray(row) || row.length !== n0) throw new UsageError(`predict: row ${r} must be an array of ${n0} numbers (the model's inputs), got ${shown(row)}`);
    row.forEach((v, k) => {
      if (typeof v !== 'number' || !Number.isFinite(v)) throw new UsageError(`predict: row ${r}, input ${k} must be a finite number, got ${shown(v)}`);
      x[r * n0 + k] = v;
    });
  });
  const out = predictOutputs(model, x, inputs.length, createKernels(await resolveKernelOption(options.kernel)));
  const outputs: number[][] = [];
  for (let r = 0; r < inputs.length; r++) outputs.push(Array.from(out.subarray(r * width, (r + 1) * width)));
  return { outputs, classes: Array.from(classesOf(out, inputs.length, width)) };
}

export interface PredictDataOptions extends DataFlags, PredictOptions {
  /** A shardprop.model/v1 file. */
  model: string;
  /** A data source, as for train() (its held-out part where it has one); a CSV may hold inputs only. */
  data: string;
  /** Classes and scores, or output values (auto: see predictionTask). */
  task?: PredictionTask;
}

export interface DataPredictions {
  model: string;
  /** The data set predicted for. */
  data: string;
  samples: number;
  task: PredictionTask;
  /** n_L, the outputs per row. */
  width: number;
  /** a^L, [samples, width] in the model's dtype. */
  outputs: Floats;
  /** Each row's class (classification only). */
  classes?: Int32Array;
}

/** Predictions for every row of a data source (`shardprop predict`). */
export async function predictData(options: PredictDataOptions): Promise<DataPredictions> {
  const model = loadModel(options.model);
  const data = loadModelData(model, options.model, options.data, { targets: options.targets, labelColumn: options.labelColumn, classes: options.classes }, true);
  const { set } = data;
  const width = model.spec.layers[model.depth];
  const outputs = predictOutputs(model, set.x, set.count, createKernels(await resolveKernelOption(options.kernel)));
  // auto: classes under cross-entropy; else the targets tell (one-hot, or 0/1), or without targets the run record
  const task = options.task
    ?? (model.spec.loss === 'cross-entropy' || (data.hasTargets ? areClassLabels(set.y, set.count, set.outputs) : trainedOnClasses(data.trainedOn))
      ? 'classification'
      : 'regression');
  return {
    model: options.model,
    data: set.source,
    samples: set.count,
    task,
    width,
    outputs,
    classes: task === 'classification' ? classesOf(outputs, set.count, width) : undefined,
  };
}
