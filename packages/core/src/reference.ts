/**
 * Backpropagation the plain way: one sample at a time, nested loops, float64,
 * straight from the four equations, with σ and σ' written out here rather than
 * taken from activations.ts or the kernels. It is slow on purpose: the truth the
 * fast Backprop (and every distributed run) is tested against. Not for training.
 */
import type { ActivationName } from './activations.js';
import type { BatchResult } from './backprop.js';
import type { Dataset } from './dataset.js';
import type { Model } from './model.js';

const sigma: Record<ActivationName, (z: number) => number> = {
  sigmoid: (z) => 1 / (1 + Math.exp(-z)),
  tanh: (z) => Math.tanh(z),
  relu: (z) => (z > 0 ? z : 0),
};
const sigmaPrime: Record<ActivationName, (z: number) => number> = {
  sigmoid: (z) => sigma.sigmoid(z) * (1 - sigma.sigmoid(z)),
  tanh: (z) => 1 - Math.tanh(z) ** 2,
  relu: (z) => (z > 0 ? 1 : 0),
};

/** z^l and a^l of one sample for l = 0..L (z^0 is empty; a^0 = x). */
export function referenceForward(model: Model, x: ArrayLike<number>): { z: number[][]; a: number[][] } {
  const { layers, activation, loss } = model.spec;
  const L = layers.length - 1;
  const z: number[][] = [[]];
  const a: number[][] = [Array.from(x)];
  for (let l = 1; l <= L; l++) {
    const W = model.W[l];
    const zl: number[] = [];
    for (let j = 0; j < layers[l]; j++) {
      // z^l_j = Σ_k w^l_jk a^(l-1)_k + b^l_j
      let s = model.b[l][j];
      for (let k = 0; k < layers[l - 1]; k++) s += W[j * layers[l - 1] + k] * a[l - 1][k];
      zl.push(s);
    }
    z.push(zl);
    if (l === L && loss === 'cross-entropy') {
      const e = zl.map((v) => Math.exp(v));
      const sum = e.reduce((s, v) => s + v, 0);
      a.push(e.map((v) => v / sum)); // softmax
    } else {
      a.push(zl.map(sigma[activation])); // a^l = σ(z^l)
    }
  }
  return { z, a };
}

/**
 * The gradient SUM over the samples indices[from..to) of `data`, in the flat
 * parameter layout, with the loss sum and correct predictions (argmax, or a 0.5
 * threshold for one output): what Backprop.gradient computes, the slow way.
 */
export function referenceGradient(model: Model, data: Dataset, indices: ArrayLike<number>, from: number, to: number): BatchResult & { grad: Float64Array } {
  const { layers, activation, loss } = model.spec;
  const L = layers.length - 1;
  const { wOffset, bOffset } = model.layout;
  const grad = new Float64Array(model.params.length);
  const result = { count: 0, lossSum: 0, correct: 0, grad };
  for (let r = from; r < to; r++) {
    const i = indices[r];
    const x = data.x.subarray(i * layers[0], (i + 1) * layers[0]);
    const y = Array.from(data.y.subarray(i * layers[L], (i + 1) * layers[L]));
    const { z, a } = referenceForward(model, x);
    let delta: number[];
    if (loss === 'quadratic') {
      result.lossSum += 0.5 * a[L].reduce((s, v, j) => s + (v - y[j]) ** 2, 0); // L = ½‖a^L − y‖²
      delta = a[L].map((v, j) => (v - y[j]) * sigmaPrime[activation](z[L][j])); // δ^L = (a^L − y) ⊙ σ'(z^L)  (BP1)
    } else {
      result.lossSum -= y.reduce((s, v, j) => s + v * Math.log(a[L][j]), 0); // L = −Σ_j y_j log a^L_j
      const sumY = y.reduce((s, v) => s + v, 0);
      delta = a[L].map((v, j) => v * sumY - y[j]); // δ^L_j = ∂L/∂z^L_j for softmax output
    }
    for (let l = L; l >= 1; l--) {
      const nPrev = layers[l - 1];
      const W = model.W[l];
      for (let j = 0; j < layers[l]; j++) {
        grad[bOffset[l - 1] + j] += delta[j]; // ∂L/∂b^l_j = δ^l_j  (BP3)
        for (let k = 0; k < nPrev; k++) grad[wOffset[l - 1] + j * nPrev + k] += a[l - 1][k] * delta[j]; // ∂L/∂w^l_jk = a^(l-1)_k δ^l_j  (BP4)
      }
      if (l > 1) {
        const prev: number[] = [];
        for (let k = 0; k < nPrev; k++) {
          let s = 0;
          for (let j = 0; j < layers[l]; j++) s += W[j * nPrev + k] * delta[j];
          prev.push(s * sigmaPrime[activation](z[l - 1][k])); // δ^(l-1) = ((W^l)ᵀ δ^l) ⊙ σ'(z^(l-1))  (BP2)
        }
        delta = prev;
      }
    }
    result.correct += predictsTarget(a[L], y) ? 1 : 0;
    result.count++;
  }
  return result;
}

function predictsTarget(out: number[], y: number[]): boolean {
  if (out.length === 1) return out[0] >= 0.5 === y[0] >= 0.5;
  const argmax = (v: number[]) => v.reduce((best, x, j) => (x > v[best] ? j : best), 0);
  return argmax(out) === argmax(y);
}
