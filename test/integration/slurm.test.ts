import { spawn } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadCheckpoint, loadModel } from '@shardprop/core';
import { BIN, runCli, tempDir } from '../helpers/cli.js';
import { makeNamespaces } from '../helpers/netns.js';
import { UNBOUNDED_STEPS, inProcessParams } from '../helpers/runs.js';
// plain scripts: the simulated cluster (shared with the scaling benchmark) and Slurm on it
import { describeCluster, makeCluster, removeCluster } from '../../scripts/simulated-cluster.mjs';
import { jobStepsAlive, missingSlurm, startSlurm } from '../../scripts/slurm-testbed.mjs';

/**
 * The shipped Slurm files (deploy/slurm/) on a real Slurm: munged, slurmctld and
 * four slurmd, each node a network namespace of its own (scripts/slurm-testbed.mjs,
 * from a generated slurm.conf). A job of the shipped sbatch trains the in-process
 * model bit for bit; a second job joins a running one's coordinator with the shipped
 * join.sbatch, is scancel'ed, and the run goes on to the in-process model. Needs root
 * and the Debian packages scripts/system-deps.sh installs; skipped with the reason
 * elsewhere. Every daemon is stopped by its PID, the namespaces removed.
 */
const tmp = tempDir();
const tag = `sl${process.pid % 100000}`;
const cluster = describeCluster(tag, 5, `10.203.${process.pid % 250}`);
const SBATCH = fileURLToPath(new URL('../../deploy/slurm/shardprop.sbatch', import.meta.url));
const JOIN = fileURLToPath(new URL('../../deploy/slurm/join.sbatch', import.meta.url));
const MODEL = ['--data', 'spirals', '--seed', '5', '--layers', '2,64,64,2', '--batch', '40', '--block', '8', '--lr', '0.3', '--dtype', 'float64'];

let skipped: string | null = null;
let slurm: Awaited<ReturnType<typeof startSlurm>> | null = null;
beforeAll(async () => {
  const missing = missingSlurm();
  skipped = process.getuid?.() !== 0 ? 'not root' : missing.length ? `missing ${missing.join(', ')} (scripts/system-deps.sh installs them)` : null;
  skipped ??= makeNamespaces(() => makeCluster(tag, 5, cluster.hosts[0].ip.split('.').slice(0, 3).join('.')));
  if (!skipped) slurm = await startSlurm(cluster, tmp.dir, 4);
  else console.warn(`slurm test skipped: ${skipped}`);
}, 90_000);
afterAll(async () => {
  // jobs first (their tasks), then the daemons by PID, then what is left in the hosts
  try {
    slurm?.run(['scancel', '--full', '--user', 'root']);
  } catch {
    // no job left
  }
  try {
    await slurm?.stop();
  } finally {
    removeCluster(cluster);
    tmp.remove();
  }
}, 60_000);

/** The README's Slurm recipe: its first sbatch command (continued lines joined), the script's path made absolute. */
function readmeSbatch(): string[] {
  const readme = readFileSync(fileURLToPath(new URL('../../README.md', import.meta.url)), 'utf8').replace(/\\\n\s*/g, '');
  const line = readme.split('\n').find((l) => l.trim().startsWith('sbatch --nodes=4 deploy/slurm/shardprop.sbatch'));
  if (!line) throw new Error('README: no "sbatch --nodes=4 deploy/slurm/shardprop.sbatch" line');
  return line.trim().split(/\s+/).slice(1).map((a) => (a === 'deploy/slurm/shardprop.sbatch' ? SBATCH : a));
}

function bitsOf(params: Float32Array | Float64Array): Buffer {
  return Buffer.from(params.buffer, params.byteOffset, params.byteLength);
}

/** The environment a user's job would have: the command, the token file (made by the sbatch script), JSON logs. */
const jobEnv = (): NodeJS.ProcessEnv => ({
  ...slurm!.env,
  SHARDPROP: `${process.execPath} ${BIN}`,
  SHARDPROP_TOKEN_FILE: tmp.path('secret/token'),
  SHARDPROP_PORT: '7191',
  SHARDPROP_LOG_FORMAT: 'json',
});

