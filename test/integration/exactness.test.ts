import { readFileSync, writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Model, Rng, loadModel, saveModel } from '@shardprop/core';
import { maxAbsDiff } from '../helpers/arrays.js';
import { killAll, runCli, summaryOf, tempDir } from '../helpers/cli.js';

/**
 * The promise of the distributed trainer: from the same --init model, N local
 * worker processes over real sockets train the same model as --workers 0, in
 * float64 within 1e-9, for full-batch and mini-batch runs, with shards of
 * unequal size (50 samples over 3 and 4 workers).
 */
const tmp = tempDir();
const N_SAMPLES = 50;

beforeAll(() => {
  const rng = new Rng(42);
  const x: number[][] = [];
  const y: number[][] = [];
  for (let i = 0; i < N_SAMPLES; i++) {
    const row = [rng.uniform() * 2 - 1, rng.uniform() * 2 - 1, rng.uniform() * 2 - 1];
    x.push(row);
    y.push([row[0] * row[1] > 0 ? 1 : 0, row[2] > 0 ? 1 : 0]);
  }
  writeFileSync(tmp.path('data.json'), JSON.stringify({ x, y }));
  saveModel(Model.init({ layers: [3, 5, 4, 2], activation: 'sigmoid', loss: 'quadratic', dtype: 'float64' }, 7), tmp.path('init.json'));
});

afterAll(() => {
  killAll();
  tmp.remove();
});

interface Run {
  params: Float64Array;
  summary: Record<string, unknown>;
  trace: { step: number; batch: number[]; count: number; workers?: { workerId: number; count: number }[] }[];
  stderr: string;
}

async function trainWith(workers: number, batch: string, tag: string, kernel: string, form = 'auto'): Promise<Run> {
  const out = tmp.path(`${tag}-${kernel}-w${workers}.json`);
  const trace = tmp.path(`${tag}-${kernel}-w${workers}.trace.jsonl`);
  const result = await runCli(
    ['train', '--data', tmp.path('data.json'), '--init', tmp.path('init.json'), '--dtype', 'float64', '--steps', '20',
      '--batch', batch, '--lr', '0.7', '--workers', String(workers), '--out', out, '--trace', trace, '--json', '--seed', '3', '--gradient-form', form, '--kernel', kernel],
    { timeoutMs: 60_000, env: { SHARDPROP_WORKER_LOG_LEVEL: 'info' } },
  );
  expect(result.code, result.stderr).toBe(0);
  return {
    params: loadModel(out, 'float64').params as Float64Array,
    summary: summaryOf(result),
    trace: readFileSync(trace, 'utf8').trim().split('\n').map((l) => JSON.parse(l)),
    stderr: result.stderr,
  };
}

// auto picks dense sums for this tiny model; factors are forced, and rebuild the very sums in-process backprop adds.
// Both kernel implementations; the workers compute with the coordinator's.
const CASES = [['minibatch', '7', 'auto'], ['fullbatch', 'full', 'auto'], ['minibatch-factors', '7', 'factors'], ['fullbatch-factors', 'full', 'factors']] as const;
for (const kernel of ['wasm', 'js'] as const) for (const [tag, batch, form] of CASES) {
  describe(`${tag}, ${kernel} kernels: N workers match the in-process reference`, () => {
    let reference: Run;
    const init = (): Float64Array => loadModel(tmp.path('init.json'), 'float64').params as Float64Array;

    beforeAll(async () => {
      reference = await trainWith(0, batch, tag, kernel);
    });

    it('the reference moved away from the initial model', () => {
      expect(maxAbsDiff(reference.params, init())).toBeGreaterThan(1e-3);
      expect(reference.summary.steps).toBe(20);
      expect(reference.summary.workers).toBe(0);
      expect(reference.summary.kernel).toBe(kernel);
    });

    for (const n of [1, 2, 3, 4]) {
      it(`${n} worker process(es): same parameters within 1e-9, same global batches`, async () => {
        const run = await trainWith(n, batch, tag, kernel, form);
        expect(run.summary.workers).toBe(n);
        expect(run.summary.kernel).toBe(kernel);
        expect(run.stderr).toContain(`"gradientForm":"${form === 'factors' ? 'factors' : 'dense'}","msg":"workers send gradients"`);
        expect(maxAbsDiff(run.params, reference.params)).toBeLessThan(1e-9);
        if (form === 'factors') expect(maxAbsDiff(run.params, reference.params)).toBe(0);
        // the same seed gives the same global mini-batch sequence whatever N is
        expect(run.trace.map((r) => r.batch)).toEqual(reference.trace.map((r) => r.batch));
        for (const record of run.trace) {
          expect(record.workers).toHaveLength(n);
          expect(record.workers!.reduce((s, w) => s + w.count, 0)).toBe(record.batch.length);
          expect(record.count).toBe(record.batch.length);
        }
        // each worker reported its shard; together they cover every sample exactly once
        const shards = run.stderr
          .split('\n')
          .filter((l) => l.includes('joined as worker'))
          .map((l) => JSON.parse(l))
          .map((line) => {
            expect(line.kernel).toBe(kernel);
            return line.shard as [number, number][];
          });
        expect(shards).toHaveLength(n);
        const seen = new Array(N_SAMPLES).fill(0);
        for (const ranges of shards) for (const [a, b] of ranges) for (let i = a; i < b; i++) seen[i]++;
        expect(seen).toEqual(new Array(N_SAMPLES).fill(1));
        if (n === 3) {
          const sizes = shards.map((r) => r.reduce((s, [a, b]) => s + b - a, 0)).sort();
          expect(new Set(sizes).size).toBeGreaterThan(1); // 50 over 3: unequal shards
        }
      });
    }
  });
}
