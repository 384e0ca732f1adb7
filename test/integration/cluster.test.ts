import { writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadModel } from '@shardprop/core';
import { collect, killAll, runCli, startCli, tempDir, type Collected } from '../helpers/cli.js';
import { makeNamespaces } from '../helpers/netns.js';
import { UNBOUNDED_STEPS, checkpointAt, inProcessParams, stopWithCheckpoint } from '../helpers/runs.js';
// a plain script, shared with the scaling benchmark
import { describeCluster, hostPids, inHost, makeCluster, removeCluster } from '../../scripts/simulated-cluster.mjs';

/**
 * Four hosts on one machine (scripts/simulated-cluster.mjs): network namespaces
 * joined by a bridge in a namespace of its own, each host with its own IP. The
 * coordinator listens on host 1 with a token; `shardprop worker` on hosts 2–4,
 * each of which starts its slice server beside it (--aggregation auto slices
 * beyond loopback). The model is the in-process one, bit for bit, also after
 * one host's processes are killed mid-run. Needs root; skipped with the reason
 * elsewhere. All traffic stays inside the namespaces made here.
 */
const tmp = tempDir();
const tag = `sc${process.pid % 100000}`;
const cluster = describeCluster(tag, 4, `10.202.${process.pid % 250}`);
const TOKEN = 'c1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f6';
const COORD = cluster.hosts[0].ip;

let skipped: string | null = null;
beforeAll(() => {
  skipped = makeNamespaces(() => makeCluster(tag, 4, cluster.hosts[0].ip.split('.').slice(0, 3).join('.')));
  if (skipped) {
    removeCluster(cluster);
    console.warn(`cluster test skipped: ${skipped}`);
  }
  writeFileSync(tmp.path('token'), `${TOKEN}\n`);
});
afterAll(() => {
  killAll();
  removeCluster(cluster);
  tmp.remove();
});

// 5 blocks of 8 over 3 workers: two of them send two canonical pieces each; float64 for the bits
const MODEL = ['--data', 'spirals', '--seed', '5', '--layers', '2,64,64,2', '--batch', '40', '--block', '8', '--lr', '0.3', '--dtype', 'float64'];

function coordinator(port: number, args: string[]): Collected {
  return collect(startCli(['coordinator', '--host', COORD, '--port', String(port), '--expect', '3', ...MODEL, ...args, '--token-file', tmp.path('token')], {}, inHost(cluster, 0)), 120_000);
}

function workers(port: number, extra: string[][] = [[], [], []]): Collected[] {
  const args = ['worker', '--connect', `ws://${COORD}:${port}`, '--token-file', tmp.path('token'), '--reconnect-for', '0'];
  return [1, 2, 3].map((h) => collect(startCli([...args, ...extra[h - 1]], { SHARDPROP_LOG_LEVEL: 'info' }, inHost(cluster, h)), 120_000));
}

function bitsOf(params: Float32Array | Float64Array): Buffer {
  return Buffer.from(params.buffer, params.byteOffset, params.byteLength);
}

