/**
 * Where a run writes (the model, the checkpoint folder, the metrics and trace
 * logs), checked before its first step so that a finished run is never lost to a
 * path that could not take it; and the writes during the run, which say which file
 * failed and leave what was written before intact.
 */
import { closeSync, existsSync, fstatSync, ftruncateSync, mkdirSync, openSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { UsageError } from './options.js';

/** A write that failed during or after training (a full disk, a device that refuses): the run fails, naming the file. */
export class OutputError extends Error {
  override name = 'OutputError';
  /** The flag that named the file (--metrics, --trace, --checkpoint-dir, --out). */
  constructor(readonly flag: string, message: string) {
    super(message);
  }
}

/** A log file the run appends to: its folder is made, and it must be writable now, not after the first epoch. */
export function checkAppendable(flag: string, path: string): void {
  try {
    makeFolders(dirname(resolve(path)));
    closeSync(openSync(path, 'a'));
  } catch (err) {
    throw new UsageError(`${flag} ${path}: cannot write there (${codeOf(err)})`);
  }
}

/**
 * A file the run replaces at its end (the model): not a directory or a device, in
 * a folder that exists (it is made) and takes a new file now.
 */
export function checkReplaceable(flag: string, path: string): void {
  const full = resolve(path);
  if (existsSync(full)) {
    const s = statSync(full);
    if (s.isDirectory()) throw new UsageError(`${flag} ${path}: is a directory; name a file in it, e.g. ${join(path, 'model.json')}`);
    if (!s.isFile()) throw new UsageError(`${flag} ${path}: is not a regular file (a device or a pipe); name a file`);
  }
  checkFolder(flag, dirname(full), path);
}

/** A folder the run writes files into (checkpoints): made if missing, and it must take a new file now. */
export function checkFolder(flag: string, dir: string, named = dir): void {
  try {
    makeFolders(resolve(dir));
  } catch (err) {
    throw new UsageError(`${flag} ${named}: cannot make its folder (${codeOf(err)})`);
  }
  if (!statSync(dir).isDirectory()) throw new UsageError(`${flag} ${named}: ${dir} is not a folder`);
  const probe = join(dir, `.shardprop-probe-${process.pid}`);
  try {
    closeSync(openSync(probe, 'wx'));
    unlinkSync(probe);
  } catch (err) {
    throw new UsageError(`${flag} ${named}: cannot write there (${codeOf(err)})`);
  }
}

/**
 * Appends `line` to the log file `path` (given as `flag`). A write that fails
 * (ENOSPC, EIO) leaves the file as it was, cut back to its old length, and throws
 * an OutputError naming the file.
 */
export function appendLine(flag: string, path: string, line: string): void {
  let fd: number | undefined;
  let before = 0;
  try {
    fd = openSync(path, 'a');
    const regular = fstatSync(fd).isFile();
    if (regular) before = fstatSync(fd).size;
    const bytes = Buffer.from(line, 'utf8');
    try {
      for (let done = 0; done < bytes.length; ) done += writeSync(fd, bytes, done);
    } catch (err) {
      // no half line: what was there stays whole (a device has no length to cut back to)
      if (regular) ftruncateSync(fd, before);
      throw err;
    }
  } catch (err) {
    throw new OutputError(flag, `${flag} ${path}: cannot write (${codeOf(err)}); what it held before is kept`);
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** mkdir -p, one level at a time (Node's recursive mkdir can spin on a path under /proc). */
export function makeFolders(dir: string): void {
  if (existsSync(dir)) return;
  makeFolders(dirname(dir));
  mkdirSync(dir);
}

function codeOf(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  return e.code ?? e.message;
}
