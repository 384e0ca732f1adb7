import { spawn } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { basename } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { checkpointPath, loadCheckpoint, loadModel } from '@shardprop/core';
import { maxAbsDiff } from '../helpers/arrays.js';
import { BIN, NODE_FLAGS, collect, killAll, runCli, startCli, tempDir } from '../helpers/cli.js';
import { UNBOUNDED_STEPS } from '../helpers/runs.js';

/**
 * Checkpoints and --resume with real processes: a run killed with SIGKILL and
 * resumed from its last checkpoint goes on from the step after it (its trace
 * starts there) and ends with the model of a run never stopped (float64), in process and with a coordinator whose workers reconnect by
 * themselves; SIGTERM stops with a checkpoint; a kill during a checkpoint write
 * never leaves the directory without a usable checkpoint.
 *
 * A run stopped or killed part way trains for UNBOUNDED_STEPS, so the stop can never come
 * after its end however fast it goes; the resumed run is given its checkpoint's step plus
 * RESUMED_STEPS, and the run never stopped as many (--steps is no part of a checkpoint).
 */
const tmp = tempDir();
afterAll(() => {
  killAll();
  tmp.remove();
});

const RUN = ['--data', 'spirals', '--seed', '6', '--layers', '2,16,2', '--batch', '9', '--lr', '0.3', '--optimizer', 'momentum', '--dtype', 'float64'];

async function straight(steps: number, tag: string): Promise<Float64Array> {
  const out = tmp.path(`${tag}-straight.json`);
  const r = await runCli(['train', ...RUN, '--steps', String(steps), '--workers', '0', '--out', out]);
  expect(r.code, r.stderr).toBe(0);
  return loadModel(out, 'float64').params as Float64Array;
}

const stepOf = (line: string): number => JSON.parse(line).step as number;

/** Steps a resumed run takes after its checkpoint. */
const RESUMED_STEPS = 1000;

/**
 * That a resumed run went on from checkpoint step `at` rather than from the start
 * (which would end with the same model): it says so, and its trace runs from step
 * at + 1 to the last.
 */
function expectResumedAfter(at: number, stderr: string, trace: string, steps: number): void {
  expect(stderr).toContain(`resuming after step ${at}`);
  const traced = readFileSync(trace, 'utf8').trim().split('\n').map(stepOf);
  expect(traced[0]).toBe(at + 1);
  expect(traced).toHaveLength(steps - at);
}

/** Resumes the run checkpointed in `dir` (with `workers` local workers, 0: in process): it goes on from its checkpoint and ends with `want`. */
async function resumeMatches(dir: string, steps: number, workers: number, want: Float64Array): Promise<void> {
  const at = loadCheckpoint(dir).step;
  const out = tmp.path(`${basename(dir)}-resumed.json`);
  const trace = tmp.path(`${basename(dir)}-resumed.trace.jsonl`);
  const resumed = await runCli(['train', ...RUN, '--steps', String(steps), '--workers', String(workers), '--checkpoint-dir', dir, '--resume', '--out', out, '--trace', trace]);
  expect(resumed.code, resumed.stderr).toBe(0);
  expectResumedAfter(at, resumed.stderr, trace, steps);
  expect(maxAbsDiff(loadModel(out, 'float64').params, want)).toBe(0);
}

/** Stops an unbounded run with `signal` once its first epoch is done: it finishes the step, writes a checkpoint and exits with `exitCode`; then resumes it. */
async function stopThenResume({ signal, workers, exitCode }: { signal: NodeJS.Signals; workers: number; exitCode: number }): Promise<void> {
  const tag = signal.toLowerCase();
  const dir = tmp.path(`${tag}-ckpt`);
  const first = collect(startCli(['train', ...RUN, '--steps', UNBOUNDED_STEPS, '--workers', String(workers), '--checkpoint-dir', dir, '--out', tmp.path(`${tag}-a.json`)], { SHARDPROP_LOG_LEVEL: 'info' }));
  await first.stderrLines((l) => l.includes('epoch 1 done'));
  first.child.kill(signal);
  const stopped = await first.exited;
  expect(stopped.code, stopped.stderr).toBe(exitCode);
  const at = loadCheckpoint(dir).step;
  expect(stopped.stderr).toMatch(new RegExp(`training stopped after step ${at}; checkpoint written to .*; continue with --resume`));
  expect(at).toBeGreaterThan(0);
  const steps = at + RESUMED_STEPS;
  await resumeMatches(dir, steps, workers, await straight(steps, tag));
}

