import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadCheckpoint, loadModel } from '@shardprop/core';
import { killAll, runCli, tempDir } from '../helpers/cli.js';

/**
 * Where a run writes: every output is checked before the first step (a finished run
 * is never lost to a path that cannot take it), and a write that fails later (a
 * full disk, a device that refuses) names the file, leaves what was written before
 * intact, and keeps the trained model somewhere the user is told about. Full and
 * read-only disks are small tmpfs mounts made here (root only; without root those
 * cases are skipped, saying so), unmounted at the end.
 */
const tmp = tempDir();
const mounts: string[] = [];
let noMounts: string | null = null;

/** A tmpfs of `size` at `name` under the test's folder (read-only with `ro`), or null when mounts cannot be made here. */
function tmpfs(name: string, size: string, ro = false): string {
  const dir = tmp.path(name);
  mkdirSync(dir, { recursive: true });
  execFileSync('mount', ['-t', 'tmpfs', '-o', `${ro ? 'ro,' : ''}size=${size}`, 'tmpfs', dir]);
  mounts.push(dir);
  return dir;
}

beforeAll(() => {
  if (process.getuid?.() !== 0) noMounts = 'not root: no tmpfs can be mounted';
  else {
    try {
      tmpfs('probe', '16k');
    } catch (err) {
      noMounts = `cannot mount a tmpfs here: ${(err as Error).message}`;
    }
  }
  if (noMounts) console.log(`outputs.test: the full- and read-only-disk cases are skipped (${noMounts})`);
});
afterAll(() => {
  killAll();
  for (const dir of mounts.reverse()) execFileSync('umount', [dir]);
  tmp.remove();
});

const RUN = ['--data', 'spirals', '--layers', '2,16,2', '--batch', '9', '--lr', '0.5', '--dtype', 'float64', '--workers', '0'];
/** A model of about 40 kB on disk (2,402 float64 parameters), 24 kB as a checkpoint: a 40 kB disk takes one checkpoint, not two at once. */
const WIDE = ['--data', 'spirals', '--layers', '2,600,2', '--batch', '9', '--lr', '0.5', '--dtype', 'float64', '--workers', '0'];

const lastLine = (stderr: string): string => stderr.trim().split('\n').at(-1)!;

describe('outputs checked before the first step', () => {
  it('refuses an --out that names a folder or a device, before training (exit 2)', async () => {
    const folder = tmp.path('a-folder');
    mkdirSync(folder);
    const r = await runCli(['train', ...RUN, '--steps', '5', '--out', folder]);
    expect(r.code).toBe(2);
    expect(lastLine(r.stderr)).toBe(`shardprop: --out ${folder}: is a directory; name a file in it, e.g. ${folder}/model.json`);
    const device = await runCli(['train', ...RUN, '--steps', '5', '--out', '/dev/null']);
    expect(device.code).toBe(2);
    expect(lastLine(device.stderr)).toBe('shardprop: --out /dev/null: is not a regular file (a device or a pipe); name a file');
    expect(r.stderr + device.stderr).not.toContain('"msg":"training"');
  });

  it('refuses a read-only --out or --checkpoint-dir before training, naming it and the error (exit 2)', async (ctx) => {
    if (noMounts) return ctx.skip();
    const ro = tmpfs('read-only', '64k', true);
    const out = await runCli(['train', ...RUN, '--steps', '5', '--out', `${ro}/model.json`]);
    expect(out.code).toBe(2);
    expect(lastLine(out.stderr)).toBe(`shardprop: --out ${ro}/model.json: cannot write there (EROFS)`);
    const ckpt = await runCli(['train', ...RUN, '--steps', '5', '--checkpoint-dir', ro, '--out', tmp.path('never.json')]);
    expect(ckpt.code).toBe(2);
    expect(lastLine(ckpt.stderr)).toBe(`shardprop: --checkpoint-dir ${ro}: cannot write there (EROFS)`);
    const nested = await runCli(['train', ...RUN, '--steps', '5', '--checkpoint-dir', `${ro}/ckpt`, '--out', tmp.path('never.json')]);
    expect(lastLine(nested.stderr)).toBe(`shardprop: --checkpoint-dir ${ro}/ckpt: cannot make its folder (EROFS)`);
    expect(existsSync(tmp.path('never.json'))).toBe(false);
  });
});

