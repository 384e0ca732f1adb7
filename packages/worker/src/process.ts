/**
 * How a shardprop process ends: the exit codes every command and the local
 * worker process share (the CLI maps its errors to them in cli/src/exit.ts), and
 * the end of a worker process.
 */
import type { Logger } from 'pino';
import type { WorkerExit } from './session.js';

/** The run failed (a worker that gave up, a coordinator that lost every worker). */
export const EXIT_FAILED = 1;
/** Bad input: flags, values, files. */
export const EXIT_BAD_INPUT = 2;

/**
 * The longest line exitWith prints: far within a pipe's 64 KiB buffer, so the one
 * write before process.exit is never cut short (a 2 MB message was, on a pipe).
 */
const MAX_LINE = 2000;

/** One line on stderr (white space folded, cut to MAX_LINE characters), then the exit code. */
export function exitWith(message: string, code: number): never {
  let line = message.replace(/\s+/g, ' ').trim();
  if (line.length > MAX_LINE) line = `${line.slice(0, MAX_LINE)}… (${line.length} characters in all)`;
  process.stderr.write(`shardprop: ${line}\n`);
  process.exit(code);
}

/**
 * How a worker process ends: 0 when training is over; otherwise its one line on
 * stderr, with the error code (docs/errors.md), and EXIT_FAILED. For the
 * `shardprop worker` command and local workers alike.
 */
export function exitWorkerProcess(exit: WorkerExit, log: Logger): never {
  if (exit.reason === 'done') {
    log.info('training is over');
    process.exit(0);
  }
  exitWith(exit.code ? `${exit.message} [${exit.code}]` : exit.message, EXIT_FAILED);
}
