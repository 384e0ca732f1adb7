/**
 * The shardprop command: one yargs command module per command (commands/), each
 * parsing its flags and calling a programmatic API. Usage mistakes exit 2 with
 * one line; see exit.ts for every exit code.
 */
import yargs from 'yargs';
import { boardCommand } from './commands/board.js';
import { coordinatorCommand } from './commands/coordinator.js';
import { evalCommand } from './commands/eval.js';
import { plotCommand } from './commands/plot.js';
import { sweepCommand } from './commands/sweep.js';
import { trainCommand } from './commands/train.js';
import { workerCommand } from './commands/worker.js';
import { EXIT_BAD_INPUT, exitWith, report } from './exit.js';

const COMMANDS = [trainCommand, coordinatorCommand, workerCommand, evalCommand, plotCommand, sweepCommand, boardCommand];

export function buildCli(argv: string[]) {
  const names = COMMANDS.map((c) => String(c.command).split(' ')[0]);
  return yargs(argv)
    .scriptName('shardprop')
    .usage('$0 <command> [options]\n\nA data-parallel trainer for fully connected networks.')
    .command(COMMANDS)
    .demandCommand(1, `name a command: ${names.slice(0, -1).join(', ')} or ${names.at(-1)} (see --help)`)
    .strict()
    .recommendCommands()
    .help()
    .version(false)
    .wrap(Math.min(110, process.stdout.columns ?? 110))
    .fail((message, err) => {
      if (err) report(err);
      exitWith(`${message.split('\n').map((l) => l.trim()).filter(Boolean).join(' ')} (see shardprop --help)`, EXIT_BAD_INPUT);
    });
}

export async function main(argv: string[]): Promise<void> {
  try {
    await buildCli(argv).parseAsync();
  } catch (err) {
    report(err);
  }
}