describe('writes that fail during a run', () => {
  it('a metrics file that refuses a line (/dev/full) stops the run naming it, with a checkpoint of the last step', async () => {
    const dir = tmp.path('full-metrics-ckpt');
    const r = await runCli(['train', ...RUN, '--steps', '500', '--metrics', '/dev/full', '--checkpoint-dir', dir, '--out', tmp.path('metrics.json')]);
    expect(r.code).toBe(1);
    const step = loadCheckpoint(dir).step;
    expect(lastLine(r.stderr)).toBe(`shardprop: --metrics /dev/full: cannot write (ENOSPC); what it held before is kept; the checkpoint of step ${step} is in ${dir}/checkpoint.bin (continue with --resume)`);
    expect(step).toBe(112); // spirals: 1,000 samples, batch 9: the first epoch ends at step 112
  });

  it('a checkpoint that no longer fits the disk: the run stops naming the folder, and the one before stays whole and resumable', async (ctx) => {
    if (noMounts) return ctx.skip();
    const dir = tmpfs('full-ckpt', '40k');
    const r = await runCli(['train', ...WIDE, '--steps', '40', '--checkpoint-dir', dir, '--checkpoint-every', '10', '--out', tmp.path('wide.json')]);
    expect(r.code).toBe(1);
    expect(lastLine(r.stderr)).toBe(`shardprop: --checkpoint-dir ${dir}: cannot write the checkpoint of step 20 (ENOSPC); the checkpoint of step 10 there is intact: free space, then continue with --resume`);
    expect(loadCheckpoint(dir).step).toBe(10);
    expect(existsSync(tmp.path('wide.json'))).toBe(false);
  });

  it('a model that no longer fits --out is kept in a checkpoint, and --resume with the same flags saves it', async (ctx) => {
    if (noMounts) return ctx.skip();
    const full = tmpfs('full-out', '24k');
    const dir = tmp.path('rescue-ckpt');
    const args = [...WIDE, '--steps', '30', '--checkpoint-dir', dir];
    const r = await runCli(['train', ...args, '--out', `${full}/model.json`]);
    expect(r.code).toBe(1);
    expect(lastLine(r.stderr)).toBe(`shardprop: --out ${full}/model.json: cannot write the trained model (ENOSPC); it is kept in the checkpoint ${dir}/checkpoint.bin (step 30): free space, then run again with --resume and the same flags to save it`);
    const saved = tmp.path('rescued.json');
    const again = await runCli(['train', ...args, '--resume', '--out', saved]);
    expect(again.code, again.stderr).toBe(0);
    const straight = await runCli(['train', ...WIDE, '--steps', '30', '--out', tmp.path('straight.json')]);
    expect(straight.code).toBe(0);
    expect(Array.from(loadModel(saved, 'float64').params)).toEqual(Array.from(loadModel(tmp.path('straight.json'), 'float64').params));
  });

  it('without a checkpoint folder, a model that no longer fits --out is written to a folder of its own under the temporary directory', async (ctx) => {
    if (noMounts) return ctx.skip();
    const full = tmpfs('full-out-2', '24k');
    const r = await runCli(['train', ...WIDE, '--steps', '30', '--out', `${full}/model.json`]);
    expect(r.code).toBe(1);
    const line = lastLine(r.stderr);
    const m = line.match(/^shardprop: --out \S+: cannot write the trained model \(ENOSPC\); it was written to (\S+\/shardprop-rescue-\w+\/model\.json) instead$/);
    expect(m, line).not.toBeNull();
    expect(loadModel(m![1]).spec.layers).toEqual([2, 600, 2]);
    expect(readFileSync(m![1], 'utf8')).toContain('shardprop.model/v1');
  });
});
