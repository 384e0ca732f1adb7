import { readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Rng, loadModel } from '@shardprop/core';
import { collect, killAll, runCli, startCli, summaryOf, tempDir } from '../helpers/cli.js';

/**
 * --threads (issue 17): whole training runs on several threads per process give
 * the model of --threads 1 byte for byte, in process and distributed (the
 * workers' products and the coordinator's sums, rebuilds and updates split
 * across threads), and each process's thread count is on record. The layers
 * and the batch are large enough that the default limits split every product
 * (blocks of 64 rows of 120 inputs against 300 units), and the batch of 140 rows
 * is 3 blocks, the last of 12, so the cuts of rows fall unevenly.
 */
const tmp = tempDir();
const ROWS = 400;
const LAYERS = [120, 300, 40, 3];

beforeAll(() => {
  const rng = new Rng(5);
  const x: number[][] = [];
  const y: number[][] = [];
  for (let i = 0; i < ROWS; i++) {
    const row = Array.from({ length: LAYERS[0] }, () => rng.uniform());
    const c = row[0] + row[1] > 1 ? 0 : row[2] > 0.5 ? 1 : 2;
    x.push(row);
    y.push([0, 1, 2].map((k) => (k === c ? 1 : 0)));
  }
  writeFileSync(tmp.path('data.json'), JSON.stringify({ x, y }));
});

afterAll(() => {
  killAll();
  tmp.remove();
});

const flags = (dtype: 'float32' | 'float64'): string[] => [
  '--data', tmp.path('data.json'), '--layers', LAYERS.join(','), '--batch', '140', '--steps', '12', '--lr', '0.5', '--optimizer', 'momentum',
  '--seed', '7', '--dtype', dtype, '--kernel', 'wasm', '--json',
];

/** Trains with `extra` flags into out; the run must succeed. */
async function trained(name: string, dtype: 'float32' | 'float64', extra: string[]): Promise<{ out: string; summary: Record<string, unknown>; stderr: string }> {
  const out = tmp.path(`${name}.json`);
  const run = await runCli(['train', ...flags(dtype), '--out', out, ...extra]);
  expect(run.code, run.stderr.slice(-2000)).toBe(0);
  return { out, summary: summaryOf(run), stderr: run.stderr };
}

function expectSameFile(got: string, want: string, dtype: 'float32' | 'float64'): void {
  if (readFileSync(got).equals(readFileSync(want))) return;
  const [a, b] = [loadModel(got, dtype).params, loadModel(want, dtype).params];
  let differ = 0;
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) differ++;
  expect.fail(`${got} is not ${want}: ${differ} of ${a.length} parameters differ`);
}

const record = (model: string) => JSON.parse(readFileSync(model.replace(/\.json$/, '.run.json'), 'utf8'));

describe('--threads', () => {
  for (const dtype of ['float32', 'float64'] as const) {
    it(`in process, ${dtype}: 2 and 3 threads give the model of 1 thread, byte for byte, and the record says how many`, async () => {
      const one = await trained(`in-1-${dtype}`, dtype, ['--threads', '1']);
      for (const t of [2, 3]) {
        const many = await trained(`in-${t}-${dtype}`, dtype, ['--threads', String(t)]);
        expectSameFile(many.out, one.out, dtype);
        expect(many.summary.paramsHash).toBe(one.summary.paramsHash);
        expect(record(many.out)).toMatchObject({ process: { threads: t }, config: { threads: t } });
        // more threads than cores is allowed, and said to be slower
        expect(many.stderr.includes('more threads than cores'), many.stderr.slice(-1000)).toBe(t > availableParallelism());
      }
    });
  }

  it('2 local workers on 2 threads each, dense sums and factors: the in-process model of 1 thread, byte for byte', async () => {
    const want = await trained('ref-float32', 'float32', ['--threads', '1']);
    for (const form of ['dense', 'factors']) {
      const run = await trained(`w2-${form}`, 'float32', ['--workers', '2', '--threads', '2', '--gradient-form', form]);
      expectSameFile(run.out, want.out, 'float32');
      const r = record(run.out);
      expect(r).toMatchObject({ process: { threads: 2 }, config: { threads: 2, workerThreads: 2, gradientForm: form } });
      expect(r.workerProcesses.map((w: { threads: number }) => w.threads)).toEqual([2, 2]);
    }
  });

  it('a worker started by hand says its threads, and the coordinator records them', async () => {
    const out = tmp.path('expect.json');
    const c = collect(startCli(['coordinator', '--port', '0', '--expect', '1', ...flags('float32'), '--threads', '1', '--out', out], { SHARDPROP_LOG_LEVEL: 'info' }));
    const url = JSON.parse(await c.stderrLines((l) => l.includes('coordinator listening'))).url as string;
    const w = collect(startCli(['worker', '--connect', url, '--reconnect-for', '0', '--threads', '3'], { SHARDPROP_LOG_LEVEL: 'info' }));
    const joined = JSON.parse(await w.stderrLines((l) => l.includes('joined as worker')));
    expect(joined.threads).toBe(3);
    expect((await c.exited).code).toBe(0);
    expect((await w.exited).code).toBe(0);
    const r = record(out);
    expect(r.process.threads).toBe(1);
    expect(r.config.workerThreads).toBeUndefined();
    expect(r.workerProcesses).toEqual([{ id: 1, name: expect.any(String), threads: 3 }]);
    expectSameFile(out, (await trained('ref-expect', 'float32', ['--threads', '1'])).out, 'float32');
  });

  it('refuses a thread count that is not an integer from 1 to 64, in one line, with exit 2', async () => {
    for (const [command, value] of [['train', '0'], ['train', '2.5'], ['train', '65'], ['worker', '0'], ['worker', 'many']] as const) {
      const args = command === 'train' ? ['train', '--data', 'xor', '--threads', value] : ['worker', '--connect', 'ws://127.0.0.1:9', '--threads', value];
      const run = await runCli(args);
      expect(run.code, `${command} --threads ${value}: ${run.stderr}`).toBe(2);
      const lines = run.stderr.trim().split('\n');
      expect(lines, run.stderr).toHaveLength(1);
      expect(lines[0]).toMatch(/--threads must be/);
    }
  });
});
