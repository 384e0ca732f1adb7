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

/**
 * Runs `shardprop ARGS` as a real process and resolves once it has exited and its
 * output has been read to the end; kills it (and fails) past the limit, a bound for a
 * run that hangs, never a wait for something to happen.
 */
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
    child.on('exit', () => live.delete(child));
    // 'close': exited, and its pipes are read to the end (what it wrote just before exiting is in)
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
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

/** A started process followed by collect(). */
export interface Collected {
  child: ChildProcess;
  /** Its exit, once its output has been read to the end (bounded in time: killed past it). */
  exited: Promise<Exited>;
  /** The first stderr line matching `predicate`, seen already or to come; fails if stderr ends without one. */
  stderrLines: (predicate: (line: string) => boolean) => Promise<string>;
  /** The first `count` stderr lines matching `predicate`, once there are that many; fails if stderr ends before. */
  stderrCount: (predicate: (line: string) => boolean, count: number) => Promise<string[]>;
  /** The stderr lines matching `predicate` so far. */
  seen: (predicate: (line: string) => boolean) => string[];
}

/**
 * Follows a started process: its exit (bounded in time, killed past it) and lines of its stderr
 * as they come. A wait for a line the process never writes fails when its stderr ends (it
 * exited), with the end of its log, instead of hanging until the test's timeout.
 */
export function collect(child: ChildProcess, timeoutMs = 60_000): Collected {
  let stdout = '';
  let stderr = '';
  // stderr's complete lines so far, and the unfinished last one: a waiter sees only whole lines, each once
  const lines: string[] = [];
  let tail = '';
  let ended = false;
  interface Waiter {
    predicate: (l: string) => boolean;
    found: string[];
    count: number;
    resolve: (lines: string[]) => void;
    reject: (err: Error) => void;
  }
  let waiters: Waiter[] = [];
  const take = (line: string): void => {
    lines.push(line);
    waiters = waiters.filter((w) => {
      if (!w.predicate(line)) return true;
      w.found.push(line);
      if (w.found.length < w.count) return true;
      w.resolve(w.found);
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
  child.stderr!.on('close', () => {
    if (tail) take(tail);
    tail = '';
    ended = true;
    for (const w of waiters) w.reject(new Error(`the process ended with ${w.found.length} of the ${w.count} lines waited for (${w.predicate.toString()}); its log ended:\n${stderr.slice(-3000)}`));
    waiters = [];
  });
  const exited = new Promise<Exited>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`process did not exit in time:\n${stderr.slice(-2000)}`));
    }, timeoutMs);
    // 'close': exited, and its pipes are read to the end (what it wrote just before exiting is in)
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
  const stderrCount = (predicate: (line: string) => boolean, count: number): Promise<string[]> =>
    new Promise((resolve, reject) => {
      const w: Waiter = { predicate, found: lines.filter(predicate).slice(0, count), count, resolve, reject };
      if (w.found.length >= count) resolve(w.found);
      else if (ended) reject(new Error(`the process ended with ${w.found.length} of the ${count} lines waited for (${predicate.toString()}); its log ended:\n${stderr.slice(-3000)}`));
      else waiters.push(w);
    });
  return {
    child,
    exited,
    stderrLines: (predicate) => stderrCount(predicate, 1).then((found) => found[0]),
    stderrCount,
    seen: (predicate) => lines.filter(predicate),
  };
}
