// Section "scaling": W-large ([784,512,256,10], float32, 64 samples per worker, 1 thread each) on a
// simulated cluster (scripts/simulated-cluster.mjs, root only): the coordinator on host 0, one
// `shardprop worker` on each of hosts 1..N (sliced: with its slice server beside it), every host's
// link capped each way. The star (--aggregation star) and the slices (--aggregation slices) on the
// same caps, N = 2, 4, 8, 16. Per step: wall time, the slowest worker's backprop, and the bytes every
// process moved (sent + received, in units of P, the parameters' bytes), from the counters each
// process logs at its end. The model of docs/scaling.md is printed beside each measured point, and
// the slices are run again without overlap (SHARDPROP_OVERLAP=0: every part sent after backprop).
//
// The caps. All hosts share this machine's cores, so N workers compute N/cores times slower than
// one worker on its own core. The cluster modelled has one such core per worker and links of
// MODEL_MBIT each way; to keep its ratio of compute to transfer, host links are capped at
// MODEL_MBIT x (one worker's backprop alone) / (a worker's backprop here with N of them), both
// measured in an uncapped calibration run. So a step's transfers take the share of its time they
// would take on the cluster modelled.
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { addLatency, capLinks, describeCluster, inHost, makeCluster, removeCluster } from '../../scripts/simulated-cluster.mjs';
import { num, ratio, table } from '../report.mjs';
import { predictStep } from '../scaling-model.mjs';

export const name = 'scaling';
export const rows = ['hosts-2', 'hosts-4', 'hosts-8', 'hosts-16', 'latency-4'];

const CLI = fileURLToPath(new URL('../../packages/cli/bin/shardprop.js', import.meta.url));
const LAYERS = [784, 512, 256, 10];
const PARAMS = LAYERS.slice(1).reduce((sum, n, i) => sum + n * LAYERS[i] + n, 0);
const P = PARAMS * 4;
const PER_WORKER = 64;
/** The links of the cluster modelled, Mbit/s each way. */
export const MODEL_MBIT = 1000;
const TOKEN = 'scaling-bench-token-0123456789abcdef';

/** One run on the cluster's first 1 + n hosts: the coordinator's figures and every process's bytes. */
async function runOnce(cluster, n, aggregation, steps, dir, workerEnv = {}) {
  const port = 7400;
  const coordIp = cluster.hosts[0].ip;
  const tokenFile = join(dir, 'token');
  writeFileSync(tokenFile, `${TOKEN}\n`);
  const metrics = join(dir, `m-${n}-${aggregation}-${Date.now()}.jsonl`);
  const common = ['--data', 'mnist', '--threads', '1', '--token-file', tokenFile];
  const coordinator = start(inHost(cluster, 0), [
    'coordinator', '--host', coordIp, '--port', String(port), '--expect', String(n), '--layers', LAYERS.join(','), '--batch', String(PER_WORKER * n), '--block', '64',
    '--lr', '0.1', '--steps', String(steps), '--aggregation', aggregation, '--metrics', metrics, '--metrics-every', '1', '--no-dashboard', '--out', join(dir, 'model.json'),
    '--json', ...common,
  ]);
  await coordinator.line((l) => l.includes('coordinator listening'));
  const workers = Array.from({ length: n }, (_, i) => start(inHost(cluster, i + 1), ['worker', '--connect', `ws://${coordIp}:${port}`, '--reconnect-for', '0', ...common], workerEnv));
  const codes = await Promise.all([coordinator.exited, ...workers.map((w) => w.exited)]);
  if (codes.some((c) => c !== 0)) throw new Error(`a process failed (exit codes ${codes.join(', ')}): ${coordinator.tail()}`);
  const lines = readFileSync(metrics, 'utf8').trim().split('\n').map((l) => JSON.parse(l)).filter((m) => m.kind === 'step');
  // the steady state: the first steps (connections warming up) left out
  const from = lines.find((m) => m.step === Math.min(3, steps - 1));
  const to = lines.at(-1);
  const stepMs = ((to.seconds - from.seconds) / (to.step - from.step)) * 1000;
  const { time } = JSON.parse(coordinator.stdout());
  const computeMs = (time.computeSeconds / time.steps) * 1000;
  const moved = (m) => (m.bytesIn + m.bytesOut) / steps / P;
  const coordinatorP = moved(coordinator.json((m) => m.msg === 'bytes moved over the connections of this run')[0]);
  const workerP = workers.map((w) => moved(w.json((m) => m.msg === 'bytes moved over the connections of this worker')[0]));
  const serverP = workers.flatMap((w) => w.json((m) => m.msg === 'slice server stopped').map(moved));
  // sliced: how long before the last slice of a step's parameters layer 1's were all in, and the spread from first to last (means over the workers)
  const arrivals = workers.flatMap((w) => w.json((m) => m.msg === 'when the parameters of sliced steps came in'));
  const mean = (key) => (arrivals.length ? arrivals.reduce((sum, a) => sum + a[key], 0) / arrivals.length : 0);
  return {
    stepMs, computeMs, coordinatorP, workerP: Math.max(...workerP), serverP: serverP.length ? Math.max(...serverP) : 0, layerOneEarlyMs: mean('layerOneEarlyMs'), spreadMs: mean('spreadMs'),
  };
}

