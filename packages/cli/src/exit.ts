/**
 * How the shardprop command ends: exit codes in one place (0 done, 1 the run
 * failed, 2 bad input: flags, values, files), every failure as one line on stderr.
 */
import { UsageError } from '@shardprop/coordinator';
import { CheckpointError, DatasetError, ModelFileError } from '@shardprop/core';

export const EXIT_FAILED = 1;
export const EXIT_BAD_INPUT = 2;

/** The exit code of a run stopped by a signal: the shell's 128 + the signal's number. */
export const SIGNAL_EXIT = { SIGINT: 130, SIGTERM: 143 } as const;

export function fail(message: string, code: number): never {
  process.stderr.write(`shardprop: ${message}\n`);
  process.exit(code);
}

/** The exit code and one-line message for an error that reached the top. */
export function report(err: unknown): never {
  if (err instanceof UsageError || err instanceof DatasetError || err instanceof ModelFileError || err instanceof CheckpointError) fail(err.message, EXIT_BAD_INPUT);
  if (process.env.SHARDPROP_DEBUG) console.error(err);
  fail(err instanceof Error ? err.message : String(err), EXIT_FAILED);
}

/**
 * On SIGINT or SIGTERM the first signal asks to stop (`onFirst` says so in the log)
 * and a second exits at once. Returns the exit code for a stop: the first signal's,
 * undefined before any.
 */
export function stopOnSignal(onFirst: (signal: NodeJS.Signals) => void): () => number | undefined {
  let code: number | undefined;
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.on(signal, () => {
      if (code !== undefined) process.exit(SIGNAL_EXIT[signal]);
      code = SIGNAL_EXIT[signal];
      onFirst(signal);
    });
  }
  return () => code;
}
