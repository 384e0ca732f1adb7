import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CheckpointError, Model, Optimizer, Sampler, checkpointPath, loadCheckpoint, saveCheckpoint, type Checkpoint, type OptimizerConfig } from '@shardprop/core';

const root = mkdtempSync(join(tmpdir(), 'shardprop-ckpt-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

// every optimizer setting away from its default, so a config that came back as defaults would show
const ADAM: OptimizerConfig = { kind: 'adam', lr: 0.01, weightDecay: 0.001, beta1: 0.8, beta2: 0.99, eps: 1e-6 };

function sample(dtype: 'float32' | 'float64'): Checkpoint {
  const spec = { layers: [3, 4, 2], activation: 'tanh' as const, loss: 'quadratic' as const, dtype };
  const model = Model.init(spec, 5);
  const opt = new Optimizer(ADAM, model.params.length, dtype);
  const grad = model.params.map((v) => v * 0.5);
  opt.step(model.params, grad, 3);
  opt.step(model.params, grad, 3);
  const sampler = new Sampler(11, 4, 9);
  sampler.next();
  sampler.next();
  return { step: 2, fingerprint: 'abc123', spec, batchSize: 4, params: model.params, optimizer: { config: { ...ADAM }, state: opt.state() }, sampler: sampler.state() };
}

/**
 * Rewrites checkpoint.bin in `dir` with its JSON header changed by `edit` and a
 * checksum that matches again, to reach the checks behind the SHA-256. The
 * format (checkpoint.ts): "SPCKPT01", u32 LE header length, header, arrays,
 * SHA-256 of all before.
 */
function rewriteHeader(dir: string, edit: (header: Record<string, any>) => void): void {
  const path = checkpointPath(dir);
  const bytes = readFileSync(path);
  const magic = 8;
  const headLength = bytes.readUInt32LE(magic);
  const header = JSON.parse(bytes.subarray(magic + 4, magic + 4 + headLength).toString('utf8'));
  edit(header);
  const head = Buffer.from(JSON.stringify(header), 'utf8');
  const length = Buffer.alloc(4);
  length.writeUInt32LE(head.length);
  const body = Buffer.concat([bytes.subarray(0, magic), length, head, bytes.subarray(magic + 4 + headLength, bytes.length - 32)]);
  writeFileSync(path, Buffer.concat([body, createHash('sha256').update(body).digest()]));
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
      expect(back.optimizer.config).toEqual(ADAM);
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
    const piped = join(root, 'piped');
    mkdirSync(piped);
    execFileSync('mkfifo', [checkpointPath(piped)]);
    expect(() => loadCheckpoint(piped)).toThrow(`${checkpointPath(piped)}: is a named pipe (FIFO), not a regular file`);
    writeFileSync(path, good);
    expect(loadCheckpoint(dir).step).toBe(2);
  });

  it('refuse a header that passes the checksum but does not fit its arrays or its run, naming the file', () => {
    const dir = join(root, 'rewritten');
    const path = checkpointPath(dir);
    const c = sample('float64');
    const cases: [string, (h: Record<string, any>) => void, string][] = [
      ['the cursor past the order', (h) => (h.sampler.cursor = c.sampler.order.length + 1), 'unusable: bad sampler state: position 12 in an epoch of 11'],
      // the same bytes, read as twice as many float32 values
      ['float32 parameters under a float64 spec', (h) => (h.arrays[0] = { type: 'float32', length: 2 * c.params.length }), 'unusable: array types do not match the model'],
      ['one optimizer buffer too few', (h) => (h.optimizer.buffers = 1), 'unusable: the array count does not match'],
      ['a negative step', (h) => (h.step = -1), 'unusable: bad step or fingerprint'],
      ['a batch larger than the data set', (h) => (h.batchSize = 12), 'unusable: bad batch size 12 for 11 samples'],
      ['a generator of three words', (h) => (h.sampler.rng = h.sampler.rng.slice(1)), 'unusable: bad sampler state: its generator must be four 32-bit words, not all zero'],
      ['a generator stuck at zero', (h) => (h.sampler.rng = [0, 0, 0, 0]), 'unusable: bad sampler state: its generator must be four 32-bit words, not all zero'],
      ['momentum over adam\'s two buffers', (h) => (h.optimizer.config = { kind: 'momentum', lr: 0.1 }), 'unusable: 2 optimizer buffers, momentum keeps 1'],
      ['a fractional optimizer step count', (h) => (h.optimizer.t = 1.5), 'unusable: bad optimizer step count'],
    ];
    for (const [what, edit, reason] of cases) {
      saveCheckpoint(dir, c);
      rewriteHeader(dir, edit);
      expect(() => loadCheckpoint(dir), what).toThrow(new CheckpointError(path, reason));
    }
    // arrays that fit their header but not the model or the data: refused before anything reads them
    const forged: [string, Checkpoint, string][] = [
      ['parameters of other layers', { ...c, params: c.params.subarray(0, 20), optimizer: { ...c.optimizer, state: { ...c.optimizer.state, buffers: c.optimizer.state.buffers.map((b) => b.subarray(0, 20)) } } }, 'unusable: 20 parameters, the layers 3,4,2 have 26'],
      ['a sample id beyond the data set', { ...c, sampler: { ...c.sampler, order: c.sampler.order.map((id, i) => (i === 3 ? 99 : id)) } }, 'unusable: bad sampler state: its order is not a permutation of the 11 sample ids'],
      ['a sample twice', { ...c, sampler: { ...c.sampler, order: c.sampler.order.map((id, i) => (i === 3 ? c.sampler.order[4] : id)) } }, 'unusable: bad sampler state: its order is not a permutation of the 11 sample ids'],
    ];
    for (const [what, checkpoint, reason] of forged) {
      saveCheckpoint(dir, checkpoint);
      expect(() => loadCheckpoint(dir), what).toThrow(new CheckpointError(path, reason));
    }
    // the rewriting alone leaves a usable file, and a cursor at the end of the order is one
    saveCheckpoint(dir, c);
    rewriteHeader(dir, () => {});
    expect(loadCheckpoint(dir).sampler.cursor).toBe(c.sampler.cursor);
    rewriteHeader(dir, (h) => (h.sampler.cursor = c.sampler.order.length));
    expect(loadCheckpoint(dir).sampler.cursor).toBe(c.sampler.order.length);
  });
});
