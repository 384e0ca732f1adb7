/**
 * Room for the workers' gradients where the kernels check and add them in place
 * (for wasm: in its memory). A worker that leaves gives its buffer back, and the
 * next one reuses it when it is large enough, so workers that come and go never
 * grow the kernels' memory past what the largest membership needed.
 */
import type { Floats } from '@shardprop/core';

export class IncomingBuffers {
  private readonly spare: Floats[] = [];

  constructor(private readonly alloc: (length: number) => Floats) {}

  /** `current` when it holds `length` values; else the smallest spare one that does (current becomes spare), else a new one. */
  fit(current: Floats | null, length: number): Floats {
    if (current && current.length >= length) return current;
    this.release(current);
    let best = -1;
    this.spare.forEach((b, i) => {
      if (b.length >= length && (best < 0 || b.length < this.spare[best].length)) best = i;
    });
    return best >= 0 ? this.spare.splice(best, 1)[0] : this.alloc(length);
  }

  /** A buffer nobody uses any more, for the next one that fits. */
  release(buffer: Floats | null): void {
    if (buffer) this.spare.push(buffer);
  }
}
