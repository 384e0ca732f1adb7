/**
 * Reading run folders for the board (board/runs.ts, board/metrics-file.ts) from
 * files written here by hand: good records, damaged, half-written and missing
 * ones, metrics lines cut short, redone by a resume or not metrics at all. None
 * makes the listing throw; each is listed with what is wrong.
 */
import { chmodSync, mkdirSync } from 'node:fs';
import { hostname } from 'node:os';
import { afterAll, describe, expect, it } from 'vitest';
import { RunFolders } from '../../packages/coordinator/src/board/runs.js';
import { parseMetrics } from '../../packages/coordinator/src/board/metrics-file.js';
import { tempDir } from '../helpers/cli.js';

const tmp = tempDir();
afterAll(() => tmp.remove());

const record = (fields: Record<string, unknown> = {}) =>
  JSON.stringify({ format: 'shardprop.run/v1', status: 'finished', startedAt: '2026-01-01T00:00:00.000Z', endedAt: '2026-01-01T00:00:01.000Z', process: { pid: 1, host: hostname() }, config: { data: 'xor' }, ...fields });
const step = (s: number, risk: number | null) => JSON.stringify({ kind: 'step', step: s, epoch: s / 2, samples: 4 * s, seconds: s / 100, risk, steps: 1 });

describe('parseMetrics', () => {
  it('splits step and epoch lines into columns; lines without a kind are epoch lines (older --metrics files)', () => {
    const text = [step(1, 0.5), '{"step":2,"epoch":1,"risk":0.4,"testAccuracy":0.75,"seconds":0.2}', step(2, 0.3)].join('\n') + '\n';
    expect(parseMetrics(text)).toEqual({
      steps: [[1, 2], [0.5, 1], [4, 8], [0.01, 0.02], [0.5, 0.3]],
      epochs: [[2], [1], [null], [0.2], [0.4], [null], [0.75]],
      skipped: 0,
    });
  });

  it('leaves out a last line still being written, and counts lines that are not metrics lines', () => {
    const text = ['not json', '[1,2]', '{"kind":"step","step":0}', '{"kind":"other","step":3}', step(4, 0.2), '{"kind":"step","st'].join('\n');
    const m = parseMetrics(text);
    expect(m.steps[0]).toEqual([4]);
    expect(m.skipped).toBe(4);
  });

  it('a resumed run\'s lines replace those of the first try from the step it resumed at', () => {
    const text = [1, 2, 3, 4, 5].map((s) => step(s, 1)).concat([3, 4].map((s) => step(s, 2))).join('\n') + '\n';
    const m = parseMetrics(text);
    expect(m.steps[0]).toEqual([1, 2, 3, 4]);
    expect(m.steps[4]).toEqual([1, 1, 2, 2]);
  });

  it('thins a long run evenly to the most points asked for, keeping the first and the last', () => {
    const text = Array.from({ length: 1001 }, (_, i) => step(i + 1, 1)).join('\n') + '\n';
    const xs = parseMetrics(text, 11).steps[0];
    expect(xs).toEqual([1, 101, 201, 301, 401, 501, 601, 701, 801, 901, 1001]);
  });
});

