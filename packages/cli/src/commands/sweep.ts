/**
 * `shardprop sweep`: every combination of a grid of flags (a sweep file), each
 * run as `shardprop train` would read its flags, through the programmatic runSweep().
 */
import { resolve } from 'node:path';
import yargs, { type CommandModule } from 'yargs';
import { UsageError, timestamp, validateTrainOptions } from '@shardprop/coordinator';
import { createLogger } from '@shardprop/worker';
import { flagTypesOf } from '../config.js';
import { EXIT_FAILED, SIGNAL_EXIT, exitWith, stopOnSignal } from '../exit.js';
import { num, str, trainFlags, trainOptionsFromArgs, type Args } from '../flags.js';
import { MAX_PARALLEL, readSweepFile, type SweepFile } from '../sweep-file.js';
import { formatResults, runSweep, type SweepRun } from '../sweep.js';

export const sweepCommand: CommandModule = {
  command: 'sweep',
  describe: 'train every combination of a grid of flags (a JSON sweep file), each run in its own directory, with a results table and plot',
  builder: (y) =>
    y
      .option('config', { type: 'string', demandOption: true, describe: 'the sweep file: { "base": {flags}, "grid": {flag: [values]}, "out": DIR }' })
      .option('out', { type: 'string', describe: 'the sweep\'s directory (default: the file\'s "out", else sweeps/<time>)' })
      .option('parallel', { type: 'number', describe: 'runs at once (default 1)' })
      .option('resume', { type: 'boolean', describe: 'skip the runs that already finished in --out' })
      .option('json', { type: 'boolean', default: false, describe: 'print the results as one JSON object' })
      .example('$0 sweep --config examples/sweep.json', 'every combination of its grid, in sweeps/<time>')
      .example('$0 sweep --config examples/sweep.json --out sweeps/lr --parallel 2', 'two runs at once, in sweeps/lr')
      .example('$0 sweep --config examples/sweep.json --out sweeps/lr --resume', 'after Ctrl-C: only the runs not done yet'),
  handler: (args) => sweep(args),
};

async function sweep(args: Args): Promise<void> {
  const file = readSweepFile(str(args, 'config') as string, flagTypesOf(trainFlags(yargs([]))));
  const given = num(args, 'parallel');
  if (given !== undefined && !(Number.isInteger(given) && given >= 1 && given <= MAX_PARALLEL)) throw new UsageError(`--parallel must be an integer from 1 to ${MAX_PARALLEL}, got ${given}`);
  const parallel = given ?? file.parallel ?? 1;
  const outFlag = str(args, 'out');
  const out = outFlag !== undefined ? resolve(outFlag) : (file.out ?? resolve('sweeps', timestamp(new Date())));
  const runs = planRuns(file);

  const log = createLogger();
  const stopping = new AbortController();
  const stopCode = stopOnSignal((signal) => {
    log.warn(`${signal}: stopping the sweep; finished runs are kept (a second ${signal} stops at once)`);
    stopping.abort();
  });
  log.info({ runs: runs.length, parallel, out }, `sweep of ${runs.length} runs`);
  const result = await runSweep(runs, { out, parallel, resume: args.resume === true, log, signal: stopping.signal });
  if (args.json === true) {
    process.stdout.write(JSON.stringify({ out: result.out, csv: result.csv, plot: result.plot, best: result.best?.name, total: result.total, skipped: result.skipped, stopped: result.stopped, runs: result.records }) + '\n');
  } else {
    process.stdout.write(formatResults(result));
  }
  if (result.stopped) {
    const resume = `shardprop sweep --config ${file.path} --out ${result.out} --resume`;
    log.warn(`sweep stopped: ${result.records.length} of ${result.total} runs finished, kept in ${result.csv}; continue with: ${resume}`);
    process.exit(stopCode() ?? SIGNAL_EXIT.SIGINT);
  }
  const failed = result.records.filter((r) => r.status === 'failed').length;
  if (failed > 0) exitWith(`${failed} of ${result.total} runs failed (see ${result.csv})`, EXIT_FAILED);
}

/** Every run's flags as TrainOptions, checked before the first run starts: a mistake in run 7 should not wait for runs 1 to 6. */
function planRuns(file: SweepFile): SweepRun[] {
  return file.runs.map((run) => {
    try {
      const options = trainOptionsFromArgs(run.flags);
      validateTrainOptions(options);
      return { name: run.name, values: run.values, options };
    } catch (err) {
      if (err instanceof UsageError) throw new UsageError(`sweep file ${file.path}: run ${run.name}: ${err.message}`);
      throw err;
    }
  });
}
