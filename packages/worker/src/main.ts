/**
 * The process a coordinator starts for each of its local workers (`train
 * --workers N`): `node main.js --connect URL --name NAME`, the token in
 * SHARDPROP_TOKEN. It lives and dies with that coordinator: no reconnecting.
 * Users start workers with `shardprop worker` (packages/cli) instead.
 */
import { parseArgs } from 'node:util';
import { runWorker } from './client.js';
import { createLogger, exitWorkerProcess, workerLog } from './log.js';

const { values } = parseArgs({ options: { connect: { type: 'string' }, name: { type: 'string' } } });
const log = createLogger();
if (values.connect === undefined) {
  process.stderr.write('shardprop: a local worker needs --connect URL\n');
  process.exit(2);
}
const exit = await runWorker({ url: values.connect, name: values.name, token: process.env.SHARDPROP_TOKEN || undefined, reconnectForMs: 0, log: workerLog(log) });
exitWorkerProcess(exit, log);
