/**
 * `shardprop launch --slurm`: the one command every task of a Slurm job step
 * runs (srun shardprop launch --slurm …); slurm.ts decides from the job's
 * environment whether this task is the coordinator or a worker, and the task
 * then runs that command in this process (through the runner main.ts gives).
 */
import { execFileSync } from 'node:child_process';
import { statSync } from 'node:fs';
import type { CommandModule } from 'yargs';
import { UsageError } from '@shardprop/coordinator';
import { num, readToken, str, type Args } from '../flags.js';
import { slurmPlan } from '../slurm.js';

/** The command `launch` runs the task's command line through: the shardprop command itself (main.ts gives it). */
export type RunCommand = (argv: string[]) => Promise<void>;

export const launchCommand = (runCommand: RunCommand): CommandModule => ({
  command: 'launch',
  describe: 'run as one task of a cluster job: task 0 the coordinator, the others workers (--slurm)',
  builder: (y) =>
    y
      .parserConfiguration({ 'populate--': true })
      .option('slurm', { type: 'boolean', describe: 'read the task\'s place from Slurm (SLURM_PROCID, SLURM_NTASKS, the node list); run through srun' })
      .option('port', { type: 'number', default: 7070, describe: 'the coordinator\'s port on its node' })
      .option('token-file', { type: 'string', describe: 'the secret, in a file only you can read (chmod 600), on a file system every node sees' })
      .option('join', { type: 'string', describe: 'a running job\'s id: these tasks are all workers, joining its run' })
      .usage('$0 launch --slurm --token-file FILE [--port P] [--join JOBID] -- [coordinator flags]')
      .example('srun $0 launch --slurm --token-file ~/.shardprop/token -- --data mnist --layers 784,30,10 --epochs 1 --out model.json', 'in an sbatch script (deploy/slurm/shardprop.sbatch)')
      .example('srun $0 launch --slurm --token-file ~/.shardprop/token --join 1234', 'more workers for job 1234\'s run (deploy/slurm/join.sbatch)'),
  handler: (args) => launch(args, runCommand),
});

async function launch(args: Args, runCommand: RunCommand): Promise<void> {
  if (args.slurm !== true) throw new UsageError('launch needs to know the cluster engine: give --slurm (the one it reads today)');
  const port = num(args, 'port') ?? 7070;
  if (!(Number.isInteger(port) && port >= 1 && port <= 65_535)) throw new UsageError(`--port must be a port number from 1 to 65535, got ${port}`);
  const tokenFile = str(args, 'token-file');
  if (tokenFile === undefined) throw new UsageError('launch --slurm needs --token-file: a file only you can read, holding the secret (umask 077; openssl rand -hex 32 > ~/.shardprop/token)');
  checkPrivate(tokenFile);
  readToken(tokenFile);
  const rest = ((args['--'] as unknown[] | undefined) ?? []).map(String);
  const plan = slurmPlan(process.env, { port, tokenFile, join: str(args, 'join'), rest }, (a) => execFileSync('scontrol', a, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }));
  await runCommand(plan.argv);
}

/** The token file is the run's one secret: refused when others than its owner may read it. */
function checkPrivate(path: string): void {
  let mode: number;
  try {
    mode = statSync(path).mode;
  } catch {
    // readToken says what is wrong with it
    return;
  }
  if ((mode & 0o077) !== 0) {
    throw new UsageError(`--token-file ${path} can be read by others (mode ${(mode & 0o777).toString(8)}); make it yours alone: chmod 600 ${path}`);
  }
}
