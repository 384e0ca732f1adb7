import { describe, expect, it } from 'vitest';
import { BlockBackprop, Model, PieceSum, Rng, TreeStack, VectorTree, WasmKernels, jsKernels, layoutOf, makeDataset, pieceCount, prepareWasmKernels } from '@shardprop/core';

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

describe('BlockBackprop.pieces telling which values are final as backprop goes', () => {
  it('a one-block range: layer by layer from the top, each region already at its final bits, the same piece as without being told; longer ranges are not told', async () => {
    await prepareWasmKernels();
    for (const kernels of [jsKernels, WasmKernels.create()]) {
      for (const dtype of ['float32', 'float64'] as const) {
        const spec = { layers: [5, 7, 6, 3], activation: 'sigmoid' as const, loss: 'quadratic' as const, dtype };
        const model = Model.init(spec, 4);
        const rng = new Rng(9);
        const data = makeDataset('d', Float64Array.from({ length: 40 * 5 }, () => rng.uniform() - 0.5), Float64Array.from({ length: 40 * 3 }, () => rng.uniform()), 5, 3);
        const batch = Array.from({ length: 30 }, (_, i) => (i * 7) % 40);
        const block = 8;
        const plain = new BlockBackprop(spec, block, kernels).pieces(model, data, batch, 2, 3, new Float64Array(1)).pieces.slice();
        const told: { from: number; values: string }[] = [];
        const bp = new BlockBackprop(spec, block, kernels);
        const made = bp.pieces(model, data, batch, 2, 3, new Float64Array(1), (from, piece) => told.push({ from, values: hex(piece.subarray(from) as Float32Array) }));
        expect(hex(made.pieces as Float32Array)).toBe(hex(plain as Float32Array));
        const { wOffset, size } = layoutOf(spec.layers);
        expect(told.map((t) => t.from)).toEqual([wOffset[2], wOffset[1], wOffset[0]]);
        for (const t of told) expect(t.values).toBe(hex(plain.subarray(t.from) as Float32Array));
        expect(told.at(-1)!.values.length).toBe(hex(plain as Float32Array).length);
        expect(size).toBe(plain.length);
        let longer = 0;
        bp.pieces(model, data, batch, 0, 3, new Float64Array(3), () => longer++);
        expect(longer).toBe(0);
      }
    }
  });
});