/** A Slurm client command in the controller's namespace, awaited (sbatch --wait takes a job's time). */
function client(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn('ip', ['netns', 'exec', cluster.hosts[0].ns, ...args], { env: jobEnv(), cwd: tmp.dir, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

async function submit(args: string[]): Promise<string> {
  const r = await client(['sbatch', '--parsable', '--chdir', tmp.dir, ...args]);
  expect(r.code, r.stderr).toBe(0);
  return r.stdout.trim().split(';')[0];
}

function jobState(job: string): string {
  const shown = slurm!.run(['scontrol', 'show', 'job', '-o', job]);
  return /\bJobState=(\S+)/.exec(shown)?.[1] ?? 'UNKNOWN';
}

/**
 * The first line of a job's output file that `test` matches (after the line `after`, when given), waiting (polling
 * the file) while the job is pending or running; fails with the file's end when the job ends without one.
 */
async function lineOf(job: string, file: string, test: (line: string) => boolean, after?: string): Promise<string> {
  for (;;) {
    // judged before the file is read: an ended job (scancel marks it at once) whose steps' processes are all gone has written all it will
    const state = jobState(job);
    const ended = !['PENDING', 'CONFIGURING', 'RUNNING', 'COMPLETING'].includes(state) && !jobStepsAlive(job);
    let text = '';
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      // not made yet
    }
    const lines = text.split('\n');
    const found = lines.slice(after === undefined ? 0 : lines.indexOf(after) + 1).find(test);
    if (found) return found;
    if (ended) throw new Error(`job ${job} is ${state} without the line waited for:\n${text.slice(-2000)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** A JSON log line's fields (other lines, and tasks' lines cut by another's, as none). */
function fields(line: string): { msg?: string; step?: number } {
  try {
    return JSON.parse(line);
  } catch {
    return {};
  }
}
const message = (m: string) => (line: string): boolean => fields(line).msg?.startsWith(m) === true;
const checkpointAfter = (n: number) => (line: string): boolean => fields(line).msg === 'checkpoint written' && (fields(line).step ?? -1) >= n;

describe('Slurm: the shipped sbatch scripts on four nodes', () => {
  it('train the in-process model bit for bit with the README\'s command (task 0 the coordinator, the others workers)', async (ctx) => {
    if (skipped) return ctx.skip();
    const args = readmeSbatch();
    const r = await client(['sbatch', '--wait', '--chdir', tmp.dir, '--output', tmp.path('first-%j.out'), ...args]);
    const log = readFileSync(tmp.path(`first-${/\d+/.exec(r.stdout)?.[0]}.out`), 'utf8');
    expect(r.code, `${r.stderr}\n${log.slice(-3000)}`).toBe(0);
    // the coordinator on the first node's address, a worker from each other node, sliced beyond loopback
    expect(log).toContain(`"url":"ws://${cluster.hosts[1].ip}:7191"`);
    expect(log.match(/"msg":"worker joined"/g)).toHaveLength(3);
    expect(log).toContain('"aggregation":"slices"');
    // the token the script made is the user's alone
    expect(statSync(tmp.path('secret/token')).mode & 0o077).toBe(0);
    // the same training flags in one process
    const flags = args.slice(args.indexOf(SBATCH) + 1);
    const out = flags[flags.indexOf('--out') + 1];
    const inProcess = flags.filter((f, i) => !['--out', '--checkpoint-dir'].includes(f) && !['--out', '--checkpoint-dir'].includes(flags[i - 1]));
    const reference = await runCli(['train', ...inProcess, '--workers', '0', '--out', tmp.path('readme-reference.json')]);
    expect(reference.code, reference.stderr).toBe(0);
    expect(bitsOf(loadModel(tmp.path(out), 'float32').params).equals(bitsOf(loadModel(tmp.path('readme-reference.json'), 'float32').params))).toBe(true);
  }, 240_000);

  it('take workers from a second job (join.sbatch), lose them to scancel, and still give the in-process model', async (ctx) => {
    if (skipped) return ctx.skip();
    const ckpt = tmp.path('joined-ckpt');
    const mainOut = tmp.path('main.out');
    const job = await submit(['--nodes', '2', '--output', mainOut, SBATCH, ...MODEL, '--steps', UNBOUNDED_STEPS, '--checkpoint-dir', ckpt, '--checkpoint-every', '20']);
    const started = fields(await lineOf(job, mainOut, checkpointAfter(1))).step!;
    const joinOut = tmp.path('join.out');
    const joiner = await submit(['--nodes', '1', '--output', joinOut, JOIN, job]);
    const joined = await lineOf(job, mainOut, message('worker joined during training'));
    // steps dealt to both workers (two checkpoints after it joined), then the joining job cancelled: its worker leaves, the run goes on
    const next = fields(await lineOf(job, mainOut, checkpointAfter(started), joined)).step!;
    await lineOf(job, mainOut, checkpointAfter(next + 20), joined);
    const c = await client(['scancel', joiner]);
    expect(c.code, c.stderr).toBe(0);
    const lostAt = fields(await lineOf(job, mainOut, message('worker lost'))).step!;
    await lineOf(job, mainOut, checkpointAfter(lostAt + 40));
    // the run's end, as a user ends it: scancel (SIGTERM to every task); the coordinator writes its checkpoint
    const end = await client(['scancel', job]);
    expect(end.code, end.stderr).toBe(0);
    const stopped = await lineOf(job, mainOut, (l) => l.includes('training stopped after step'));
    const checkpoint = loadCheckpoint(ckpt);
    expect(stopped).toContain(`training stopped after step ${checkpoint.step}`);
    const reference = await inProcessParams(MODEL, checkpoint.step, tmp.path('joined-reference.json'));
    expect(bitsOf(checkpoint.params).equals(bitsOf(reference))).toBe(true);
  }, 240_000);
});
