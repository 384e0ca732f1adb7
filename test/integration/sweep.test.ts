/**
 * `shardprop sweep` through real CLI processes: a 2x2 grid gives 4 run directories,
 * a results CSV of 4 rows, a printed table, an overlay plot and the best run; runs go
 * K at once with --parallel; a failing run is recorded and the sweep goes on; a
 * sweep stopped by SIGINT keeps what finished and --resume runs only the rest.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadModel } from '@shardprop/core';
import { runSweep } from '@shardprop/cli';
import { train } from '@shardprop/coordinator';
import { collect, killAll, runCli, startCli, tempDir } from '../helpers/cli.js';
import { DEFAULT_KERNEL } from '../helpers/kernels.js';

const tmp = tempDir('shardprop-sweep-');
afterAll(() => {
  killAll();
  tmp.remove();
});

/** Writes `sweep` as JSON to `name` under the temporary directory and returns its path. */
const writeSweep = (name: string, sweep: unknown): string => tmp.write(name, JSON.stringify(sweep));

/** results.csv as objects, one per row, keyed by the header. */
function readCsv(path: string): Record<string, string>[] {
  const [header, ...rows] = readFileSync(path, 'utf8').trim().split('\n');
  const keys = header.split(',');
  // the test sweeps have no commas inside fields except in quoted ones, which they avoid
  return rows.map((row) => Object.fromEntries(row.split(',').map((v, i) => [keys[i], v])));
}

/** run.json: what only the sweep knows; the rest is in the run record beside the model. */
interface RunJson {
  name: string;
  status: string;
  values: Record<string, unknown>;
  error?: string;
  runRecord?: string;
}
interface RunRecord {
  result: { workers: number; layers: number[]; steps: number; testAccuracy?: number };
  startedAt: string;
  endedAt: string;
}
const runJson = (dir: string): RunJson => JSON.parse(readFileSync(join(dir, 'run.json'), 'utf8'));
const runRecord = (dir: string): RunRecord => JSON.parse(readFileSync(runJson(dir).runRecord!, 'utf8'));
const runDirs = (out: string): string[] => readdirSync(out, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name).sort();

