import type { Activation } from './activations.js';
import type { Floats } from './numbers.js';

/**
 * A loss owns the output layer: how a^L comes from z^L, and δ^L = ∂L/∂z^L.
 * Both work on a batch of `rows` samples of width `width`, row-major.
 */
export interface Loss {
  /** a^L from z^L. `sigma` is the model's activation (used unless the loss has its own output). */
  output(sigma: Activation, z: Floats, a: Floats, rows: number, width: number): void;
  /** Writes δ^L and returns the sum over the rows of the per-sample loss L. */
  delta(sigma: Activation, z: Floats, a: Floats, y: Floats, delta: Floats, rows: number, width: number): number;
}

/** L = ½‖a^L − y‖², δ^L = (a^L − y) ⊙ σ'(z^L)  (the seed's, equation BP1). */
const quadratic: Loss = {
  output(sigma, z, a, rows, width) {
    sigma.apply(z, a, rows * width);
  },
  delta(sigma, z, a, y, delta, rows, width) {
    const n = rows * width;
    let lossSum = 0;
    for (let i = 0; i < n; i++) {
      const d = a[i] - y[i];
      delta[i] = d;
      lossSum += d * d;
    }
    sigma.scaleByDerivative(z, a, delta, n);
    return 0.5 * lossSum;
  },
};

/**
 * Softmax output with cross-entropy: a^L = softmax(z^L), L = −Σ_j y_j log a^L_j,
 * δ^L = a^L Σ_j y_j − y, which is the familiar a^L − y for one-hot targets.
 */
const crossEntropy: Loss = {
  output(_sigma, z, a, rows, width) {
    for (let r = 0; r < rows; r++) {
      const o = r * width;
      let max = -Infinity;
      for (let j = 0; j < width; j++) if (z[o + j] > max) max = z[o + j];
      let sum = 0;
      for (let j = 0; j < width; j++) {
        const e = Math.exp(z[o + j] - max);
        a[o + j] = e;
        sum += e;
      }
      for (let j = 0; j < width; j++) a[o + j] /= sum;
    }
  },
  delta(_sigma, z, a, y, delta, rows, width) {
    let lossSum = 0;
    for (let r = 0; r < rows; r++) {
      const o = r * width;
      let max = -Infinity;
      for (let j = 0; j < width; j++) if (z[o + j] > max) max = z[o + j];
      let sum = 0;
      for (let j = 0; j < width; j++) sum += Math.exp(z[o + j] - max);
      const logSumExp = max + Math.log(sum);
      let sumY = 0;
      for (let j = 0; j < width; j++) sumY += y[o + j];
      for (let j = 0; j < width; j++) {
        // log a_j = z_j − logsumexp(z): exact where a_j underflows to 0.
        if (y[o + j] !== 0) lossSum -= y[o + j] * (z[o + j] - logSumExp);
        delta[o + j] = a[o + j] * sumY - y[o + j];
      }
    }
    return lossSum;
  },
};

export const LOSSES = { quadratic, 'cross-entropy': crossEntropy } as const;
export type LossName = keyof typeof LOSSES;
