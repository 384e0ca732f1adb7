import { describe, expect, it } from 'vitest';
import { PieceSum, Rng, TreeStack, VectorTree, jsKernels, pieceCount } from '@shardprop/core';

/**
 * PieceSum: every slot's canonical pieces pushed in block order give the root the
 * one tree gives over all the blocks, for any deal; and a slice of that root has
 * the bits of the same sum over the pieces cut to the slice (what a slice server
 * computes).
 */
const hex = (x: Float32Array | Float64Array) => Buffer.from(x.buffer, x.byteOffset, x.byteLength).toString('hex');

describe('PieceSum', () => {
  it('sums any deal of the blocks to the root of the tree over all of them, whole or by slices', () => {
    const rng = new Rng(3);
    const size = 37;
    for (let trial = 0; trial < 30; trial++) {
      const blocks = 1 + Math.floor(rng.uniform() * 19);
      const slots = 1 + Math.floor(rng.uniform() * 6);
      const values = Array.from({ length: blocks }, () => Float32Array.from({ length: size }, () => (rng.uniform() - 0.5) * 10 ** Math.floor(rng.uniform() * 6)));
      // the reference: every block pushed onto one tree
      const tree = new VectorTree(size, 'float32', jsKernels);
      const root = new Float32Array(size);
      tree.reset(blocks, root);
      values.forEach((v, j) => {
        tree.next().set(v);
        tree.push(j, j + 1);
      });
      // a random deal: sorted cuts from 0 to blocks
      const inner = Array.from({ length: slots - 1 }, () => Math.floor(rng.uniform() * (blocks + 1))).sort((a, b) => a - b);
      const cuts = Uint32Array.from([0, ...inner, blocks]);
      // each slot's pieces as a worker makes them
      const parts = Array.from({ length: slots }, (_, s) => {
        const t = new VectorTree(size, 'float32', jsKernels);
        t.reset(blocks);
        for (let j = cuts[s]; j < cuts[s + 1]; j++) {
          t.next().set(values[j]);
          t.push(j, j + 1);
        }
        return t.pieces().slice();
      });
      const whole = new PieceSum(size, 'float32', jsKernels);
      whole.reslot(slots);
      whole.deal(cuts, blocks);
      parts.forEach((p, s) => {
        expect(whole.pieces(s)).toBe(pieceCount(new TreeStack(), cuts[s], cuts[s + 1], blocks));
        whole.part(s).set(p);
      });
      expect(hex(whole.sum())).toBe(hex(root));
      // the same by two slices, as two slice servers
      const cut = 1 + Math.floor(rng.uniform() * (size - 1));
      for (const [from, to] of [[0, cut], [cut, size]]) {
        const slice = new PieceSum(to - from, 'float32', jsKernels);
        slice.reslot(slots);
        slice.deal(cuts, blocks);
        parts.forEach((p, s) => {
          for (let q = 0; q < slice.pieces(s); q++) slice.part(s).set(p.subarray(q * size + from, q * size + to), q * (to - from));
        });
        expect(hex(slice.sum())).toBe(hex(root.subarray(from, to)));
      }
    }
  });
});
