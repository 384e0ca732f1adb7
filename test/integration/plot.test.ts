import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { createRequire } from 'node:module';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { plotMetrics } from '@shardprop/cli/plot';
import { UsageError } from '@shardprop/coordinator';
import { killAll, runCli, tempDir } from '../helpers/cli.js';

// resvg is the coordinator's dependency, not the workspace root's
const { Resvg } = createRequire(new URL('../../packages/cli/package.json', import.meta.url))('@resvg/resvg-js') as typeof import('@resvg/resvg-js');

const tmp = tempDir('shardprop-plot-');
afterAll(() => {
  killAll();
  tmp.remove();
});

/** The metrics lines of a file, parsed. */
const linesOf = (path: string): Record<string, number>[] => readFileSync(path, 'utf8').trim().split('\n').map((l) => JSON.parse(l));

/** The `d` of every line mark in the SVG (one per run and panel), with the run it belongs to. */
function linePaths(svg: string): { run: string; points: number }[] {
  return [...svg.matchAll(/<path aria-label="[^"]*run: ([^"]*)" role="graphics-symbol" aria-roledescription="line mark" d="([^"]*)"/g)].map((m) => ({
    run: m[1],
    points: m[2].split(/[ML]/).filter(Boolean).length,
  }));
}

const legendLabels = (svg: string): string[] =>
  [...svg.matchAll(/role-legend-label"[^>]*><text[^>]*>([^<]*)<\/text>/g)].map((m) => m[1]);

// Three short real runs: two on spirals (held-out data: risk and accuracy), one on xor (no test data: risk only).
beforeAll(async () => {
  const runs = [
    ['spirals', '0.5', 'slow.jsonl'],
    ['spirals', '3', 'fast.jsonl'],
    ['xor', '2', 'xor.jsonl'],
  ];
  const results = await Promise.all(
    runs.map(([data, lr, metrics]) =>
      runCli(['train', '--data', data, '--layers', data === 'xor' ? '2,4,1' : '2,16,2', '--epochs', data === 'xor' ? '50' : '8', '--batch', '10',
        '--lr', lr, '--workers', '0', '--metrics', tmp.path(metrics), '--out', tmp.path(`${metrics}.model.json`), '--json'], { timeoutMs: 20_000 }),
    ),
  );
  for (const r of results) expect(r.code, r.stderr).toBe(0);
});

describe('shardprop plot', () => {
  it('draws an SVG with both panels, one line per run and panel, each with every epoch, and the file names as labels', async () => {
    const out = tmp.path('curves.svg');
    const r = await runCli(['plot', tmp.path('slow.jsonl'), tmp.path('fast.jsonl'), '-o', out], { timeoutMs: 20_000 });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(out);
    const svg = readFileSync(out, 'utf8');
    expect(svg.startsWith('<svg')).toBe(true);
    // resvg's SVG parser accepts it (it throws on malformed XML) and sees a picture wider than tall: two panels side by side
    const parsed = new Resvg(svg);
    expect(parsed.width).toBeGreaterThan(parsed.height);

    expect(legendLabels(svg)).toEqual(['slow', 'fast']);
    expect(svg).toContain('training risk');
    expect(svg).toContain('test accuracy');
    const epochs = linesOf(tmp.path('slow.jsonl')).length;
    expect(epochs).toBe(8);
    // risk then accuracy: for each panel one path per run, each through every epoch's point
    expect(linePaths(svg)).toEqual([
      { run: 'slow', points: epochs },
      { run: 'fast', points: epochs },
      { run: 'slow', points: epochs },
      { run: 'fast', points: epochs },
    ]);
    // the first risk point is the first metrics line's
    const first = linesOf(tmp.path('fast.jsonl'))[0];
    expect(svg).toContain(`step: ${first.step}; training risk (epoch mean): ${first.risk.toPrecision(12).replace(/0+$/, '')}`);
  });

  it('takes --label once per file, in order, and writes a PNG for .png', async () => {
    const out = tmp.path('curves.png');
    const r = await runCli(['plot', tmp.path('slow.jsonl'), tmp.path('fast.jsonl'), '-o', out, '--label', 'η = 0.5', '--label', 'η = 3'], { timeoutMs: 20_000 });
    expect(r.code, r.stderr).toBe(0);
    const png = readFileSync(out);
    expect([...png.subarray(0, 8)]).toEqual([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
    expect(png.subarray(12, 16).toString('latin1')).toBe('IHDR');
    expect(png.readUInt32BE(16)).toBeGreaterThan(600); // twice the SVG's width

    // the same labels in the SVG the PNG is drawn from
    await plotMetrics([tmp.path('slow.jsonl'), tmp.path('fast.jsonl')], tmp.path('labelled.svg'), ['η = 0.5', 'η = 3']);
    const svg = readFileSync(tmp.path('labelled.svg'), 'utf8');
    expect(legendLabels(svg)).toEqual(['η = 0.5', 'η = 3']);
    expect(linePaths(svg).map((p) => p.run)).toEqual(['η = 0.5', 'η = 3', 'η = 0.5', 'η = 3']);
  });

  it('draws only the risk panel for runs without test data, and tells apart files with the same name', async () => {
    const out = tmp.path('xor.svg');
    await plotMetrics([tmp.path('xor.jsonl')], out);
    const svg = readFileSync(out, 'utf8');
    expect(svg).toContain('training risk');
    expect(svg).not.toContain('test accuracy');
    expect(linePaths(svg)).toEqual([{ run: 'xor', points: 50 }]);

    // runs/a/metrics.jsonl and runs/b/metrics.jsonl: the folder tells them apart; the same file twice, a number
    const copy = (folder: string): string => tmp.write(`${folder}/xor.jsonl`, readFileSync(tmp.path('xor.jsonl'), 'utf8'));
    const [a, b] = [copy('a'), copy('b')];
    const again = tmp.path('again.svg');
    await plotMetrics([a, b, tmp.path('xor.jsonl'), a], again);
    const labels = legendLabels(readFileSync(again, 'utf8'));
    expect(labels).toEqual(['a/xor', 'b/xor', `${basename(tmp.dir)}/xor`, 'a/xor #4']);
  });

  it('--x samples lines up runs of different batch sizes, drawn from their step lines (--metrics-every); an older file without samples is refused', async () => {
    // spirals, 1000 samples, 2 epochs: batch 10 takes 200 steps, batch 50 takes 40; both see 2000 samples
    const runs = await Promise.all([['10', '20'], ['50', '4']].map(([batch, every]) =>
      runCli(['train', '--data', 'spirals', '--layers', '2,8,2', '--epochs', '2', '--batch', batch, '--metrics-every', every, '--workers', '0',
        '--metrics', tmp.path(`b${batch}.jsonl`), '--out', tmp.path(`b${batch}.model.json`)], { timeoutMs: 20_000 })));
    for (const r of runs) expect(r.code, r.stderr).toBe(0);
    const stepLines = linesOf(tmp.path('b10.jsonl')).filter((l) => (l as unknown as { kind: string }).kind === 'step');
    expect(stepLines.map((l) => l.step)).toEqual(Array.from({ length: 10 }, (_, i) => 20 * (i + 1)));
    expect(stepLines.map((l) => l.samples)).toEqual(Array.from({ length: 10 }, (_, i) => 200 * (i + 1)));

    const out = tmp.path('samples.svg');
    await plotMetrics([tmp.path('b10.jsonl'), tmp.path('b50.jsonl')], out, undefined, 'samples');
    const svg = readFileSync(out, 'utf8');
    // the risk of each run's 10 step lines, the accuracy of its 2 epochs, on one samples axis ending at 2000 for both
    expect(linePaths(svg)).toEqual([{ run: 'b10', points: 10 }, { run: 'b50', points: 10 }, { run: 'b10', points: 2 }, { run: 'b50', points: 2 }]);
    // both risk lines start at 200 samples (b10: step 20; b50: step 4) and span the axis to 2,000 (step 200; step 40)
    for (const run of ['b10', 'b50']) expect(svg).toMatch(new RegExp(`aria-label="samples seen: 200; training risk \\(metrics lines\\): [0-9.]+; run: ${run}" [^>]*d="M0,[^"]*L360,[0-9.]+"`));
    expect(svg).toContain("X-axis titled 'samples seen' for a linear scale with values from 200 to 2,000");

    const old = tmp.write('old.jsonl', '{"step":10,"epoch":1,"risk":0.5}\n');
    const r = await runCli(['plot', old, '--x', 'samples', '-o', tmp.path('never.svg')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('old.jsonl, line 1: no "samples" for the x axis');
    const bad = await runCli(['plot', old, '--x', 'minutes', '-o', tmp.path('never.svg')]);
    expect(bad.code).toBe(2);
  });

  const errors: [string, () => string[], string[]][] = [
    ['a missing file', () => [tmp.path('nope.jsonl')], ['nope.jsonl: file not found']],
    ['an empty file', () => [tmp.write('empty.jsonl', '\n')], ['empty.jsonl: empty file']],
    ['a line that is not JSON', () => [tmp.write('garbage.jsonl', `${readFileSync(tmp.path('slow.jsonl'), 'utf8')}{"step": 9,\n`)], ['garbage.jsonl, line 9: not JSON']],
    ['a line without the fields', () => [tmp.write('fields.jsonl', '{"step":10,"risk":0.5}\n{"epoch":2,"risk":0.4}\n')], ['fields.jsonl, line 2', '"step" and "risk"']],
    ['a label count that is not the file count', () => [tmp.path('slow.jsonl'), '--label', 'one', '--label', 'two'], ['2 labels for 1 metrics files']],
  ];
  it.each(errors)('refuses %s with one line naming it, exit code 2', async (_, args, parts) => {
    const r = await runCli(['plot', ...args(), '-o', tmp.path('never.svg')]);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    for (const part of parts) expect(r.stderr).toContain(part);
    expect(() => readFileSync(tmp.path('never.svg'))).toThrow();
  });

  it('refuses an unknown extension and an output it cannot write, exit code 2', async () => {
    const pdf = await runCli(['plot', tmp.path('slow.jsonl'), '-o', tmp.path('curves.pdf')]);
    expect(pdf.code).toBe(2);
    expect(pdf.stderr).toContain('curves.pdf: unknown plot format ".pdf": expected a .svg or .png file');
    // a regular file where the output's folder should be
    const blocked = tmp.path('slow.jsonl/curves.svg');
    const unwritable = await runCli(['plot', tmp.path('slow.jsonl'), '-o', blocked]);
    expect(unwritable.code).toBe(2);
    expect(unwritable.stderr).toContain(`${blocked}: cannot write the plot`);
    expect(unwritable.stderr.trim().split('\n')).toHaveLength(1);
    // the same errors for a caller of plotMetrics (shardprop sweep): typed, so a CLI reports them with exit code 2
    const err = await plotMetrics([tmp.path('slow.jsonl')], tmp.path('x.gif')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UsageError);
  });
});
