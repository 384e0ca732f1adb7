/**
 * `shardprop predict` and `shardprop export` as a user runs them: the README's commands and
 * API snippet as written, the exported files checked by onnxruntime-node and an independent
 * safetensors reader, data flags from the run record, and bad input (one line, exit 2).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NODE_FLAGS, runCli, tempDir, type RunResult } from '../helpers/cli.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const README = readFileSync(join(ROOT, 'README.md'), 'utf8');
const SECTION = README.slice(README.indexOf('## Using a trained model'), README.indexOf('\n## ', README.indexOf('## Using a trained model') + 1));
const t = tempDir('shardprop-predict-');
afterAll(() => t.remove());

/** The section's `npx shardprop ...` lines, as argument lists. */
const commands = SECTION.split('\n').filter((l) => l.startsWith('    npx shardprop ')).map((l) => l.trim().split(/\s+/).slice(2));
const snippet = /```ts\n([\s\S]*?)```/.exec(SECTION)![1];

function oneLineError(r: RunResult, pattern: RegExp): void {
  expect(r.code, r.stderr).toBe(2);
  const lines = r.stderr.trim().split('\n');
  expect(lines, r.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(pattern);
  expect(r.stderr).not.toMatch(/\n\s+at /);
}

function csvRows(text: string): string[][] {
  return text.trim().split('\n').map((l) => l.split(','));
}

describe("the README's 'Using a trained model' commands, run as written (in a scratch folder)", () => {
  const results: RunResult[] = [];
  beforeAll(async () => {
    expect(commands.map((c) => c[0])).toEqual(['train', 'predict', 'predict', 'export', 'export']);
    for (const args of commands) results.push(await runCli(args, { cwd: t.dir }));
  }, 120_000);

  it('all exit 0, and predict prints xor classes with their scores', () => {
    for (const r of results) expect(r.code, r.stderr).toBe(0);
    const rows = csvRows(results[1].stdout);
    expect(rows[0]).toEqual(['class', 'score_0']);
    expect(rows.slice(1).map((r) => Number(r[0]))).toEqual([0, 1, 1, 0]);
    for (const r of rows.slice(1)) expect(Number(r[0])).toBe(Number(r[1]) >= 0.5 ? 1 : 0);
    const lines = readFileSync(t.path('runs/xor/predictions.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(lines.map((l) => l.class)).toEqual([0, 1, 1, 0]);
    expect(lines.map((l) => l.scores[0])).toEqual(rows.slice(1).map((r) => Number(r[1])));
  });

  it('--task regression prints the same numbers as plain outputs', async () => {
    const r = await runCli(['predict', '--model', 'runs/xor/model.json', '--data', 'xor', '--task', 'regression'], { cwd: t.dir });
    expect(r.code, r.stderr).toBe(0);
    const rows = csvRows(r.stdout);
    expect(rows[0]).toEqual(['output_0']);
    expect(rows.slice(1).map((row) => row[0])).toEqual(csvRows(results[1].stdout).slice(1).map((row) => row[1]));
  });

  it("the API snippet, run as a program, gives the command's classes and scores", async () => {
    // the snippet imports @shardprop/coordinator: the scratch folder sees the workspace's packages
    mkdirSync(t.path('node_modules'), { recursive: true });
    if (!existsSync(t.path('node_modules/@shardprop'))) symlinkSync(join(ROOT, 'node_modules/@shardprop'), t.path('node_modules/@shardprop'));
    writeFileSync(t.path('snippet.mjs'), snippet);
    // both on the default kernels (the second pass of scripts/run-tests.mjs sets SHARDPROP_KERNEL, which only the command reads)
    const env = { ...process.env, SHARDPROP_KERNEL: '' };
    const r = spawnSync(process.execPath, [...NODE_FLAGS, 'snippet.mjs'], { cwd: t.dir, env, encoding: 'utf8', timeout: 60_000 });
    expect(r.status, r.stderr).toBe(0);
    const numbers = (r.stdout.match(/-?\d+(\.\d+)?(e-?\d+)?/g) ?? []).map(Number);
    expect(numbers.slice(0, 4)).toEqual([0, 1, 1, 0]);
    const command = await runCli(commands[1], { cwd: t.dir, env: { SHARDPROP_KERNEL: '' } });
    // console.log prints the float32 scores as doubles; the command their shortest float32 text
    const scores = csvRows(command.stdout).slice(1).map((row) => Math.fround(Number(row[1])));
    expect(numbers.slice(4)).toEqual(scores);
  });

  it('the ONNX file, run by onnxruntime-node, agrees with predict within 1e-5', async () => {
    const session = await ort.InferenceSession.create(t.path('runs/xor/model.onnx'));
    const x = Float32Array.from([0, 0, 0, 1, 1, 0, 1, 1]);
    const out = (await session.run({ input: new ort.Tensor('float32', x, [4, 2]) })).output.data as Float32Array;
    const scores = csvRows(results[1].stdout).slice(1).map((row) => Number(row[1]));
    for (let i = 0; i < 4; i++) expect(Math.abs(out[i] - scores[i])).toBeLessThan(1e-5);
    await session.release();
  });

  it('the safetensors file holds the model file\'s weights and biases bit for bit', () => {
    const bytes = readFileSync(t.path('runs/xor/model.safetensors'));
    const n = Number(bytes.readBigUInt64LE(0));
    const header = JSON.parse(bytes.subarray(8, 8 + n).toString('utf8'));
    const model = JSON.parse(readFileSync(t.path('runs/xor/model.json'), 'utf8'));
    expect(header.__metadata__).toMatchObject({ layers: '2,4,1', activation: 'sigmoid', loss: 'quadratic', dtype: 'float32' });
    const read = (name: string): number[] => {
      const [begin, end] = header[name].data_offsets as [number, number];
      expect(header[name].dtype).toBe('F32');
      return Array.from({ length: (end - begin) / 4 }, (_, i) => bytes.readFloatLE(8 + n + begin + 4 * i));
    };
    for (let l = 1; l <= 2; l++) {
      expect(header[`layers.${l}.weight`].shape).toEqual([model.layers[l], model.layers[l - 1]]);
      expect(read(`layers.${l}.weight`)).toEqual(model.weights[l - 1].flat().map(Math.fround));
      expect(read(`layers.${l}.bias`)).toEqual(model.biases[l - 1].map(Math.fround));
    }
  });
});

describe('data flags from the run record, and CSV inputs only', () => {
  const data = t.path('flowers.csv');
  const model = t.path('flowers/model.json');
  beforeAll(async () => {
    // two well-separated classes, the label in the middle column
    const lines = ['width,species,height'];
    for (let i = 0; i < 40; i++) lines.push(i % 2 === 0 ? `${0.1 + i / 400},0,${0.2 + i / 500}` : `${0.9 - i / 400},1,${0.8 - i / 500}`);
    writeFileSync(data, lines.join('\n') + '\n');
    const r = await runCli(['train', '--data', data, '--label-column', 'species', '--layers', '2,4,2', '--loss', 'cross-entropy', '--epochs', '200', '--batch', 'full', '--lr', '2', '--workers', '0', '--out', model]);
    expect(r.code, r.stderr).toBe(0);
  }, 120_000);

  it('eval and predict take --label-column from model.run.json when it is not repeated', async () => {
    const given = await runCli(['eval', '--model', model, '--data', data, '--label-column', 'species', '--json']);
    const recalled = await runCli(['eval', '--model', model, '--data', data, '--json']);
    expect(recalled.code, recalled.stderr).toBe(0);
    expect(JSON.parse(recalled.stdout)).toEqual(JSON.parse(given.stdout));
    const p = await runCli(['predict', '--model', model, '--data', data]);
    expect(p.code, p.stderr).toBe(0);
    const rows = csvRows(p.stdout);
    expect(rows[0]).toEqual(['class', 'score_0', 'score_1']);
    expect(rows.slice(1).map((r) => Number(r[0]))).toEqual(Array.from({ length: 40 }, (_, i) => i % 2));
  });

  it('a CSV of the inputs only, without labels, predicts the same', async () => {
    const inputs = readFileSync(data, 'utf8').trim().split('\n').map((l) => { const c = l.split(','); return `${c[0]},${c[2]}`; });
    writeFileSync(t.path('inputs.csv'), inputs.join('\n') + '\n');
    const [a, b] = await Promise.all([
      runCli(['predict', '--model', model, '--data', t.path('inputs.csv'), '--json']),
      runCli(['predict', '--model', model, '--data', data, '--json']),
    ]);
    expect(a.code, a.stderr).toBe(0);
    expect(a.stdout).toBe(b.stdout);
  });

  it('data that does not fit, or a damaged run record, is one line and exit 2', async () => {
    writeFileSync(t.path('wide.csv'), 'a,b,c,d\n1,2,3,4\n');
    oneLineError(await runCli(['predict', '--model', model, '--data', t.path('wide.csv')]), /no label column named "species".*with --label-column species from .*model\.run\.json/);
    // the same model without its record reads the CSV with the defaults (the last column a target)
    mkdirSync(t.path('bare'), { recursive: true });
    writeFileSync(t.path('bare/model.json'), readFileSync(model));
    oneLineError(await runCli(['predict', '--model', t.path('bare/model.json'), '--data', t.path('wide.csv')]), /do not fit .*wide\.csv: it has 3 inputs and 1 outputs.*--label-column/);
    mkdirSync(t.path('broken'), { recursive: true });
    writeFileSync(t.path('broken/model.json'), readFileSync(model));
    writeFileSync(t.path('broken/model.run.json'), '{"format": "shardprop.run/v1", "config": {"labelColumn": true}}');
    oneLineError(await runCli(['eval', '--model', t.path('broken/model.json'), '--data', data]), /model\.run\.json: config\.labelColumn is true; .*--label-column/);
  });
});

describe('bad input to predict and export: one line, exit 2', () => {
  it.each([
    ['a missing model', ['predict', '--model', 'nowhere.json', '--data', 'xor'], /nowhere\.json: no such file/],
    ['a model that is not JSON', ['export', '--model', 'garbled.json', '--format', 'onnx', '-o', 'x.onnx'], /garbled\.json: is not valid JSON/],
    ['an unknown export format', ['export', '--model', 'garbled.json', '--format', 'tflite', '-o', 'x.tflite'], /format.*tflite.*onnx.*safetensors/],
    ['an output that is a folder (checked before the model is read)', ['export', '--model', 'nowhere.json', '--format', 'onnx', '-o', '.'], /--out \.: is a directory/],
    ['a predictions file that cannot be written (checked before the work)', ['predict', '--model', 'nowhere.json', '--data', 'xor', '-o', '/proc/none/p.csv'], /--out \/proc\/none\/p\.csv: cannot/],
    ['an unknown task', ['predict', '--model', 'nowhere.json', '--data', 'xor', '--task', 'ranking'], /task.*ranking/],
  ])('%s', async (_name, args, pattern) => {
    writeFileSync(t.path('garbled.json'), '{"format": "shardprop.model/v1", ');
    oneLineError(await runCli(args, { cwd: t.dir }), pattern);
  });
});
