/**
 * `--config FILE` for train and coordinator, through real CLI processes: the file's
 * flags are used, the command line wins (also over a flag with a default), unknown
 * keys and wrong types are refused by name, and relative paths are relative to the
 * file's directory.
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadModel } from '@shardprop/core';
import { collect, killAll, runCli, startCli, summaryOf, tempDir } from '../helpers/cli.js';

const tmp = tempDir('shardprop-config-');
afterAll(() => {
  killAll();
  tmp.remove();
});

/** Writes `object` as JSON (a string as it is) to `name` under the temporary directory and returns its path. */
const writeConfig = (name: string, object: unknown): string => tmp.write(name, typeof object === 'string' ? object : JSON.stringify(object));

const SMALL = { data: 'spirals', steps: 20, batch: 'full', workers: 0 };

describe('train --config', () => {
  it('uses the file\'s flags, kebab-case and camelCase keys, lists as comma lists', async () => {
    const config = writeConfig('used/exp.json', { ...SMALL, layers: [2, 5, 2], dtype: 'float64', seed: 3, json: true, out: 'model.json', checkpointDir: 'ckpt', 'checkpoint-every': 10 });
    const r = await runCli(['train', '--config', config]);
    expect(r.code, r.stderr).toBe(0);
    const s = summaryOf(r); // "json": true in the file: the summary on stdout
    expect(s).toMatchObject({ steps: 20, layers: [2, 5, 2], dtype: 'float64', seed: 3, workers: 0 });
    expect(loadModel(tmp.path('used/model.json')).spec.layers).toEqual([2, 5, 2]);
    expect(existsSync(tmp.path('used/ckpt/checkpoint.bin'))).toBe(true);
  });

  it('flags on the command line win over the file, also those with a default (--json)', async () => {
    const config = writeConfig('wins/exp.json', { ...SMALL, layers: '2,5,2', json: true, out: 'model.json' });
    const text = await runCli(['train', '--config', config, '--layers', '2,7,2', '--no-json']);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toMatch(/^trained 20 steps/);
    expect(loadModel(tmp.path('wins/model.json')).spec.layers).toEqual([2, 7, 2]);

    // the other way round: the file says no JSON, the command line says --json
    const quiet = writeConfig('wins/quiet.json', { ...SMALL, json: false, out: 'quiet.json' });
    const json = await runCli(['train', '--config', quiet, '--json', '--steps', '3']);
    expect(json.code, json.stderr).toBe(0);
    expect(summaryOf(json).steps).toBe(3);
  });

  it('relative paths are relative to the config file\'s directory; on the command line to the current one', async () => {
    const dir = tmp.path('paths/conf');
    const rows = Array.from({ length: 12 }, (_, i) => `${i % 2},${(i >> 1) % 2},${(i % 2) ^ ((i >> 1) % 2)}`);
    tmp.write('paths/conf/xor.csv', rows.join('\n') + '\n');
    const config = writeConfig('paths/conf/exp.json', { data: 'xor.csv', 'test-data': './xor.csv', layers: '2,3,1', steps: 5, workers: 0, out: 'out/model.json', metrics: 'metrics.jsonl', json: true });
    const cwd = tmp.path('paths/elsewhere');
    mkdirSync(cwd, { recursive: true });
    const r = await runCli(['train', '--config', config], { cwd });
    expect(r.code, r.stderr).toBe(0);
    expect(summaryOf(r).model).toBe(join(dir, 'out/model.json'));
    expect(existsSync(join(dir, 'out/model.json'))).toBe(true);
    expect(readFileSync(join(dir, 'metrics.jsonl'), 'utf8')).toMatch(/"step":5/);

    const here = await runCli(['train', '--config', config, '--out', 'mine.json'], { cwd });
    expect(here.code, here.stderr).toBe(0);
    expect(existsSync(join(cwd, 'mine.json'))).toBe(true);
  });

  it('a built-in data set name is the built-in even beside a file or folder of that name, as on the command line', async () => {
    const dir = tmp.path('builtin');
    mkdirSync(join(dir, 'xor'), { recursive: true }); // a folder named like the built-in
    tmp.write('builtin/spirals', 'not a data file\n'); // and a file
    const config = writeConfig('builtin/exp.json', { data: 'xor', 'test-data': 'spirals', layers: '2,3,1', steps: 5, workers: 0, json: true, out: 'model.json' });
    const r = await runCli(['train', '--config', config, '--data', 'spirals', '--layers', '2,3,2']);
    expect(r.code, r.stderr).toBe(0);
    expect(summaryOf(r)).toMatchObject({ steps: 5, layers: [2, 3, 2], testAccuracy: expect.any(Number) });
    const xor = await runCli(['train', '--config', config, '--test-data', 'xor']);
    expect(xor.code, xor.stderr).toBe(0);
    expect(summaryOf(xor)).toMatchObject({ steps: 5, layers: [2, 3, 1], testAccuracy: expect.any(Number) });
    // "./xor" still names the folder
    const path = writeConfig('builtin/path.json', { data: './xor', steps: 5, workers: 0 });
    const p = await runCli(['train', '--config', path]);
    expect(p.code).toBe(2);
    expect(p.stderr).toContain(join(dir, 'xor'));
  });

  const refused: [string, unknown, RegExp][] = [
    ['an unknown key, by name', { ...SMALL, 'learning-rate': 3 }, /unknown key "learning-rate"/],
    ['a string where a number goes', { ...SMALL, lr: 'fast' }, /"lr" must be a number, got "fast"/],
    ['a value outside the choices', { ...SMALL, activation: 'softplus' }, /"activation" must be one of sigmoid, tanh, relu, got "softplus"/],
    ['a string for a boolean', { ...SMALL, json: 'yes' }, /"json" must be true or false, got "yes"/],
    ['an object for a string flag', { ...SMALL, layers: { n: 3 } }, /"layers" must be a string, a number or a list of them/],
    ['a flag given in both spellings', { ...SMALL, 'weight-decay': 0.1, weightDecay: 0.2 }, /"weight-decay" is given twice/],
    ['a JSON array', [1, 2], /expected a JSON object of flags.*got an array/],
    ['text that is not JSON', '{ "data": ', /not valid JSON/],
  ];
  for (const [what, content, message] of refused) {
    it(`refuses ${what}: one line naming the file, exit code 2`, async () => {
      const config = writeConfig(`bad/${what.replace(/\W+/g, '-')}.json`, content);
      const r = await runCli(['train', '--config', config]);
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(message);
      expect(r.stderr).toContain(`--config ${config}: `);
    });
  }

  it('a value from the file is checked like the flag\'s', async () => {
    const config = writeConfig('bad/epochs.json', { data: 'xor', epochs: -1 });
    const r = await runCli(['train', '--config', config]);
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toBe('shardprop: --epochs must be a positive integer, got -1');
  });

  it('refuses a missing file, naming it', async () => {
    const r = await runCli(['train', '--config', tmp.path('nope.json')]);
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toBe(`shardprop: --config ${tmp.path('nope.json')}: file not found`);
  });
});