describe('checkpoints and --resume', () => {
  it('in process: SIGKILL after a checkpoint, --resume, the same model as a run never stopped', async () => {
    const dir = tmp.path('solo-ckpt');
    const first = collect(startCli(['train', ...RUN, '--steps', UNBOUNDED_STEPS, '--workers', '0', '--checkpoint-dir', dir, '--checkpoint-every', '50', '--out', tmp.path('solo-a.json')]));
    const line = await first.stderrLines((l) => l.includes('checkpoint written'));
    first.child.kill('SIGKILL');
    const killed = await first.exited;
    expect(killed.signal).toBe('SIGKILL'); // it really stopped part way
    const at = loadCheckpoint(dir).step;
    expect(at).toBeGreaterThanOrEqual(stepOf(line));
    const steps = at + RESUMED_STEPS;
    await resumeMatches(dir, steps, 0, await straight(steps, 'solo'));
  });

  it('--resume-if-present: one command line starts afresh, then, killed and started again as a scheduler restarts it, continues from its checkpoint', async () => {
    const dir = tmp.path('if-present-ckpt');
    const args = ['train', ...RUN, '--workers', '0', '--checkpoint-dir', dir, '--checkpoint-every', '50', '--resume-if-present'];
    const first = collect(startCli([...args, '--steps', UNBOUNDED_STEPS, '--out', tmp.path('if-present-a.json')]));
    await first.stderrLines((l) => l.includes('checkpoint written'));
    first.child.kill('SIGKILL');
    const killed = await first.exited;
    expect(killed.stderr).not.toContain('resuming');
    const at = loadCheckpoint(dir).step;
    const steps = at + RESUMED_STEPS;
    const out = tmp.path('if-present-resumed.json');
    const trace = tmp.path('if-present-resumed.trace.jsonl');
    const again = await runCli([...args, '--steps', String(steps), '--out', out, '--trace', trace]);
    expect(again.code, again.stderr).toBe(0);
    expectResumedAfter(at, again.stderr, trace, steps);
    expect(maxAbsDiff(loadModel(out, 'float64').params, await straight(steps, 'if-present'))).toBe(0);
    const refused = await runCli(['train', ...RUN, '--steps', '3', '--workers', '0', '--resume-if-present']);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toBe('shardprop: --resume-if-present needs --checkpoint-dir: the folder whose checkpoint a restarted run continues from\n');
  });

  it('distributed: SIGKILL the coordinator, restart it with --resume on the same port, the workers come back by themselves', async () => {
    const dir = tmp.path('dist-ckpt');
    const args = ['--expect', '2', ...RUN, '--checkpoint-dir', dir, '--checkpoint-every', '50'];
    const first = collect(startCli(['coordinator', '--port', '0', ...args, '--steps', UNBOUNDED_STEPS, '--out', tmp.path('dist-a.json')]));
    const url = JSON.parse(await first.stderrLines((l) => l.includes('coordinator listening'))).url as string;
    // how long they keep trying bounds a failure only: the new coordinator is up in about a second
    const workers = [1, 2].map(() => collect(startCli(['worker', '--connect', url, '--reconnect-for', '3600'], { SHARDPROP_LOG_LEVEL: 'info' })));
    await first.stderrLines((l) => l.includes('checkpoint written'));
    first.child.kill('SIGKILL');
    expect((await first.exited).signal).toBe('SIGKILL'); // it really stopped part way
    const at = loadCheckpoint(dir).step;
    const steps = at + RESUMED_STEPS;
    const want = await straight(steps, 'dist');

    const port = new URL(url).port;
    const out = tmp.path('dist-b.json');
    const trace = tmp.path('dist-b.trace.jsonl');
    const second = collect(startCli(['coordinator', '--port', port, ...args, '--steps', String(steps), '--resume', '--out', out, '--trace', trace, '--json']));
    const [done, w1, w2] = await Promise.all([second.exited, workers[0].exited, workers[1].exited]);
    expect(done.code, done.stderr.slice(-2000)).toBe(0);
    expectResumedAfter(at, done.stderr, trace, steps);
    for (const w of [w1, w2]) {
      expect(w.code, w.stderr.slice(-2000)).toBe(0);
      expect(w.stderr).toMatch(/the coordinator closed the connection.*trying again in \d+ ms/);
      expect(w.stderr.match(/joined as worker/g)).toHaveLength(2);
    }
    expect(JSON.parse(done.stdout.trim()).workers).toBe(2);
    expect(maxAbsDiff(loadModel(out, 'float64').params, want)).toBe(0);
  });

  it('SIGTERM stops after the current step with a checkpoint (exit 143); --resume finishes the same model', async () => {
    await stopThenResume({ signal: 'SIGTERM', workers: 2, exitCode: 143 });
  });

  it('in process too: SIGINT stops after the current step with a checkpoint (exit 130); --resume finishes the same model', async () => {
    // an in-process run never waits on a socket; the loop must still let the signal in
    await stopThenResume({ signal: 'SIGINT', workers: 0, exitCode: 130 });
  });

  it('Ctrl-C (SIGINT to the whole process group) with local workers: the step finishes with them, checkpoint, exit 130 at once', async () => {
    const dir = tmp.path('ctrlc-ckpt');
    // its own process group, as a shell gives a foreground job; the local workers log at info (to its stderr)
    const child = spawn(process.execPath, [...NODE_FLAGS, BIN, 'train', ...RUN, '--steps', UNBOUNDED_STEPS, '--workers', '2', '--checkpoint-dir', dir, '--out', tmp.path('ctrlc.json'), '--no-dashboard'],
      { detached: true, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, SHARDPROP_LOG_LEVEL: 'info', SHARDPROP_WORKER_LOG_LEVEL: 'info' } });
    const run = collect(child);
    try {
      await run.stderrLines((l) => l.includes('epoch 1 done'));
      process.kill(-child.pid!, 'SIGINT');
      const stopped = await run.exited;
      expect(stopped.code, stopped.stderr).toBe(130);
      const at = loadCheckpoint(dir).step;
      expect(at).toBeGreaterThan(0);
      expect(stopped.stderr).toContain(`training stopped after step ${at}; checkpoint written to`);
      // Exit 130 comes only from a step that finished; and it finished with the workers, not the
      // 60 s a coordinator waits for workers that died with it: they outlived the Ctrl-C and left
      // when the coordinator said training was over.
      const lines = stopped.stderr.split('\n');
      expect(lines.filter((l) => l.includes('"msg":"training is over"'))).toHaveLength(2);
      expect(lines.filter((l) => /worker lost|waiting up to|dropped a worker/.test(l))).toEqual([]);
    } finally {
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  });

  it('every worker killed: the coordinator waits --wait-workers, then fails with a checkpoint of the last whole step; --resume finishes the same model', async () => {
    const dir = tmp.path('lost-ckpt');
    const c = collect(startCli(['coordinator', '--port', '0', '--expect', '2', ...RUN, '--steps', UNBOUNDED_STEPS, '--checkpoint-dir', dir, '--wait-workers', '1', '--out', tmp.path('lost-a.json')], { SHARDPROP_LOG_LEVEL: 'info' }));
    const url = JSON.parse(await c.stderrLines((l) => l.includes('coordinator listening'))).url as string;
    const workers = [1, 2].map(() => collect(startCli(['worker', '--connect', url, '--reconnect-for', '0'])));
    await c.stderrLines((l) => l.includes('epoch 1 done'));
    for (const w of workers) w.child.kill('SIGKILL');
    const failed = await c.exited;
    expect(failed.code).toBe(1);
    expect(failed.stderr).toMatch(/no worker is left: waiting up to 1 s for a worker to join/);
    expect(failed.stderr).toMatch(/every worker was lost by step \d+ and none joined within 1 s \(--wait-workers\); the checkpoint of step \d+ is in .*checkpoint\.bin \(continue with --resume\) \[SP_ERR_WORKERS_LOST\]/);
    const at = loadCheckpoint(dir).step;
    expect(at).toBeGreaterThan(0);
    const steps = at + RESUMED_STEPS;
    await resumeMatches(dir, steps, 2, await straight(steps, 'lost'));
  });

  it('one SIGTERM stops a coordinator that waits for its first workers at once, with nothing to checkpoint (exit 143)', async () => {
    const dir = tmp.path('idle-ckpt');
    const c = collect(startCli(['coordinator', '--port', '0', '--expect', '2', ...RUN, '--steps', UNBOUNDED_STEPS, '--checkpoint-dir', dir, '--out', tmp.path('idle.json')], { SHARDPROP_LOG_LEVEL: 'info' }));
    await c.stderrLines((l) => l.includes('coordinator listening'));
    c.child.kill('SIGTERM');
    const stopped = await c.exited;
    expect(stopped.code, stopped.stderr).toBe(143);
    expect(stopped.stderr).toContain('training stopped while waiting for workers, before its first step');
    expect(stopped.stderr).not.toContain('continue with --resume');
    expect(existsSync(checkpointPath(dir))).toBe(false); // nothing trained: nothing written
  });

  it('one SIGTERM stops a coordinator whose every worker is gone at once, with a checkpoint of the last whole step; --resume finishes the same model', async () => {
    const dir = tmp.path('gone-ckpt');
    // it would wait an hour for a worker: the SIGTERM must not wait for one
    const c = collect(startCli(['coordinator', '--port', '0', '--expect', '1', ...RUN, '--steps', UNBOUNDED_STEPS, '--checkpoint-dir', dir, '--wait-workers', '3600', '--out', tmp.path('gone-a.json')], { SHARDPROP_LOG_LEVEL: 'info' }));
    const url = JSON.parse(await c.stderrLines((l) => l.includes('coordinator listening'))).url as string;
    const w = collect(startCli(['worker', '--connect', url, '--reconnect-for', '0']));
    await c.stderrLines((l) => l.includes('epoch 1 done'));
    w.child.kill('SIGKILL');
    await c.stderrLines((l) => l.includes('waiting up to 3600 s for a worker to join'));
    c.child.kill('SIGTERM');
    const stopped = await c.exited;
    expect(stopped.code, stopped.stderr).toBe(143);
    const at = loadCheckpoint(dir).step;
    expect(at).toBeGreaterThan(0);
    expect(stopped.stderr).toMatch(new RegExp(`training stopped after step ${at}; checkpoint written to .*; continue with --resume`));
    const steps = at + RESUMED_STEPS;
    await resumeMatches(dir, steps, 1, await straight(steps, 'gone'));
  });

  it('a SIGKILL in the middle of checkpoint writes never leaves the directory without a usable checkpoint', async () => {
    const dir = tmp.path('kill-ckpt');
    let last = 0;
    for (let round = 0; round < 6; round++) {
      // a checkpoint after every step of a model big enough that writing one takes a while
      const args = ['train', '--data', 'mnist', '--layers', '784,128,10', '--batch', '10', '--steps', UNBOUNDED_STEPS, '--workers', '0', '--checkpoint-dir', dir, '--checkpoint-every', '1', '--out', tmp.path('kill.json')];
      const run = collect(startCli(round === 0 ? args : [...args, '--resume']));
      await run.stderrLines((l) => l.includes('checkpoint written'));
      await new Promise((r) => setTimeout(r, 5 + ((round * 37) % 60)));
      run.child.kill('SIGKILL');
      await run.exited;
      const c = loadCheckpoint(dir); // throws if the kill left it unusable
      expect(c.step).toBeGreaterThanOrEqual(last);
      last = c.step;
    }
    expect(last).toBeGreaterThan(1);
    expect(readdirSync(dir)).toContain('checkpoint.bin');
  }, 180_000); // six starts that each load MNIST: 32 s on a loaded 2-core machine, more on a busier one

  it('refuses to resume from another run\'s checkpoint, or none, naming the file', async () => {
    const dir = tmp.path('bad-ckpt');
    const ok = await runCli(['train', ...RUN, '--steps', '20', '--workers', '0', '--checkpoint-dir', dir, '--checkpoint-every', '10', '--out', tmp.path('bad.json')]);
    expect(ok.code, ok.stderr).toBe(0);
    const other = await runCli(['train', ...RUN.map((a) => (a === '6' ? '7' : a)), '--steps', '30', '--workers', '0', '--checkpoint-dir', dir, '--resume', '--out', tmp.path('bad2.json')]);
    expect(other.code).toBe(2);
    expect(other.stderr).toMatch(/checkpoint\.bin: it belongs to another run: its data set fingerprint was/);
    const none = await runCli(['train', ...RUN, '--steps', '30', '--workers', '0', '--checkpoint-dir', tmp.path('empty'), '--resume', '--out', tmp.path('bad3.json')]);
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/checkpoint\.bin: no checkpoint here/);
    expect(existsSync(tmp.path('bad3.json'))).toBe(false);
    const flags = await runCli(['train', ...RUN, '--steps', '30', '--resume']);
    expect(flags.code).toBe(2);
    expect(flags.stderr).toContain('--resume needs --checkpoint-dir');
    // fewer steps than the checkpoint has trained: refused, the checkpoint's model never saved as if it were a run of 15
    const fewer = await runCli(['train', ...RUN, '--steps', '15', '--workers', '0', '--checkpoint-dir', dir, '--resume', '--out', tmp.path('bad4.json')]);
    expect(fewer.code).toBe(2);
    expect(fewer.stderr.trim()).toBe(`shardprop: --steps 15 is fewer than the 20 steps the checkpoint in ${dir} has already trained: to go on from it, give --steps (or --epochs) beyond that`);
    expect(existsSync(tmp.path('bad4.json'))).toBe(false);
  });
});
