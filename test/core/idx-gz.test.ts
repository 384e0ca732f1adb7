import { gzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { DatasetError, loadIdx, loadSource, readIdx } from '@shardprop/core';
import { tempDir } from '../helpers/cli.js';

const tmp = tempDir('shardprop-idx-gz-');
afterAll(() => tmp.remove());
const file = tmp.write;

/** An IDX file of unsigned bytes: magic 00 00 08 rank, big-endian dims, then the bytes. */
function idxBytes(dims: number[], values: number[]): Buffer {
  const header = Buffer.alloc(4 + 4 * dims.length);
  header[2] = 0x08;
  header[3] = dims.length;
  dims.forEach((d, i) => header.writeUInt32BE(d, 4 + 4 * i));
  return Buffer.concat([header, Buffer.from(values)]);
}

function errorOf(load: () => unknown): DatasetError {
  try {
    load();
  } catch (err) {
    expect(err).toBeInstanceOf(DatasetError);
    return err as DatasetError;
  }
  throw new Error('expected a DatasetError');
}

// 4 images of 3x2 pixels and their labels (classes 0..2), as Fashion-MNIST ships them: gzipped, named *-idx3-ubyte.gz
const pixels = Array.from({ length: 24 }, (_, i) => (i * 37) % 256);
const images = idxBytes([4, 3, 2], pixels);
const labels = idxBytes([4], [2, 0, 1, 2]);

describe('gzipped IDX files', () => {
  it('read the same as the plain files, found by name as a data source', () => {
    const gzImages = file('train-images-idx3-ubyte.gz', gzipSync(images));
    file('train-labels-idx1-ubyte.gz', gzipSync(labels));
    const plain = loadIdx(file('plain-images.idx', images), file('plain-labels.idx', labels));
    const { train } = loadSource(gzImages);
    expect(train).toMatchObject({ count: 4, inputs: 6, outputs: 3 });
    expect(Array.from(train.x)).toEqual(pixels.map((p) => p / 255));
    expect(Array.from(train.x)).toEqual(Array.from(plain.x));
    expect(Array.from(train.y)).toEqual([0, 0, 1, 1, 0, 0, 0, 1, 0, 0, 0, 1]);
    // IMAGES,LABELS with one gzipped and one not
    const mixed = loadSource(`${gzImages},${tmp.path('plain-labels.idx')}`).train;
    expect(Array.from(mixed.y)).toEqual(Array.from(train.y));
  });

  it('refuse a truncated gzip file, naming it and saying so', () => {
    const whole = gzipSync(images);
    const cut = file('cut-images-idx3-ubyte.gz', whole.subarray(0, whole.length - 12));
    const err = errorOf(() => readIdx(cut));
    expect(err.message).toBe(`${cut}: corrupt gzip data (truncated: the file ends before the gzip stream does)`);
  });

  it('refuse damaged gzip data (a flipped byte in the compressed stream or its checksum)', () => {
    const damaged = Buffer.from(gzipSync(images));
    damaged[damaged.length - 6] ^= 0xff; // the CRC-32 of the uncompressed bytes
    const path = file('crc-images.idx.gz', damaged);
    expect(errorOf(() => readIdx(path)).message).toMatch(new RegExp(`^${path}: corrupt gzip data \\(.+\\)$`));
  });

  it('refuse gzip data that expands beyond the size cap before it is all in memory', () => {
    const bomb = file('bomb.idx.gz', gzipSync(idxBytes([1, 4096], new Array(4096).fill(0))));
    expect(readIdx(bomb).values.length).toBe(4096);
    const err = errorOf(() => readIdx(bomb, 1000));
    expect(err.message).toBe(`${bomb}: the gzip data expands to more than 1000 bytes, the most an IDX file may have`);
  });
});