describe('four hosts: a coordinator and three workers with their slice servers', () => {
  it('train the in-process model bit for bit, every step through the slice servers', async (ctx) => {
    if (skipped) return ctx.skip();
    const out = tmp.path('cluster.json');
    const c = coordinator(7170, ['--steps', '150', '--aggregation', 'auto', '--out', out]);
    await c.stderrLines((l) => l.includes('coordinator listening'));
    // one worker's slice server on a port of the user's choosing (a firewall's open port)
    const ws = workers(7170, [[], ['--slice-port', '7181'], []]);
    const [done, ...exits] = await Promise.all([c.exited, ...ws.map((w) => w.exited)]);
    expect(done.code, done.stderr.slice(-2000)).toBe(0);
    for (const e of exits) expect(e.code, e.stderr.slice(-1500)).toBe(0);
    expect(done.stderr).toContain('"aggregation":"slices"');
    // each worker's slice server joined, at its host's address
    for (const h of [1, 2, 3]) expect(done.stderr).toContain(`"serves":"ws://${cluster.hosts[h].ip}:`);
    expect(done.stderr).toContain(`"serves":"ws://${cluster.hosts[2].ip}:7181"`);
    // every process said what it moved, per step, in units of P (the parameters' bytes): the coordinator 2P
    // (slices of the parameters out, slices of the sum in); a worker P of parameters in and its pieces out (two
    // of its ranges hold two canonical pieces each: 3P); a slice server P/3 in and P out of parameters, and
    // its third of all five pieces in, its sum out (3.33P). With one block per worker every process moves about 2P.
    const P = (2 * 64 + 64 + 64 * 64 + 64 + 64 * 2 + 2) * 8;
    const perStep = (text: string, message: string): number[] => text.split('\n').filter((l) => l.includes(`"msg":"${message}"`)).map((l) => {
      const { bytesIn, bytesOut } = JSON.parse(l);
      return (bytesIn + bytesOut) / 150 / P;
    });
    const [coordinatorP] = perStep(done.stderr, 'bytes moved over the connections of this run');
    const workerP = exits.flatMap((e) => perStep(e.stderr, 'bytes moved over the connections of this worker')).sort();
    const serverP = exits.flatMap((e) => perStep(e.stderr, 'slice server stopped'));
    expect(coordinatorP).toBeGreaterThan(2);
    expect(coordinatorP).toBeLessThan(2.1);
    expect(workerP).toHaveLength(3);
    expect(workerP[0]).toBeGreaterThan(2);
    expect(workerP[0]).toBeLessThan(2.1);
    for (const w of workerP.slice(1)) expect(w).toBeLessThan(3.1);
    expect(serverP).toHaveLength(3);
    for (const m of serverP) expect(m).toBeLessThan(3.45);
    // each worker timed its parameters' arrival at every step (what a forward pass started on layer 1 could gain)
    const arrivals = exits.flatMap((e) => e.stderr.split('\n').filter((l) => l.includes('"msg":"when the parameters of sliced steps came in"')).map((l) => JSON.parse(l)));
    expect(arrivals).toHaveLength(3);
    for (const a of arrivals) {
      expect(a.steps).toBe(150);
      expect(a.layerOneEarlyMs).toBeGreaterThanOrEqual(0);
      expect(a.layerOneEarlyMs).toBeLessThanOrEqual(a.spreadMs);
    }
    const reference = await inProcessParams(MODEL, 150, tmp.path('cluster-reference.json'));
    expect(bitsOf(loadModel(out, 'float64').params).equals(bitsOf(reference))).toBe(true);
  });

  it('lose one host (its worker and its slice server, killed) mid-run and still give the in-process model', async (ctx) => {
    if (skipped) return ctx.skip();
    const ckpt = tmp.path('lost-host');
    const c = coordinator(7171, ['--steps', UNBOUNDED_STEPS, '--checkpoint-dir', ckpt, '--checkpoint-every', '40']);
    await c.stderrLines((l) => l.includes('coordinator listening'));
    workers(7171);
    // sliced steps are running: every slice server joined and a checkpoint was written after that
    await c.stderrLines((l) => l.includes('slice server joined') && JSON.parse(l).servers === 3);
    const before = JSON.parse(await c.stderrLines(checkpointAt(1))).step as number;
    await c.stderrLines(checkpointAt(before + 40));
    const pids = hostPids(cluster, 2);
    expect(pids.length).toBe(2); // the worker and its slice server
    for (const pid of pids) process.kill(pid, 'SIGKILL');
    await c.stderrLines((l) => l.includes('slice server lost'));
    await c.stderrLines((l) => l.includes('worker lost'));
    // it trains on, sliced over the two hosts left
    const lostAt = JSON.parse(c.seen((l) => l.includes('worker lost'))[0]).step as number;
    await c.stderrLines(checkpointAt(lostAt + 80));
    const { checkpoint } = await stopWithCheckpoint(c, ckpt);
    const reference = await inProcessParams(MODEL, checkpoint.step, tmp.path('lost-reference.json'));
    expect(bitsOf(checkpoint.params).equals(bitsOf(reference))).toBe(true);
  });
});
