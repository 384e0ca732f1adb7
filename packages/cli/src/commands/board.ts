/**
 * `shardprop board [DIR]`: a local web page of the runs under DIR (default runs/),
 * past and live, their curves overlaid and their records, through serveBoard().
 * Serves until SIGINT or SIGTERM.
 */
import { existsSync } from 'node:fs';
import type { CommandModule } from 'yargs';
import { UsageError, serveBoard } from '@shardprop/coordinator';
import { createLogger } from '@shardprop/worker';
import { num, readToken, str, type Args } from '../flags.js';

export const boardCommand: CommandModule = {
  command: 'board [dir]',
  describe: 'a web page of the runs under a folder (default runs/), past and live: curves overlaid, configurations, summaries',
  builder: (y) =>
    y
      .positional('dir', { type: 'string', default: 'runs', describe: 'the folder of runs: every *.run.json a few levels down' })
      .option('port', { type: 'number', describe: 'the port (default: a free one, printed)' })
      .option('host', { type: 'string', default: '127.0.0.1', describe: 'the address to listen on; beyond loopback only with --token-file' })
      .option('token-file', { type: 'string', describe: 'a file holding a secret the page then asks for (?token=...)' })
      .example('$0 board', 'the runs under runs/, at the address printed')
      .example('$0 board sweeps/ --port 6006', 'a sweep\'s runs, on a fixed port'),
  handler: (args) => board(args),
};

async function board(args: Args): Promise<void> {
  const port = num(args, 'port');
  if (port !== undefined && !(Number.isInteger(port) && port >= 0 && port <= 65535)) throw new UsageError(`--port must be an integer from 0 to 65535, got ${port}`);
  const tokenFile = str(args, 'token-file');
  const dir = str(args, 'dir') as string;
  const served = await serveBoard({ dir, host: str(args, 'host'), port, token: tokenFile === undefined ? undefined : readToken(tokenFile), log: createLogger() });
  const note = existsSync(dir) ? '' : ` (${dir} does not exist yet: runs appear as they write their records there)`;
  process.stdout.write(`board of ${dir}: ${served.url}${note}\n`);
  await new Promise<void>((resolve) => {
    for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => resolve());
  });
  await served.close();
}
