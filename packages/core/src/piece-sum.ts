/**
 * The sum of the dense canonical pieces of a step (blocks.ts) as its parts come
 * in: the blocks are dealt to slots as contiguous ranges, each slot's part is
 * its range's pieces one after another, and the sum pushes every slot's pieces
 * in block order onto the one tree. The coordinator sums whole parameter
 * vectors with it; a slice server the same pieces restricted to its slice of
 * the parameters (the additions are elementwise, so a slice of the sum has the
 * bits of the sum of the slices). Arithmetic and memory only.
 */
import { TreeStack, pieceCount } from './blocks.js';
import type { Kernels } from './kernels/kernel.js';
import type { Dtype, Floats } from './numbers.js';

export class PieceSum {
  private slots = 0;
  private blocks = 0;
  private cuts: Uint32Array = new Uint32Array(1);
  private counts = new Int32Array(0);
  /** Each slot's buffer (in the kernels' memory, where they add in place), its part's view, and views of its pieces. */
  private owned: (Floats | null)[] = [];
  private parts: Floats[] = [];
  private views: Floats[][] = [];
  /**
   * Buffers nobody uses since the slots were made again: each slot takes the
   * smallest that fits, so members that come and go never grow the kernels'
   * memory past what the largest membership needed.
   */
  private readonly spare: Floats[] = [];
  private readonly stack = new TreeStack();
  private readonly scratch = new TreeStack();
  private refs: Floats[] = [];
  private readonly mergeRefs = (left: number): void => this.kernels.addRowVector(1, this.size, this.refs[left + 1], this.refs[left]);

  /** Pieces of `size` values each (the parameters, or a slice of them). */
  constructor(readonly size: number, private readonly dtype: Dtype, private readonly kernels: Kernels) {}

  /** `slots` parts from now on: every buffer goes back to the pool. */
  reslot(slots: number): void {
    for (const b of this.owned) if (b) this.spare.push(b);
    this.slots = slots;
    this.counts = new Int32Array(slots);
    this.owned = new Array<Floats | null>(slots).fill(null);
    this.parts = new Array<Floats>(slots);
    this.views = Array.from({ length: slots }, () => []);
  }

  /** A new deal over `blocks` blocks: slot s holds blocks [cuts[s], cuts[s+1]) (cuts has slots + 1 entries). */
  deal(cuts: Uint32Array, blocks: number): void {
    this.cuts = cuts;
    this.blocks = blocks;
    for (let s = 0; s < this.slots; s++) {
      const pieces = pieceCount(this.scratch, cuts[s], cuts[s + 1], blocks);
      this.counts[s] = pieces;
      let own = this.owned[s];
      if (own === null || own.length < pieces * this.size) {
        if (own) this.spare.push(own);
        own = this.owned[s] = this.take(Math.max(1, pieces) * this.size);
        this.views[s] = [];
      }
      const views = this.views[s];
      for (let p = views.length; p < pieces; p++) views.push(own.subarray(p * this.size, (p + 1) * this.size));
      this.parts[s] = own.subarray(0, pieces * this.size);
    }
  }

  /** The canonical pieces slot `slot`'s range of blocks makes. */
  pieces(slot: number): number {
    return this.counts[slot];
  }

  /** Where slot `slot`'s part goes: its pieces × size values. */
  part(slot: number): Floats {
    return this.parts[slot];
  }

  /** Every slot's pieces, in block order, onto the one tree: the root (a view of a slot's buffer, valid until the next deal). */
  sum(): Floats {
    this.stack.reset(this.blocks);
    // never more entries than pieces, and never more pieces than blocks
    if (this.refs.length < this.blocks) this.refs = new Array<Floats>(this.blocks);
    for (let s = 0; s < this.slots; s++) {
      pieceCount(this.scratch, this.cuts[s], this.cuts[s + 1], this.blocks);
      for (let p = 0; p < this.scratch.depth; p++) {
        this.refs[this.stack.depth] = this.views[s][p];
        this.stack.push(this.scratch.start(p), this.scratch.stop(p), this.mergeRefs);
      }
    }
    return this.refs[0];
  }

  /** The smallest spare buffer of at least `length` values, else a new one. */
  private take(length: number): Floats {
    let best = -1;
    this.spare.forEach((b, i) => {
      if (b.length >= length && (best < 0 || b.length < this.spare[best].length)) best = i;
    });
    return best >= 0 ? this.spare.splice(best, 1)[0] : this.kernels.alloc(this.dtype, length);
  }
}

