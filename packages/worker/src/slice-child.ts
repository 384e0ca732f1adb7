/**
 * A worker's slice server, as the worker sees it: a child process (slice-main.ts)
 * started when a coordinator's welcome says it slices, once per worker process,
 * and again after it stopped (its coordinator went away and came back).
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { WorkerLog } from './log.js';

/** What the worker tells its slice server at the start (over IPC). */
export interface SliceStart {
  url: string;
  token?: string;
  ca?: string;
  host: string;
  port?: number;
  /** Values in the model's parameters (from the welcome). */
  parameters: number;
  name: string;
}

export type SliceChildMessage = { type: 'serving'; serves: string } | { type: 'failed'; reason: string };

/** Always the built script: a process needs JavaScript, also when this module runs from src/ (the tests). */
const SLICE_MAIN = fileURLToPath(new URL('../dist/slice-main.js', import.meta.url));

export class SliceChild {
  private child: ChildProcess | null = null;

  constructor(private readonly log: WorkerLog) {}

  /** Starts the slice server unless it runs already; it greets the coordinator itself. */
  ensure(start: SliceStart): void {
    if (this.child) return;
    // no flags of this process (an inspector, a preload meant for the worker) and only the settings it needs
    const env = { ...process.env };
    delete env.NODE_OPTIONS;
    const child = fork(SLICE_MAIN, [], { execArgv: [], env, stdio: ['ignore', 'inherit', 'inherit', 'ipc'], serialization: 'json' });
    this.child = child;
    child.on('message', (m: SliceChildMessage) => {
      if (m.type === 'serving') this.log('info', 'slice server started beside this worker', { serves: m.serves, pid: child.pid });
      else if (m.type === 'failed') this.log('warn', 'the slice server could not start: this worker trains on without it', { reason: m.reason });
    });
    child.on('exit', () => {
      if (this.child === child) this.child = null;
    });
    child.on('error', (err) => this.log('warn', 'the slice server could not start: this worker trains on without it', { reason: err.message }));
    child.send(start);
  }

  /**
   * The worker stops: so does its slice server. Told 'done' by the coordinator as the worker was, it
   * ends by itself (and says what it moved); it gets `graceMs` for that, then it is killed.
   */
  async stop(graceMs = 2000): Promise<void> {
    const child = this.child;
    this.child = null;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    const timer = setTimeout(() => child.kill(), graceMs);
    await exited;
    clearTimeout(timer);
  }
}
