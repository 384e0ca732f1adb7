import type { Activation, ActivationName } from '../activations.js';
import type { Dtype, Floats } from '../numbers.js';

/**
 * The most threads one process's kernels may compute on (--threads): each helper is
 * a V8 isolate of its own (several MB), and past the cores they only take turns.
 */
export const MAX_THREADS = 64;

/** The implementations: portable TypeScript, or WebAssembly SIMD128. */
export type KernelName = 'js' | 'wasm';

/**
 * The narrow interface behind which every matrix kernel of the core lives, so a
 * faster implementation (WebAssembly SIMD, native) can replace the portable one
 * without touching backprop. All matrices are row-major and dense; A, B and C
 * never alias. `accumulate` adds the product to C instead of overwriting it.
 */
export interface Kernels {
  readonly name: KernelName;
  /** Threads that compute each call (the wasm kernels split products across them; the js ones run on one). */
  readonly threads: number;
  /** Stops any helper threads (the kernels keep working, on one thread). */
  close(): void;
  /**
   * A zeroed array where these kernels work on it in place (the wasm kernels:
   * inside their memory). Parameters, gradients and scratch come from here;
   * any other array works too, at the cost of a copy per call.
   */
  alloc(dtype: Dtype, length: number): Floats;
  /** C[m,n] (+)= A[m,k] · B[n,k]ᵀ          forward: Z^l = A^(l-1) · (W^l)ᵀ */
  gemmNT(m: number, n: number, k: number, A: Floats, B: Floats, C: Floats, accumulate: boolean): void;
  /** C[m,n] (+)= A[m,k] · B[k,n]           backward: Δ^(l-1) = Δ^l · W^l */
  gemmNN(m: number, n: number, k: number, A: Floats, B: Floats, C: Floats, accumulate: boolean): void;
  /** C[m,n] (+)= A[k,m]ᵀ · B[k,n]          backward: ∂W^l = (Δ^l)ᵀ · A^(l-1) */
  gemmTN(m: number, n: number, k: number, A: Floats, B: Floats, C: Floats, accumulate: boolean): void;
  /** C[r,:] += v for every row r of C[m,n]   the bias: Z^l += b^l */
  addRowVector(m: number, n: number, v: Floats, C: Floats): void;
  /** out[j] (+)= Σ_r A[r,j] over A[m,n]       ∂b^l = Σ_samples δ^l */
  sumRows(m: number, n: number, A: Floats, out: Floats, accumulate: boolean): void;
  /** σ and σ' of these kernels (the portable ones, ACTIVATIONS, where they have none of their own). */
  activation(name: ActivationName): Activation;
  /** True when no value of x is NaN or ±Infinity. */
  allFinite(x: Floats): boolean;
  /**
   * The SGD update over the first n values: θ ← θ − lr (g·scale + wd θ), or
   * θ − lr (g·scale) when wd is 0; computed in float64 and rounded once, so every
   * implementation gives the same bits.
   */
  sgdStep(params: Floats, grad: Floats, n: number, lr: number, scale: number, weightDecay: number): void;
}
