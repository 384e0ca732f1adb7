/**
 * A Slurm cluster on one machine (root only), on a simulated cluster
 * (simulated-cluster.mjs): munged, slurmctld in host 0's namespace (named
 * "ctl") and one slurmd per other host (nodes n1 … nN), all from a slurm.conf
 * generated in a folder of the caller's (never /etc/slurm, never /run/munge).
 * Daemons that need cgroups start under nsenter (ip netns exec remounts /sys:
 * ../shared/TESTBED.md). Every daemon is stopped by its PID. Used by
 * test/integration/slurm.test.ts.
 */
import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { hostPids } from './simulated-cluster.mjs';
import { join } from 'node:path';

/** The Debian programs the testbed runs; those missing, by name. */
export function missingSlurm() {
  const wanted = ['/usr/sbin/slurmctld', '/usr/sbin/slurmd', '/usr/bin/sbatch', '/usr/sbin/munged', '/usr/bin/nsenter', '/usr/bin/setpriv'];
  return wanted.filter((p) => !existsSync(p));
}

function uidOf(user) {
  return Number(execFileSync('id', ['-u', user], { encoding: 'utf8' }).trim());
}

/**
 * Starts munged, slurmctld (host 0) and a slurmd on each of hosts 1 … nodes, waits until every node is idle,
 * and returns { conf, env, run(args) (a Slurm client command in host 0, its stdout), stop() }. `dir` must be
 * a folder of the caller's: it is opened to the munge user (execute only) for munged's socket.
 */
