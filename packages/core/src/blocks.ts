/**
 * Canonical blocks and the one reduction tree (the bit-identical promise).
 *
 * A step's global batch (positions 0..B-1) is cut into blocks of K consecutive
 * positions, the last one shorter when K does not divide B. Each block's sums
 * (gradient, loss, count, correct) are computed from zero. They are added in
 * one fixed binary tree over the block indices: the node of level k and index i
 * covers blocks [i·2^k, (i+1)·2^k) clipped to the block count; a node is the sum
 * of its two children, or just its left child where the right one would lie
 * beyond the last block (nothing is added for it, so signed zeros survive).
 *
 * Whoever computes, blocks are pushed in block order onto a TreeStack, which
 * adds the top two entries whenever they are the two children of one node. A
 * worker pushing only its own range of blocks ends with the range's canonical
 * pieces (whole subtrees); the coordinator pushing every worker's pieces in
 * block order ends with the root. Each addition is then the same node's
 * children in every run, so the sum has the same bits for any number of
 * workers. Float addition is commutative, so left + right and right + left
 * agree; the tree fixes which values are added, which is what matters.
 */
import type { Kernels } from './kernels/kernel.js';
import type { Dtype, Floats } from './numbers.js';

/** The default block size K, by measurement (see the README's "Same bits" section). */
export const DEFAULT_BLOCK = 64;
/** The largest block size a run may name. */
export const MAX_BLOCK = 65_536;

/** Blocks of a batch of `batch` positions: ceil(batch / block). */
export function blockCount(batch: number, block: number): number {
  return Math.ceil(batch / block);
}

/** The batch position where block j starts: j·K, or the batch's end for blocks past it (so ranges of blocks give their rows by subtraction). */
export function blockStart(j: number, batch: number, block: number): number {
  return Math.min(j * block, batch);
}

/** Entries a TreeStack over `blocks` blocks can hold at once: its pieces of a range, plus one being pushed. */
export function stackDepth(blocks: number): number {
  let levels = 0;
  while (2 ** levels < blocks) levels++;
  return 2 * levels + 2;
}

/**
 * The stack of nodes the tree is built with. It knows only the nodes' block
 * ranges; the caller holds the values (one per stack entry) and adds them in
 * `merge(left)`: value[left] += value[left + 1], after which entry left + 1 is
 * gone and entry left covers both.
 */
export class TreeStack {
  private starts: Int32Array;
  private stops: Int32Array;
  private blocks = 0;
  /** Entries on the stack. */
  depth = 0;

  constructor(capacity = 64) {
    this.starts = new Int32Array(capacity);
    this.stops = new Int32Array(capacity);
  }

  /** An empty stack for a step of `blocks` blocks. */
  reset(blocks: number): void {
    this.blocks = blocks;
    this.depth = 0;
    const need = stackDepth(blocks);
    if (this.starts.length < need) {
      this.starts = new Int32Array(need);
      this.stops = new Int32Array(need);
    }
  }

  /** The block range of entry `i`. */
  start(i: number): number {
    return this.starts[i];
  }

  stop(i: number): number {
    return this.stops[i];
  }

  /**
   * Pushes the node covering blocks [start, stop) (its value is already at the
   * new top, index `depth` before the push), then adds the top two while they
   * are the two children of one node.
   */
  push(start: number, stop: number, merge: (left: number) => void): void {
    this.starts[this.depth] = start;
    this.stops[this.depth] = stop;
    this.depth++;
    while (this.depth >= 2) {
      const l = this.depth - 2;
      const a = this.starts[l];
      const size = this.stops[l] - a;
      // the left child of a node is whole and aligned to its parent; the right one ends where the parent does
      if (a % (2 * size) !== 0 || this.stops[l + 1] !== Math.min(a + 2 * size, this.blocks)) break;
      merge(l);
      this.stops[l] = this.stops[l + 1];
      this.depth--;
    }
  }
}

/** A merge that adds nothing: for counting a range's pieces. */
const NO_MERGE = (): void => undefined;

/**
 * How many canonical pieces blocks [first, end) of a step of `blocks` blocks
 * make: the entries left on a TreeStack that took them in order. 0 for an
 * empty range.
 */
export function pieceCount(stack: TreeStack, first: number, end: number, blocks: number): number {
  stack.reset(blocks);
  for (let j = first; j < end; j++) stack.push(j, j + 1, NO_MERGE);
  return stack.depth;
}

/**
 * Sums of whole vectors in the tree: values live at stack positions, each a
 * view of one buffer (position 0 may be a buffer of the caller's, so the root
 * lands there without a copy). Allocates only when a step needs more
 * positions than any before.
 */
export class VectorTree {
  readonly stack = new TreeStack();
  private buffer: Floats;
  private views: Floats[] = [];
  private out: Floats | null = null;
  private readonly mergeInPlace = (left: number): void => this.kernels.addRowVector(1, this.size, this.views[left + 1], this.views[left]);

  constructor(private readonly size: number, private readonly dtype: Dtype, private readonly kernels: Kernels) {
    this.buffer = kernels.alloc(dtype, 0);
  }

  /**
   * Ready for a step of `blocks` blocks. Positions are consecutive slices of one
   * buffer, so the pieces left at the end are one array (pieces(): a worker's
   * message); with `out`, position 0 is `out` itself instead (the root of a
   * whole batch lands there: the in-process gradient).
   */
  reset(blocks: number, out?: Floats): void {
    this.stack.reset(blocks);
    const need = stackDepth(blocks);
    if (this.views.length < need || this.out !== (out ?? null)) {
      if (this.buffer.length < need * this.size) this.buffer = this.kernels.alloc(this.dtype, need * this.size);
      this.views = [];
      for (let i = 0; i < need; i++) this.views.push(i === 0 && out ? out : this.buffer.subarray(i * this.size, (i + 1) * this.size));
      this.out = out ?? null;
    }
  }

  /** Where the next pushed value is to be written. */
  next(): Floats {
    return this.views[this.stack.depth];
  }

  /** The value just written at next() covers blocks [start, stop). */
  push(start: number, stop: number): void {
    this.stack.push(start, stop, this.mergeInPlace);
  }

  /** The value at stack position i. */
  value(i: number): Floats {
    return this.views[i];
  }

  /** The pieces left, as one array (only without `out`). */
  pieces(): Floats {
    return this.buffer.subarray(0, this.stack.depth * this.size);
  }
}

/**
 * Sums of numbers in the tree (the loss sums of the blocks): the same stack
 * over `values[first..end)`, one per block.
 */
export class ScalarTree {
  private readonly stack = new TreeStack();
  private values = new Float64Array(64);
  private readonly mergeInPlace = (left: number): void => {
    this.values[left] += this.values[left + 1];
  };

  /** The tree's sum of the per-block values `of[0..blocks)` (0 for none). */
  sum(of: ArrayLike<number>, blocks: number): number {
    this.stack.reset(blocks);
    if (this.values.length < stackDepth(blocks)) this.values = new Float64Array(stackDepth(blocks));
    for (let j = 0; j < blocks; j++) {
      this.values[this.stack.depth] = of[j];
      this.stack.push(j, j + 1, this.mergeInPlace);
    }
    return this.stack.depth === 0 ? 0 : this.values[0];
  }
}
