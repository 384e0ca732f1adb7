import { destination, pino, type Logger } from 'pino';

export type { Logger };

/** Logs go to stderr (stdout is kept for --json), synchronously so nothing is lost at exit. */
export function createLogger(level = process.env.SHARDPROP_LOG_LEVEL ?? 'info'): Logger {
  return pino({ level, base: { pid: process.pid } }, destination({ fd: 2, sync: true }));
}
