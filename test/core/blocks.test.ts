import { beforeAll, describe, expect, it } from 'vitest';
import { Rng, ScalarTree, TreeStack, VectorTree, WasmKernels, jsKernels, pieceCount, prepareWasmKernels, stackDepth, type Dtype, type Floats, type Kernels } from '@shardprop/core';

/**
 * The one reduction tree (core's blocks.ts) against its definition, written here
 * as plain recursion: the node of level k and index i covers blocks
 * [i·2^k, (i+1)·2^k) clipped to the block count; its value is left + right, or
 * the left alone where the right would be empty. The stack must build exactly
 * that tree however the blocks are split into ranges (one per worker), and add
 * nothing where a node has no right child (so a -0 stays -0).
 */

/** Values that make float addition visibly non-associative: signs and exponents all over. */
function blockValues(rng: Rng, count: number, width: number, dtype: Dtype): Floats[] {
  return Array.from({ length: count }, () => {
    const v = dtype === 'float64' ? new Float64Array(width) : new Float32Array(width);
    for (let i = 0; i < width; i++) v[i] = (rng.uniform() - 0.5) * 2 ** Math.floor(rng.uniform() * 60 - 30);
    return v;
  });
}

/** The node (level k, index i) of the tree over `values`, by the definition; null when it covers no block. */
function node(values: Floats[], k: number, i: number): Floats | null {
  const start = i * 2 ** k;
  if (start >= values.length) return null;
  if (k === 0) return values[i].slice();
  const left = node(values, k - 1, 2 * i)!;
  const right = node(values, k - 1, 2 * i + 1);
  if (right === null) return left;
  // a typed array stores the sum in its own type: float32 addition for Float32Array
  for (let c = 0; c < left.length; c++) left[c] = left[c] + right[c];
  return left;
}

/** The smallest level whose node starting at `start` ends (clipped) at `stop`, or -1 when [start, stop) is no node. */
function levelOf(start: number, stop: number, blocks: number): number {
  for (let k = 0; 2 ** k <= 2 * blocks; k++) {
    if (start % 2 ** k === 0 && Math.min(start + 2 ** k, blocks) === stop) return k;
  }
  return -1;
}

function root(values: Floats[]): Floats {
  let k = 0;
  while (2 ** k < values.length) k++;
  return node(values, k, 0)!;
}

/** The bytes of an array, as hex: equal strings are equal bits (+0 and -0 differ, NaNs by payload). */
function hex(x: Floats): string {
  return Buffer.from(x.buffer, x.byteOffset, x.byteLength).toString('hex');
}

/** Whether two arrays hold the same bits (the fast check of the loops; hex() says how they differ). */
function sameBits(a: Floats, b: Floats): boolean {
  const x = new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  const y = new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
  if (x.length !== y.length) return false;
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return false;
  return true;
}

/** Every way to cut [0, blocks) into `parts` contiguous ranges, some maybe empty (more workers than blocks): the inner cuts. */
function* splits(blocks: number, parts: number, from = 0): Generator<number[]> {
  if (parts === 1) {
    yield [];
    return;
  }
  for (let cut = from; cut <= blocks; cut++) for (const rest of splits(blocks, parts - 1, cut)) yield [cut, ...rest];
}

/** The most entries a push needed beyond stackDepth (a VectorTree has views for stackDepth only): must stay <= 0. */
let deepest = -Infinity;

/**
 * A worker's part: blocks [first, end) pushed one by one onto `tree`; what is
 * left, as (range, value) pieces copied out (the next reset reuses the buffer).
 */
function piecesOf(tree: VectorTree, values: Floats[], first: number, end: number): { start: number; stop: number; value: Floats }[] {
  tree.reset(values.length);
  for (let j = first; j < end; j++) {
    deepest = Math.max(deepest, tree.stack.depth + 1 - stackDepth(values.length));
    tree.next().set(values[j]);
    tree.push(j, j + 1);
  }
  const width = values[0].length;
  const all = tree.pieces();
  if (all.length !== tree.stack.depth * width) throw new Error(`pieces() holds ${all.length} values for ${tree.stack.depth} pieces`);
  return Array.from({ length: tree.stack.depth }, (_, p) => ({ start: tree.stack.start(p), stop: tree.stack.stop(p), value: all.slice(p * width, (p + 1) * width) }));
}

const MAX_BLOCKS = 40;
const WIDTH = 3;

