import type { Floats } from './numbers.js';

/**
 * An activation is a (value, derivative) pair applied to whole arrays, so the
 * per-element loop stays inside one monomorphic function.
 */
export interface Activation {
  /** a = σ(z), elementwise over the first n values. */
  apply(z: Floats, a: Floats, n: number): void;
  /** delta ⊙= σ'(z), elementwise; a = σ(z) is given because σ' is cheapest from it. */
  scaleByDerivative(z: Floats, a: Floats, delta: Floats, n: number): void;
}

const sigmoid: Activation = {
  apply(z, a, n) {
    for (let i = 0; i < n; i++) a[i] = 1 / (1 + Math.exp(-z[i]));
  },
  // σ'(z) = σ(z)(1 − σ(z))
  scaleByDerivative(_z, a, delta, n) {
    for (let i = 0; i < n; i++) delta[i] *= a[i] * (1 - a[i]);
  },
};

const tanh: Activation = {
  apply(z, a, n) {
    for (let i = 0; i < n; i++) a[i] = Math.tanh(z[i]);
  },
  // tanh'(z) = 1 − tanh²(z)
  scaleByDerivative(_z, a, delta, n) {
    for (let i = 0; i < n; i++) delta[i] *= 1 - a[i] * a[i];
  },
};

const relu: Activation = {
  apply(z, a, n) {
    for (let i = 0; i < n; i++) a[i] = z[i] > 0 ? z[i] : 0;
  },
  // relu'(z) = 1 for z > 0, else 0 (0 at the kink, as PyTorch does)
  scaleByDerivative(z, _a, delta, n) {
    for (let i = 0; i < n; i++) if (!(z[i] > 0)) delta[i] = 0;
  },
};

export const ACTIVATIONS = { sigmoid, tanh, relu } as const;
export type ActivationName = keyof typeof ACTIVATIONS;
