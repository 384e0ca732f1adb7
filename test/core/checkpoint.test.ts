import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CheckpointError, Model, Optimizer, Sampler, checkpointPath, loadCheckpoint, saveCheckpoint, type Checkpoint } from '@shardprop/core';

const root = mkdtempSync(join(tmpdir(), 'shardprop-ckpt-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

function sample(dtype: 'float32' | 'float64'): Checkpoint {
  const spec = { layers: [3, 4, 2], activation: 'tanh' as const, loss: 'quadratic' as const, dtype };
  const model = Model.init(spec, 5);
  const opt = new Optimizer({ kind: 'adam', lr: 0.01 }, model.params.length, dtype);
  const grad = model.params.map((v) => v * 0.5);
  opt.step(model.params, grad, 3);
  opt.step(model.params, grad, 3);
  const sampler = new Sampler(11, 4, 9);
  sampler.next();
  sampler.next();
  return { step: 2, fingerprint: 'abc123', spec, batchSize: 4, params: model.params, optimizer: { config: { kind: 'adam', lr: 0.01 }, state: opt.state() }, sampler: sampler.state() };
}

describe('checkpoint files', () => {
  it('round-trip every value exactly (float32 and float64) and continue the same batch sequence', () => {
    for (const dtype of ['float32', 'float64'] as const) {
      const dir = join(root, dtype);
      const c = sample(dtype);
      saveCheckpoint(dir, c);
      const back = loadCheckpoint(dir);
      expect(back.params).toEqual(c.params);
      expect(back.params).toBeInstanceOf(dtype === 'float64' ? Float64Array : Float32Array);
      expect(back.optimizer.state.t).toBe(2);
      expect(back.optimizer.state.buffers).toEqual(c.optimizer.state.buffers);
      expect({ ...back, params: null, optimizer: null }).toEqual({ ...c, params: null, optimizer: null });
      const a = new Sampler(11, 4, 9);
      a.setState(c.sampler);
      const b = new Sampler(11, 4, 9);
      b.setState(back.sampler);
      for (let i = 0; i < 7; i++) expect(Array.from(b.next())).toEqual(Array.from(a.next()));
      expect(readdirSync(dir)).toEqual(['checkpoint.bin']); // no temporary file left behind
    }
  });

  it('refuse any damaged byte, a truncated file, another format, and a missing one, naming the file', () => {
    const dir = join(root, 'damaged');
    saveCheckpoint(dir, sample('float64'));
    const path = checkpointPath(dir);
    const good = readFileSync(path);
    for (const at of [0, 9, 15, 40, good.length >> 1, good.length - 40, good.length - 1]) {
      const bad = Buffer.from(good);
      bad[at] ^= 0x10;
      writeFileSync(path, bad);
      expect(() => loadCheckpoint(dir), `byte ${at}`).toThrow(CheckpointError);
    }
    writeFileSync(path, good.subarray(0, good.length - 100));
    expect(() => loadCheckpoint(dir)).toThrow(/checksum|corrupt/);
    writeFileSync(path, '{"format":"shardprop.model/v1"}');
    expect(() => loadCheckpoint(dir)).toThrow(/not a shardprop checkpoint/);
    expect(() => loadCheckpoint(join(root, 'nowhere'))).toThrow(`${join(root, 'nowhere', 'checkpoint.bin')}: no checkpoint here`);
    writeFileSync(path, good);
    expect(loadCheckpoint(dir).step).toBe(2);
  });
});
