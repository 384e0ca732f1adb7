/**
 * Room for the workers' gradients where the kernels check and add them in place
 * (for wasm: in its memory). Whenever the shards are cut again every buffer is
 * given back and each slot takes the smallest one that fits, so workers that come
 * and go never grow the kernels' memory past what the largest membership needed.
 */
import type { Floats } from '@shardprop/core';

export class IncomingBuffers {
  private readonly spare: Floats[] = [];

  constructor(private readonly alloc: (length: number) => Floats) {}

  /** The smallest spare buffer of at least `length` values, else a new one. */
  take(length: number): Floats {
    let best = -1;
    this.spare.forEach((b, i) => {
      if (b.length >= length && (best < 0 || b.length < this.spare[best].length)) best = i;
    });
    return best >= 0 ? this.spare.splice(best, 1)[0] : this.alloc(length);
  }

  /** A buffer nobody uses any more, for the next one that fits. */
  release(buffer: Floats): void {
    this.spare.push(buffer);
  }
}