/** A CLI process in a host: its stderr's JSON lines, its exit code. */
function start(prefix, args, env = {}) {
  const child = spawn(prefix[0], [...prefix.slice(1), process.execPath, CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, SHARDPROP_LOG_FORMAT: 'json', ...env } });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  const lines = [];
  const waiting = [];
  let rest = '';
  child.stderr.on('data', (d) => {
    const parts = (rest + d).split('\n');
    rest = parts.pop();
    for (const l of parts) {
      lines.push(l);
      for (const w of waiting.filter((x) => x.test(l))) {
        waiting.splice(waiting.indexOf(w), 1);
        w.resolve(l);
      }
    }
  });
  const exited = new Promise((resolve) => child.on('exit', (code) => resolve(code)));
  return {
    exited,
    line: (test) => new Promise((resolve, reject) => {
      const seen = lines.find(test);
      if (seen) return resolve(seen);
      waiting.push({ test, resolve });
      exited.then(() => reject(new Error(`exited before the line it waited for: ${lines.slice(-5).join('\n')}`)));
    }),
    json: (test) => lines.flatMap((l) => {
      try {
        const m = JSON.parse(l);
        return test(m) ? [m] : [];
      } catch {
        return [];
      }
    }),
    tail: () => lines.slice(-8).join('\n'),
    stdout: () => out,
  };
}

export async function run(selected, timing) {
  const counts = selected.filter((r) => r.startsWith('hosts-')).map((r) => Number(r.split('-')[1]));
  const latency = selected.includes('latency-4');
  console.log(`\nScaling: W-large (P = ${(P / 1e6).toFixed(2)} MB), ${PER_WORKER} samples and 1 thread per worker, star vs slices on a simulated cluster (links scaled to a ${MODEL_MBIT} Mbit/s cluster)\n`);
  if (process.getuid?.() !== 0) {
    console.log('  skipped: the simulated cluster needs root (network namespaces and tc)');
    return { skipped: 'not root' };
  }
  const quick = timing.windowMs < 1000;
  const steps = quick ? 6 : 14;
  const dir = mkdtempSync(join(tmpdir(), 'shardprop-scaling-'));
  const tag = `bs${process.pid % 10000}`;
  const largest = Math.max(...counts, latency ? 4 : 0);
  const cluster = describeCluster(tag, largest + 1, `10.204.${process.pid % 250}`);
  const results = {};
  try {
    makeCluster(tag, largest + 1, cluster.hosts[0].ip.split('.').slice(0, 3).join('.'));
    if (latency) results['latency-4'] = await latencyRows(cluster, steps, dir);
    if (counts.length === 0) return results;
    // one worker's backprop alone on its own core: the cluster modelled has one of those per worker
    const alone = await runOnce(cluster, 1, 'slices', steps, dir);
    console.log(`  calibration: one worker alone computes a step in ${num(alone.computeMs)} ms`);
    results.alone = { computeMs: alone.computeMs };
    const out = [];
    const arrival = [];
    for (const n of counts) {
      capLinks(cluster, 100_000); // uncapped (tbf at 100 Gbit/s) for the calibration
      const calib = await runOnce(cluster, n, 'slices', steps, dir);
      const mbit = Math.round((MODEL_MBIT * alone.computeMs) / calib.computeMs);
      capLinks(cluster, mbit);
      const star = await runOnce(cluster, n, 'star', steps, dir);
      const sliced = await runOnce(cluster, n, 'slices', steps, dir);
      // the same without overlap: every part sent once backprop is over (SHARDPROP_OVERLAP=0)
      const serial = await runOnce(cluster, n, 'slices', steps, dir, { SHARDPROP_OVERLAP: '0' });
      const model = { star: predictStep('star', { n, bytes: P, mbit, computeMs: star.computeMs }), slices: predictStep('slices', { n, bytes: P, mbit, computeMs: sliced.computeMs }) };
      results[`hosts-${n}`] = { n, mbit, star, slices: sliced, serial, model };
      out.push([
        String(n), String(mbit), num(star.stepMs), num(model.star), num(sliced.stepMs), num(model.slices), num(serial.stepMs), num(sliced.computeMs), ratio(star.stepMs, sliced.stepMs),
        num(star.coordinatorP), num(sliced.coordinatorP), num(sliced.workerP), num(sliced.serverP),
      ]);
      arrival.push([String(n), num(sliced.computeMs), num(sliced.spreadMs), num(sliced.layerOneEarlyMs), `${num((100 * sliced.layerOneEarlyMs) / sliced.stepMs)} %`]);
    }
    console.log(table(
      ['hosts', 'Mbit/s', 'star ms/step', 'model', 'slices ms/step', 'model', 'no overlap ms/step', 'compute ms', 'slices vs star', 'star coord ×P', 'slices coord ×P', 'worker ×P', 'slice server ×P'],
      out,
    ));
    console.log('  ×P: bytes sent + received per step by the busiest process of its kind, in units of P (the parameters\' bytes)');
    console.log('\nThe parameters\' side of overlap (sliced runs): when a step\'s slices came in at a worker, means over the workers\n');
    console.log(table(['hosts', 'compute ms', 'first to last slice ms', 'layer 1 in before the last ms', 'of the step'], arrival));
    console.log('  a forward pass started on layer 1 as soon as its slices are in could gain at most the "before the last" time (and at most layer 1\'s forward time)');
  } catch (err) {
    console.log(`  failed: ${err.message}`);
    results.error = err.message;
  } finally {
    removeCluster(cluster);
    rmSync(dir, { recursive: true, force: true });
  }
  return results;
}

