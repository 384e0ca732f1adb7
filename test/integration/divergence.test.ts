import { afterAll, describe, expect, it } from 'vitest';
import { loadCheckpoint } from '@shardprop/core';
import { collect, killAll, runCli, startCli, tempDir } from '../helpers/cli.js';

/**
 * A run whose math diverges (a weight decay that multiplies the weights by -9 every
 * step overflows float32 within a few dozen steps) is called that, at the step it
 * happens, in one line, the same in process and with workers: no worker is blamed
 * for the math, and no checkpoint of non-finite parameters replaces the last good one.
 */
const tmp = tempDir();
afterAll(() => {
  killAll();
  tmp.remove();
});

const DIVERGING = ['--data', 'spirals', '--layers', '2,16,2', '--lr', '1', '--weight-decay', '10', '--batch', '9', '--steps', '2000'];
const LINE = /^shardprop: training diverged at step (\d+): its risk is not a finite number; try a smaller --lr than 1 or --weight-decay than 10(; the last checkpoint, of step (\d+) \(finite parameters\), is (\S+))? \[SP_ERR_DIVERGED\]$/;

describe('a diverging run', () => {
  it('stops at the same step in process and with workers, says so in one line, and keeps the last finite checkpoint', async () => {
    const dir = tmp.path('solo-ckpt');
    const solo = await runCli(['train', ...DIVERGING, '--workers', '0', '--checkpoint-dir', dir, '--checkpoint-every', '5', '--out', tmp.path('solo.json')]);
    expect(solo.code).toBe(1);
    const [, at, , kept, path] = solo.stderr.trim().split('\n').at(-1)!.match(LINE) ?? [];
    expect(at, solo.stderr.slice(-1000)).toBeDefined();
    // the checkpoint named is the newest, and its parameters are finite (loadCheckpoint refuses others)
    expect(path).toBe(tmp.path('solo-ckpt/checkpoint.bin'));
    expect(loadCheckpoint(dir).step).toBe(Number(kept));
    expect(Number(kept)).toBeLessThan(Number(at));

    const c = collect(startCli(['coordinator', '--port', '0', '--expect', '2', ...DIVERGING, '--out', tmp.path('pair.json')], { SHARDPROP_LOG_LEVEL: 'info' }));
    const url = JSON.parse(await c.stderrLines((l) => l.includes('coordinator listening'))).url as string;
    const workers = [1, 2].map(() => collect(startCli(['worker', '--connect', url], { SHARDPROP_LOG_LEVEL: 'info' })));
    const [done, ...rest] = await Promise.all([c.exited, ...workers.map((w) => w.exited)]);
    expect(done.code).toBe(1);
    const last = done.stderr.trim().split('\n').at(-1)!;
    expect(last).toMatch(LINE);
    expect(last.match(LINE)![1]).toBe(at); // the very same step
    // the honest workers were not blamed: none dropped, and each was told training is over
    expect(done.stderr).not.toContain('"msg":"dropped a worker"');
    for (const r of rest) expect(r.code, r.stderr.slice(-500)).toBe(0);
  });
});