describe('coordinator --config', () => {
  it('takes --port, --expect and the training flags from the file; workers join and training finishes', async () => {
    const config = writeConfig('coord/c.json', { data: 'xor', layers: '2,3,1', steps: 5, port: 0, expect: 1, json: true, out: 'model.json' });
    const coordinator = collect(startCli(['coordinator', '--config', config], { SHARDPROP_LOG_LEVEL: 'info' }));
    const line = await coordinator.stderrLines((l) => l.includes('workers join with'));
    const url = /ws:\/\/[\d.]+:\d+/.exec(line)![0];
    const w = await collect(startCli(['worker', '--connect', url])).exited;
    expect(w.code, w.stderr).toBe(0);
    const done = await coordinator.exited;
    expect(done.code, done.stderr).toBe(0);
    expect(JSON.parse(done.stdout.trim())).toMatchObject({ steps: 5, workers: 1, layers: [2, 3, 1], model: tmp.path('coord/model.json') });
  });

  it('resolves a relative --token-file against the file\'s directory, and checks types', async () => {
    const config = writeConfig('coord/token.json', { data: 'xor', port: 0, expect: 1, host: '0.0.0.0', 'token-file': 'secret.txt' });
    const r = await runCli(['coordinator', '--config', config]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`--token-file ${tmp.path('coord/secret.txt')}: file not found`);

    const bad = writeConfig('coord/bad.json', { data: 'xor', port: '7070', expect: 1 });
    const b = await runCli(['coordinator', '--config', bad]);
    expect(b.code).toBe(2);
    expect(b.stderr.trim()).toBe(`shardprop: --config ${bad}: "port" must be a number, got "7070"`);
  });
});
