/**
 * `shardprop trace-diff A B`: the first step where two --trace files part, or that
 * they agree, through readTrace() and diffTraces(). Exit 0 when every common step
 * agrees, 1 when they part, 2 on bad input.
 */
import type { CommandModule } from 'yargs';
import { EXIT_FAILED } from '../exit.js';
import { describeTraceDiff, diffTraces, readTrace } from '../trace-diff.js';

export const traceDiffCommand: CommandModule = {
  command: 'trace-diff <a> <b>',
  describe: 'the first step where two --trace files part (another batch, or other parameters after it), or that they agree',
  builder: (y) =>
    y
      .positional('a', { type: 'string', describe: 'a trace written by train --trace' })
      .positional('b', { type: 'string', describe: 'another, to compare step by step' })
      .option('json', { type: 'boolean', default: false, describe: 'print the answer as one JSON object' })
      .example('$0 trace-diff w0.jsonl w3.jsonl', 'in process and with 3 workers: exit 0 when every common step agrees, 1 at the first that parts')
      .example('$0 trace-diff a.jsonl b.jsonl --json', 'the same as one JSON object (agree, step, differs, each run\'s blocks)'),
  handler(args) {
    const diff = diffTraces(readTrace(String(args.a)), readTrace(String(args.b)));
    process.stdout.write(args.json === true ? JSON.stringify(diff) + '\n' : describeTraceDiff(diff));
    if (!diff.agree) process.exitCode = EXIT_FAILED;
  },
};
