import { DatasetError } from '../dataset.js';
import { UnreadableFile, readRegularFile } from '../regular-file.js';

/** One-hot rows wider than this are a mistake (a wrong label column), not a data set. */
export const MAX_CLASSES = 65536;

/** A data file's bytes, or a DatasetError naming it: file not found, not a regular file, too large, empty. */
export function readDataFile(path: string): Buffer {
  let bytes: Buffer;
  try {
    bytes = readRegularFile(path);
  } catch (err) {
    if (err instanceof UnreadableFile) throw new DatasetError(`${path}: ${err.message}`);
    throw err;
  }
  if (bytes.length === 0) throw new DatasetError(`${path}: empty file`);
  return bytes;
}
