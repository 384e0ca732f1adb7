/**
 * What a trained model says about rows of inputs: a^L through the same forward pass
 * training evaluates with (Backprop's, so the same kernels give the same bits), and
 * the class each row points to, read as accuracy reads it. Data only: no files.
 */
import { Backprop } from './backprop.js';
import { jsKernels } from './kernels/js.js';
import type { Kernels } from './kernels/kernel.js';
import type { Model } from './model.js';
import { allocFloats, type Floats } from './numbers.js';

/** Rows per forward pass: the scratch stays small whatever the number of rows. */
const PREDICT_CHUNK = 256;

/** a^L of `count` rows of x (row-major [count, n_0], any float type) as [count, n_L] in the model's dtype. */
export function predictOutputs(model: Model, x: Floats, count: number, kernels: Kernels = jsKernels): Floats {
  const { layers, dtype } = model.spec;
  if (x.length !== count * layers[0]) throw new RangeError(`expected ${count} rows of ${layers[0]} inputs (${count * layers[0]} values), got ${x.length}`);
  const out = allocFloats(dtype, count * layers[layers.length - 1]);
  if (count === 0) return out;
  new Backprop(model.spec, Math.min(PREDICT_CHUNK, count), kernels).predict(model, x, count, out);
  return out;
}

/**
 * The class of each row of outputs ([count, width]): the first largest output, or
 * for one output a ≥ 0.5 as class 1, the way Backprop counts correct predictions.
 */
export function classesOf(outputs: Floats, count: number, width: number): Int32Array {
  const classes = new Int32Array(count);
  for (let r = 0; r < count; r++) {
    const o = r * width;
    if (width === 1) {
      classes[r] = outputs[o] >= 0.5 ? 1 : 0;
      continue;
    }
    let best = 0;
    for (let j = 1; j < width; j++) if (outputs[o + j] > outputs[o + best]) best = j;
    classes[r] = best;
  }
  return classes;
}

/** Whether targets ([count, width]) are class labels: one-hot rows, or 0 and 1 for one output. */
export function areClassLabels(y: Floats, count: number, width: number): boolean {
  if (count === 0) return false;
  for (let r = 0; r < count; r++) {
    let ones = 0;
    for (let j = 0; j < width; j++) {
      const v = y[r * width + j];
      if (v === 1) ones++;
      else if (v !== 0) return false;
    }
    if (width > 1 && ones !== 1) return false;
  }
  return true;
}