describe('shardprop sweep', () => {
  it('a 2x2 grid: 4 run directories, a CSV of 4 rows, a table, a plot, and the best run named', async () => {
    const config = writeSweep('grid/sweep.json', {
      base: { data: 'spirals', layers: '2,8,2', steps: 60, workers: 0, dtype: 'float64' },
      grid: { lr: [0.5, 3], batch: [10, 'full'] },
      out: 'results',
    });
    const r = await runCli(['sweep', '--config', config]);
    expect(r.code, r.stderr).toBe(0);
    const out = tmp.path('grid/results'); // relative to the sweep file
    const names = ['01_lr=0.5_batch=10', '02_lr=0.5_batch=full', '03_lr=3_batch=10', '04_lr=3_batch=full'];
    expect(runDirs(out)).toEqual(names);
    for (const name of names) {
      for (const file of ['model.json', 'metrics.jsonl', 'run.json']) expect(existsSync(join(out, name, file)), `${name}/${file}`).toBe(true);
      expect(loadModel(join(out, name, 'model.json')).spec.layers).toEqual([2, 8, 2]);
      expect(runJson(join(out, name)).status).toBe('done');
    }
    const rows = readCsv(join(out, 'results.csv'));
    expect(rows.map((row) => [row.run, row.status, row.lr, row.batch])).toEqual([
      [names[0], 'done', '0.5', '10'], [names[1], 'done', '0.5', 'full'], [names[2], 'done', '3', '10'], [names[3], 'done', '3', 'full'],
    ]);
    for (const row of rows) {
      for (const column of ['train_risk', 'test_accuracy', 'samples_per_second', 'wall_seconds']) expect(Number(row[column]), column).toBeGreaterThan(0);
    }
    // the printed table: a header with the swept flags, a line per run
    const lines = r.stdout.split('\n');
    expect(lines[0]).toMatch(/^run\s+lr\s+batch\s+status\s+risk\s+test acc\s+samples\/s\s+wall s$/);
    for (const [i, name] of names.entries()) expect(lines[i + 1]).toMatch(new RegExp(`^${name}\\s+${rows[i].lr}\\s+${rows[i].batch}\\s+done\\s+[\\d.]+\\s+[\\d.]+`));
    // the best run: the highest test accuracy (the lower training risk between equals)
    const best = [...rows].sort((a, b) => Number(b.test_accuracy) - Number(a.test_accuracy) || Number(a.train_risk) - Number(b.train_risk))[0];
    expect(r.stdout).toContain(`best run: ${best.run} (test accuracy ${Number(best.test_accuracy).toFixed(4)})`);
    // the overlay plot: every run in its legend
    const svg = readFileSync(join(out, 'metrics.svg'), 'utf8');
    for (const name of names) expect(svg).toContain(name);
  });

  it('--parallel 2 runs two at once (each with a local worker process)', async () => {
    const config = writeSweep('parallel/sweep.json', {
      base: { data: 'spirals', layers: '2,6,2', steps: 30, batch: 50, workers: 1 },
      grid: { lr: [1, 2], seed: [1, 2] },
    });
    const out = tmp.path('parallel/out');
    const r = await runCli(['sweep', '--config', config, '--parallel', '2', '--out', out, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const result = JSON.parse(r.stdout);
    expect(result).toMatchObject({ total: 4, skipped: 0, stopped: false, out });
    const dirs = runDirs(out).map((name) => join(out, name));
    expect(dirs.map((dir) => [runJson(dir).status, runRecord(dir).result.workers, runRecord(dir).result.steps])).toEqual(Array(4).fill(['done', 1, 30]));
    // at most two at a time, and two at some time
    const spans = dirs.map((dir) => [Date.parse(runRecord(dir).startedAt), Date.parse(runRecord(dir).endedAt)]);
    const overlapping = (t: number): number => spans.filter(([a, b]) => a <= t && t < b).length;
    const most = Math.max(...spans.map(([a]) => overlapping(a)));
    expect(most).toBe(2);
    expect(readCsv(join(out, 'results.csv'))).toHaveLength(4);
  });

  it('a failing run is recorded with its error and the sweep goes on (exit 1)', async () => {
    const config = writeSweep('failing/sweep.json', { base: { steps: 10, workers: 0 }, grid: { data: ['missing.csv', 'xor'] }, out: 'out', parallel: 3 });
    const r = await runCli(['sweep', '--config', config]);
    expect(r.code).toBe(1);
    const rows = readCsv(tmp.path('failing/out/results.csv'));
    expect(rows.map((row) => [row.run, row.status])).toEqual([['01_data=missing.csv', 'failed'], ['02_data=xor', 'done']]);
    expect(rows[0].error).toBe(`${tmp.path('failing/missing.csv')}: file not found`);
    expect(r.stdout).toContain('best run: 02_data=xor (training risk');
    expect(r.stderr).toContain('1 of 2 runs failed');
  });

  it('a built-in data set name in the grid is the built-in, even beside a folder of that name', async () => {
    mkdirSync(tmp.path('builtin/xor'), { recursive: true });
    const config = writeSweep('builtin/sweep.json', { base: { steps: 3, workers: 0 }, grid: { data: ['xor'] }, out: 'out' });
    const r = await runCli(['sweep', '--config', config]);
    expect(r.code, r.stderr).toBe(0);
    expect(readCsv(tmp.path('builtin/out/results.csv')).map((row) => [row.run, row.status])).toEqual([['01_data=xor', 'done']]);
  });

  it('refuses a grid of more than 10,000 runs at once, naming the count, before building it (exit 2)', async () => {
    const values = (n: number) => Array.from({ length: n }, (_, i) => i + 1);
    const config = writeSweep('huge/sweep.json', { base: { data: 'xor' }, grid: { lr: values(100), epochs: values(100), seed: values(1000) }, out: 'never' });
    // Before building it: in a heap of 128 MB, which the 10,000,000 runs' flags (gigabytes) would
    // overflow at once (the process would die of it, not exit 2), whatever the speed of the machine.
    const r = await runCli(['sweep', '--config', config], { env: { NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --max-old-space-size=128`.trim() } });
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toContain(`sweep file ${config}: the grid makes 10000000 runs (lr 100 x epochs 100 x seed 1000); at most 10000 are allowed`);
    expect(existsSync(tmp.path('huge/never'))).toBe(false);

    // 10,000 exactly is allowed: refused only for a bad value later, not for its size
    const edge = writeSweep('huge/edge.json', { base: { data: 'xor' }, grid: { lr: values(100), epochs: [...values(99), -1] }, out: 'never' });
    const e = await runCli(['sweep', '--config', edge]);
    expect(e.code, e.stderr).toBe(2);
    expect(e.stderr).toContain('--epochs must be a positive integer, got -1');
  });

  it('runSweep (the programmatic API): two lanes for two runs, each run once', async () => {
    const out = tmp.path('api');
    const options = { data: 'xor', layers: [2, 3, 1], steps: 5, workers: 0, kernel: DEFAULT_KERNEL };
    await train({ ...options, out: join(out, 'warm-up.json') }); // what train() loads once is loaded: runs now never yield
    const runs = [1, 2].map((lr) => ({ name: `lr=${lr}`, values: { lr }, options: { ...options, lr } }));
    const result = await runSweep(runs, { out, parallel: 2 });
    expect(result.records.map((r) => [r.name, r.status, r.summary?.steps])).toEqual([['lr=1', 'done', 5], ['lr=2', 'done', 5]]);
    expect(readCsv(result.csv).map((row) => row.run)).toEqual(['lr=1', 'lr=2']);
    expect(result.plot).toBe(join(out, 'metrics.svg'));
  });

  it('refuses a bad sweep file before any run, naming the key (exit 2)', async () => {
    const cases: [unknown, string][] = [
      [{ base: { data: 'xor' }, grid: { lr: [1, 'fast'] } }, 'grid "lr" value 2 must be a number, got "fast"'],
      [{ base: { data: 'xor', speed: 1 }, grid: { lr: [1] } }, 'base: unknown key "speed"'],
      [{ base: { data: 'xor' }, grid: { lr: [1] }, runs: 3 }, 'unknown key "runs"'],
      [{ base: { data: 'xor' }, grid: { lr: [] } }, '"grid.lr" must be a list of at least one value'],
      [{ base: { data: 'xor' } }, '"grid" is missing'],
      [{ base: ['data', 'xor'], grid: { lr: [1] } }, '"base" must be an object of flags, got ["data","xor"]'],
      [{ base: { data: 'xor', metrics: 'm.jsonl' }, grid: { lr: [1] } }, '"metrics" cannot be set in a sweep'],
      [{ base: { data: 'xor' }, grid: { lr: [1, -2] } }, 'run 02_lr=-2: --lr must be a positive number, got -2'],
    ];
    for (const [i, [sweep, message]] of cases.entries()) {
      const config = writeSweep(`bad/${i}.json`, { ...(sweep as object), out: 'never' });
      const r = await runCli(['sweep', '--config', config]);
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toContain(`sweep file ${config}: ${message}`);
      expect(existsSync(tmp.path('bad/never'))).toBe(false);
    }
  });

  it('stopped by SIGINT it keeps the finished runs; --resume runs only the missing ones', async () => {
    // Each run trains with one local worker, and each local worker first reads a named pipe (a
    // --require'd gate, for worker processes only): it joins when this test writes the pipe. The
    // test lets the first run's worker through and sends SIGINT once the second run has started:
    // that run is still waiting for its worker, so the sweep stops at once, before a third begins,
    // whatever the speed of the runs.
    const config = writeSweep('interrupted/sweep.json', {
      base: { data: 'spirals', layers: '2,16,2', steps: 200, batch: 'full', workers: 1, dtype: 'float64' },
      grid: { lr: [0.5, 2], seed: [1, 2] },
      out: 'out',
    });
    const gate = tmp.path('interrupted/gate.fifo');
    execFileSync('mkfifo', [gate]);
    // cat reads the pipe: a preload that reads a FIFO itself leaves Node 20's ES module loader unable to resolve pino's own dependencies
    const script = tmp.write('interrupted/gate.cjs', `if (process.argv.includes('--connect')) require('node:child_process').execFileSync('cat', [${JSON.stringify(gate)}]);\n`);
    const out = tmp.path('interrupted/out');
    const csv = join(out, 'results.csv');
    const first = collect(startCli(['sweep', '--config', config], { SHARDPROP_LOG_LEVEL: 'info', NODE_OPTIONS: `--require ${script}` }));
    await writeFile(gate, 'go'); // the first run's worker (the write waits for it to open the pipe)
    await first.stderrLines((l) => l.includes('run 02_') && l.includes('started'));
    first.child.kill('SIGINT');
    const stopped = await first.exited;
    expect(stopped.code, stopped.stderr).toBe(130);
    expect(stopped.stderr).toMatch(/sweep stopped: 1 of 4 runs finished/);
    expect(stopped.stderr).toMatch(/run 02_\S+ stopped; it runs again with --resume/);
    const kept = readCsv(csv);
    expect(kept.map((row) => row.status)).toEqual(['done']);
    const before = new Map(kept.map((row) => [row.run, runRecord(join(out, row.run)).endedAt]));

    const resumed = await runCli(['sweep', '--config', config, '--resume', '--json']);
    expect(resumed.code, resumed.stderr).toBe(0);
    const result = JSON.parse(resumed.stdout);
    expect(result).toMatchObject({ total: 4, skipped: kept.length, stopped: false });
    expect(result.runs).toHaveLength(4);
    const rows = readCsv(csv);
    expect(rows.map((row) => row.status)).toEqual(['done', 'done', 'done', 'done']);
    // the runs that had finished were not run again; the others ran after the interruption
    for (const row of rows) {
      const finishedAt = runRecord(join(out, row.run)).endedAt;
      if (before.has(row.run)) expect(finishedAt).toBe(before.get(row.run));
      else expect(Date.parse(finishedAt)).toBeGreaterThan(Math.max(...[...before.values()].map(Date.parse)));
    }
    expect(resumed.stderr.match(/started"/g)).toHaveLength(4 - kept.length);

    // a finished sweep's directory is not swept into again without --resume
    const again = await runCli(['sweep', '--config', config]);
    expect(again.code).toBe(2);
    expect(again.stderr).toContain(`${out} already holds a sweep; continue it with --resume`);
  });
});
