/**
 * `shardprop worker`: joins a coordinator and computes gradients on the shard
 * it hands out, until training is over (exit 0) or it cannot go on (exit 1).
 */
import { availableParallelism } from 'node:os';
import type { CommandModule } from 'yargs';
import { UsageError, defaultThreads, validateSeed } from '@shardprop/coordinator';
import { MAX_THREADS, describeColumns, fingerprint, loadSource, type Dataset } from '@shardprop/core';
import { createLogger, exitWorkerProcess, runWorker, workerLog } from '@shardprop/worker';
import { GROUPS, dataSourceFlags, num, readToken, sourceFlags, str, type Args } from '../flags.js';
import { readInputFile } from '../input-file.js';

export const workerCommand: CommandModule = {
  command: 'worker',
  describe: 'join a coordinator and compute gradients on the shard it hands out',
  builder: (y) =>
    dataSourceFlags(y)
      .option('connect', { type: 'string', demandOption: true, describe: 'the coordinator, ws://HOST:PORT' })
      .option('name', { type: 'string', describe: 'a name for logs (default HOST:PID)' })
      .option('token-file', { type: 'string', describe: 'a file holding the coordinator\'s secret (or set SHARDPROP_TOKEN)' })
      .option('ca', { type: 'string', describe: 'PEM certificate to trust for a wss:// coordinator (e.g. its self-signed one)' })
      .option('reconnect-for', { type: 'number', describe: 'seconds to keep trying to reach a coordinator that is not there or went away (default 30; 0: give up at once)' })
      .option('silence-timeout', { type: 'number', describe: 'seconds without a word from the coordinator (pinged after 5 s of silence) before it is taken for gone and the worker reconnects (default 20)' })
      .option('data', { type: 'string', describe: 'load the data set here instead of receiving the shard (the coordinator\'s source; fingerprints must agree)' })
      .option('seed', { type: 'number', describe: 'with --data: the coordinator\'s --seed (synthetic sources depend on it)' })
      .option('threads', { type: 'number', describe: 'threads of the kernels; any count gives the same bits (default: every core of this machine)' })
      .option('slice-port', { type: 'number', describe: 'the port of the slice server this worker starts when its coordinator slices (--aggregation slices): the other workers connect to it there (default: any free port)' })
      .group(['connect', 'name', 'token-file', 'ca', 'reconnect-for', 'silence-timeout', 'slice-port'], 'Connection:')
      .group(['threads'], 'Computing:')
      .group(['data', 'seed'], GROUPS.data)
      .example('$0 worker --connect ws://127.0.0.1:7070', 'join a coordinator on this machine')
      .example('$0 worker --connect wss://coordinator.example:7070 --token-file token --ca cert.pem', 'join one elsewhere, over TLS with its self-signed certificate')
      .example('$0 worker --connect ws://10.0.0.1:7070 --data /data/train.csv --label-column label', 'load the data set from this disk instead of receiving the shard'),
  handler: (args) => work(args),
};

async function work(args: Args): Promise<void> {
  const url = str(args, 'connect') as string;
  if (!/^wss?:\/\/[^\s/]+/.test(url)) throw new UsageError(`--connect must be a ws://HOST:PORT address, got "${url}"`);
  const log = createLogger();
  const source = str(args, 'data');
  let data: { train: Dataset; fingerprint: string } | undefined;
  if (source !== undefined) {
    const seed = num(args, 'seed');
    validateSeed(seed);
    const { train } = loadSource(source, { ...sourceFlags(args), seed });
    data = { train, fingerprint: fingerprint(train) };
    log.info({ data: train.source, samples: train.count, fingerprint: data.fingerprint }, 'loaded the data set; the coordinator will check it is the same as its own');
    if (train.columns) log.info({ data: train.source, inputs: train.inputs, outputs: train.outputs }, describeColumns(train.columns, train.outputs));
  }
  const reconnectFor = num(args, 'reconnect-for');
  if (reconnectFor !== undefined && !(reconnectFor >= 0 && reconnectFor <= 86_400)) throw new UsageError(`--reconnect-for must be a number of seconds from 0 to 86400, got ${reconnectFor}`);
  const silence = num(args, 'silence-timeout');
  if (silence !== undefined && !(silence >= 1 && silence <= 86_400)) throw new UsageError(`--silence-timeout must be a number of seconds from 1 to 86400, got ${silence}`);
  const threads = num(args, 'threads') ?? defaultThreads();
  if (!(Number.isInteger(threads) && threads >= 1 && threads <= MAX_THREADS)) throw new UsageError(`--threads must be an integer from 1 to ${MAX_THREADS}, got ${threads}`);
  if (threads > availableParallelism()) log.warn({ threads, cores: availableParallelism() }, 'more threads than cores: they take turns, which is slower; leave out --threads to use each core once');
  const slicePort = num(args, 'slice-port');
  if (slicePort !== undefined && !(Number.isInteger(slicePort) && slicePort >= 0 && slicePort <= 65_535)) throw new UsageError(`--slice-port must be a port number from 0 to 65535, got ${slicePort}`);
  const tokenFile = str(args, 'token-file');
  const token = tokenFile !== undefined ? readToken(tokenFile) : process.env.SHARDPROP_TOKEN || undefined;
  const ca = str(args, 'ca');
  const exit = await runWorker({
    url,
    token,
    ca: ca === undefined ? undefined : readInputFile(ca, '--ca'),
    reconnectForMs: reconnectFor === undefined ? undefined : reconnectFor * 1000,
    silentForMs: silence === undefined ? undefined : silence * 1000,
    name: str(args, 'name'),
    data,
    threads,
    slicePort,
    log: workerLog(log),
    // a progress line where someone watches, a log line every few seconds otherwise
    report: process.stderr.isTTY ? 'terminal' : 'log',
  });
  exitWorkerProcess(exit, log);
}
