import { execFileSync } from 'node:child_process';
import { readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { Backprop, Model, loadModel, loadSource, saveModel } from '@shardprop/core';
import { killAll, runCli, summaryOf, tempDir } from '../helpers/cli.js';

const tmp = tempDir();
afterAll(() => {
  killAll();
  tmp.remove();
});

describe('shardprop train, as a user runs it', () => {
  it('a short run on xor reaches a low risk and saves a model that eval agrees with', async () => {
    const out = tmp.path('xor.json');
    const r = await runCli(['train', '--data', 'xor', '--layers', '2,4,1', '--epochs', '3000', '--batch', 'full', '--lr', '2', '--workers', '0', '--out', out, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const s = summaryOf(r);
    expect(s.trainRisk as number).toBeLessThan(0.01);
    expect(s.trainAccuracy).toBe(1);
    for (const key of ['steps', 'epochs', 'samplesPerSecond', 'seconds']) expect(typeof s[key]).toBe('number');
    expect(s.model).toBe(out);
    const e = await runCli(['eval', '--model', out, '--data', 'xor', '--json']);
    expect(e.code, e.stderr).toBe(0);
    const ev = summaryOf(e);
    expect(ev.risk).toBeCloseTo(s.trainRisk as number, 12);
    expect(ev.accuracy).toBe(1);
  });

  it('--init + --batch full + --steps 1 + --lr 1 moves the parameters by exactly the negative gradient (float64)', async () => {
    const init = tmp.path('init-spirals.json');
    const spec = { layers: [2, 6, 2], activation: 'tanh' as const, loss: 'cross-entropy' as const, dtype: 'float64' as const };
    const start = Model.init(spec, 11);
    saveModel(start, init);
    const out = tmp.path('one-step.json');
    const r = await runCli(['train', '--data', 'spirals', '--init', init, '--dtype', 'float64', '--batch', 'full', '--steps', '1', '--lr', '1', '--workers', '0', '--out', out, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const after = loadModel(out, 'float64');
    // the gradient of the risk over the whole set, computed independently here
    const { train } = loadSource('spirals', { seed: 0 });
    const grad = new Float64Array(start.params.length);
    const all = Uint32Array.from({ length: train.count }, (_, i) => i);
    const res = new Backprop(spec, 64).gradient(start, train, all, 0, all.length, grad);
    let moved = 0;
    for (let i = 0; i < grad.length; i++) {
      expect(Math.abs(after.params[i] - (start.params[i] - grad[i] / res.count))).toBeLessThan(1e-14);
      moved = Math.max(moved, Math.abs(after.params[i] - start.params[i]));
    }
    expect(moved).toBeGreaterThan(1e-4);
  });
});

describe('logs', () => {
  it('are JSON lines on a pipe, and readable lines (pino-pretty) when asked for or on a terminal', async () => {
    const args = ['train', '--data', 'xor', '--workers', '0', '--steps', '3', '--out', tmp.path('log.json')];
    const json = await runCli(args, { env: { SHARDPROP_LOG_LEVEL: 'info' } });
    expect(json.code, json.stderr).toBe(0);
    const line = json.stderr.split('\n').find((l) => l.includes('"msg":"training"'))!;
    expect(JSON.parse(line)).toMatchObject({ level: 30, msg: 'training', data: 'xor' });
    const pretty = await runCli(args, { env: { SHARDPROP_LOG_LEVEL: 'info', SHARDPROP_LOG_FORMAT: 'pretty' } });
    expect(pretty.code, pretty.stderr).toBe(0);
    expect(pretty.stderr).toMatch(/^\[\d\d:\d\d:\d\d\] INFO: training \{"data":"xor"/m);
  });
});

describe('SHARDPROP_KERNEL, the default of --kernel', () => {
  const run = (env: Record<string, string>, extra: string[] = []) =>
    runCli(['train', '--data', 'xor', '--layers', '2,3,1', '--steps', '3', '--workers', '1', '--out', tmp.path(`k-${env.SHARDPROP_KERNEL}-${extra.join('')}.json`), '--json', '--no-dashboard', ...extra], { env });

  it('chooses the kernels of the coordinator and its workers; --kernel wins over it', async () => {
    const js = await run({ SHARDPROP_KERNEL: 'js' });
    expect(js.code, js.stderr).toBe(0);
    expect(summaryOf(js).kernel).toBe('js');
    const wasm = await run({ SHARDPROP_KERNEL: 'wasm' });
    expect(wasm.code, wasm.stderr).toBe(0);
    expect(summaryOf(wasm).kernel).toBe('wasm');
    const flag = await run({ SHARDPROP_KERNEL: 'js' }, ['--kernel', 'wasm']);
    expect(flag.code, flag.stderr).toBe(0);
    expect(summaryOf(flag).kernel).toBe('wasm');
  });

  it('an unknown value is refused in one line, exit code 2', async () => {
    const r = await run({ SHARDPROP_KERNEL: 'gpu' });
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toEqual([expect.stringMatching(/SHARDPROP_KERNEL must be auto, js, wasm; got "gpu"/)]);
  });
});

describe('bad input: one line, exit code 2', () => {
  // files that are not regular files: a FIFO with no writer (reading it would block for ever, signals and all), /dev/zero
  const fifo = tmp.path('no-writer.csv');
  execFileSync('mkfifo', [fifo]);
  const zero = tmp.path('zero-model.json');
  symlinkSync('/dev/zero', zero);
  const cases: [string, string[], RegExp][] = [
    ['a data file that is a FIFO', ['train', '--data', fifo, '--workers', '0'], /no-writer\.csv: is a named pipe \(FIFO\), not a regular file/],
    ['an --init model that is /dev/zero', ['train', '--data', 'xor', '--init', zero, '--workers', '0'], /zero-model\.json: is a device, not a regular file/],
    ['a --config file that is a FIFO', ['train', '--config', fifo], /--config .*no-writer\.csv: is a named pipe \(FIFO\), not a regular file/],
    ['a --token-file that is a FIFO', ['coordinator', '--port', '0', '--expect', '1', '--data', 'xor', '--token-file', fifo], /--token-file .*no-writer\.csv: is a named pipe \(FIFO\)/],
    ['an eval data file that is /dev/zero', ['eval', '--model', zero, '--data', 'xor'], /zero-model\.json: is a device/],
    ['an unknown flag', ['train', '--data', 'xor', '--bogus', '1'], /bogus/i],
    ['no --data', ['train'], /data/],
    ['a bad number', ['train', '--data', 'xor', '--epochs', 'abc'], /--epochs/],
    ['a negative batch', ['train', '--data', 'xor', '--batch', '-3'], /--batch/],
    ['both --epochs and --steps', ['train', '--data', 'xor', '--epochs', '2', '--steps', '3'], /either --epochs or --steps/],
    ['layers that do not fit the data', ['train', '--data', 'xor', '--layers', '3,4,1', '--workers', '0'], /do not fit/],
    ['malformed layers', ['train', '--data', 'xor', '--layers', '2,x,1'], /--layers/],
    ['an unknown optimizer', ['train', '--data', 'xor', '--optimizer', 'rmsprop'], /optimizer/],
    ['a zero learning rate', ['train', '--data', 'xor', '--lr', '0'], /--lr/],
    ['an unknown data source', ['train', '--data', 'nonsense', '--workers', '0'], /unknown data source/],
    ['a missing data file', ['train', '--data', '/nonexistent/data.csv', '--workers', '0'], /data\.csv/],
    ['a missing model file', ['eval', '--model', '/nonexistent/model.json', '--data', 'xor'], /model\.json/],
    ['an unknown kernel', ['train', '--data', 'xor', '--kernel', 'gpu'], /kernel/],
    // 2.25M float64 parameters, and a batch of 1,000 blocks of 1 dealt to 256 workers: the coordinator may hold a piece per block
    ['--kernel wasm for a model whose arrays outgrow its 4 GiB (2.25M float64 parameters, 1,000 blocks over 256 workers)',
      ['train', '--data', 'spirals', '--layers', '2,1500,1500,2', '--dtype', 'float64', '--batch', '1000', '--block', '1', '--workers', '256', '--kernel', 'wasm'], /does not fit the wasm kernels' memory.*--kernel js/],
    ['a metrics file that cannot be written (refused before training)', ['train', '--data', 'xor', '--workers', '0', '--metrics', `${process.execPath}/m.jsonl`], /--metrics .*m\.jsonl: cannot write there \(ENOTDIR\)/],
    ['no command', [], /command/],
  ];
  it.each(cases)('%s', async (_name, args, message) => {
    const r = await runCli(args, { timeoutMs: 30_000 });
    expect(r.code).toBe(2);
    const lines = r.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(message);
    expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
  });

  it('--metrics and --trace in folders that do not exist yet: the folders are made', async () => {
    const metrics = tmp.path('new/a/metrics.jsonl');
    const trace = tmp.path('new/b/trace.jsonl');
    const r = await runCli(['train', '--data', 'xor', '--workers', '0', '--steps', '5', '--metrics', metrics, '--trace', trace, '--out', tmp.path('new/model.json')]);
    expect(r.code, r.stderr).toBe(0);
    expect(readFileSync(metrics, 'utf8').trim().split('\n')).toHaveLength(5); // xor: 4 samples, one step per epoch
    expect(readFileSync(trace, 'utf8').trim().split('\n')).toHaveLength(5);
  });

  it('a data set wider than a layer may be, or a model of a million layers: one short line naming the file, exit 2', async () => {
    const wide = tmp.path('wide.csv');
    const row = `${'0,'.repeat(1_000_001)}1\n`; // 1,000,001 inputs and a target
    writeFileSync(wide, row + row);
    const r = await runCli(['train', '--data', wide, '--workers', '0']);
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toBe(`shardprop: ${wide} (1000001 inputs, 1 outputs): layer sizes must be integers from 1 to 1000000, got 1000001`);
    const deep = tmp.path('deep-model.json');
    writeFileSync(deep, JSON.stringify({ format: 'shardprop.model/v1', layers: new Array(1_000_000).fill(1), activation: 'sigmoid', loss: 'quadratic', weights: [], biases: [] }));
    const e = await runCli(['eval', '--model', deep, '--data', 'xor']);
    expect(e.code).toBe(2);
    expect(e.stderr.trim().split('\n')).toHaveLength(1);
    expect(e.stderr).toContain(`${deep}: at most 1000 layers after the inputs, got 999999`);
    expect(e.stderr.length).toBeLessThan(400);
  });

  it('a ragged JSON data file names the file and the row', async () => {
    const file = tmp.path('ragged.json');
    writeFileSync(file, JSON.stringify({ x: [[1, 2], [3]], y: [[1], [0]] }));
    const r = await runCli(['train', '--data', file, '--workers', '0']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/ragged\.json/);
    expect(r.stderr).toMatch(/row 2/);
  });
});
