/**
 * `shardprop launch --slurm`: what a task of a Slurm job step runs, read from
 * the environment Slurm gives it (SLURM_PROCID, SLURM_NTASKS, the step's node
 * list) the way torchrun and Horovod read theirs. Task 0 is the coordinator, on
 * its node's address; every other task is a worker connecting to it. A job that
 * joins another job's run (`--join JOBID`) is workers only, connecting to the
 * first node of that job. Pure: `scontrol` is passed in.
 */
import { UsageError } from '@shardprop/coordinator';

/** Runs `scontrol` with these arguments and returns its stdout (throws when it fails). */
export type Scontrol = (args: string[]) => string;

export interface LaunchOptions {
  port: number;
  tokenFile: string;
  /** Another job whose run these tasks join as workers. */
  join?: string;
  /** The coordinator's flags (training flags), for task 0. */
  rest: string[];
}

/** A shardprop command line (without `shardprop`) and the role it plays. */
export interface LaunchPlan {
  role: 'coordinator' | 'worker';
  argv: string[];
}

/** Flags launch sets itself: given among the coordinator's flags, they would contradict it. */
const OWN_FLAGS = ['host', 'port', 'expect', 'token-file', 'connect'];

export function slurmPlan(env: NodeJS.ProcessEnv, options: LaunchOptions, scontrol: Scontrol): LaunchPlan {
  const procId = integer(env, 'SLURM_PROCID');
  const tasks = integer(env, 'SLURM_NTASKS');
  for (const arg of options.rest) {
    const name = /^--([^=]+)/.exec(arg)?.[1];
    if (name !== undefined && OWN_FLAGS.includes(name)) {
      throw new UsageError(`launch --slurm sets --${name} itself (the coordinator is task 0, on its node's address); leave it out${name === 'port' || name === 'token-file' ? `, or give launch's own --${name}` : ''}`);
    }
  }
  const worker = (address: string): LaunchPlan => {
    // an IPv6 NodeAddr goes in brackets in a URL
    const host = address.includes(':') ? `[${address}]` : address;
    const argv = ['worker', '--connect', `ws://${host}:${options.port}`, '--token-file', options.tokenFile, '--reconnect-for', '300'];
    const node = env.SLURMD_NODENAME;
    if (node) argv.push('--name', `${node}:task${procId}`);
    // the cores Slurm gave the task, when it says: more threads would only take turns
    const cpus = Number(env.SLURM_CPUS_PER_TASK);
    if (Number.isInteger(cpus) && cpus >= 1) argv.push('--threads', String(Math.min(cpus, 64)));
    return { role: 'worker', argv };
  };
  if (options.join !== undefined) {
    if (!/^\d+$/.test(options.join)) throw new UsageError(`--join must be a Slurm job id (a number, as squeue shows it), got "${options.join}"`);
    return worker(coordinatorOfJob(options.join, scontrol));
  }
  const list = env.SLURM_STEP_NODELIST ?? env.SLURM_JOB_NODELIST;
  if (!list) throw new UsageError('launch --slurm: no SLURM_STEP_NODELIST or SLURM_JOB_NODELIST; run it through srun, inside a job');
  if (tasks < 2) throw new UsageError(`launch --slurm needs at least 2 tasks (a coordinator and a worker), got SLURM_NTASKS=${tasks}; ask sbatch for --ntasks 2 or more`);
  const address = nodeAddress(firstHost(list, scontrol), scontrol);
  if (procId !== 0) return worker(address);
  return {
    role: 'coordinator',
    argv: ['coordinator', '--host', address, '--port', String(options.port), '--expect', String(tasks - 1), '--token-file', options.tokenFile, ...options.rest],
  };
}

/** The address of the first node of a running job: where its task 0, the coordinator, listens. */
function coordinatorOfJob(job: string, scontrol: Scontrol): string {
  const shown = run(scontrol, ['show', 'job', '-o', job], `job ${job}`);
  const state = /\bJobState=(\S+)/.exec(shown)?.[1];
  if (state !== 'RUNNING') throw new UsageError(`--join ${job}: that job is ${state ?? 'not known'}, not RUNNING; join a job whose run has started (squeue shows them)`);
  const list = /\sNodeList=(\S+)/.exec(shown)?.[1];
  if (!list || list === '(null)') throw new UsageError(`--join ${job}: scontrol shows no nodes for it`);
  return nodeAddress(firstHost(list, scontrol), scontrol);
}

function firstHost(list: string, scontrol: Scontrol): string {
  const first = run(scontrol, ['show', 'hostnames', list], `node list ${list}`).split('\n')[0]?.trim();
  if (!first) throw new UsageError(`launch --slurm: the node list "${list}" names no node`);
  return first;
}

/** A node's address as Slurm knows it (NodeAddr: its name unless slurm.conf says otherwise). */
function nodeAddress(node: string, scontrol: Scontrol): string {
  const shown = run(scontrol, ['show', 'node', '-o', node], `node ${node}`);
  return /\bNodeAddr=(\S+)/.exec(shown)?.[1] ?? node;
}

function run(scontrol: Scontrol, args: string[], what: string): string {
  try {
    return scontrol(args);
  } catch (err) {
    const detail = (err as { stderr?: Buffer | string }).stderr?.toString().trim() || (err as Error).message;
    throw new UsageError(`launch --slurm: scontrol could not show ${what} (${detail.split('\n')[0]}); is this a Slurm job, with scontrol on the PATH?`);
  }
}

function integer(env: NodeJS.ProcessEnv, name: string): number {
  const value = env[name];
  if (value === undefined) throw new UsageError(`launch --slurm: ${name} is not set; run it through srun, inside a job (see deploy/slurm/)`);
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new UsageError(`launch --slurm: ${name} is "${value}", not a task number`);
  return n;
}
