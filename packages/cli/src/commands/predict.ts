/** `shardprop predict`: one prediction per row of a data set, as CSV or JSON lines, through predictData(). */
import type { CommandModule } from 'yargs';
import { OutputError, PREDICTION_TASKS, checkReplaceable, predictData, type PredictionTask } from '@shardprop/coordinator';
import { writeFileAtomically } from '@shardprop/core';
import { GROUPS, dataSourceFlags, kernelFromEnv, sourceFlags, str } from '../flags.js';
import { writePredictions } from '../predictions.js';

export const predictCommand: CommandModule = {
  command: 'predict',
  describe: 'one prediction per row of a data set (class and per-class scores, or the outputs), as CSV or JSON lines',
  builder: (y) =>
    dataSourceFlags(y)
      .option('model', { type: 'string', demandOption: true, describe: 'a shardprop.model/v1 file' })
      .option('data', { type: 'string', demandOption: true, describe: 'a data source, as for train; a CSV may hold only the inputs' })
      .option('out', { alias: 'o', type: 'string', describe: 'write the predictions to this file (default: stdout)' })
      .option('json', { type: 'boolean', default: false, describe: 'JSON lines instead of CSV' })
      .option('task', { type: 'string', choices: PREDICTION_TASKS, describe: 'classes and scores, or output values (default: classification under cross-entropy or for class-label data)' })
      .group(['model', 'data'], GROUPS.data)
      .group(['out', 'json', 'task'], GROUPS.output)
      .example('$0 predict --model runs/tour/lr-3.json --data mnist', 'the class and scores of each held-out digit, as CSV')
      .example('$0 predict --model model.json --data new.csv --json --out predictions.jsonl', 'a CSV of inputs only, as JSON lines in a file'),
  async handler(args) {
    const out = str(args, 'out');
    if (out !== undefined) checkReplaceable('--out', out);
    const p = await predictData({
      model: str(args, 'model') as string,
      data: str(args, 'data') as string,
      ...sourceFlags(args),
      task: str(args, 'task') as PredictionTask | undefined,
      kernel: kernelFromEnv(),
    });
    const json = args.json === true;
    if (out === undefined) {
      // a reader that stops early (| head) ends the output, not the command with a stack trace
      process.stdout.on('error', (err: NodeJS.ErrnoException) => process.exit(err.code === 'EPIPE' ? 0 : 1));
      writePredictions(p, json, (text) => process.stdout.write(text));
      return;
    }
    try {
      writeFileAtomically(out, (put) => writePredictions(p, json, (text) => put(Buffer.from(text, 'utf8'))));
    } catch (err) {
      throw new OutputError('--out', `--out ${out}: cannot write (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
    }
    process.stderr.write(`${p.samples} predictions (${p.task}) written to ${out}\n`);
  },
};
