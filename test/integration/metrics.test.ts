import { execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { train, type EpochMetrics, type TrainSummary } from '@shardprop/coordinator';
import { BIN, NODE_FLAGS, collect, killAll, runCli, startCli, tempDir, type Collected, type Exited } from '../helpers/cli.js';
import { DEFAULT_KERNEL } from '../helpers/kernels.js';
import { UNBOUNDED_STEPS, stopWithCheckpoint } from '../helpers/runs.js';

/**
 * What operators see of a distributed run: GET /metrics (checked by Prometheus's own
 * promtool, from Debian's prometheus package), the workers' lines, and where the time
 * went. Real coordinators and `shardprop worker` processes on 127.0.0.1; every wait is
 * for a log line, a hook or a process.
 */
const tmp = tempDir();
afterAll(() => {
  killAll();
  tmp.remove();
});

const PROMTOOL = '/usr/bin/promtool';
const TOKEN = 'a6c2f1e0d9b8a7968574635241302f1e';

function get(url: string, headers: Record<string, string> = {}): Promise<{ status: number; type?: string; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode!, type: res.headers['content-type'], body }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** promtool's verdict on an exposition: its problems (none: ''), or it throws on a parse error. */
function promtoolProblems(text: string): string {
  try {
    return execFileSync(PROMTOOL, ['check', 'metrics'], { input: text, encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'] });
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string };
    return `${e.stdout ?? ''}${e.stderr ?? ''}` || String(err);
  }
}

/** The samples of an exposition promtool has passed: `name{labels}` → value. */
function samples(text: string): Map<string, number> {
  const values = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const cut = line.lastIndexOf(' ');
    values.set(line.slice(0, cut), Number(line.slice(cut + 1)));
  }
  return values;
}

describe.skipIf(!existsSync(PROMTOOL))(`GET /metrics (checked by ${PROMTOOL}; skipped where it is missing)`, () => {
  /** A coordinator with a token (train(), as `shardprop coordinator` runs it) and two `shardprop worker` processes; scraped once the run is over, before it closes. */
  let summary: TrainSummary;
  let scraped: { status: number; type?: string; body: string };
  let refused: number;
  let lastEpoch: EpochMetrics;
  let checkpoints = 0;
  let workers: { run: Collected; exited: Exited }[];
  const epochs = 3;
  const batch = 25;

  beforeAll(async () => {
    const tokenFile = tmp.write('token', TOKEN);
    let started: Collected[] = [];
    let dashboard = '';
    summary = await train(
      { data: 'circles', layers: [2, 8, 2], epochs, batch, lr: 1, expect: 2, port: 0, token: TOKEN, dashboard: true, out: tmp.path('model.json'), checkpointDir: tmp.path('ck'), checkpointEvery: 25, kernel: DEFAULT_KERNEL },
      {
        onListening(url) {
          started = [1, 2].map((n) => collect(startCli(['worker', '--connect', url, '--token-file', tokenFile, '--name', `w${n}`])));
        },
        onEpoch: (m) => (lastEpoch = m),
        onCheckpoint: () => checkpoints++,
        onDashboard: (url) => (dashboard = url),
        async onFinished() {
          refused = (await get(`${dashboard}metrics`)).status;
          scraped = await get(`${dashboard}metrics`, { authorization: `Bearer ${TOKEN}` });
        },
      },
    );
    workers = await Promise.all(started.map(async (run) => ({ run, exited: await run.exited })));
  }, 120_000);

  it('passes promtool and agrees with the run\'s summary at its end (steps, samples, risks, time, workers, checkpoints)', () => {
    expect(refused).toBe(401);
    expect(scraped.status).toBe(200);
    expect(scraped.type).toContain('text/plain; version=0.0.4');
    expect(promtoolProblems(scraped.body)).toBe('');
    const v = samples(scraped.body);
    // circles: 1000 samples, 40 batches of 25 an epoch
    expect(summary.steps).toBe(epochs * 40);
    expect(summary.samples).toBe(epochs * 1000);
    expect(v.get('shardprop_steps_total')).toBe(summary.steps);
    expect(v.get('shardprop_samples_total')).toBe(summary.samples);
    expect(v.get('shardprop_step')).toBe(summary.steps);
    expect(v.get('shardprop_steps_planned')).toBe(summary.steps);
    expect(v.get('shardprop_epoch')).toBe(epochs);
    expect(v.get('shardprop_train_risk')).toBe(lastEpoch.risk);
    expect(v.get('shardprop_test_risk')).toBe(lastEpoch.testRisk);
    expect(v.get('shardprop_test_accuracy')).toBe(lastEpoch.testAccuracy);
    expect(v.get('shardprop_checkpoints_total')).toBe(checkpoints);
    expect(checkpoints).toBe(Math.floor(summary.steps / 25));
    const time = summary.time!;
    expect(v.get('shardprop_step_seconds_total{part="compute"}')).toBeCloseTo(time.computeSeconds, 9);
    expect(v.get('shardprop_step_seconds_total{part="wait"}')).toBeCloseTo(time.waitSeconds, 9);
    expect(v.get('shardprop_step_seconds_total{part="communication"}')).toBeCloseTo(time.commSeconds, 9);
    // both workers between steps, none dropped; every step's parameters went out to each and a gradient came back
    expect(v.get('shardprop_workers{state="idle"}')).toBe(2);
    expect([...v.keys()].filter((k) => k.startsWith('shardprop_workers_dropped_total'))).toEqual([]);
    const paramsBytes = summary.steps * 2 * (2 * 8 + 8 + 8 * 2 + 2) * 4;
    expect(v.get('shardprop_sent_bytes_total')).toBeGreaterThan(paramsBytes);
    expect(v.get('shardprop_received_bytes_total')).toBeGreaterThan(summary.steps * 2 * 64);
  });

  it('has each worker say it waits, that it trains, and end with a summary line that agrees with the run', () => {
    const done = workers.map(({ run, exited }) => {
      expect(exited.code, exited.stderr.slice(-2000)).toBe(0);
      const said = run.seen(() => true).map((l) => JSON.parse(l).msg as string);
      const order = ['waiting for training to start', 'training'].map((m) => said.indexOf(m));
      expect(order[0]).toBeGreaterThan(said.findIndex((m) => m.startsWith('joined as worker')));
      expect(order[1]).toBeGreaterThan(order[0]);
      const line = run.seen((l) => l.includes('"worker done: '));
      expect(line).toHaveLength(1);
      return JSON.parse(line[0]);
    });
    for (const d of done) {
      // every step went to both workers, each computing its shard's part of the batch
      expect(d.steps).toBe(summary.steps);
      const n = (x: number) => x.toLocaleString('en-US');
      expect(d.msg).toBe(`worker done: ${n(d.steps)} steps computed, ${n(d.samples)} samples, compute ${d.computeSeconds.toFixed(2)} s, waiting ${d.waitSeconds.toFixed(2)} s`);
      expect(d.computeSeconds).toBeGreaterThan(0);
      expect(d.waitSeconds).toBeGreaterThan(0);
    }
    expect(done[0].samples + done[1].samples).toBe(summary.samples);
  });
});

describe('a distributed run\'s operators', () => {
  it('get /metrics from `shardprop train --workers 2` too, under the dashboard\'s loopback Host rule', async () => {
    const dir = tmp.path('served');
    const run = collect(startCli(['train', '--data', 'xor', '--layers', '2,4,1', '--batch', 'full', '--lr', '1', '--steps', UNBOUNDED_STEPS, '--workers', '2', '--checkpoint-dir', dir, '--out', tmp.path('served.json')]));
    const url = JSON.parse(await run.stderrLines((l) => l.includes('"dashboard"'))).dashboard as string;
    await run.stderrLines((l) => l.includes('epoch 1 done'));
    const scraped = await get(`${url}metrics`);
    expect(scraped.status).toBe(200);
    expect(samples(scraped.body).get('shardprop_steps_total')).toBeGreaterThan(0);
    if (existsSync(PROMTOOL)) expect(promtoolProblems(scraped.body)).toBe('');
    // a page elsewhere whose name points at 127.0.0.1 gets nothing
    expect((await get(`${url}metrics`, { host: 'metrics.example.com' })).status).toBe(403);
    await stopWithCheckpoint(run, dir);
  }, 60_000);

  it('see each `shardprop worker` of a `shardprop coordinator` end with a summary that agrees with the coordinator\'s', async () => {
    const coordinator = collect(startCli(['coordinator', '--port', '0', '--expect', '2', '--data', 'circles', '--layers', '2,8,2', '--epochs', '2', '--batch', '50', '--lr', '1', '--json', '--out', tmp.path('c.json')]));
    const url = /ws:\/\/[\d.:]+/.exec(await coordinator.stderrLines((l) => l.includes('shardprop worker --connect')))![0];
    const workers = [1, 2].map(() => collect(startCli(['worker', '--connect', url])));
    const exited = await coordinator.exited;
    expect(exited.code, exited.stderr.slice(-2000)).toBe(0);
    const summary = JSON.parse(exited.stdout) as TrainSummary;
    expect(summary.time!.steps).toBe(summary.steps);
    const done = await Promise.all(workers.map(async (w) => {
      expect((await w.exited).code).toBe(0);
      return JSON.parse(await w.stderrLines((l) => l.includes('"worker done: ')));
    }));
    expect(done.map((d) => d.steps)).toEqual([summary.steps, summary.steps]);
    expect(done[0].samples + done[1].samples).toBe(summary.samples);
    // the workers' backprop is at most what the coordinator counted as compute (the slowest's, step by step)
    expect(Math.max(done[0].computeSeconds, done[1].computeSeconds)).toBeLessThanOrEqual(summary.time!.computeSeconds + 0.002);
  }, 60_000);

  it('see a `shardprop worker`\'s progress line on its terminal (a pseudo-terminal from script(1)), then its summary', async () => {
    const dir = tmp.path('tty');
    const coordinator = collect(startCli(['coordinator', '--port', '0', '--expect', '1', '--data', 'xor', '--layers', '2,4,1', '--batch', 'full', '--lr', '1', '--steps', UNBOUNDED_STEPS, '--checkpoint-dir', dir, '--out', tmp.path('tty.json')]));
    const url = /ws:\/\/[\d.:]+/.exec(await coordinator.stderrLines((l) => l.includes('shardprop worker --connect')))![0];
    const command = [process.execPath, ...NODE_FLAGS, BIN, 'worker', '--connect', url].map((a) => `'${a}'`).join(' ');
    // script(1) runs it on a pseudo-terminal and copies what it writes there to its stdout
    const worker = spawn('script', ['-q', '-e', '-c', command, '/dev/null'], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      let screen = '';
      const exited = new Promise<number | null>((resolve) => worker.on('close', resolve));
      await new Promise<void>((resolve, reject) => {
        worker.stdout!.on('data', (d) => {
          screen += d;
          if (/\r\x1b\[2Kworker 1: [\d,]+ steps computed, [\d,]+ samples, compute \d+\.\d\d s, waiting \d+\.\d\d s/.test(screen)) resolve();
        });
        worker.on('close', () => reject(new Error(`the worker ended before drawing its progress:\n${screen.slice(-2000)}`)));
      });
      await stopWithCheckpoint(coordinator, dir);
      expect(await exited).toBe(0);
      // the line is cleared before the summary, which follows the last progress line
      const last = screen.lastIndexOf('\r\x1b[2Kworker 1: ');
      expect(screen.indexOf('\r\x1b[2K', last + 1)).toBeGreaterThan(last);
      expect(screen.slice(last)).toMatch(/worker done: [\d,]+ steps computed, [\d,]+ samples, compute \d+\.\d\d s, waiting \d+\.\d\d s/);
    } finally {
      worker.kill('SIGKILL');
    }
  }, 60_000);

  it('are told where the time went, and that --workers 0 is measured faster, for a tiny model at batch 1 on 2 workers', async () => {
    const r = await runCli(['train', '--data', 'xor', '--layers', '2,2,1', '--batch', '1', '--lr', '0.5', '--steps', '400', '--workers', '2', '--out', tmp.path('tiny.json')]);
    expect(r.code, r.stderr.slice(-2000)).toBe(0);
    expect(r.stdout).toMatch(/^step time: compute \d+\.\d+ s, waiting for the slowest worker \d+\.\d+ s, communication \d+\.\d+ s$/m);
    // one worker holds no sample of a batch of 1: the other's gradient and the exchange are all there is to wait for
    expect(r.stdout).toMatch(/^(communication|waiting for the slowest worker) dominates(: this model at batch 1 trains \d+\.\dx faster with --workers 0|, yet --workers 0 measured no faster) \(measured: a batch's gradient took [\d.]+ ms with 2 workers, [\d.]+ ms in one process over \d+ batch(es)? timed at the end\)$/m);
  }, 60_000);
});
