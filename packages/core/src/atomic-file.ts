import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, mkdirSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';

/**
 * Writes a file atomically: a temporary file in the same directory receives the
 * bytes (through `put`), is fsynced and renamed over `path`, and the directory is
 * synced. A reader, or a process killed at any moment, sees the old file or the
 * new one, never half of one. Parent directories are created.
 */
export function writeFileAtomically(path: string, write: (put: (bytes: Uint8Array) => void) => void): void {
  const dir = dirname(resolve(path));
  mkdirSync(dir, { recursive: true });
  const tmp = join(dir, `.${basename(path)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  const fd = openSync(tmp, 'wx', 0o644);
  let closed = false;
  let renamed = false;
  try {
    write((bytes) => {
      for (let done = 0; done < bytes.length; ) done += writeSync(fd, bytes, done);
    });
    fsyncSync(fd);
    closeSync(fd);
    closed = true;
    renameSync(tmp, path);
    renamed = true;
  } finally {
    if (!closed) closeSync(fd);
    if (!renamed) rmSync(tmp, { force: true });
  }
  // The rename itself is durable only once the directory is synced; not every platform allows that.
  try {
    const dirFd = openSync(dir, 'r');
    try {
      fsyncSync(dirFd);
    } finally {
      closeSync(dirFd);
    }
  } catch {
    // best effort
  }
}
