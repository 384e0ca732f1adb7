/**
 * How the shardprop command ends: errors mapped to exit codes in one place (0
 * done, EXIT_FAILED the run failed, EXIT_BAD_INPUT bad input: flags, values,
 * files, 130/143 a signal), every failure as one line on stderr. The codes
 * themselves are the worker package's, which local worker processes share.
 */
import { UsageError } from '@shardprop/coordinator';
import { CheckpointError, DatasetError, ModelFileError } from '@shardprop/core';
import { isErrorCode } from '@shardprop/protocol';
import { EXIT_BAD_INPUT, EXIT_FAILED, exitWith } from '@shardprop/worker';

export { EXIT_BAD_INPUT, EXIT_FAILED, exitWith };

/** The exit code of a run stopped by a signal: the shell's 128 + the signal's number. */
export const SIGNAL_EXIT = { SIGINT: 130, SIGTERM: 143 } as const;

/** The exit code and one-line message for an error that reached the top. */
export function report(err: unknown): never {
  if (err instanceof UsageError || err instanceof DatasetError || err instanceof ModelFileError || err instanceof CheckpointError) exitWith(err.message, EXIT_BAD_INPUT);
  if (process.env.SHARDPROP_DEBUG) console.error(err);
  // an error that carries one of the protocol's codes (a run that lost every worker) names it: docs/errors.md says what to do
  const code = (err as { code?: unknown } | null)?.code;
  const message = err instanceof Error ? err.message : String(err);
  exitWith(isErrorCode(code) ? `${message} [${code}]` : message, EXIT_FAILED);
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
