/**
 * The local workers of `train --workers N`: child processes of this coordinator,
 * started with the V8 flags every shardprop process runs with, stopped with it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { LOCAL_WORKER_MAIN, type Logger } from '@shardprop/worker';

/**
 * The V8 flags every shardprop process runs with: the shardprop command's shebang
 * (packages/cli/bin/shardprop.js) passes them, and local workers are started with
 * them (test/cli/node-flags.test.ts checks the two agree).
 *
 * A coordinator or worker holds about 10 MB of objects but takes in megabytes of socket
 * reads per step (ArrayBuffers that die young). V8 sets the old generation's first limit
 * from the small heap and counts those buffers against it, so it ran a full mark-compact
 * every few steps: on W-large's 2.14 MB messages, a third of a worker's time went to
 * garbage collection. With a first limit of 64 MB the buffers are left to the cheap young
 * collections; a major one is rare, for about 20 MB more resident memory.
 */
export const NODE_FLAGS: readonly string[] = ['--initial-old-space-size=64'];

/** Local workers not yet stopped, of every run in this process (a sweep trains several at once). */
const running = new Set<LocalWorkers>();

/**
 * Kills them when this process exits without having stopped them (a second Ctrl-C,
 * process.exit): they are in process groups of their own, so the terminal's signal
 * does not reach them.
 */
function killRunning(): void {
  for (const workers of running) workers.kill();
}

/**
 * N worker processes on this machine, each running the worker package's local
 * worker script (as `shardprop worker --connect URL --reconnect-for 0` would).
 * Their stderr (pino lines) is passed through at warn level and above.
 */
export class LocalWorkers {
  private readonly children: ChildProcess[] = [];
  private stopping = false;

  constructor(private readonly log: Logger) {}

  /** `threads`: each worker's kernels' threads. */
  start(count: number, url: string, token: string | undefined, threads: number, onUnexpectedExit: (message: string) => void): void {
    if (!process.listeners('exit').includes(killRunning)) process.on('exit', killRunning);
    running.add(this);
    for (let i = 0; i < count; i++) {
      // a local worker lives and dies with this coordinator: no reconnecting to a successor
      const child = spawn(process.execPath, [...NODE_FLAGS, LOCAL_WORKER_MAIN, '--connect', url, '--name', `local-${i + 1}`, '--threads', String(threads)], {
        stdio: ['ignore', 'ignore', 'inherit'],
        // a process group of its own: Ctrl-C in the terminal reaches the coordinator only, which
        // finishes the step with its workers, writes the checkpoint and then lets them go
        detached: true,
        env: { ...process.env, SHARDPROP_LOG_LEVEL: process.env.SHARDPROP_WORKER_LOG_LEVEL ?? 'warn', ...(token ? { SHARDPROP_TOKEN: token } : {}) },
      });
      this.children.push(child);
      child.on('exit', (code, signal) => {
        if (this.stopping || code === 0) return;
        const message = `local worker ${i + 1} (pid ${child.pid}) exited with ${signal ?? `code ${code}`}`;
        this.log.error(message);
        onUnexpectedExit(message);
      });
      child.on('error', (err) => onUnexpectedExit(`cannot start a local worker: ${err.message}`));
    }
  }

  /** Waits for the workers to exit by themselves (they do once told training is over), then kills stragglers. */
  async stop(graceMs = 5000): Promise<void> {
    this.stopping = true;
    await Promise.all(
      this.children.map(
        (child) =>
          new Promise<void>((resolve) => {
            if (child.exitCode !== null || child.signalCode !== null) return resolve();
            const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
            child.once('exit', () => {
              clearTimeout(timer);
              resolve();
            });
          }),
      ),
    );
    running.delete(this);
  }

  /** Process ids of the workers started (for measurements). */
  get pids(): number[] {
    return this.children.map((c) => c.pid).filter((pid): pid is number => pid !== undefined);
  }

  /** Kills every worker at once (on failure or interruption). */
  kill(): void {
    this.stopping = true;
    running.delete(this);
    for (const child of this.children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
}
