import { fileURLToPath } from 'node:url';

export { runWorker, type WorkerOptions, type WorkerLog } from './client.js';
export { WorkerActivity, LOG_EVERY_MS, type ActivityReport, type WorkerTotals } from './activity.js';
export { WorkerSession, type WorkerExit, type SessionEvent, type SessionAction } from './session.js';
export { ShardWorker } from './shard-worker.js';
export { createLogger, workerLog, type Logger } from './log.js';
export { EXIT_FAILED, EXIT_BAD_INPUT, exitWith, exitWorkerProcess } from './process.js';

/**
 * The script of a local worker process (main.ts, built): what a coordinator starts for
 * `train --workers N`. Always the built one in dist/, also when this module runs from
 * src/ (the tests import the sources; a process needs JavaScript).
 */
export const LOCAL_WORKER_MAIN = fileURLToPath(new URL('../dist/main.js', import.meta.url));

/** The browser worker's files (page, Web Worker script, kernels), as the package build leaves them: the coordinator serves them at /join. */
export const BROWSER_DIR = fileURLToPath(new URL('../dist/browser/', import.meta.url));
