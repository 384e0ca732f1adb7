/**
 * The logger of every shardprop process (worker, coordinator, CLI): pino lines on
 * stderr. It lives in the lowest package that logs; core never does.
 */
import { destination, pino, type Logger } from 'pino';
import pretty from 'pino-pretty';

export type { Logger };

/** How runWorker logs: one-line messages, fields apart (the CLI hands them to pino). */
export type WorkerLog = (level: 'info' | 'warn' | 'error', message: string, fields?: Record<string, unknown>) => void;

/**
 * Logs go to stderr (stdout is kept for --json), synchronously so nothing is lost at exit:
 * one JSON object a line (pino's), or, when stderr is a terminal, the same lines made
 * readable by pino-pretty. SHARDPROP_LOG_FORMAT=json or =pretty forces one.
 */
export function createLogger(level = process.env.SHARDPROP_LOG_LEVEL ?? 'info'): Logger {
  const format = process.env.SHARDPROP_LOG_FORMAT ?? (process.stderr.isTTY ? 'pretty' : 'json');
  const stream = format === 'pretty' ? pretty({ destination: 2, sync: true, colorize: process.stderr.isTTY, translateTime: 'SYS:HH:MM:ss', ignore: 'pid,hostname', singleLine: true }) : destination({ fd: 2, sync: true });
  return pino({ level, base: { pid: process.pid } }, stream);
}

/** A pino logger as runWorker's `log` (fields first, the message constant). */
export function workerLog(log: Logger): WorkerLog {
  return (level, message, fields) => log[level](fields ?? {}, message);
}
