/**
 * Runs that the test ends itself, so that nothing it does races the run's end: they
 * train for UNBOUNDED_STEPS, the test stops them with SIGTERM once everything it waited
 * for has happened, and their checkpoint is compared with an in-process run of exactly
 * that many steps (the batch sequence does not depend on --steps). Not for runs whose
 * end is what a test checks.
 */
import { expect } from 'vitest';
import { loadCheckpoint, loadModel, type Checkpoint } from '@shardprop/core';
import { runCli, type Collected, type Exited } from './cli.js';

/** --steps of a run the test ends itself: far more than any test lets it take. */
export const UNBOUNDED_STEPS = '100000000';

/** A 'checkpoint written' log line of step `n` or later. */
export const checkpointAt = (n: number) => (line: string): boolean => line.includes('checkpoint written') && JSON.parse(line).step >= n;

/** The step of the last 'checkpoint written' line the run has logged so far (0: none yet). */
export function lastCheckpoint(run: Collected): number {
  return Math.max(0, ...run.seen((l) => l.includes('checkpoint written')).map((l) => JSON.parse(l).step as number));
}

/**
 * Ends a run started with --checkpoint-dir `dir`: SIGTERM, after which it finishes the
 * step in flight, writes a checkpoint and exits 143 (its workers are told `done`).
 */
export async function stopWithCheckpoint(run: Collected, dir: string): Promise<{ exited: Exited; checkpoint: Checkpoint }> {
  run.child.kill('SIGTERM');
  const exited = await run.exited;
  expect(exited.code, exited.stderr.slice(-2000)).toBe(143);
  const checkpoint = loadCheckpoint(dir);
  expect(exited.stderr).toContain(`training stopped after step ${checkpoint.step}; checkpoint written to`);
  return { exited, checkpoint };
}

/** The parameters (float64) after `steps` steps of `shardprop train ARGS --workers 0`, saved to `out`. */
export async function inProcessParams(args: string[], steps: number, out: string): Promise<Float64Array> {
  const r = await runCli(['train', ...args, '--steps', String(steps), '--workers', '0', '--out', out]);
  expect(r.code, r.stderr).toBe(0);
  return loadModel(out, 'float64').params as Float64Array;
}
