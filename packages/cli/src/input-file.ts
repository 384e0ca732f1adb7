import { readFileSync } from 'node:fs';
import { UsageError } from '@shardprop/coordinator';

/**
 * A file the user named (a flag's value, a config or sweep file, a metrics file), or
 * a one-line UsageError: "`what` `path`: file not found" (just "`path`: ..." without `what`).
 */
export function readInputFile(path: string, what?: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'file not found' : code === 'EISDIR' ? 'is a directory' : `cannot read it (${code ?? (err as Error).message})`;
    throw new UsageError(`${what === undefined ? '' : `${what} `}${path}: ${why}`);
  }
}
