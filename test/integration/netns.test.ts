import { writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadCheckpoint, loadModel } from '@shardprop/core';
import { maxAbsDiff } from '../helpers/arrays.js';
import { collect, killAll, runCli, startCli, tempDir } from '../helpers/cli.js';
import { ip, makeNamespaces, removeNamespaces } from '../helpers/netns.js';
import { UNBOUNDED_STEPS, checkpointAt, inProcessParams, stopWithCheckpoint } from '../helpers/runs.js';

/**
 * Separate machines, as near as one machine gets: the coordinator in one
 * network namespace, the workers in another, joined by a veth pair, so workers
 * reach the coordinator at a non-loopback address (10.201.x.1), with the token.
 * Needs root and `ip netns`; where namespaces cannot be made the test says why
 * and is skipped. All traffic stays inside the namespaces made here.
 */
const tmp = tempDir();
const tag = `sp${process.pid % 100000}`;
const NS_COORD = `${tag}-coord`;
const NS_WORK = `${tag}-work`;
const subnet = `10.201.${process.pid % 250}`;
const COORD_IP = `${subnet}.1`;
const WORK_IP = `${subnet}.2`;
const TOKEN = 'a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5';

/** The two namespaces and their link. */
function link(): void {
  ip('netns', 'add', NS_COORD);
  ip('netns', 'add', NS_WORK);
  ip('link', 'add', `${tag}a`, 'type', 'veth', 'peer', 'name', `${tag}b`);
  ip('link', 'set', `${tag}a`, 'netns', NS_COORD);
  ip('link', 'set', `${tag}b`, 'netns', NS_WORK);
  ip('-n', NS_COORD, 'addr', 'add', `${COORD_IP}/24`, 'dev', `${tag}a`);
  ip('-n', NS_WORK, 'addr', 'add', `${WORK_IP}/24`, 'dev', `${tag}b`);
  for (const [ns, dev] of [[NS_COORD, `${tag}a`], [NS_WORK, `${tag}b`]]) {
    ip('-n', ns, 'link', 'set', dev, 'up');
    ip('-n', ns, 'link', 'set', 'lo', 'up');
  }
}

const NAMESPACES = [NS_COORD, NS_WORK];

let skipped: string | null = null;
beforeAll(() => {
  skipped = makeNamespaces(link);
  if (skipped) {
    removeNamespaces(NAMESPACES);
    console.warn(`netns test skipped: ${skipped}`);
  }
});
afterAll(() => {
  killAll();
  removeNamespaces(NAMESPACES);
  tmp.remove();
});

const MODEL = ['--data', 'spirals', '--seed', '3', '--layers', '2,8,2', '--batch', '16', '--lr', '0.5', '--dtype', 'float64'];
const RUN = [...MODEL, '--steps', '400'];

describe('coordinator and workers in separate network namespaces', () => {
  it('workers reach the coordinator at its non-loopback address with the token, and train the in-process model', async (ctx) => {
    if (skipped) return ctx.skip();
    const reference = tmp.path('reference.json');
    const ref = await runCli(['train', ...RUN, '--workers', '0', '--out', reference]);
    expect(ref.code, ref.stderr).toBe(0);
    writeFileSync(tmp.path('token'), `${TOKEN}\n`);
    const inCoord = ['ip', 'netns', 'exec', NS_COORD];
    const inWork = ['ip', 'netns', 'exec', NS_WORK];

    // beyond loopback, no token: refused before listening
    const open = await collect(startCli(['coordinator', '--host', COORD_IP, '--port', '7070', '--expect', '2', ...RUN], {}, inCoord)).exited;
    expect(open.code).toBe(2);
    expect(open.stderr).toContain(`listening on ${COORD_IP} needs a token`);

    const out = tmp.path('netns.json');
    const c = collect(startCli(['coordinator', '--host', COORD_IP, '--port', '7070', '--expect', '2', ...RUN, '--token-file', tmp.path('token'), '--out', out, '--json'], {}, inCoord));
    await c.stderrLines((l) => l.includes('coordinator listening'));
    const url = `ws://${COORD_IP}:7070`;
    const wrong = await collect(startCli(['worker', '--connect', url, '--reconnect-for', '0'], { SHARDPROP_TOKEN: 'not-the-token-at-all-0000' }, inWork)).exited;
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toContain('wrong token');
    const workers = [1, 2].map(() => collect(startCli(['worker', '--connect', url, '--token-file', tmp.path('token')], { SHARDPROP_LOG_LEVEL: 'info' }, inWork)));
    const [done, w1, w2] = await Promise.all([c.exited, workers[0].exited, workers[1].exited]);
    expect(done.code, done.stderr.slice(-2000)).toBe(0);
    expect([w1.code, w2.code]).toEqual([0, 0]);
    // the coordinator saw them come from the other namespace's address
    expect(done.stderr).toContain(`"address":"${WORK_IP}:`);
    const a = loadModel(out, 'float64').params;
    const b = loadModel(reference, 'float64').params;
    expect(maxAbsDiff(a, b)).toBeLessThan(1e-9);
  });

  it('workers notice a coordinator whose host vanished without closing anything, and rejoin it restarted there with --resume', async (ctx) => {
    if (skipped) return ctx.skip();
    writeFileSync(tmp.path('token'), `${TOKEN}\n`);
    const inCoord = ['ip', 'netns', 'exec', NS_COORD];
    const inWork = ['ip', 'netns', 'exec', NS_WORK];
    const ckpt = tmp.path('vanished-ckpt');
    const args = ['coordinator', '--host', COORD_IP, '--port', '7071', '--expect', '2', ...MODEL, '--steps', UNBOUNDED_STEPS,
      '--token-file', tmp.path('token'), '--checkpoint-dir', ckpt, '--checkpoint-every', '50'];
    const first = collect(startCli(args, {}, inCoord));
    await first.stderrLines((l) => l.includes('coordinator listening'));
    const url = `ws://${COORD_IP}:7071`;
    const workerArgs = ['worker', '--connect', url, '--token-file', tmp.path('token'), '--silence-timeout', '3', '--reconnect-for', '3600'];
    const workers = [1, 2].map(() => collect(startCli(workerArgs, {}, inWork), 120_000));
    await first.stderrLines(checkpointAt(100));
    // the host goes: its link first (nothing it sends gets out, not even its kernel's FIN or RST), then the process
    ip('-n', NS_COORD, 'link', 'set', `${tag}a`, 'down');
    first.child.kill('SIGKILL');
    expect((await first.exited).signal).toBe('SIGKILL');
    // each worker finds out by itself, from the silence
    await Promise.all(workers.map((w) => w.stderrLines((l) => l.includes('has been silent for 3 s') && l.includes('SP_ERR_COORDINATOR_SILENT'))));
    // the host is back, and the coordinator restarted on the same address
    ip('-n', NS_COORD, 'link', 'set', `${tag}a`, 'up');
    const resumedFrom = loadCheckpoint(ckpt).step;
    const second = collect(startCli([...args, '--resume'], {}, inCoord));
    await second.stderrLines(checkpointAt(resumedFrom + 100)); // both workers rejoined (it waits for 2), and it trains
    const { checkpoint } = await stopWithCheckpoint(second, ckpt);
    for (const w of workers) {
      const exited = await w.exited;
      expect(exited.code, exited.stderr.slice(-1500)).toBe(0);
    }
    // nothing was lost: the model is the in-process one of as many steps
    const reference = await inProcessParams(MODEL, checkpoint.step, tmp.path('vanished-reference.json'));
    expect(maxAbsDiff(checkpoint.params, reference)).toBeLessThan(1e-9);
  });
});
