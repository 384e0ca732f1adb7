/**
 * The process a coordinator starts for each of its local workers (`train
 * --workers N`): `node main.js --connect URL --name NAME --threads T`, the token in
 * SHARDPROP_TOKEN. It lives and dies with that coordinator: no reconnecting.
 * Users start workers with `shardprop worker` (packages/cli) instead.
 */
import { parseArgs } from 'node:util';
import { MAX_THREADS } from '@shardprop/core';
import { runWorker } from './client.js';
import { createLogger, workerLog } from './log.js';
import { EXIT_BAD_INPUT, EXIT_FAILED, exitWith, exitWorkerProcess } from './process.js';

let values;
try {
  ({ values } = parseArgs({ options: { connect: { type: 'string' }, name: { type: 'string' }, threads: { type: 'string' } } }));
} catch (err) {
  exitWith(`a local worker takes --connect URL, --name NAME and --threads T: ${(err as Error).message}`, EXIT_BAD_INPUT);
}
if (values.connect === undefined) exitWith('a local worker needs --connect URL', EXIT_BAD_INPUT);
const threads = Number(values.threads ?? '1');
if (!(Number.isInteger(threads) && threads >= 1 && threads <= MAX_THREADS)) exitWith(`a local worker's --threads must be an integer from 1 to ${MAX_THREADS}, got ${values.threads}`, EXIT_BAD_INPUT);
const log = createLogger();
try {
  const exit = await runWorker({ url: values.connect, name: values.name, token: process.env.SHARDPROP_TOKEN || undefined, reconnectForMs: 0, log: workerLog(log), threads });
  exitWorkerProcess(exit, log);
} catch (err) {
  exitWith((err as Error).message, EXIT_FAILED);
}
