import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  MODEL_FORMAT, Model, ModelFileError, loadModel, modelToJson, parseModel, saveModel, validateSpec,
  type ModelSpec,
} from '@shardprop/core';

const dir = mkdtempSync(join(tmpdir(), 'shardprop-model-file-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const spec64: ModelSpec = { layers: [3, 4, 2], activation: 'tanh', loss: 'cross-entropy', dtype: 'float64' };

function bytesOf(a: Float32Array | Float64Array): Buffer {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength);
}

/** A valid file as an object, for the bad cases to break one field at a time. */
function goodDoc(): Record<string, unknown> {
  return {
    format: MODEL_FORMAT,
    layers: [2, 3, 1],
    activation: 'sigmoid',
    loss: 'quadratic',
    weights: [
      [[0.1, 0.2], [0.3, 0.4], [0.5, 0.6]],
      [[0.7, 0.8, 0.9]],
    ],
    biases: [[1, 2, 3], [4]],
  };
}

function expectFileError(run: () => unknown, file: string, pattern: RegExp): ModelFileError {
  let caught: unknown;
  try {
    run();
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(ModelFileError);
  const err = caught as ModelFileError;
  expect(err.file).toBe(file);
  expect(err.message.startsWith(`${file}: `)).toBe(true);
  expect(err.message).not.toContain('\n');
  expect(err.message).toMatch(pattern);
  return err;
}

describe('model file round trip', () => {
  it('float64 parameters come back bit for bit, including -0, subnormals and extremes', () => {
    const model = Model.init(spec64, 11);
    const specials = [-0, 5e-324, -2.2250738585072014e-308, 1.7976931348623157e308, 0.1, 1 / 3, -1e-300, 123456789.12345679];
    specials.forEach((v, i) => (model.params[i] = v));
    const path = join(dir, 'f64.json');
    saveModel(model, path);
    const back = loadModel(path);
    expect(back.spec).toEqual(spec64);
    expect(back.params).toBeInstanceOf(Float64Array);
    expect(bytesOf(back.params).equals(bytesOf(model.params))).toBe(true);
    expect(Object.is(back.params[0], -0)).toBe(true);
  });

  it('float32 parameters come back bit for bit, as float32 by default and exactly as float64 on request', () => {
    const model = Model.init({ ...spec64, dtype: 'float32', layers: [5, 7, 3, 2] }, 12);
    const path = join(dir, 'f32.json');
    saveModel(model, path);
    const back = loadModel(path);
    expect(back.spec.dtype).toBe('float32');
    expect(back.params).toBeInstanceOf(Float32Array);
    expect(bytesOf(back.params).equals(bytesOf(model.params))).toBe(true);
    const wide = loadModel(path, 'float64');
    expect(wide.params).toBeInstanceOf(Float64Array);
    expect(Array.from(wide.params)).toEqual(Array.from(model.params));
  });

  it('a float64 file loaded as float32 rounds each value once', () => {
    const model = Model.init(spec64, 13);
    const path = join(dir, 'narrow.json');
    saveModel(model, path);
    const narrow = loadModel(path, 'float32');
    expect(narrow.params).toBeInstanceOf(Float32Array);
    expect(Array.from(narrow.params)).toEqual(Array.from(model.params, Math.fround));
  });

  it('writes the documented layout: weights[l-1][j][k] = w^l_jk, biases[l-1][j] = b^l_j', () => {
    const model = new Model({ layers: [2, 3, 1], activation: 'sigmoid', loss: 'quadratic', dtype: 'float64' });
    model.params.forEach((_, i) => (model.params[i] = i + 1)); // flat: W^1 (6), b^1 (3), W^2 (3), b^2 (1)
    const path = join(dir, 'layout.json');
    saveModel(model, path);
    const doc = JSON.parse(readFileSync(path, 'utf8'));
    expect(doc).toEqual({
      format: 'shardprop.model/v1',
      layers: [2, 3, 1],
      activation: 'sigmoid',
      loss: 'quadratic',
      dtype: 'float64',
      weights: [[[1, 2], [3, 4], [5, 6]], [[10, 11, 12]]],
      biases: [[7, 8, 9], [13]],
    });
    expect(doc).toEqual(modelToJson(model));
  });

  it('a file without "dtype" loads as float64 unless the caller asks otherwise', () => {
    const text = JSON.stringify(goodDoc());
    const m = parseModel(text, 'nodtype.json');
    expect(m.spec.dtype).toBe('float64');
    expect(Array.from(m.W[1])).toEqual([0.1, 0.2, 0.3, 0.4, 0.5, 0.6]);
    expect(Array.from(m.b[2])).toEqual([4]);
    expect(parseModel(text, 'nodtype.json', 'float32').params).toBeInstanceOf(Float32Array);
  });

  it('creates parent directories, replaces an existing file and leaves no temporary file behind', () => {
    const sub = join(dir, 'a', 'b', 'c');
    const path = join(sub, 'm.json');
    saveModel(Model.init(spec64, 1), path);
    const second = Model.init(spec64, 2);
    saveModel(second, path);
    expect(readdirSync(sub)).toEqual(['m.json']);
    expect(bytesOf(loadModel(path).params).equals(bytesOf(second.params))).toBe(true);
  });

  it('reports a path it cannot write as a ModelFileError, leaving no temporary file', () => {
    const blocker = join(dir, 'a-file');
    writeFileSync(blocker, 'x');
    const path = join(blocker, 'm.json'); // its parent is a file
    expectFileError(() => saveModel(Model.init(spec64, 1), path), path, /cannot write the model file \(E[A-Z]+: /);
    const target = join(dir, 'target-dir.json');
    mkdirSync(target, { recursive: true }); // renaming a file over a directory fails
    expectFileError(() => saveModel(Model.init(spec64, 1), target), target, /cannot write the model file/);
    expect(readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });

  it('refuses to save non-finite parameters and keeps the previous file', () => {
    const path = join(dir, 'nan.json');
    saveModel(Model.init(spec64, 3), path);
    const before = readFileSync(path, 'utf8');
    const bad = Model.init(spec64, 4);
    bad.W[2][3] = Number.NaN; // W^2 is [2][4]: flat index 3 is row 0, column 3
    expectFileError(() => saveModel(bad, path), path, /W\^2 row 0 column 3 is NaN/);
    expect(readFileSync(path, 'utf8')).toBe(before);
    expect(readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });
});

describe('model file validation', () => {
  const variants: [string, (d: Record<string, unknown>) => unknown, RegExp][] = [
    ['not an object', () => [1, 2], /expected a JSON object, got \[1,2\]/],
    ['missing format', (d) => { delete d.format; return d; }, /missing "format"/],
    ['wrong format', (d) => ({ ...d, format: 'shardprop.model/v2' }), /unsupported format "shardprop\.model\/v2"/],
    ['format from __proto__ only', (d) => { delete d.format; return d; }, /missing "format"/],
    ['missing layers', (d) => { delete d.layers; return d; }, /"layers" must be an array/],
    ['layers not an array', (d) => ({ ...d, layers: '2,3,1' }), /"layers" must be an array/],
    ['one layer', (d) => ({ ...d, layers: [2] }), /at least two/],
    ['zero layer size', (d) => ({ ...d, layers: [2, 0, 1] }), /"layers"\[1\] must be a positive integer, got 0/],
    ['fractional layer size', (d) => ({ ...d, layers: [2, 3.5, 1] }), /"layers"\[1\] must be a positive integer, got 3\.5/],
    ['string layer size', (d) => ({ ...d, layers: [2, '3', 1] }), /"layers"\[1\] must be a positive integer, got "3"/],
    ['unknown activation', (d) => ({ ...d, activation: 'softplus' }), /unknown activation "softplus"/],
    ['inherited name as activation', (d) => ({ ...d, activation: 'constructor' }), /unknown activation "constructor"/],
    ['unknown loss', (d) => ({ ...d, loss: 'hinge' }), /unknown loss "hinge"/],
    ['inherited name as loss', (d) => ({ ...d, loss: 'toString' }), /unknown loss "toString"/],
    ['unknown dtype', (d) => ({ ...d, dtype: 'float16' }), /unknown dtype "float16"/],
    ['softmax with one output', (d) => ({ ...d, loss: 'cross-entropy' }), /cross-entropy.*at least 2 outputs/],
    ['weights missing', (d) => { delete d.weights; return d; }, /"weights" must be an array of 2 matrices/],
    ['biases missing', (d) => { delete d.biases; return d; }, /"biases" must be an array of 2 vectors/],
    ['too few weights', (d) => ({ ...d, weights: [(d.weights as unknown[])[0]] }), /"weights" has 1 matrices, expected 2/],
    ['too many biases', (d) => ({ ...d, biases: [[1, 2, 3], [4], [5]] }), /"biases" has 3 vectors, expected 2/],
    ['W^1 with a missing row', (d) => ({ ...d, weights: [[[0.1, 0.2], [0.3, 0.4]], [[0.7, 0.8, 0.9]]] }),
      /W\^1 \(weights\[0\], shape \[3\]\[2\]\) has 2 rows, expected 3/],
    ['W^2 with a short row', (d) => ({ ...d, weights: [(d.weights as unknown[])[0], [[0.7, 0.8]]] }),
      /W\^2 \(weights\[1\]\) row 0 has 2 values, expected 3/],
    ['W^1 row 2 not an array', (d) => ({ ...d, weights: [[[0.1, 0.2], [0.3, 0.4], 5], (d.weights as unknown[])[1]] }),
      /W\^1 \(weights\[0\]\) row 2 must be an array of 2 values, got 5/],
    ['W^2 flat instead of nested', (d) => ({ ...d, weights: [(d.weights as unknown[])[0], [0.7, 0.8, 0.9]] }),
      /W\^2 \(weights\[1\], shape \[1\]\[3\]\) has 3 rows, expected 1/],
    ['b^1 too long', (d) => ({ ...d, biases: [[1, 2, 3, 4], [4]] }), /b\^1 \(biases\[0\]\) has 4 values, expected 3/],
    ['b^2 not an array', (d) => ({ ...d, biases: [[1, 2, 3], 4] }), /b\^2 \(biases\[1\]\) must be an array of 1 values, got 4/],
    ['a weight is a string', (d) => ({ ...d, weights: [[[0.1, 0.2], [0.3, '0.4'], [0.5, 0.6]], (d.weights as unknown[])[1]] }),
      /W\^1 \(weights\[0\]\) row 1\[1\] must be a finite number, got "0\.4"/],
    ['a weight is null', (d) => ({ ...d, weights: [(d.weights as unknown[])[0], [[0.7, null, 0.9]]] }),
      /W\^2 \(weights\[1\]\) row 0\[1\] must be a finite number, got null/],
    ['a bias is a boolean', (d) => ({ ...d, biases: [[1, true, 3], [4]] }), /b\^1 \(biases\[0\]\)\[1\] must be a finite number, got true/],
  ];

  for (const [name, mutate, pattern] of variants) {
    it(`rejects a file with ${name}`, () => {
      const file = join(dir, `bad-${name.replace(/\W+/g, '-')}.json`);
      let text = JSON.stringify(mutate(goodDoc()));
      if (name === 'format from __proto__ only') text = text.replace('{', `{"__proto__":{"format":"${MODEL_FORMAT}"},`);
      writeFileSync(file, text);
      expectFileError(() => loadModel(file), file, pattern);
      expectFileError(() => parseModel(text, 'inline.json'), 'inline.json', pattern);
    });
  }

  it('rejects a value that overflows to Infinity, and one out of the float32 range when loading as float32', () => {
    const inf = JSON.stringify(goodDoc()).replace('0.4', '1e999');
    expectFileError(() => parseModel(inf, 'inf.json'), 'inf.json', /W\^1 \(weights\[0\]\) row 1\[1\] must be a finite number, got Infinity/);
    const big = JSON.stringify(goodDoc()).replace('0.4', '1e300');
    expect(parseModel(big, 'big.json').W[1][3]).toBe(1e300);
    expectFileError(() => parseModel(big, 'big.json', 'float32'), 'big.json', /row 1\[1\] = 1e\+300 is out of the float32 range/);
  });

  it('names a missing file, a directory and an empty file', () => {
    const missing = join(dir, 'nope', 'model.json');
    expectFileError(() => loadModel(missing), missing, /no such file/);
    const sub = join(dir, 'a-directory.json');
    mkdirSync(sub, { recursive: true });
    expectFileError(() => loadModel(sub), sub, /directory/);
    // not a regular file: refused before it is opened (a FIFO would block, /dev/zero never end)
    const fifo = join(dir, 'pipe-model.json');
    execFileSync('mkfifo', [fifo]);
    expectFileError(() => loadModel(fifo), fifo, /is a named pipe \(FIFO\), not a regular file/);
    const zero = join(dir, 'zero-model.json');
    symlinkSync('/dev/zero', zero);
    expectFileError(() => loadModel(zero), zero, /is a device, not a regular file/);
    const empty = join(dir, 'empty.json');
    writeFileSync(empty, '');
    expectFileError(() => loadModel(empty), empty, /is empty/);
    writeFileSync(empty, '  \n\t ');
    expectFileError(() => loadModel(empty), empty, /is empty/);
  });

  it('names invalid JSON and a truncated file on one line', () => {
    expectFileError(() => parseModel('{"format": shardprop}', 'junk.json'), 'junk.json', /is not valid JSON/);
    const model = Model.init(spec64, 5);
    const path = join(dir, 'whole.json');
    saveModel(model, path);
    const text = readFileSync(path, 'utf8');
    for (const cut of [1, 40, Math.floor(text.length / 2), text.length - 3]) {
      const truncated = join(dir, `truncated-${cut}.json`);
      writeFileSync(truncated, text.slice(0, cut));
      expectFileError(() => loadModel(truncated), truncated, /is not valid JSON/);
    }
  });

  it('treats "__proto__" keys as data and does not pollute prototypes', () => {
    const text = JSON.stringify(goodDoc()).replace('{', '{"__proto__":{"polluted":1,"format":"x"},');
    const m = parseModel(text, 'proto.json');
    expect(m.spec.layers).toEqual([2, 3, 1]);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.prototype).not.toHaveProperty('polluted');
  });

  it('accepts a UTF-8 byte order mark', () => {
    expect(parseModel(`\ufeff${JSON.stringify(goodDoc())}`, 'bom.json').spec.layers).toEqual([2, 3, 1]);
  });
});

describe('validateSpec', () => {
  it('rejects names that exist only on Object.prototype', () => {
    const base: ModelSpec = { layers: [2, 2], activation: 'sigmoid', loss: 'quadratic', dtype: 'float64' };
    expect(() => validateSpec({ ...base, activation: 'toString' as never })).toThrow(/unknown activation "toString"/);
    expect(() => validateSpec({ ...base, loss: 'hasOwnProperty' as never })).toThrow(/unknown loss "hasOwnProperty"/);
    expect(validateSpec(base)).toBe(base);
  });
});
