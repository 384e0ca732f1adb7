/**
 * The shardprop command: one yargs command module per command (commands/), each
 * parsing its flags and calling a programmatic API. Usage mistakes exit 2 with
 * one line; see exit.ts for every exit code.
 */
import { readFileSync } from 'node:fs';
import yargs, { type Argv, type CommandModule } from 'yargs';
import { boardCommand } from './commands/board.js';
import { certsCommand } from './commands/certs.js';
import { coordinatorCommand } from './commands/coordinator.js';
import { evalCommand } from './commands/eval.js';
import { launchCommand } from './commands/launch.js';
import { exportCommand } from './commands/export.js';
import { plotCommand } from './commands/plot.js';
import { predictCommand } from './commands/predict.js';
import { sweepCommand } from './commands/sweep.js';
import { traceDiffCommand } from './commands/trace-diff.js';
import { trainCommand } from './commands/train.js';
import { workerCommand } from './commands/worker.js';
import { EXIT_BAD_INPUT, exitWith, report } from './exit.js';
import { rememberArgv } from './flags.js';
import { usageLine } from './usage.js';

const COMMANDS: CommandModule[] = [trainCommand, coordinatorCommand, workerCommand, evalCommand, predictCommand, exportCommand, plotCommand, sweepCommand, boardCommand, traceDiffCommand, certsCommand, launchCommand((argv) => main(argv))];
const NAMES = COMMANDS.map((c) => String(c.command).split(' ')[0]);

/** The version in @shardprop/cli's package.json (one folder above src/ and dist/ alike). */
const VERSION = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;

export function buildCli(argv: string[]) {
  return yargs(argv)
    .scriptName('shardprop')
    .usage('$0 <command> [options]\n\nA data-parallel trainer for fully connected networks.')
    .command(COMMANDS)
    .demandCommand(1, `name a command: ${NAMES.slice(0, -1).join(', ')} or ${NAMES.at(-1)}`)
    .example('$0 train --data mnist --layers 784,30,10 --epochs 1 --lr 3', 'train on the embedded digits (in this process; --workers N for local workers)')
    .example('$0 train --help', 'every flag of a command, with examples')
    .strict()
    .recommendCommands()
    .help()
    .version(VERSION)
    .wrap(Math.min(110, process.stdout.columns ?? 110))
    .fail((message, err) => {
      if (err) report(err);
      exitWith(usageLine(message ?? '', usageContext(argv)), EXIT_BAD_INPUT);
    });
}

/** The command a command line names and its flags: what a mistyped flag is matched against. */
function usageContext(argv: string[]) {
  const command = COMMANDS.find((c) => argv.includes(String(c.command).split(' ')[0]));
  const name = command === undefined ? undefined : String(command.command).split(' ')[0];
  return { command: name, argv, commands: NAMES, flags: command === undefined ? ['help', 'version'] : flagsOf(command) };
}

function flagsOf(command: CommandModule): string[] {
  const y = yargs([]);
  if (typeof command.builder === 'function') command.builder(y);
  const keys = Object.keys((y as unknown as Argv & { getOptions(): { key: Record<string, unknown> } }).getOptions().key);
  return [...keys.filter((k) => !/[A-Z]/.test(k)), 'help', 'version'];
}

export async function main(argv: string[]): Promise<void> {
  rememberArgv(argv);
  try {
    await buildCli(argv).parseAsync();
  } catch (err) {
    report(err);
  }
}
