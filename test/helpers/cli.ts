import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { NODE_FLAGS } from '@shardprop/coordinator';

export { NODE_FLAGS };

export const BIN = fileURLToPath(new URL('../../packages/cli/bin/shardprop.js', import.meta.url));

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

const live = new Set<ChildProcess>();

/** Runs `shardprop ARGS` as a real process, bounded in time; kills it (and fails) past the limit. */
export function runCli(args: string[], options: { timeoutMs?: number; env?: Record<string, string>; cwd?: string } = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    // with the V8 flags the shardprop command's shebang gives node
    const child = spawn(process.execPath, [...NODE_FLAGS, BIN, ...args], {
      cwd: options.cwd,
      env: { ...process.env, ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    live.add(child);
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d) => (stdout += d));
    child.stderr!.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`shardprop ${args.join(' ')} did not finish in ${options.timeoutMs ?? 60_000} ms\n${stderr.slice(-2000)}`));
    }, options.timeoutMs ?? 60_000);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      live.delete(child);
      // let the pipes drain
      setImmediate(() => resolve({ code, signal, stdout, stderr }));
    });
  });
}

/** Starts `shardprop ARGS` and returns the process, for tests that talk to it while it runs. */
export function startCli(args: string[], env: Record<string, string> = {}, prefix: string[] = []): ChildProcess {
  // a prefix runs it through another command, e.g. ['ip', 'netns', 'exec', NAME] (which execs it: same pid)
  const [command, ...rest] = [...prefix, process.execPath, ...NODE_FLAGS, BIN, ...args];
  const child = spawn(command, rest, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  live.add(child);
  child.on('exit', () => live.delete(child));
  return child;
}

/** Kills every process a test started and has not seen exit. */
export function killAll(): void {
  for (const child of live) child.kill('SIGKILL');
  live.clear();
}

export interface TempDir {
  dir: string;
  path: (name: string) => string;
  /** Writes `content` to `name` under the folder (making the folders on the way) and returns its path. */
  write: (name: string, content: string | Uint8Array) => string;
  remove: () => void;
}

export function tempDir(prefix = 'shardprop-test-'): TempDir {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const path = (name: string): string => join(dir, name);
  const write = (name: string, content: string | Uint8Array): string => {
    const file = path(name);
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, content);
    return file;
  };
  return { dir, path, write, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** The JSON summary a `--json` run printed (its last stdout line). */
export function summaryOf(result: RunResult): Record<string, unknown> {
  const lines = result.stdout.trim().split('\n');
  try {
    return JSON.parse(lines[lines.length - 1]);
  } catch {
    throw new Error(`no JSON summary on stdout (exit ${result.code}):\n${result.stdout}\n${result.stderr.slice(-3000)}`);
  }
}

export interface Exited {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Follows a started process: its exit (bounded in time, killed past it) and lines of its stderr as they come. */
export function collect(child: ChildProcess, timeoutMs = 60_000): { child: ChildProcess; exited: Promise<Exited>; stderrLines: (predicate: (line: string) => boolean) => Promise<string> } {
  let stdout = '';
  let stderr = '';
  // stderr's complete lines so far, and the unfinished last one: a waiter sees only whole lines, each once
  const lines: string[] = [];
  let tail = '';
  let waiters: { predicate: (l: string) => boolean; resolve: (l: string) => void }[] = [];
  const take = (line: string): void => {
    lines.push(line);
    waiters = waiters.filter((w) => {
      if (!w.predicate(line)) return true;
      w.resolve(line);
      return false;
    });
  };
  child.stdout!.on('data', (d) => (stdout += d));
  child.stderr!.setEncoding('utf8'); // a character split between chunks stays whole
  child.stderr!.on('data', (d: string) => {
    stderr += d;
    const parts = (tail + d).split('\n');
    tail = parts.pop()!;
    for (const line of parts) take(line);
  });
  child.stderr!.on('end', () => {
    if (tail) take(tail);
    tail = '';
  });
  const exited = new Promise<Exited>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`process did not exit in time:\n${stderr.slice(-2000)}`));
    }, timeoutMs);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      setImmediate(() => resolve({ code, signal, stdout, stderr }));
    });
  });
  return {
    child,
    exited,
    stderrLines: (predicate) =>
      new Promise((resolve) => {
        const found = lines.find(predicate);
        if (found !== undefined) resolve(found);
        else waiters.push({ predicate, resolve });
      }),
  };
}
