/**
 * The number types every module of the core shares: the model's dtype and the
 * typed arrays that hold its parameters, gradients and data. A module of their
 * own, so the math modules can use them without importing the model.
 */
export const DTYPES = ['float32', 'float64'] as const;
export type Dtype = (typeof DTYPES)[number];
export type Floats = Float32Array | Float64Array;

export function allocFloats(dtype: Dtype, length: number): Floats {
  return dtype === 'float64' ? new Float64Array(length) : new Float32Array(length);
}
