/**
 * Reading a file the user named, safely: only a regular file (a link to one is
 * fine), refused before it is opened when it is a directory, a device, a FIFO or
 * a socket (a FIFO with no writer would block the process, signal handlers and
 * all; /dev/zero never ends), and only up to a size bound. Each caller turns the
 * reason into its own error class, with the file's name.
 */
import { closeSync, fstatSync, openSync, readSync, statSync } from 'node:fs';
import { bytesShown } from './quote.js';

/** Why a file could not be read, without its name (the caller's error names it). */
export class UnreadableFile extends Error {
  override name = 'UnreadableFile';
}

/** The most readFileSync can return; data files are bounded by it. */
export const MAX_FILE_BYTES = 2 ** 31 - 1;

/** The bytes of the regular file at `path`, at most `maxBytes` of them; UnreadableFile says why not. */
export function readRegularFile(path: string, maxBytes = MAX_FILE_BYTES): Buffer {
  let fd: number;
  try {
    // stat first: opening a FIFO for reading blocks until a writer comes
    const kind = kindOf(statSync(path));
    if (kind !== 'file') throw new UnreadableFile(kind === 'directory' ? 'is a directory' : `is a ${kind}, not a regular file`);
    fd = openSync(path, 'r');
  } catch (err) {
    if (err instanceof UnreadableFile) throw err;
    throw new UnreadableFile(reasonOf(err as NodeJS.ErrnoException));
  }
  try {
    // the file named may have been swapped since the stat: what is open is what counts
    const stats = fstatSync(fd);
    if (kindOf(stats) !== 'file') throw new UnreadableFile(`is a ${kindOf(stats)}, not a regular file`);
    if (stats.size > maxBytes) throw new UnreadableFile(`is ${bytesShown(stats.size)}, more than the ${bytesShown(maxBytes)} it may have`);
    const bytes = Buffer.allocUnsafe(stats.size);
    let at = 0;
    while (at < bytes.length) {
      const n = readSync(fd, bytes, at, bytes.length - at, at);
      if (n === 0) break; // it shrank while read: what is there is the file
      at += n;
    }
    return at === bytes.length ? bytes : bytes.subarray(0, at);
  } catch (err) {
    if (err instanceof UnreadableFile) throw err;
    throw new UnreadableFile(reasonOf(err as NodeJS.ErrnoException));
  } finally {
    closeSync(fd);
  }
}

function kindOf(s: { isFile(): boolean; isDirectory(): boolean; isFIFO(): boolean; isSocket(): boolean; isCharacterDevice(): boolean; isBlockDevice(): boolean }): string {
  if (s.isFile()) return 'file';
  if (s.isDirectory()) return 'directory';
  if (s.isFIFO()) return 'named pipe (FIFO)';
  if (s.isSocket()) return 'socket';
  if (s.isCharacterDevice() || s.isBlockDevice()) return 'device';
  return 'special file';
}

function reasonOf(err: NodeJS.ErrnoException): string {
  switch (err.code) {
    case 'ENOENT':
      return 'file not found';
    case 'EISDIR':
      return 'is a directory';
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    case 'ENOTDIR':
      return 'a folder on its path is a file';
    case 'ELOOP':
      return 'too many symbolic links';
    default:
      return `cannot read it (${err.code ?? err.message})`;
  }
}
