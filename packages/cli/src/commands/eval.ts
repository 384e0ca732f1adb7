/** `shardprop eval`: a model's risk and accuracy on a data set, through the programmatic evaluate(). */
import type { CommandModule } from 'yargs';
import { evaluate } from '@shardprop/coordinator';
import { GROUPS, dataSourceFlags, kernelFromEnv, sourceFlags, str } from '../flags.js';

export const evalCommand: CommandModule = {
  command: 'eval',
  describe: 'risk and accuracy of a model on a data set (its held-out part where it has one)',
  builder: (y) =>
    dataSourceFlags(y)
      .option('model', { type: 'string', demandOption: true, describe: 'a shardprop.model/v1 file' })
      .option('data', { type: 'string', demandOption: true, describe: 'a data source, as for train' })
      .option('json', { type: 'boolean', default: false, describe: 'print the figures as one JSON object' })
      .group(['model', 'data'], GROUPS.data)
      .example('$0 eval --model runs/tour/lr-3.json --data mnist', 'risk and accuracy on the 2,000 held-out digits')
      .example('$0 eval --model model.json --data test.csv --label-column label --json', 'on a CSV file, as one JSON object'),
  async handler(args) {
    // the kernels training uses by default (SHARDPROP_KERNEL, else auto), so the figures match the training summary's
    const r = await evaluate({ model: str(args, 'model') as string, data: str(args, 'data') as string, ...sourceFlags(args), kernel: kernelFromEnv() });
    if (args.json === true) process.stdout.write(JSON.stringify(r) + '\n');
    else process.stdout.write(`${r.data}: ${r.samples} samples, risk ${r.risk.toFixed(5)}, accuracy ${r.accuracy.toFixed(4)}\n`);
  },
};
