import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decimalsInto } from '../../packages/core/src/loaders/mnist.js';

/** A digits file's numbers as decimalsInto reads them, or null where it leaves the file to JSON.parse. */
function decimalArray(bytes: Uint8Array): Float64Array | null {
  const out = new Float64Array(bytes.length);
  const count = decimalsInto(bytes, out);
  return count < 0 ? null : out.slice(0, count);
}
import {
  DatasetError, MAX_ROW_CHARS, Rng, circles, describeColumns, fingerprint, loadCsv, loadIdx, loadJson, loadMnist, loadSource, spirals, xor,
  type Dataset,
} from '@shardprop/core';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'shardprop-loaders-'));
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** Writes a file in the temp dir and returns its path. */
function file(name: string, content: string | Uint8Array): string {
  const path = join(dir, name);
  writeFileSync(path, content);
  return path;
}

/** Expects a one-line DatasetError whose message contains every part. */
function expectDatasetError(load: () => unknown, ...parts: string[]): void {
  let caught: unknown;
  try {
    load();
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(DatasetError);
  const message = (caught as Error).message;
  for (const part of parts) expect(message).toContain(part);
  expect(message).not.toContain('\n');
}

const rows = (m: ArrayLike<number>, width: number): number[][] =>
  Array.from({ length: m.length / width }, (_, r) => Array.from({ length: width }, (_, c) => m[r * width + c]));

describe('loadJson', () => {
  it('round-trips exact values; number y rows are width 1', () => {
    const x = [[0.1, -2.5e-7, 3], [4, 5.000000000000001, -6]];
    const path = file('ok.json', JSON.stringify({ x, y: [[1, 0], [0, 1]] }));
    const ds = loadJson(path);
    expect(ds).toMatchObject({ source: path, count: 2, inputs: 3, outputs: 2 });
    expect(ds.x).toBeInstanceOf(Float64Array);
    expect(rows(ds.x, 3)).toEqual(x);
    expect(Array.from(ds.y)).toEqual([1, 0, 0, 1]);

    const scalar = loadJson(file('scalar.json', JSON.stringify({ x: [[1], [2], [3]], y: [7, [8], 9] })));
    expect(scalar.outputs).toBe(1);
    expect(Array.from(scalar.y)).toEqual([7, 8, 9]);
  });

  const bad: [string, string, string[]][] = [
    ['empty.json', '', ['empty file']],
    ['blank.json', '  \n ', ['empty file']],
    ['broken.json', '{"x": [[1]', ['invalid JSON']],
    ['array.json', '[[1]]', ['expected an object']],
    ['nox.json', '{"y": [[1]]}', ['missing "x"']],
    ['noy.json', '{"x": [[1]]}', ['missing "y"']],
    ['xnum.json', '{"x": 3, "y": [[1]]}', ['bad "x"']],
    ['lengths.json', '{"x": [[1], [2]], "y": [[1]]}', ['x has 2 rows but y has 1']],
    ['zero.json', '{"x": [], "y": []}', ['no samples']],
    ['emptyrow.json', '{"x": [[]], "y": [[1]]}', ['row 1 of x is empty']],
    ['ragged.json', '{"x": [[1, 2], [3, 4], [5]], "y": [1, 2, 3]}', ['row 3 of x has 1 values, expected 2']],
    ['notrow.json', '{"x": [[1], 2], "y": [1, 2]}', ['row 2 of x is not an array of numbers: 2']],
    ['string.json', '{"x": [[1], ["2"]], "y": [1, 2]}', ['row 2 of x, column 1', '"2"']],
    ['null.json', '{"x": [[1, null]], "y": [1]}', ['row 1 of x, column 2', 'null']],
    ['bool.json', '{"x": [[1], [2], [true]], "y": [1, 2, 3]}', ['row 3 of x, column 1', 'true']],
    ['nan.json', '{"x": [[1], ["NaN"]], "y": [1, 2]}', ['row 2 of x', '"NaN"']],
    ['inf.json', '{"x": [[1], [1e999]], "y": [1, 2]}', ['row 2 of x', 'Infinity']],
    ['raggedy.json', '{"x": [[1], [2]], "y": [[1], [2, 3]]}', ['row 2 of y has 2 values, expected 1']],
    ['badscalary.json', '{"x": [[1], [2]], "y": [[1, 2], 3]}', ['row 2 of y has 1 values, expected 2']],
    ['stringy.json', '{"x": [[1], [2]], "y": [1, "b"]}', ['row 2 of y is not a number or an array of numbers', '"b"']],
  ];
  it.each(bad)('rejects %s', (name, content, parts) => {
    const path = file(name, content);
    expectDatasetError(() => loadJson(path), name, ...parts);
  });

  it('rejects a missing file and a directory', () => {
    expectDatasetError(() => loadJson(join(dir, 'nope.json')), 'nope.json', 'file not found');
    expectDatasetError(() => loadJson(dir), dir, 'is a directory');
  });
});

describe('loadCsv', () => {
  it('round-trips exact values, last column the target by default', () => {
    const path = file('plain.csv', '0.1,-2.5e-7,3\n4,+5.000000000000001,-6\n');
    const ds = loadCsv(path);
    expect(ds).toMatchObject({ source: path, count: 2, inputs: 2, outputs: 1 });
    expect(rows(ds.x, 2)).toEqual([[0.1, -2.5e-7], [4, 5.000000000000001]]);
    expect(Array.from(ds.y)).toEqual([3, -6]);
  });

  it('detects a header, skips blank lines, takes `targets` columns', () => {
    const path = file('header.csv', 'a,b,t1,t2\n\n1,2,3,4\n  \n5,6,7,8\n\n');
    const ds = loadCsv(path, { targets: 2 });
    expect(ds).toMatchObject({ count: 2, inputs: 2, outputs: 2 });
    expect(Array.from(ds.x)).toEqual([1, 2, 5, 6]);
    expect(Array.from(ds.y)).toEqual([3, 4, 7, 8]);
    expect(loadCsv(file('noheader.csv', '1,2\n3,4\n')).count).toBe(2);
  });

  it('turns a label column into one-hot targets (by name, index or numeric string)', () => {
    const path = file('labels.csv', 'f1,label,f2\n0.5,2,1\n0.25,0,2\n0.125,1,3\n');
    for (const labelColumn of ['label', 1, '1']) {
      const ds = loadCsv(path, { labelColumn });
      expect(ds).toMatchObject({ count: 3, inputs: 2, outputs: 3 });
      expect(rows(ds.x, 2)).toEqual([[0.5, 1], [0.25, 2], [0.125, 3]]);
      expect(rows(ds.y, 3)).toEqual([[0, 0, 1], [1, 0, 0], [0, 1, 0]]);
    }
    const wide = loadCsv(path, { labelColumn: 'label', classes: 5 });
    expect(wide.outputs).toBe(5);
    expect(rows(wide.y, 5)[0]).toEqual([0, 0, 1, 0, 0]);
    const noHeader = loadCsv(file('labels0.csv', '1,9,9\n0,8,8\n'), { labelColumn: 0 });
    expect(rows(noHeader.y, 2)).toEqual([[0, 1], [1, 0]]);
  });

  const bad: [string, string, Parameters<typeof loadCsv>[1], string[]][] = [
    ['empty.csv', '', {}, ['empty file']],
    ['blanks.csv', '\n  \n\n', {}, ['empty file']],
    ['headeronly.csv', 'a,b,c\n', {}, ['only a header']],
    ['ragged.csv', 'a,b\n1,2\n\n3\n', {}, ['row 2 (line 4) has 1 columns, expected 2']],
    ['long.csv', '1,2\n3,4,5\n', {}, ['row 2 (line 2) has 3 columns, expected 2']],
    ['word.csv', 'a,b\n1,2\n3,x\n', {}, ['row 2 (line 3), column 2 ("b")', '"x"']],
    ['nan.csv', '1,2\nNaN,3\n', {}, ['row 2 (line 2), column 1', '"NaN"']],
    ['inf.csv', '1,2\n3,Infinity\n', {}, ['row 2 (line 2)', '"Infinity"']],
    ['huge.csv', '1,2\n3,1e999\n', {}, ['row 2 (line 2)', '"1e999"']],
    ['blankcell.csv', '1,2\n3,\n', {}, ['row 2 (line 2), column 2', '""']],
    ['hex.csv', '1,2\n0x10,3\n', {}, ['row 2 (line 2)', '"0x10"']],
    ['quote.csv', '1,2\n"3,4\n', {}, ['invalid CSV']],
    ['targets.csv', '1,2,3\n', { targets: 3 }, ['targets=3', '3 columns']],
    ['targets0.csv', '1,2,3\n', { targets: 0 }, ['targets must be a positive integer']],
    ['unknown.csv', 'a,b\n1,0\n', { labelColumn: 'label' }, ['no label column named "label"', 'columns: a, b']],
    ['nohead.csv', '1,0\n', { labelColumn: 'label' }, ['no label column named "label"', 'no header']],
    ['range.csv', '1,0\n', { labelColumn: 2 }, ['label column 2 is out of range']],
    ['onecol.csv', '0\n1\n', { labelColumn: 0 }, ['at least one more column']],
    ['fraction.csv', 'x,label\n1,0\n2,1\n3,1.5\n', { labelColumn: 'label' }, ['row 3 (line 4)', 'label 1.5']],
    ['negative.csv', 'x,label\n1,-1\n', { labelColumn: 'label' }, ['row 1 (line 2)', 'label -1']],
    ['toobig.csv', 'x,label\n1,0\n2,3\n', { labelColumn: 'label', classes: 3 }, ['row 2 (line 3)', 'label 3', '0..2']],
    ['absurd.csv', 'x,label\n1,1e9\n', { labelColumn: 'label' }, ['row 1 (line 2)', 'too large']],
  ];
  it.each(bad)('rejects %s', (name, content, options, parts) => {
    const path = file(name, content);
    expectDatasetError(() => loadCsv(path, options), name, ...parts);
  });

  it('rejects a missing file', () => {
    expectDatasetError(() => loadCsv(join(dir, 'nope.csv')), 'nope.csv', 'file not found');
  });

  const unsaid: [string, string, string[]][] = [
    ['label-first.csv', 'label,p1,p2\n3,0.1,0.2\n1,0.3,0.4\n', ['column 1 ("label") looks like class labels but would be an input', '--label-column label', '--targets N']],
    ['class-last.csv', 'x1,x2,Class\n0,0,0\n1,1,2\n', ['column 3 ("Class") looks like class labels but would be the target, regressed on as a number', '--label-column Class']],
    ['y-middle.csv', 'a,y,b\n0.5,1,0.1\n0.25,0,0.2\n', ['column 2 ("y")', 'an input']],
    ['words.csv', 'a,b,species\n1,2,setosa\n', ['row 1 (line 2), column 3 ("species"): "setosa" is not a finite number', 'targets must be numbers', '--label-column', '--targets N']],
  ];
  it.each(unsaid)('without --label-column or --targets, refuses %s, saying which flag to give', (name, content, parts) => {
    const path = file(name, content);
    expectDatasetError(() => loadCsv(path), name, ...parts);
    expectDatasetError(() => loadSource(path), name, ...parts);
  });

  it('takes a label-named column as it is when told (--label-column, --targets), or when it holds no class indices', () => {
    const path = file('told.csv', 'label,p1,p2\n3,0.1,0.2\n1,0.3,0.4\n');
    expect(loadCsv(path, { labelColumn: 'label' })).toMatchObject({ inputs: 2, outputs: 4 });
    expect(loadCsv(path, { targets: 1 })).toMatchObject({ inputs: 2, outputs: 1 });
    // a regression target named y: fractions are no class indices
    expect(loadCsv(file('regression.csv', 'x1,x2,y\n0,0,0.5\n1,1,1.5\n'))).toMatchObject({ inputs: 2, outputs: 1 });
    // no header, no names to go by
    expect(loadCsv(file('bare.csv', '0,0,0\n1,1,2\n'))).toMatchObject({ inputs: 2, outputs: 1 });
    // a word in an input column is no class name: the plain message
    expectDatasetError(() => loadCsv(file('word-input.csv', 'a,b\nx,1\n')), 'column 1 ("a"): "x" is not a finite number');
    expect(() => loadCsv(file('word-input.csv', 'a,b\nx,1\n'))).toThrow(/number$/);
  });

  it('says which columns became inputs and which targets', () => {
    const labels = loadCsv(file('cols.csv', 'f1,label,f2\n0.5,2,1\n0.25,0,2\n'), { labelColumn: 'label' });
    expect(labels.columns).toEqual({ header: ['f1', 'label', 'f2'], count: 3, targets: [1], oneHot: true });
    expect(describeColumns(labels.columns!, labels.outputs)).toBe('inputs: 2 columns ("f1", "f2"); target: "label", class indices one-hot (3 classes)');
    const header = Array.from({ length: 10 }, (_, i) => `p${i}`).join(',');
    const wide = loadCsv(file('cols-wide.csv', `${header}\n${'1,'.repeat(9)}1\n`), { targets: 2 });
    expect(describeColumns(wide.columns!, wide.outputs)).toBe('inputs: 8 columns ("p0", "p1", "p2", …, "p6", "p7"); targets: "p8", "p9", regressed on as numbers (--label-column NAME for classes)');
    const bare = loadCsv(file('cols-bare.csv', '1,2\n3,4\n'));
    expect(describeColumns(bare.columns!, bare.outputs)).toBe('inputs: 1 column ("column 1"); target: "column 2", regressed on as a number (--label-column NAME for classes)');
  });
});

/** An IDX file: magic, type, dims, then big-endian elements. */
function idx(type: number, dims: number[], values: number[]): Buffer {
  const size = { 0x08: 1, 0x09: 1, 0x0b: 2, 0x0c: 4, 0x0d: 4, 0x0e: 8 }[type] ?? 1;
  const buf = Buffer.alloc(4 + 4 * dims.length + size * values.length);
  buf.writeUInt8(type, 2);
  buf.writeUInt8(dims.length, 3);
  dims.forEach((d, i) => buf.writeUInt32BE(d, 4 + 4 * i));
  const start = 4 + 4 * dims.length;
  values.forEach((v, i) => {
    const at = start + i * size;
    if (type === 0x08) buf.writeUInt8(v, at);
    else if (type === 0x09) buf.writeInt8(v, at);
    else if (type === 0x0b) buf.writeInt16BE(v, at);
    else if (type === 0x0c) buf.writeInt32BE(v, at);
    else if (type === 0x0d) buf.writeFloatBE(v, at);
    else buf.writeDoubleBE(v, at);
  });
  return buf;
}

describe('loadIdx', () => {
  const pixels = [0, 255, 128, 7, 1, 2, 3, 4, 254, 100, 50, 25]; // 3 images of 2x2
  const images = idx(0x08, [3, 2, 2], pixels);
  const labels = idx(0x08, [3], [0, 2, 1]);

  it.each([false, true])('reads ubyte images and labels (gzipped: %s), pixels / 255, labels one-hot', (gz) => {
    const wrap = (b: Buffer): Buffer => (gz ? gzipSync(b) : b);
    const ds = loadIdx(file(`img${gz}.idx`, wrap(images)), file(`lab${gz}.idx`, wrap(labels)));
    expect(ds).toMatchObject({ count: 3, inputs: 4, outputs: 3 });
    expect(Array.from(ds.x)).toEqual(pixels.map((v) => v / 255));
    expect(rows(ds.y, 3)).toEqual([[1, 0, 0], [0, 0, 1], [0, 1, 0]]);
  });

  it('takes `classes`, makes at least 2 classes, keeps other types as stored, reads rank-2 labels as targets', () => {
    const img = file('c.idx', images);
    expect(loadIdx(img, file('c-lab.idx', labels), { classes: 10 }).outputs).toBe(10);
    expect(loadIdx(img, file('zeros.idx', idx(0x08, [3], [0, 0, 0]))).outputs).toBe(2);

    const values = [-1.5, 2.25, 1e-300, 3];
    const doubles = loadIdx(file('d.idx', idx(0x0e, [2, 2], values)), file('dl.idx', idx(0x0c, [2], [1, 0])));
    expect(Array.from(doubles.x)).toEqual(values);
    const shorts = loadIdx(file('s.idx', idx(0x0b, [2], [-300, 300])), file('sl.idx', idx(0x09, [2], [0, 1])));
    expect(Array.from(shorts.x)).toEqual([-300, 300]);
    expect(shorts.inputs).toBe(1);

    const targets = loadIdx(file('t.idx', idx(0x0d, [2, 1], [0.5, 0.25])), file('tl.idx', idx(0x0d, [2, 2], [1, -1, 0.5, 2])));
    expect(targets).toMatchObject({ count: 2, inputs: 1, outputs: 2 });
    expect(Array.from(targets.y)).toEqual([1, -1, 0.5, 2]);
  });

  const huge = idx(0x08, [0xffffffff, 0xffffffff, 0xffffffff], [1, 2, 3]);
  const bad: [string, Uint8Array, string[]][] = [
    ['empty.idx', new Uint8Array(0), ['empty file']],
    ['short.idx', new Uint8Array([0, 0, 8]), ['too short']],
    ['magic.idx', Buffer.from([1, 0, 8, 1, 0, 0, 0, 3, 1, 2, 3]), ['not an IDX file']],
    ['type.idx', Buffer.from([0, 0, 0x0a, 1, 0, 0, 0, 1, 1]), ['unknown IDX element type 0x0a']],
    ['rank0.idx', Buffer.from([0, 0, 8, 0]), ['rank is 0']],
    ['header.idx', Buffer.from([0, 0, 8, 3, 0, 0, 0, 1]), ['truncated header']],
    ['truncated.idx', idx(0x08, [3, 2, 2], pixels).subarray(0, 20), ['truncated', 'dims 3x2x2']],
    ['trailing.idx', Buffer.concat([images, Buffer.from([9])]), ['trailing bytes']],
    ['huge.idx', huge, ['truncated', 'dims 4294967295x4294967295x4294967295']],
    ['zerodim.idx', idx(0x08, [3, 0], []), ['no data']],
    ['gzip.idx', Buffer.from([0x1f, 0x8b, 8, 0, 1, 2, 3]), ['corrupt gzip']],
    ['nanimg.idx', idx(0x0d, [3, 1], [1, NaN, 2]), ['sample 2', 'NaN']],
  ];
  it.each(bad)('rejects images file %s', (name, content, parts) => {
    const path = file(name, content);
    const lab = file(`for-${name}`, labels);
    expectDatasetError(() => loadIdx(path, lab), name, ...parts);
  });

  it('rejects bad labels files', () => {
    const img = file('ok-images.idx', images);
    const check = (name: string, content: Uint8Array, parts: string[], classes?: number): void => {
      const path = file(name, content);
      expectDatasetError(() => loadIdx(img, path, { classes }), name, ...parts);
    };
    check('count.idx', idx(0x08, [2], [0, 1]), ['has 3 samples', 'has 2']);
    check('float.idx', idx(0x0d, [3], [0, 1.5, 1]), ['sample 2 has label 1.5']);
    check('negative.idx', idx(0x09, [3], [0, 1, -1]), ['sample 3 has label -1']);
    check('classes.idx', idx(0x08, [3], [0, 1, 2]), ['sample 3 has label 2', '0..1'], 2);
    check('absurd.idx', idx(0x0c, [3], [0, 1, 1e9]), ['sample 3 has label 1000000000']);
    check('gz-truncated.idx.gz', gzipSync(idx(0x08, [3], [0, 1, 2]).subarray(0, 9)), ['truncated']);
    expectDatasetError(() => loadIdx(img, join(dir, 'nope-labels.idx')), 'nope-labels.idx', 'file not found');
    expectDatasetError(() => loadIdx(join(dir, 'nope-images.idx'), img), 'nope-images.idx', 'file not found');
  });
});

describe('loadMnist', () => {
  const rowHashes = (ds: Dataset): string[] =>
    Array.from({ length: ds.count }, (_, r) => createHash('sha1')
      .update(ds.x.subarray(r * ds.inputs, (r + 1) * ds.inputs))
      .update(ds.y.subarray(r * ds.outputs, (r + 1) * ds.outputs))
      .digest('hex'));

  it('splits the 10,000 digits 8000/2000 with one-hot targets, deterministically by seed', () => {
    const { train, test } = loadMnist();
    expect(train).toMatchObject({ count: 8000, inputs: 784, outputs: 10 });
    expect(test).toMatchObject({ count: 2000, inputs: 784, outputs: 10 });
    for (const ds of [train, test]) {
      expect(ds.x.every((v) => v >= 0 && v <= 1)).toBe(true);
      for (const row of rows(ds.y, 10)) {
        expect(row.filter((v) => v === 1)).toHaveLength(1);
        expect(row.filter((v) => v === 0)).toHaveLength(9);
      }
    }
    const again = loadMnist({ seed: 0 });
    expect(fingerprint(again.train)).toBe(fingerprint(train));
    expect(fingerprint(again.test)).toBe(fingerprint(test));
    const other = loadMnist({ seed: 1 });
    expect(fingerprint(other.train)).not.toBe(fingerprint(train));
    expect(fingerprint(other.test)).not.toBe(fingerprint(test));

    // Train and test are disjoint, and every split is a partition of the same 10,000 digits.
    const trainRows = new Set(rowHashes(train));
    const testRows = rowHashes(test);
    expect(trainRows.size).toBe(8000);
    expect(testRows.some((h) => trainRows.has(h))).toBe(false);
    const all = new Set([...trainRows, ...testRows]);
    expect(all.size).toBe(10000);
    expect(new Set([...rowHashes(other.train), ...rowHashes(other.test)])).toEqual(all);

    // Every digit is in the test set.
    const digits = new Set(rows(test.y, 10).map((row) => row.indexOf(1)));
    expect(digits.size).toBe(10);
  });

  it('reads the digits files\' numbers from their bytes with the bits JSON.parse gives, and leaves other forms to JSON.parse', () => {
    const dir = join(dirname(createRequire(import.meta.url).resolve('mnist/package.json', { paths: [fileURLToPath(new URL('../../packages/core/', import.meta.url))] })), 'src', 'digits');
    for (let d = 0; d < 10; d++) {
      const bytes = readFileSync(join(dir, `${d}.json`));
      const fast = decimalArray(bytes);
      const parsed = JSON.parse(bytes.toString('utf8')).data as number[];
      expect(fast, `digit ${d}`).not.toBeNull();
      expect(Buffer.from(fast!.buffer).equals(Buffer.from(Float64Array.from(parsed).buffer)), `digit ${d}`).toBe(true);
    }
    // every decimal of up to 15 digits with up to 8 after the point: the correctly rounded double, as JSON.parse
    const rng = new Rng(3);
    const numbers = Array.from({ length: 20000 }, (_, i) => {
      const whole = Math.floor(rng.uniform() * 10 ** (i % 7));
      const places = i % 9;
      return places === 0 ? String(whole) : `${whole}.${String(Math.floor(rng.uniform() * 10 ** places)).padStart(places, '0')}`;
    });
    const text = `{ "data": [${numbers.join(',')}] }\n`;
    expect(Array.from(decimalArray(Buffer.from(text))!)).toEqual(JSON.parse(text).data);
    for (const odd of ['{"data":[1e5]}', '{"data":[-1]}', '{"data":[1, 2]}', '{"data":[01]}', '{"data":[1.]}', '{"data":[]}', '{"data":[1,,2]}', '{"other":[1]}', '{"data":[1]} x', '{"data":[1234567890123456]}']) {
      expect(decimalArray(Buffer.from(odd)), odd).toBeNull();
    }
  });

  it('takes another test size and rejects a bad one', () => {
    const { train, test } = loadMnist({ test: 500 });
    expect([train.count, test.count]).toEqual([9500, 500]);
    expectDatasetError(() => loadMnist({ test: 10000 }), 'mnist', 'test');
    expectDatasetError(() => loadMnist({ seed: 0.5 }), 'mnist', 'seed');
  });
});

describe('synthetic sets', () => {
  it('xor: the four corners, cycled', () => {
    const ds = xor();
    expect(ds).toMatchObject({ source: 'xor', count: 4, inputs: 2, outputs: 1 });
    expect(rows(ds.x, 2)).toEqual([[0, 0], [0, 1], [1, 0], [1, 1]]);
    expect(Array.from(ds.y)).toEqual([0, 1, 1, 0]);
    const eight = xor({ count: 8 });
    expect(Array.from(eight.x)).toEqual([...ds.x, ...ds.x]);
    expect(Array.from(eight.y)).toEqual([0, 1, 1, 0, 0, 1, 1, 0]);
  });

  it.each([
    ['spirals', spirals],
    ['circles', circles],
  ] as const)('%s: shapes, balanced one-hot classes, deterministic by seed', (name, make) => {
    const ds = make();
    expect(ds).toMatchObject({ source: name, count: 1000, inputs: 2, outputs: 2 });
    const labels = rows(ds.y, 2).map((row) => row.indexOf(1));
    expect(labels.filter((k) => k === 0)).toHaveLength(500);
    expect(rows(ds.y, 2).every((row) => row[0] + row[1] === 1)).toBe(true);
    expect(ds.x.every((v) => Number.isFinite(v) && Math.abs(v) < 2)).toBe(true);
    expect(fingerprint(make({ seed: 0 }))).toBe(fingerprint(ds));
    expect(fingerprint(make({ seed: 1 }))).not.toBe(fingerprint(ds));
    expect(make({ count: 10, seed: 3 }).count).toBe(10);
    expectDatasetError(() => make({ count: 0 }), name, 'count');
    expectDatasetError(() => make({ seed: 1.5 }), name, 'seed');
    expectDatasetError(() => make({ noise: -1 }), name, 'noise');
  });

  it('circles: class 0 on the outer circle; spirals: any number of classes', () => {
    const ds = circles({ noise: 0 });
    rows(ds.x, 2).forEach(([a, b], i) => expect(Math.hypot(a, b)).toBeCloseTo(i % 2 === 0 ? 1 : 0.5, 12));
    const three = spirals({ classes: 3, count: 30 });
    expect(three.outputs).toBe(3);
    expect(rows(three.y, 3)[2]).toEqual([0, 0, 1]);
    expectDatasetError(() => spirals({ classes: 1 }), 'spirals', 'classes');
  });
});

describe('loadSource', () => {
  it('serves the built-in sets, with held-out test sets where they exist', () => {
    const mnist = loadSource('mnist');
    expect([mnist.train.count, mnist.test?.count]).toEqual([8000, 2000]);
    expect(fingerprint(loadSource('mnist', { splitSeed: 0 }).train)).toBe(fingerprint(mnist.train));
    expect(fingerprint(loadSource('mnist', { splitSeed: 2 }).train)).not.toBe(fingerprint(mnist.train));

    const x = loadSource('xor');
    expect(x.train.count).toBe(4);
    expect(x.test).toBeUndefined();

    for (const name of ['spirals', 'circles']) {
      const a = loadSource(name, { seed: 5 });
      expect(a.train.count).toBe(1000);
      expect(a.test!.count).toBeGreaterThan(0);
      expect(fingerprint(a.train)).toBe(fingerprint(loadSource(name, { seed: 5 }).train));
      expect(fingerprint(a.test!)).toBe(fingerprint(loadSource(name, { seed: 5 }).test!));
      expect(fingerprint(a.train)).not.toBe(fingerprint(loadSource(name, { seed: 6 }).train));
      const trainRows = new Set(rows(a.train.x, 2).map(String));
      expect(rows(a.test!.x, 2).some((row) => trainRows.has(String(row)))).toBe(false);
    }
  });

  it('loads files by extension and passes the CSV options on', () => {
    const json = file('src.json', '{"x": [[1, 2]], "y": [[3]]}');
    expect(loadSource(json).train).toMatchObject({ count: 1, inputs: 2, outputs: 1 });
    const csv = file('src.CSV', 'a,b,label\n1,2,1\n3,4,0\n');
    expect(loadSource(csv, { labelColumn: 'label', classes: 4 }).train).toMatchObject({ count: 2, inputs: 2, outputs: 4 });
    expect(loadSource(csv, { targets: 2 }).train).toMatchObject({ inputs: 1, outputs: 2 });
  });

  it('finds the labels of an IDX images file by name, or takes IMAGES,LABELS', () => {
    const images = idx(0x08, [2, 2], [0, 255, 51, 102]);
    const labels = idx(0x08, [2], [1, 0]);
    const img = file('train-images-idx3-ubyte', images);
    file('train-labels-idx1-ubyte', labels);
    const ds = loadSource(img).train;
    expect(Array.from(ds.x)).toEqual([0, 1, 0.2, 0.4]);
    expect(Array.from(ds.y)).toEqual([0, 1, 1, 0]);

    const gz = file('t10k-images-idx3-ubyte.gz', gzipSync(images));
    file('t10k-labels-idx1-ubyte.gz', gzipSync(labels));
    expect(fingerprint(loadSource(gz).train)).toBe(fingerprint(ds));
    const mixed = file('mix-images.idx.gz', gzipSync(images));
    file('mix-labels.idx', labels);
    expect(fingerprint(loadSource(mixed).train)).toBe(fingerprint(ds));

    const a = file('a.idx', images);
    const b = file('b.idx', labels);
    expect(loadSource(`${a},${b}`, { classes: 3 }).train.outputs).toBe(3);

    const lonely = file('lonely-images.idx', images);
    expectDatasetError(() => loadSource(lonely), 'lonely-images.idx', 'lonely-labels.idx', '"images" -> "labels"');
    expectDatasetError(() => loadSource(a), 'a.idx', 'IMAGES,LABELS');
    expectDatasetError(() => loadSource(`${a},${b},${a}`), 'IMAGES,LABELS');
  });

  it('rejects unknown sources and file types', () => {
    expect(() => loadSource('foo')).toThrow(
      new DatasetError('unknown data source "foo": expected mnist, xor, spirals, circles, or a path to a .json, .csv or IDX file'),
    );
    const txt = file('data.txt', '1,2\n');
    expectDatasetError(() => loadSource(txt), 'data.txt', 'unknown file type');
    expectDatasetError(() => loadSource(join(dir, 'missing.json')), 'missing.json', 'file not found');
    expectDatasetError(() => loadSource(join(dir, 'missing.csv')), 'missing.csv', 'file not found');
    expectDatasetError(() => loadSource(join(dir, 'missing-images-idx3-ubyte')), 'missing-images-idx3-ubyte', 'file not found');
  });
});

describe('files that are not data', () => {
  it('refuses what is not a regular file before opening it: a FIFO with no writer, a link to /dev/zero, a directory', () => {
    // a FIFO would block the read (signals and all); /dev/zero would never end
    const fifo = join(dir, 'no-writer.csv');
    execFileSync('mkfifo', [fifo]);
    const zero = join(dir, 'dev-zero-link.json');
    symlinkSync('/dev/zero', zero);
    for (const load of [loadCsv, loadJson, (p: string) => loadIdx(p, p), (p: string) => loadSource(p)]) {
      expectDatasetError(() => load(fifo), fifo, 'is a named pipe (FIFO), not a regular file');
      expectDatasetError(() => load(zero), zero, 'is a device, not a regular file');
    }
    expectDatasetError(() => loadCsv(dir), dir, 'is a directory');
    // a link to a regular file is read as the file
    const real = file('linked-to.csv', '1,2\n3,4\n');
    const link = join(dir, 'a-link.csv');
    symlinkSync(real, link);
    expect(loadCsv(link).count).toBe(2);
  });

  it('refuses a CSV line longer than MAX_ROW_CHARS, at once and naming the line', () => {
    const long = file('one-long-line.csv', `a,b\n1,2\n${'1,'.repeat(MAX_ROW_CHARS / 2 + 1)}\n`);
    expectDatasetError(() => loadCsv(long), long, `line 3 is longer than ${MAX_ROW_CHARS / 2 ** 20} MiB`);
  });
});

describe('CSV inputs only (data to predict on)', () => {
  it('reads every column as an input and no targets', () => {
    const file = join(dir, 'inputs-only.csv');
    writeFileSync(file, 'a,b,c\n1,2,3\n4,5,6\n');
    const set = loadCsv(file, { inputsOnly: true });
    expect([set.count, set.inputs, set.outputs, set.y.length]).toEqual([2, 3, 0, 0]);
    expect(Array.from(set.x)).toEqual([1, 2, 3, 4, 5, 6]);
  });
});
