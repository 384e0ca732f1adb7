import { describe, expect, it } from 'vitest';
import { UsageError } from '@shardprop/coordinator';
import { slurmPlan, type Scontrol } from '@shardprop/cli';

/** scontrol as a cluster of nodes c1..c4 at 10.1.0.1..4 shows them; job 77 runs on c[3-4], job 78 waits. */
const scontrol: Scontrol = (args) => {
  const [, what, third, fourth] = args;
  if (what === 'hostnames') {
    const m = /^c\[(\d)-(\d)\]$/.exec(third);
    if (!m) return `${third}\n`;
    return Array.from({ length: Number(m[2]) - Number(m[1]) + 1 }, (_, i) => `c${Number(m[1]) + i}`).join('\n') + '\n';
  }
  if (what === 'node') return `NodeName=${fourth} Arch=x86_64 CoresPerSocket=1 NodeAddr=10.1.0.${fourth.slice(1)} NodeHostName=${fourth} Version=22.05\n`;
  if (what === 'job' && fourth === '77') return 'JobId=77 JobName=shardprop UserId=u(1) JobState=RUNNING Reason=None ReqNodeList=(null) ExcNodeList=(null) NodeList=c[3-4] BatchHost=c3\n';
  if (what === 'job' && fourth === '78') return 'JobId=78 JobName=shardprop JobState=PENDING Reason=Resources NodeList=(null)\n';
  throw Object.assign(new Error('exit 1'), { stderr: 'slurm_load_jobs error: Invalid job id specified\n' });
};

const env = (procId: number, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv => ({ SLURM_PROCID: String(procId), SLURM_NTASKS: '4', SLURM_STEP_NODELIST: 'c[1-4]', SLURMD_NODENAME: `c${procId + 1}`, ...extra });
const options = { port: 7070, tokenFile: '/home/u/.shardprop/token', rest: ['--data', 'mnist', '--epochs', '1'] };

function refusal(f: () => unknown): string {
  try {
    f();
  } catch (err) {
    expect(err).toBeInstanceOf(UsageError);
    return (err as Error).message;
  }
  throw new Error('not refused');
}

describe('launch --slurm: a task\'s role from the job\'s environment', () => {
  it('makes task 0 the coordinator on its node\'s address, expecting the other tasks, with the training flags', () => {
    expect(slurmPlan(env(0), options, scontrol)).toEqual({
      role: 'coordinator',
      argv: ['coordinator', '--host', '10.1.0.1', '--port', '7070', '--expect', '3', '--token-file', '/home/u/.shardprop/token', '--data', 'mnist', '--epochs', '1'],
    });
  });

  it('makes every other task a worker connecting to task 0\'s node, named by node and task, threads from Slurm', () => {
    expect(slurmPlan(env(2, { SLURM_CPUS_PER_TASK: '8' }), options, scontrol)).toEqual({
      role: 'worker',
      argv: ['worker', '--connect', 'ws://10.1.0.1:7070', '--token-file', '/home/u/.shardprop/token', '--reconnect-for', '300', '--name', 'c3:task2', '--threads', '8'],
    });
  });

  it('puts an IPv6 node address in brackets in the workers\' URL', () => {
    const v6: Scontrol = (args) => (args[1] === 'node' ? 'NodeName=c1 NodeAddr=fd00::1 NodeHostName=c1\n' : scontrol(args));
    expect(slurmPlan(env(1), options, v6).argv.slice(0, 3)).toEqual(['worker', '--connect', 'ws://[fd00::1]:7070']);
    expect(slurmPlan(env(0), options, v6).argv.slice(0, 3)).toEqual(['coordinator', '--host', 'fd00::1']);
  });

  it('joins a running job: every task a worker of that job\'s first node', () => {
    const plan = slurmPlan(env(0, { SLURM_STEP_NODELIST: 'c2' }), { ...options, rest: [], join: '77' }, scontrol);
    expect(plan.role).toBe('worker');
    expect(plan.argv.slice(0, 3)).toEqual(['worker', '--connect', 'ws://10.1.0.3:7070']);
  });

  it('refuses what it cannot do with a line that says what to do', () => {
    expect(refusal(() => slurmPlan({}, options, scontrol))).toMatch(/SLURM_PROCID is not set; run it through srun/);
    expect(refusal(() => slurmPlan(env(0, { SLURM_NTASKS: '1' }), options, scontrol))).toMatch(/at least 2 tasks.*--ntasks 2/);
    expect(refusal(() => slurmPlan(env(0, { SLURM_PROCID: 'x' }), options, scontrol))).toMatch(/SLURM_PROCID is "x"/);
    expect(refusal(() => slurmPlan(env(0), { ...options, rest: ['--port', '9'] }, scontrol))).toMatch(/sets --port itself.*launch's own --port/);
    expect(refusal(() => slurmPlan(env(0), { ...options, rest: ['--expect=2'] }, scontrol))).toMatch(/sets --expect itself/);
    expect(refusal(() => slurmPlan(env(0), { ...options, join: '78' }, scontrol))).toMatch(/--join 78: that job is PENDING, not RUNNING/);
    expect(refusal(() => slurmPlan(env(0), { ...options, join: '99' }, scontrol))).toMatch(/scontrol could not show job 99 \(slurm_load_jobs error: Invalid job id specified\)/);
    expect(refusal(() => slurmPlan(env(0), { ...options, join: '7; rm' }, scontrol))).toMatch(/--join must be a Slurm job id/);
  });
});
