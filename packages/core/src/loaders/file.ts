import { readFileSync } from 'node:fs';
import { DatasetError } from '../dataset.js';

/** One-hot rows wider than this are a mistake (a wrong label column), not a data set. */
export const MAX_CLASSES = 65536;

/** A data file's bytes, or a DatasetError naming it: file not found, not a file, empty. */
export function readDataFile(path: string): Buffer {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'file not found' : code === 'EISDIR' ? 'is a directory' : code === 'EACCES' ? 'permission denied' : `cannot read (${(err as Error).message})`;
    throw new DatasetError(`${path}: ${why}`);
  }
  if (bytes.length === 0) throw new DatasetError(`${path}: empty file`);
  return bytes;
}
