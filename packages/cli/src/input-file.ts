import { UsageError } from '@shardprop/coordinator';
import { UnreadableFile, readRegularFile } from '@shardprop/core';

/**
 * A file the user named (a flag's value, a config or sweep file, a metrics file), or
 * a one-line UsageError: "`what` `path`: file not found" (just "`path`: ..." without `what`).
 */
export function readInputFile(path: string, what?: string): Buffer {
  try {
    return readRegularFile(path);
  } catch (err) {
    if (err instanceof UnreadableFile) throw new UsageError(`${what === undefined ? '' : `${what} `}${path}: ${err.message}`);
    throw err;
  }
}
