/**
 * `shardprop coordinator`: serves on --port and trains once --expect workers
 * have joined by themselves (from this or other machines).
 */
import type { CommandModule } from 'yargs';
import { UsageError, validateWorkerCount, type ServeOptions } from '@shardprop/coordinator';
import { GROUPS, num, readToken, str, trainingFlags, type Args } from '../flags.js';
import { readInputFile } from '../input-file.js';
import { runTraining } from './train.js';

export const coordinatorCommand: CommandModule = {
  command: 'coordinator',
  describe: 'serve on --port and train once --expect workers have joined',
  builder: (y) =>
    // the serving flags first in --help: they are what this command adds to train's
    trainingFlags(y.group(['port', 'host', 'expect', 'token-file', 'tls-cert', 'tls-key'], GROUPS.serving))
      .option('port', { type: 'number', demandOption: true, describe: 'port to listen on (0: any free port)' })
      .option('host', { type: 'string', describe: 'address to listen on (default 127.0.0.1)' })
      .option('expect', { type: 'number', demandOption: true, describe: 'workers to wait for before training starts' })
      .option('token-file', { type: 'string', describe: 'a file holding the secret workers must present (required beyond 127.0.0.1)' })
      .option('tls-cert', { type: 'string', describe: 'PEM certificate: serve wss:// (with --tls-key)' })
      .option('tls-key', { type: 'string', describe: 'PEM private key of --tls-cert' })
      .example('$0 coordinator --port 7070 --expect 2 --data mnist --epochs 1', 'then start two workers: shardprop worker --connect ws://127.0.0.1:7070')
      .example('$0 coordinator --host 0.0.0.0 --port 7070 --expect 3 --token-file token --data mnist', 'workers on other machines, with the secret in the file token')
      .example('$0 coordinator --port 7070 --expect 2 --data mnist --checkpoint-dir ckpt --resume', 'continue a stopped run; its workers reconnect by themselves'),
  handler: (args) => runTraining(args, serveOptionsFromArgs(args)),
};

function serveOptionsFromArgs(args: Args): ServeOptions {
  const port = num(args, 'port');
  const expect = num(args, 'expect');
  if (port === undefined || !Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`--port must be an integer from 0 to 65535, got ${port}`);
  validateWorkerCount('--expect', expect, 1);
  const tlsCert = str(args, 'tls-cert');
  const tlsKey = str(args, 'tls-key');
  if ((tlsCert === undefined) !== (tlsKey === undefined)) throw new UsageError('--tls-cert and --tls-key go together');
  const tokenFile = str(args, 'token-file');
  return {
    host: str(args, 'host') ?? '127.0.0.1',
    port,
    expect,
    token: tokenFile === undefined ? undefined : readToken(tokenFile),
    tls: tlsCert === undefined ? undefined : { cert: readInputFile(tlsCert, '--tls-cert'), key: readInputFile(tlsKey!, '--tls-key') },
  };
}
