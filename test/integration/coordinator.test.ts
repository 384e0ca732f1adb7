import { readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { PROTOCOL_VERSION, decodeToWorker, encode, type Refused } from '@shardprop/protocol';
import { accepted } from '../helpers/checked.js';
import { collect, killAll, runCli, startCli, tempDir } from '../helpers/cli.js';

const tmp = tempDir();
afterAll(() => {
  killAll();
  tmp.remove();
});

describe('shardprop coordinator + shardprop worker', () => {
  it('serves on an ephemeral port, refuses a worker of another protocol version, trains with the workers that join, and everyone exits 0', async () => {
    const out = tmp.path('coord.json');
    const coordinator = startCli(['coordinator', '--port', '0', '--expect', '2', '--data', 'spirals', '--layers', '2,8,2', '--epochs', '3', '--batch', '16', '--lr', '0.5', '--out', out, '--json']);
    const c = collect(coordinator);
    const listening = await c.stderrLines((l) => l.includes('coordinator listening'));
    const url = JSON.parse(listening).url as string;
    expect(url).toMatch(/^ws:\/\/127\.0\.0\.1:\d+$/);

    // a worker from the future is refused with both versions named
    const refusal = await new Promise<Refused>((resolve, reject) => {
      const ws = new WebSocket(url);
      ws.on('open', () => ws.send(encode({ type: 'hello', version: PROTOCOL_VERSION + 1, name: 'future' })));
      ws.on('message', (data: Buffer) => {
        const m = accepted(decodeToWorker(data));
        if (m.type === 'refused') resolve(m);
        else reject(new Error(`unexpected ${m.type}`));
      });
      ws.on('error', reject);
    });
    expect(refusal.code).toBe('SP_ERR_VERSION');
    expect(refusal.reason).toContain(`version ${PROTOCOL_VERSION + 1}`);
    expect(refusal.reason).toContain(`version ${PROTOCOL_VERSION}`);

    const workers = [1, 2].map(() => collect(startCli(['worker', '--connect', url])));
    const [done, w1, w2] = await Promise.all([c.exited, workers[0].exited, workers[1].exited]);
    expect(done.code, done.stderr.slice(-2000)).toBe(0);
    expect(w1.code, w1.stderr).toBe(0);
    expect(w2.code, w2.stderr).toBe(0);
    const summary = JSON.parse(done.stdout.trim());
    expect(summary.workers).toBe(2);
    expect(summary.model).toBe(out);
    expect(summary.testAccuracy).toBeGreaterThan(0);
  });

  it('a worker told to load the data itself gets no rows, a worker with other data is refused, and the model is the in-process one', async () => {
    const common = ['--data', 'spirals', '--seed', '4', '--layers', '2,6,2', '--steps', '25', '--batch', '7', '--lr', '0.5', '--dtype', 'float64'];
    const reference = await runCli(['train', ...common, '--workers', '0', '--out', tmp.path('own-ref.json'), '--json']);
    expect(reference.code, reference.stderr).toBe(0);

    const out = tmp.path('own.json');
    const coordinator = startCli(['coordinator', '--port', '0', '--expect', '2', ...common, '--out', out, '--json']);
    const c = collect(coordinator);
    const url = JSON.parse(await c.stderrLines((l) => l.includes('coordinator listening'))).url as string;

    // other data (another seed of the synthetic source): refused, both fingerprints named, exit 1
    const stranger = await collect(startCli(['worker', '--connect', url, '--data', 'spirals', '--seed', '5'])).exited;
    expect(stranger.code).toBe(1);
    expect(stranger.stderr).toMatch(/the worker's data set is not the coordinator's \(fingerprint [0-9a-f]+ on the worker, [0-9a-f]+ here\)/);

    const own = collect(startCli(['worker', '--connect', url, '--data', 'spirals', '--seed', '4'], { SHARDPROP_LOG_LEVEL: 'info' }));
    const sent = collect(startCli(['worker', '--connect', url], { SHARDPROP_LOG_LEVEL: 'info' }));
    const [done, w1, w2] = await Promise.all([c.exited, own.exited, sent.exited]);
    expect(done.code, done.stderr.slice(-2000)).toBe(0);
    expect([w1.code, w2.code]).toEqual([0, 0]);
    expect(w1.stderr).toMatch(/joined as worker \d holding the \d+ samples of its own data/);
    expect(w2.stderr).toMatch(/joined as worker \d holding the \d+ samples"/);
    expect(readFileSync(out, 'utf8')).toBe(readFileSync(tmp.path('own-ref.json'), 'utf8'));
  });

  it('takes factor messages larger than the model itself (a wide layer, a big batch, factors forced)', async () => {
    // [2,200,2]: 1,002 parameters, 402 factor values per sample; one worker sends 100 samples' worth, 40,200 values
    const r = await runCli(['train', '--data', 'spirals', '--layers', '2,200,2', '--batch', '100', '--steps', '3', '--gradient-form', 'factors', '--dtype', 'float64', '--workers', '1', '--out', tmp.path('wide.json'), '--json']);
    expect(r.code, r.stderr.slice(-1500)).toBe(0);
    expect(JSON.parse(r.stdout.trim()).steps).toBe(3);
  });

  it('a worker that cannot reach its coordinator says so and exits non-zero', async () => {
    const w = collect(startCli(['worker', '--connect', 'ws://127.0.0.1:1', '--reconnect-for', '1']));
    const r = await w.exited;
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/trying again in 100 ms/);
    // The seconds are measured: with retries after 100, 200, 400 ms it gives up once the next one
    // would end past 1 s, having tried for over 0.6 s (1 s once rounded), more on a loaded machine.
    const tried = /cannot reach the coordinator at ws:\/\/127\.0\.0\.1:1: .*; gave up after trying for (\d+) s/.exec(r.stderr);
    expect(tried, r.stderr).not.toBeNull();
    expect(Number(tried![1])).toBeGreaterThanOrEqual(1);
  });
});