let wasm: Kernels;
beforeAll(async () => {
  expect(await prepareWasmKernels()).toBe(true);
  wasm = WasmKernels.create();
});

describe('the reduction tree', () => {
  for (const dtype of ['float32', 'float64'] as const) {
    it(`${dtype}: pushed block by block into one VectorTree, every block count 1..${MAX_BLOCKS} gives bitwise the root of the definition (js and wasm kernels)`, () => {
      const rng = new Rng(16);
      for (const kernels of [jsKernels, wasm]) {
        const tree = new VectorTree(WIDTH, dtype, kernels);
        for (let n = 1; n <= MAX_BLOCKS; n++) {
          const values = blockValues(rng, n, WIDTH, dtype);
          const out = kernels.alloc(dtype, WIDTH);
          tree.reset(n, out);
          for (let j = 0; j < n; j++) {
            tree.next().set(values[j]);
            tree.push(j, j + 1);
          }
          expect([tree.stack.depth, tree.stack.start(0), tree.stack.stop(0)]).toEqual([1, 0, n]);
          // the root lands in the caller's array, not a copy
          expect(tree.value(0)).toBe(out);
          expect(hex(out), `${n} blocks, ${kernels.name}`).toBe(hex(root(values)));
        }
      }
    });

    it(`${dtype}: blocks 1..${MAX_BLOCKS} split into 1..4 ranges in every way; each range's pieces are nodes of the tree, and pushed range by range they give bitwise the same root`, () => {
      const rng = new Rng(61);
      const worker = new VectorTree(WIDTH, dtype, jsKernels);
      const coordinator = new VectorTree(WIDTH, dtype, jsKernels);
      let cases = 0;
      for (let n = 1; n <= MAX_BLOCKS; n++) {
        const values = blockValues(rng, n, WIDTH, dtype);
        const want = root(values);
        // the definition's nodes, made once per block count
        const nodes = new Map<string, Floats>();
        const nodeAt = (k: number, i: number): Floats => {
          const key = `${k} ${i}`;
          if (!nodes.has(key)) nodes.set(key, node(values, k, i)!);
          return nodes.get(key)!;
        };
        // a range's pieces are the same in every split: made (and checked against the definition) once
        const made = new Map<string, ReturnType<typeof piecesOf>>();
        const rangePieces = (first: number, end: number): ReturnType<typeof piecesOf> => {
          const key = `${first} ${end}`;
          if (made.has(key)) return made.get(key)!;
          const pieces = piecesOf(worker, values, first, end);
          for (const piece of pieces) {
            const k = levelOf(piece.start, piece.stop, n);
            if (k < 0) expect.fail(`piece [${piece.start}, ${piece.stop}) of ${n} blocks is no node of the tree`);
            expect(hex(piece.value), `piece [${piece.start}, ${piece.stop}) of ${n} blocks`).toBe(hex(nodeAt(k, piece.start / 2 ** k)));
          }
          made.set(key, pieces);
          return pieces;
        };
        for (let parts = 1; parts <= 4; parts++) {
          for (const inner of splits(n, parts)) {
            const cuts = [0, ...inner, n];
            coordinator.reset(n);
            for (let w = 0; w < parts; w++) {
              for (const piece of rangePieces(cuts[w], cuts[w + 1])) {
                deepest = Math.max(deepest, coordinator.stack.depth + 1 - stackDepth(n));
                coordinator.next().set(piece.value);
                coordinator.push(piece.start, piece.stop);
              }
            }
            if (coordinator.stack.depth !== 1) expect.fail(`${n} blocks cut at ${cuts.join(',')}: ${coordinator.stack.depth} entries left`);
            if (!sameBits(coordinator.value(0), want)) expect(hex(coordinator.value(0)), `${n} blocks cut at ${cuts.join(',')}`).toBe(hex(want));
            cases++;
          }
        }
      }
      // C(n+3, 3) splits into 4 ranges of n blocks, and fewer: the loops ran them all
      expect(cases).toBeGreaterThan(100_000);
      expect(deepest).toBeLessThanOrEqual(0);
    });
  }

  it('the tree sees the order: a plain left-to-right sum of the same blocks differs from the root in some bit', () => {
    const rng = new Rng(16);
    const values = blockValues(rng, 7, WIDTH, 'float32');
    const running = values[0].slice();
    for (let j = 1; j < values.length; j++) for (let c = 0; c < WIDTH; c++) running[c] = running[c] + values[j][c];
    expect(hex(running)).not.toBe(hex(root(values)));
  });

  it('ScalarTree: the loss sums of 0..40 blocks, bitwise the definition\'s root (0 for no block)', () => {
    const rng = new Rng(5);
    const tree = new ScalarTree();
    expect(Object.is(tree.sum([], 0), 0)).toBe(true);
    for (let n = 1; n <= MAX_BLOCKS; n++) {
      const values = blockValues(rng, n, 1, 'float64');
      const losses = values.map((v) => Math.abs(v[0]));
      expect(tree.sum(losses, n), `${n} blocks`).toBe(root(losses.map((l) => Float64Array.of(l)))[0]);
    }
    // block losses where the order shows: 2^53 + 1 rounds back to 2^53, the tree adds 1 + 1 first
    expect(tree.sum([1, 2 ** 53, 1, 1, 1], 5)).toBe(2 ** 53 + 4);
    expect([1, 2 ** 53, 1, 1, 1].reduce((a, b) => a + b)).toBe(2 ** 53);
  });

  it('ScalarTree sums only the first `blocks` values of a longer array', () => {
    expect(new ScalarTree().sum([1, 2, 3, 1000], 3)).toBe(6);
  });

  it('signed zero survives: a single block of -0 stays -0, and so does any count of -0 blocks (nothing is added for an absent child)', () => {
    const scalars = new ScalarTree();
    const tree = new VectorTree(2, 'float64', jsKernels);
    for (let n = 1; n <= MAX_BLOCKS; n++) {
      expect(Object.is(scalars.sum(new Float64Array(n).fill(-0), n), -0), `${n} blocks`).toBe(true);
      const out = new Float64Array(2);
      tree.reset(n, out);
      for (let j = 0; j < n; j++) {
        tree.next().fill(-0);
        tree.push(j, j + 1);
      }
      expect(hex(out), `${n} blocks`).toBe(hex(Float64Array.of(-0, -0)));
    }
    // a worker's piece of one block of -0 is that -0
    tree.reset(3);
    tree.next().fill(-0);
    tree.push(2, 3);
    expect(hex(tree.pieces())).toBe(hex(Float64Array.of(-0, -0)));
  });
});

