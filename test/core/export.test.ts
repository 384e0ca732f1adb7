import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ort from 'onnxruntime-node';
import { afterAll, describe, expect, it } from 'vitest';
import {
  ACTIVATIONS, LOSSES, MODEL_FORMAT, Model, Rng, modelToOnnx, modelToSafetensors, predictOutputs,
  type ActivationName, type Dtype, type LossName, type ModelSpec,
} from '@shardprop/core';

const dir = mkdtempSync(join(tmpdir(), 'shardprop-export-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function concat(pieces: Uint8Array[]): Uint8Array {
  return new Uint8Array(Buffer.concat(pieces.map((p) => Buffer.from(p.buffer, p.byteOffset, p.byteLength))));
}

function randomInputs(n: number, width: number, seed: number): Float64Array {
  const rng = new Rng(seed);
  return Float64Array.from({ length: n * width }, () => 2 * rng.gaussian());
}

const combos: [ActivationName, LossName, Dtype][] = [];
for (const activation of Object.keys(ACTIVATIONS) as ActivationName[]) {
  for (const loss of Object.keys(LOSSES) as LossName[]) {
    for (const dtype of ['float32', 'float64'] as Dtype[]) combos.push([activation, loss, dtype]);
  }
}

describe('ONNX export, run by onnxruntime-node', () => {
  it.each(combos)('%s + %s (%s): the graph computes what predict does', async (activation, loss, dtype) => {
    const spec: ModelSpec = { layers: [5, 7, 6, 3], activation, loss, dtype };
    const model = Model.init(spec, 11);
    const file = join(dir, `${activation}-${loss}-${dtype}.onnx`);
    writeFileSync(file, concat(modelToOnnx(model, { producerVersion: 'test' })));
    const rows = 40;
    const x64 = randomInputs(rows, 5, 3);
    const ours = predictOutputs(model, x64, rows);

    const session = await ort.InferenceSession.create(file);
    expect(session.inputNames).toEqual(['input']);
    expect(session.outputNames).toEqual(['output']);
    const x = dtype === 'float32' ? Float32Array.from(x64) : x64;
    const result = await session.run({ input: new ort.Tensor(dtype === 'float32' ? 'float32' : 'float64', x, [rows, 5]) });
    const theirs = result.output;
    expect(theirs.dims).toEqual([rows, 3]);
    expect(theirs.type).toBe(dtype === 'float32' ? 'float32' : 'float64');
    const tolerance = dtype === 'float32' ? 1e-5 : 1e-12;
    let worst = 0;
    for (let i = 0; i < ours.length; i++) worst = Math.max(worst, Math.abs(Number(theirs.data[i]) - ours[i]));
    expect(worst).toBeLessThan(tolerance);
    if (loss === 'cross-entropy') {
      // softmax rows: probabilities that add up to 1
      for (let r = 0; r < rows; r++) expect(Number(theirs.data[r * 3]) + Number(theirs.data[r * 3 + 1]) + Number(theirs.data[r * 3 + 2])).toBeCloseTo(1, 5);
    }
    await session.release();
  });

  it('a one-layer model (inputs straight to outputs) runs too', async () => {
    const model = Model.init({ layers: [2, 1], activation: 'sigmoid', loss: 'quadratic', dtype: 'float32' }, 5);
    const file = join(dir, 'one-layer.onnx');
    writeFileSync(file, concat(modelToOnnx(model)));
    const x = Float32Array.from([0, 0, 0, 1, 1, 0, 1, 1]);
    const session = await ort.InferenceSession.create(file);
    const out = (await session.run({ input: new ort.Tensor('float32', x, [4, 2]) })).output.data as Float32Array;
    const ours = predictOutputs(model, x, 4);
    for (let i = 0; i < 4; i++) expect(Math.abs(out[i] - ours[i])).toBeLessThan(1e-6);
    await session.release();
  });
});

/** A safetensors reader written from the format's description: u64 LE header length, JSON header, raw LE data. */
function readSafetensors(bytes: Uint8Array) {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = Number(view.getBigUint64(0, true));
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + headerLength))) as Record<string, unknown>;
  const dataStart = 8 + headerLength;
  const tensors = new Map<string, { dtype: string; shape: number[]; values: number[]; begin: number; end: number }>();
  for (const [name, entry] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    const { dtype, shape, data_offsets: [begin, end] } = entry as { dtype: string; shape: number[]; data_offsets: [number, number] };
    const size = dtype === 'F64' ? 8 : 4;
    const values: number[] = [];
    for (let at = dataStart + begin; at < dataStart + end; at += size) values.push(size === 8 ? view.getFloat64(at, true) : view.getFloat32(at, true));
    tensors.set(name, { dtype, shape, values, begin, end });
  }
  return { headerLength, metadata: header.__metadata__ as Record<string, string>, tensors, dataBytes: bytes.length - dataStart };
}

/** The bit pattern of a float, so -0 and 0, and every last bit, count. */
function bits(v: number, dtype: Dtype): string {
  const b = new DataView(new ArrayBuffer(8));
  if (dtype === 'float32') {
    b.setFloat32(0, v, true);
    return b.getUint32(0, true).toString(16);
  }
  b.setFloat64(0, v, true);
  return b.getBigUint64(0, true).toString(16);
}

describe('safetensors export, read back by an independent reader', () => {
  it.each(['float32', 'float64'] as Dtype[])('%s: every weight and bias by layer name, bit for bit, with the spec in __metadata__', (dtype) => {
    const spec: ModelSpec = { layers: [4, 3, 5, 2], activation: 'relu', loss: 'cross-entropy', dtype };
    const model = Model.init(spec, 9);
    model.W[2][0] = -0;
    const file = readSafetensors(concat(modelToSafetensors(model)));
    expect(file.metadata).toEqual({ format: MODEL_FORMAT, layers: '4,3,5,2', activation: 'relu', loss: 'cross-entropy', dtype });
    expect((8 + file.headerLength) % 8).toBe(0);
    expect([...file.tensors.keys()].sort()).toEqual(['layers.1.bias', 'layers.1.weight', 'layers.2.bias', 'layers.2.weight', 'layers.3.bias', 'layers.3.weight']);
    // the data is covered exactly, without holes or overlaps
    const ranges = [...file.tensors.values()].map((t) => [t.begin, t.end]).sort((a, b) => a[0] - b[0]);
    ranges.forEach(([begin], i) => expect(begin).toBe(i === 0 ? 0 : ranges[i - 1][1]));
    expect(ranges.at(-1)![1]).toBe(file.dataBytes);
    for (let l = 1; l <= 3; l++) {
      const W = file.tensors.get(`layers.${l}.weight`)!;
      const b = file.tensors.get(`layers.${l}.bias`)!;
      expect(W.dtype).toBe(dtype === 'float32' ? 'F32' : 'F64');
      expect(W.shape).toEqual([spec.layers[l], spec.layers[l - 1]]);
      expect(b.shape).toEqual([spec.layers[l]]);
      // W^l[j][k] = w^l_jk, row-major [n_l, n_(l-1)]
      for (let j = 0; j < spec.layers[l]; j++) {
        for (let k = 0; k < spec.layers[l - 1]; k++) {
          expect(bits(W.values[j * spec.layers[l - 1] + k], dtype)).toBe(bits(model.W[l][j * spec.layers[l - 1] + k], dtype));
        }
        expect(bits(b.values[j], dtype)).toBe(bits(model.b[l][j], dtype));
      }
    }
    expect(bits(file.tensors.get('layers.2.weight')!.values[0], dtype)).toBe(bits(-0, dtype));
  });
});