/**
 * Where the Debian packages are, builds bench/netdelay.c into `dir` (installing iptables and
 * libnetfilter-queue-dev when missing, as root with apt-get); returns its path, or throws why not.
 */
function buildNetdelay(dir) {
  const has = (cmd) => {
    try {
      execFileSync('sh', ['-c', cmd], { stdio: 'ignore' });
      return true;
    } catch {
      return false;
    }
  };
  const ready = () => has('command -v iptables') && has('command -v cc') && has('test -f /usr/include/libnetfilter_queue/libnetfilter_queue.h');
  if (!ready()) {
    if (!has('command -v apt-get')) throw new Error('needs iptables, a C compiler and libnetfilter-queue-dev (no apt-get here)');
    execFileSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', 'iptables', 'gcc', 'libc6-dev', 'libnetfilter-queue-dev'], { stdio: 'ignore', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  }
  const out = join(dir, 'netdelay');
  execFileSync('cc', ['-O2', '-o', out, fileURLToPath(new URL('../netdelay.c', import.meta.url)), '-lnetfilter_queue', '-lnfnetlink'], { stdio: ['ignore', 'ignore', 'pipe'] });
  return out;
}

/**
 * The latency term of the model: 4 workers, links not capped, one-way latency added on every host's input
 * (bench/netdelay.c); each step's extra time against the model's 2 hops (star) and 4 hops (slices).
 */
async function latencyRows(cluster, steps, dir) {
  console.log('Latency: 4 workers, links not capped, one-way latency on every host\'s input (bench/netdelay.c)\n');
  let netdelay;
  try {
    netdelay = buildNetdelay(dir);
  } catch (err) {
    console.log(`  skipped: ${err.message}`);
    return { skipped: err.message };
  }
  capLinks(cluster, 100_000);
  // 1 µs: every packet through netdelay's queue, hardly held: what the queue itself costs
  const cases = [['none', 0, 1], ['1 µs (the queue alone)', 1, 1], ['1 ms', 1000, 1], ['1 ms, tcp_slow_start_after_idle=0', 1000, 0]];
  const measured = [];
  for (const [label, us, slowStart] of cases) {
    const remove = await addLatency(cluster, us, netdelay, slowStart);
    try {
      const star = await runOnce(cluster, 4, 'star', steps, dir);
      const slices = await runOnce(cluster, 4, 'slices', steps, dir);
      measured.push({ label, us, slowStart, star: star.stepMs, slices: slices.stepMs });
    } finally {
      remove();
    }
  }
  await addLatency(cluster, 0, netdelay, 1);
  const [base] = measured;
  console.log(table(
    ['one-way latency', 'star ms/step', 'added', 'model adds (2 hops)', 'slices ms/step', 'added', 'model adds (4 hops)'],
    measured.map((m) => [m.label, num(m.star), num(m.star - base.star), num((2 * m.us) / 1000), num(m.slices), num(m.slices - base.slices), num((4 * m.us) / 1000)]),
  ));
  return { measured };
}
