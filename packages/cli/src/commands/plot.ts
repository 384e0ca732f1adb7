/** `shardprop plot`: learning curves of --metrics files, one line per run, through plotMetrics(). */
import type { CommandModule } from 'yargs';
import { str } from '../flags.js';
import { PLOT_X, type PlotX } from '../plot-axes.js';

export const plotCommand: CommandModule = {
  command: 'plot <metrics..>',
  describe: 'draw training risk and test accuracy from --metrics files, one line per run (.svg or .png)',
  builder: (y) =>
    y
      .positional('metrics', { type: 'string', array: true, describe: 'metrics files written by train --metrics' })
      .option('out', { alias: 'o', type: 'string', demandOption: true, describe: 'the picture: a .svg or .png file' })
      .option('x', { type: 'string', choices: PLOT_X, default: 'step', describe: 'the x axis: step, epoch, samples seen (lines up runs of different batch sizes) or wall time' })
      .option('label', { type: 'string', array: true, describe: 'name of a run in the legend, once per file in order (default: the file name without extension)' })
      .example('$0 plot runs/tour/lr-3.jsonl runs/tour/lr-0.5.jsonl -o curves.svg', 'two runs\' curves, overlaid')
      .example('$0 plot a.jsonl b.jsonl --label fast --label slow -o curves.png', 'named in the legend, as a PNG'),
  async handler(args) {
    const files = (args.metrics as unknown[]).map(String);
    const labels = args.label === undefined ? undefined : [args.label].flat().map(String);
    const out = str(args, 'out') as string;
    // vega takes a fifth of a second to load: only the plot command pays for it
    const { plotMetrics } = await import('../plot.js');
    await plotMetrics(files, out, labels, str(args, 'x') as PlotX);
    process.stdout.write(`${files.length === 1 ? 'curves' : `${files.length} runs' curves`} drawn to ${out}\n`);
  },
};
