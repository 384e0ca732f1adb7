/**
 * The process of a slice server (slice-server.ts), started by a worker
 * (slice-child.ts) when its coordinator slices: the worker sends its settings
 * over the IPC channel (so the token is never in the command line or the
 * environment), this process answers where it serves, and it lives until the
 * coordinator is done with it, goes away, or the worker is gone.
 */
import { createLogger, workerLog } from './log.js';
import { SliceServer } from './slice-server.js';
import type { SliceChildMessage, SliceStart } from './slice-child.js';

const log = createLogger();
const say = (message: SliceChildMessage): void => {
  process.send?.(message);
};
// the worker is gone (even killed): so is its slice server
process.on('disconnect', () => process.exit(0));
process.once('message', (start: SliceStart) => {
  void (async () => {
    let server: SliceServer;
    try {
      server = await SliceServer.start({ ...start, ca: start.ca === undefined ? undefined : Buffer.from(start.ca), log: workerLog(log) });
    } catch (err) {
      say({ type: 'failed', reason: (err as Error).message });
      process.exit(1);
    }
    say({ type: 'serving', serves: server.serves });
    const why = await server.ended;
    await server.close();
    log.info({ reason: why, ...server.bytes() }, 'slice server stopped');
    process.exit(0);
  })();
});
