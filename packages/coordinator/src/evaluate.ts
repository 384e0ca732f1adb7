/**
 * evaluate(): a trained model's risk and accuracy on a data set, the programmatic
 * API behind `shardprop eval`. Sources with a held-out part (mnist) are measured
 * on it; others on all their samples. Data flags not given come from the model's
 * run record (model-data.ts).
 */
import { Backprop, createKernels, loadModel, type KernelChoice } from '@shardprop/core';
import { loadModelData } from './model-data.js';
import { resolveKernelOption, type TrainOptions } from './options.js';
import { EVAL_CHUNK } from './plan.js';

export interface EvalOptions extends Pick<TrainOptions, 'targets' | 'labelColumn' | 'classes'> {
  /** A shardprop.model/v1 file. */
  model: string;
  /** A data source, as for train(). */
  data: string;
  /** The kernels (auto: those training uses by default, so the figures match its summary). */
  kernel?: KernelChoice;
}

export interface EvalResult {
  model: string;
  /** The data set measured (its held-out part where it has one). */
  data: string;
  samples: number;
  /** The mean loss over the samples. */
  risk: number;
  accuracy: number;
}

export async function evaluate(options: EvalOptions): Promise<EvalResult> {
  const model = loadModel(options.model);
  const { set } = loadModelData(model, options.model, options.data, { targets: options.targets, labelColumn: options.labelColumn, classes: options.classes });
  const kernels = createKernels(await resolveKernelOption(options.kernel));
  const r = new Backprop(model.spec, EVAL_CHUNK, kernels).evaluate(model, set);
  return { model: options.model, data: set.source, samples: r.count, risk: r.lossSum / r.count, accuracy: r.correct / r.count };
}
