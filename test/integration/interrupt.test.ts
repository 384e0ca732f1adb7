import { spawn } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { BIN, NODE_FLAGS, collect, killAll, startCli, tempDir } from '../helpers/cli.js';
import { UNBOUNDED_STEPS } from '../helpers/runs.js';

/**
 * Ctrl-C (SIGINT) or SIGTERM to a run without --checkpoint-dir, with real processes:
 * one line says how many steps were lost and how to keep them next time, the exit
 * code is the shell's 128 + signal, and no local worker outlives the run (checked by
 * PID: the worker processes are found as the run's children in /proc while it trains).
 */
const tmp = tempDir();
afterAll(() => {
  killAll();
  tmp.remove();
});

const RUN = ['--data', 'spirals', '--layers', '2,16,2', '--batch', '10', '--lr', '0.5', '--steps', UNBOUNDED_STEPS, '--no-dashboard'];
const LOST = /training stopped after step (\d+): the \1 steps trained are lost \(no --checkpoint-dir\); next time give --checkpoint-dir DIR to keep a checkpoint when stopped and continue with --resume/;

/** The processes whose parent is `pid`, from /proc (an independent view of what the run started). */
function childrenOf(pid: number): number[] {
  return readdirSync('/proc')
    .filter((name) => /^\d+$/.test(name))
    .filter((name) => {
      try {
        // "pid (comm) state ppid ...": comm may hold spaces, so read after its closing parenthesis
        const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
        return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === pid;
      } catch {
        return false; // exited meanwhile
      }
    })
    .map(Number);
}

/** A process that still runs (a zombie waiting to be reaped has finished: it counts as gone). */
function running(pid: number): boolean {
  if (!existsSync(`/proc/${pid}`)) return false;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

describe('a run stopped by a signal without --checkpoint-dir', () => {
  it('Ctrl-C (SIGINT to the process group) with local workers: one line with the steps lost and --checkpoint-dir, exit 130, no worker left', async () => {
    // its own process group, as a shell gives a foreground job
    const child = spawn(process.execPath, [...NODE_FLAGS, BIN, 'train', ...RUN, '--workers', '2', '--out', tmp.path('ctrlc.json')],
      { detached: true, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, SHARDPROP_LOG_LEVEL: 'info' } });
    const run = collect(child);
    try {
      await run.stderrLines((l) => l.includes('epoch 1 done'));
      const workers = childrenOf(child.pid!);
      expect(workers).toHaveLength(2);
      process.kill(-child.pid!, 'SIGINT');
      const stopped = await run.exited;
      expect(stopped.code, stopped.stderr).toBe(130);
      const lines = stopped.stderr.split('\n').filter((l) => LOST.test(l));
      expect(lines, stopped.stderr).toHaveLength(1);
      expect(Number(LOST.exec(lines[0])![1])).toBeGreaterThan(0);
      expect(workers.filter(running)).toEqual([]);
      expect(existsSync(tmp.path('ctrlc.json'))).toBe(false);
      // the run folder says what happened: stopped, not running (which the board would call died)
      expect(JSON.parse(readFileSync(tmp.path('ctrlc.run.json'), 'utf8'))).toMatchObject({ status: 'stopped', reason: expect.stringContaining('stopped') });
    } finally {
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  });

  it('in process: SIGINT stops at the step, one line, exit 130', async () => {
    const run = collect(startCli(['train', ...RUN, '--workers', '0', '--out', tmp.path('solo.json')], { SHARDPROP_LOG_LEVEL: 'info' }));
    await run.stderrLines((l) => l.includes('epoch 1 done'));
    run.child.kill('SIGINT');
    const stopped = await run.exited;
    expect(stopped.code, stopped.stderr).toBe(130);
    expect(stopped.stderr.split('\n').filter((l) => LOST.test(l)), stopped.stderr).toHaveLength(1);
  });

  it('the coordinator command: SIGTERM, one line, exit 143; its worker is told training is over and exits', async () => {
    const c = collect(startCli(['coordinator', '--port', '0', '--expect', '1', ...RUN, '--out', tmp.path('coord.json')], { SHARDPROP_LOG_LEVEL: 'info' }));
    const url = JSON.parse(await c.stderrLines((l) => l.includes('coordinator listening'))).url as string;
    const worker = collect(startCli(['worker', '--connect', url, '--reconnect-for', '0']));
    await c.stderrLines((l) => l.includes('epoch 1 done'));
    c.child.kill('SIGTERM');
    const stopped = await c.exited;
    expect(stopped.code, stopped.stderr).toBe(143);
    expect(stopped.stderr.split('\n').filter((l) => LOST.test(l)), stopped.stderr).toHaveLength(1);
    const w = await worker.exited;
    expect(w.code, w.stderr).toBe(0);
  });

  it('before the first step (the coordinator still waiting for workers) nothing was trained and nothing is said lost', async () => {
    const c = collect(startCli(['coordinator', '--port', '0', '--expect', '1', ...RUN, '--out', tmp.path('early.json')], { SHARDPROP_LOG_LEVEL: 'info' }));
    await c.stderrLines((l) => l.includes('coordinator listening'));
    c.child.kill('SIGINT');
    const stopped = await c.exited;
    expect(stopped.code, stopped.stderr).toBe(130);
    expect(stopped.stderr).toContain('training stopped while waiting for workers, before its first step');
    expect(stopped.stderr).not.toMatch(/lost/);
  });
});