describe('pieceCount', () => {
  const stack = new TreeStack();
  const ranges = (first: number, end: number, blocks: number): string[] => {
    const count = pieceCount(stack, first, end, blocks);
    return Array.from({ length: count }, (_, p) => `[${stack.start(p)},${stack.stop(p)})`);
  };

  it('counts the canonical pieces of a range, checked by hand', () => {
    expect(ranges(1, 4, 8)).toEqual(['[1,2)', '[2,4)']);
    expect(ranges(0, 8, 8)).toEqual(['[0,8)']);
    expect(ranges(0, 5, 5)).toEqual(['[0,5)']); // the root, its right child clipped to [4,5)
    expect(ranges(3, 5, 5)).toEqual(['[3,4)', '[4,5)']);
    expect(ranges(2, 7, 8)).toEqual(['[2,4)', '[4,6)', '[6,7)']);
    expect(ranges(1, 7, 8)).toEqual(['[1,2)', '[2,4)', '[4,6)', '[6,7)']);
    expect(ranges(4, 6, 6)).toEqual(['[4,6)']);
    expect(ranges(4, 6, 8)).toEqual(['[4,6)']);
    expect(ranges(2, 5, 5)).toEqual(['[2,4)', '[4,5)']);
    expect(ranges(0, 3, 3)).toEqual(['[0,3)']);
    expect(ranges(0, 3, 4)).toEqual(['[0,2)', '[2,3)']);
    expect(pieceCount(stack, 0, 0, 5)).toBe(0);
    expect(pieceCount(stack, 5, 5, 5)).toBe(0);
    expect(pieceCount(stack, 0, 1, 1)).toBe(1);
  });

  it('never counts more pieces than the stack holds, and the pieces tile the range in order, for any range of up to 64 blocks', () => {
    const wrong: string[] = [];
    for (let n = 1; n <= 64; n++) {
      for (let first = 0; first <= n; first++) {
        for (let end = first; end <= n; end++) {
          const count = pieceCount(stack, first, end, n);
          let at = first;
          for (let p = 0; p < count && stack.start(p) === at; p++) at = stack.stop(p);
          if (count >= stackDepth(n) || at !== end) wrong.push(`[${first},${end}) of ${n}: ${ranges(first, end, n).join(' ')}`);
        }
      }
    }
    expect(wrong).toEqual([]);
  });
});