export async function startSlurm(cluster, dir, nodes) {
  const daemons = [];
  /** Every daemon by its PID (SIGTERM, SIGKILL after 10 s), then whatever is left in the hosts (job steps, tasks). */
  const stop = async () => {
    for (const d of [...daemons].reverse()) signal(d.pid, 'SIGTERM');
    const killer = setTimeout(() => daemons.forEach((d) => signal(d.pid, 'SIGKILL')), 10_000);
    await Promise.all(daemons.map((d) => d.exited));
    clearTimeout(killer);
    for (let i = 0; i < cluster.hosts.length; i++) {
      try {
        for (const pid of hostPids(cluster, i)) signal(pid, 'SIGKILL');
      } catch {
        // no such namespace
      }
    }
  };
  try {
    chmodSync(dir, 0o711);
    const munge = uidOf('munge');
    const etc = join(dir, 'munge-etc');
    const run = join(dir, 'munge-run');
    for (const [d, mode] of [[etc, 0o700], [run, 0o755]]) {
      mkdirSync(d, { recursive: true });
      chownSync(d, munge, munge);
      chmodSync(d, mode);
    }
    const key = join(etc, 'key');
    writeFileSync(key, execFileSync('head', ['-c', '128', '/dev/urandom']), { mode: 0o600 });
    chownSync(key, munge, munge);
    const socket = join(run, 'socket');
    daemons.push(daemon('munged', ['setpriv', '--reuid=munge', '--regid=munge', '--init-groups', 'munged', '-F', `--key-file=${key}`, `--socket=${socket}`,
      `--pid-file=${join(run, 'pid')}`, `--log-file=${join(etc, 'log')}`, `--seed-file=${join(etc, 'seed')}`]));
    await until(() => existsSync(socket), 'munged to make its socket', daemons);

    const state = join(dir, 'slurm');
    mkdirSync(join(state, 'state'), { recursive: true });
    const names = Array.from({ length: nodes }, (_, i) => `n${i + 1}`);
    const conf = join(dir, 'slurm.conf');
    writeFileSync(conf, [
      'ClusterName=shardprop',
      `SlurmctldHost=ctl(${cluster.hosts[0].ip})`,
      'AuthType=auth/munge',
      'CredType=cred/munge',
      `AuthInfo=socket=${socket}`,
      'SlurmUser=root',
      'SlurmdUser=root',
      `StateSaveLocation=${join(state, 'state')}`,
      `SlurmdSpoolDir=${join(state, 'spool-%n')}`,
      `SlurmctldPidFile=${join(state, 'slurmctld.pid')}`,
      `SlurmdPidFile=${join(state, 'slurmd-%n.pid')}`,
      `SlurmctldLogFile=${join(state, 'slurmctld.log')}`,
      `SlurmdLogFile=${join(state, 'slurmd-%n.log')}`,
      'ProctrackType=proctrack/linuxproc',
      'TaskPlugin=task/none',
      'SelectType=select/cons_tres',
      'SelectTypeParameters=CR_CPU',
      'SlurmdParameters=config_overrides',
      'MpiDefault=none',
      'ReturnToService=2',
      'JobAcctGatherType=jobacct_gather/none',
      'AccountingStorageType=accounting_storage/none',
      'SlurmctldTimeout=30',
      'SlurmdTimeout=30',
      'InactiveLimit=0',
      'KillWait=5',
      ...names.map((n, i) => `NodeName=${n} NodeAddr=${cluster.hosts[i + 1].ip} CPUs=1 State=UNKNOWN`),
      'PartitionName=main Nodes=ALL Default=YES MaxTime=INFINITE State=UP',
      '',
    ].join('\n'));
    const env = { ...process.env, SLURM_CONF: conf };
    daemons.push(daemon('slurmctld', inNamespace(cluster.hosts[0].ns, 'ctl', ['slurmctld', '-D', '-i']), env));
    names.forEach((n, i) => daemons.push(daemon(`slurmd ${n}`, inNamespace(cluster.hosts[i + 1].ns, n, ['slurmd', '-D', '-N', n]), env)));
    const client = (args) => execFileSync('ip', ['netns', 'exec', cluster.hosts[0].ns, ...args], { encoding: 'utf8', env, stdio: ['ignore', 'pipe', 'pipe'] });
    await until(() => {
      try {
        const idle = client(['sinfo', '-h', '-N', '-o', '%N %t']).split('\n').filter((l) => / idle$/.test(l.trim()));
        return idle.length === nodes;
      } catch {
        return false;
      }
    }, `all ${nodes} nodes idle`, daemons);
    return { conf, env, names, run: client, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** nsenter into the namespace's network only (cgroups stay visible), a host name of its own. */
function inNamespace(ns, hostname, command) {
  return ['nsenter', `--net=/run/netns/${ns}`, 'unshare', '--uts', 'sh', '-c', `hostname ${hostname} && exec "$@"`, 'sh', ...command];
}

function signal(pid, sig) {
  try {
    process.kill(pid, sig);
  } catch {
    // gone already
  }
}

/** Is any process of the job's steps (slurmstepd of JOB.batch, JOB.0, …) still there? */
export function jobStepsAlive(job) {
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      if (readFileSync(`/proc/${pid}/cmdline`, 'utf8').startsWith(`slurmstepd: [${job}.`)) return true;
    } catch {
      // gone meanwhile
    }
  }
  return false;
}

function daemon(name, command, env = process.env) {
  const child = spawn(command[0], command.slice(1), { stdio: ['ignore', 'ignore', 'pipe'], env });
  let err = '';
  child.stderr.on('data', (d) => (err = (err + d).slice(-2000)));
  const exited = new Promise((resolve) => child.on('exit', resolve));
  return { name, pid: child.pid, exited, child, stderr: () => err };
}

/** Polls `test` (every 100 ms) until it holds; throws when a daemon exits first, or after 60 s. */
async function until(test, what, daemons) {
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (test()) return;
    const dead = daemons.find((d) => d.child.exitCode !== null || d.child.signalCode !== null);
    if (dead) throw new Error(`${dead.name} exited while waiting for ${what}: ${dead.stderr().trim().split('\n').slice(-3).join(' | ')}`);
    if (Date.now() > deadline) throw new Error(`waited 60 s for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