describe('RunFolders', () => {
  const dir = tmp.path('runs');
  tmp.write('runs/2026-01-01/model.run.json', record());
  tmp.write('runs/2026-01-01/model.metrics.jsonl', `${step(1, 0.5)}\n`);
  tmp.write('runs/old/lr-3.run.json', record({ status: undefined })); // from before the status field
  tmp.write('runs/cut/model.run.json', '{"format":"shardprop.run/v1","sta');
  tmp.write('runs/other/model.run.json', JSON.stringify({ format: 'someone.else/v9' }));
  tmp.write('runs/array/model.run.json', '[1,2,3]');
  tmp.write('runs/odd/model.run.json', record({ status: 'paused' }));
  tmp.write('runs/nameless/model.run.json', record({ status: 'running', process: undefined }));
  tmp.write('runs/orphan/model.metrics.jsonl', 'garbage\n');
  tmp.write('runs/mine/model.run.json', record({ status: 'running', process: { pid: process.pid, host: hostname() }, dashboard: 'http://127.0.0.1:9/' }));
  tmp.write('runs/gone/model.run.json', record({ status: 'running', process: { pid: 2_000_000_000, host: hostname() }, dashboard: 'http://127.0.0.1:9/' }));
  tmp.write('runs/away/model.run.json', record({ status: 'running', process: { pid: process.pid, host: `not-${hostname()}` } }));
  tmp.write('runs/evil/model.run.json', record({ status: 'running', dashboard: 'javascript:alert(1)' }));
  tmp.write('runs/failed/model.run.json', record({ status: 'failed', reason: 'training diverged at step 3' }));
  tmp.write('runs/sweep/lr-1/model.run.json', record());
  tmp.write('runs/a/b/c/d/e/model.run.json', record()); // deeper than the board looks
  tmp.write('runs/.hidden/model.run.json', record());
  mkdirSync(tmp.path('runs/locked/inner'), { recursive: true });
  tmp.write('runs/locked/inner/model.run.json', record());
  chmodSync(tmp.path('runs/locked'), 0o000);
  afterAll(() => chmodSync(tmp.path('runs/locked'), 0o755));

  const folders = new RunFolders(dir);
  const runs = folders.list();
  const byId = new Map(runs.map((r) => [r.id, r]));

  it('lists every record a few levels down, newest folder first, and nothing hidden or deeper', () => {
    expect(runs.map((r) => r.id)).toEqual([
      'sweep/lr-1/model', 'other/model', 'orphan/model', 'old/lr-3', 'odd/model', 'nameless/model', 'mine/model',
      'gone/model', 'failed/model', 'evil/model', 'cut/model', 'away/model', 'array/model', '2026-01-01/model',
      // runs/locked is listed only where the test runs without root: root reads any folder
      ...(process.getuid?.() === 0 ? ['locked/inner/model'] : []),
    ].sort().reverse());
  });

  it('says what each one is: finished, failed with why, live (own process), died (process gone), elsewhere (another machine)', () => {
    expect(byId.get('2026-01-01/model')).toMatchObject({ status: 'finished', startedAt: '2026-01-01T00:00:00.000Z' });
    expect(byId.get('old/lr-3')!.status).toBe('finished');
    expect(byId.get('failed/model')).toMatchObject({ status: 'failed', reason: 'training diverged at step 3' });
    expect(byId.get('mine/model')).toMatchObject({ status: 'live', dashboard: 'http://127.0.0.1:9/' });
    expect(byId.get('gone/model')!.status).toBe('died');
    expect(byId.get('gone/model')!.dashboard).toBeUndefined();
    expect(byId.get('away/model')!.status).toBe('elsewhere');
  });

  it('lists a damaged, half-written or missing record as damaged, with the reason', () => {
    const reasons = Object.fromEntries(['cut', 'other', 'array', 'odd', 'nameless', 'orphan', 'evil'].map((id) => [id, byId.get(`${id}/model`)]));
    for (const r of Object.values(reasons)) expect(r!.status).toBe('damaged');
    expect(reasons.cut!.reason).toContain('not JSON');
    expect(reasons.other!.reason).toContain('"someone.else/v9"');
    expect(reasons.array!.reason).toContain('not a JSON object');
    expect(reasons.odd!.reason).toContain('"paused" is unknown');
    expect(reasons.nameless!.reason).toContain('names no process');
    expect(reasons.orphan!.reason).toContain('without a run record');
    expect(reasons.evil!.reason).toContain('not an http(s) address');
  });

  it('gives the curves of a listed run only, read again when its metrics change', () => {
    expect(folders.curves('2026-01-01/model')!.steps[0]).toEqual([1]);
    tmp.write('runs/2026-01-01/model.metrics.jsonl', `${step(1, 0.5)}\n${step(2, 0.25)}\n`);
    expect(folders.curves('2026-01-01/model')!.steps[4]).toEqual([0.5, 0.25]);
    expect(folders.curves('orphan/model')).toMatchObject({ skipped: 1 });
    expect(folders.curves('cut/model')!.steps[0]).toEqual([]); // no metrics file: no curves
    for (const id of ['../runs/2026-01-01/model', '2026-01-01', '', 'a/b/c/d/e/model', '/etc/passwd']) expect(folders.curves(id), id).toBeUndefined();
  });

  it('a folder that does not exist lists no runs', () => {
    expect(new RunFolders(tmp.path('nothing-yet')).list()).toEqual([]);
  });
});
