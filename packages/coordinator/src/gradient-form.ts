import { factorWidth } from '@shardprop/core';
import type { GradientForm } from '@shardprop/protocol';

/**
 * Factors (δ^l and hidden a^l per sample) instead of dense sums when they are far
 * fewer numbers AND the batch is small: rebuilding the sum from factors costs the
 * coordinator batch × parameters multiply-adds, serially, which on the portable
 * kernels outweighs the bytes saved beyond about 24 samples (measured, W-seed).
 */
export function chooseGradientForm(layers: readonly number[], batchSize: number, size: number): GradientForm {
  return batchSize <= 24 && batchSize * factorWidth(layers) <= size / 2 ? 'factors' : 'dense';
}

/** The form a run uses: the one asked for, or chooseGradientForm's pick for 'auto'. */
export function resolveGradientForm(asked: GradientForm | 'auto' | undefined, layers: readonly number[], batchSize: number, size: number): GradientForm {
  return asked === undefined || asked === 'auto' ? chooseGradientForm(layers, batchSize, size) : asked;
}
