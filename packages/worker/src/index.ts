export { runWorker, type WorkerOptions, type WorkerExit } from './worker.js';
export { PROTOCOL_VERSION } from './protocol.js';
