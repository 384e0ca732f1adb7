import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { availableParallelism, hostname } from 'node:os';
import { afterAll, describe, expect, it } from 'vitest';
import { planTraining, train } from '@shardprop/coordinator';
import { fingerprint, loadSource } from '@shardprop/core';
import { PROTOCOL_VERSION } from '@shardprop/protocol';
import { makeRunRecord, runRecordPath } from '../../packages/coordinator/src/run-record.js';
import type { TrainSummary } from '@shardprop/coordinator';
import { collect, killAll, runCli, startCli, summaryOf, tempDir } from '../helpers/cli.js';
import { DEFAULT_KERNEL } from '../helpers/kernels.js';
import { UNBOUNDED_STEPS } from '../helpers/runs.js';

const tmp = tempDir('shardprop-run-record-');
afterAll(() => {
  killAll();
  tmp.remove();
});

const version = JSON.parse(readFileSync(new URL('../../packages/coordinator/package.json', import.meta.url), 'utf8')).version;
const readJson = (path: string) => JSON.parse(readFileSync(path, 'utf8'));

describe('the run record next to the model', () => {
  it('is named after the model: model.json -> model.run.json', () => {
    expect(runRecordPath('runs/2026/model.json')).toBe('runs/2026/model.run.json');
    expect(runRecordPath('lr-3.JSON')).toBe('lr-3.run.json');
    expect(runRecordPath('weights')).toBe('weights.run.json');
  });

  it('records a distributed CLI run: resolved configuration, data fingerprints, versions, times, the summary and its files', async () => {
    const before = Date.now();
    const out = tmp.path('cli/model.json');
    const metrics = tmp.path('metrics.jsonl');
    const trace = tmp.path('trace.jsonl');
    const ckpt = tmp.path('ckpt');
    const r = await runCli(['train', '--data', 'spirals', '--layers', '2,8,2', '--epochs', '3', '--workers', '2', '--out', out,
      '--metrics', metrics, '--trace', trace, '--checkpoint-dir', ckpt, '--checkpoint-every', '100', '--json'], { timeoutMs: 30_000 });
    expect(r.code, r.stderr).toBe(0);
    const summary = summaryOf(r);
    const recordPath = tmp.path('cli/model.run.json');
    expect(summary.runRecord).toBe(recordPath);
    const record = readJson(recordPath);

    expect(record.format).toBe('shardprop.run/v1');
    expect(record.status).toBe('finished');
    // the coordinator's threads (every core; the portable kernels run on one), each local worker's (the cores shared between the two), and the workers as they said
    const cores = Math.min(availableParallelism(), 64);
    const coordinator = process.env.SHARDPROP_KERNEL === 'js' ? 1 : cores;
    expect(record.process).toEqual({ pid: expect.any(Number), host: hostname(), threads: coordinator });
    expect(record.config).toMatchObject({ threads: coordinator, workerThreads: Math.max(1, Math.floor(cores / 2)) });
    expect(record.workerProcesses.map((w: { threads: number }) => w.threads)).toEqual([1, 1].map(() => Math.max(1, Math.floor(cores / 2))));
    expect(record).not.toHaveProperty('dashboard'); // only while the run is on
    expect(record.versions).toEqual({ shardprop: version, node: process.version, protocol: PROTOCOL_VERSION });
    const [started, ended] = [Date.parse(record.startedAt), Date.parse(record.endedAt)];
    expect(started).toBeGreaterThanOrEqual(before - 1000);
    expect(ended).toBeGreaterThanOrEqual(started);
    expect(ended).toBeLessThanOrEqual(Date.now());
    expect(ended - started).toBeGreaterThanOrEqual(summary.seconds as number * 1000);

    // what was given, and every default the run used
    expect(record.config).toMatchObject({
      data: 'spirals', layers: [2, 8, 2], activation: 'sigmoid', loss: 'quadratic', dtype: 'float32', initScheme: 'scaled',
      epochs: 3, steps: 300, batch: 10, optimizer: 'sgd', lr: 3, weightDecay: 0, seed: 0, workers: 2, gradientForm: 'auto',
      stepTimeout: 300, waitWorkers: 60, checkpointEvery: 100, resume: false, out,
    });
    // local workers share a fresh secret, which never reaches the options (see the next test for one that does)
    expect(JSON.stringify(record)).not.toMatch(/token|tls/i);

    const { train: trainSet, test } = loadSource('spirals', { seed: 0 });
    expect(record.data.train).toEqual({ source: 'spirals', samples: 1000, inputs: 2, outputs: 2, fingerprint: fingerprint(trainSet) });
    expect(record.data.test).toEqual({ source: 'spirals', samples: 500, inputs: 2, outputs: 2, fingerprint: fingerprint(test!) });

    const { runRecord: _, ...printed } = summary;
    expect(record.result).toEqual(printed);
    expect(record.result).toMatchObject({ steps: 300, epochs: 3, workers: 2 });
    for (const key of ['trainRisk', 'trainAccuracy', 'testRisk', 'testAccuracy', 'samplesPerSecond']) expect(typeof record.result[key], key).toBe('number');

    expect(record.files).toEqual({ model: out, runMetrics: tmp.path('cli/model.metrics.jsonl'), metrics, trace, checkpointDir: ckpt, checkpoint: `${ckpt}/checkpoint.bin` });
    for (const path of Object.values(record.files) as string[]) expect(existsSync(path), path).toBe(true);
  });

  it('says running from the start, with its process and live dashboard; stopped by SIGTERM (with a checkpoint folder), it says stopped and why; its metrics lines are beside it', async () => {
    const out = tmp.path('stopped/model.json');
    const run = collect(startCli(['train', '--data', 'xor', '--layers', '2,4,1', '--batch', 'full', '--lr', '1', '--workers', '1', '--steps', UNBOUNDED_STEPS,
      '--metrics-every', '5', '--checkpoint-dir', tmp.path('stopped/ckpt'), '--out', out]));
    const dashboard = JSON.parse(await run.stderrLines((l) => l.includes('"dashboard"'))).dashboard as string;
    // the record is rewritten with the dashboard's address before the address is logged
    const running = readJson(tmp.path('stopped/model.run.json'));
    expect(running).toMatchObject({ status: 'running', process: { pid: run.child.pid, host: hostname() }, dashboard, config: { steps: Number(UNBOUNDED_STEPS), metricsEvery: 5 } });
    expect(running).not.toHaveProperty('endedAt');
    expect(running).not.toHaveProperty('result');
    // full batches: an epoch a step (logged at most once a second); by the 10th, two step lines are written
    await run.stderrLines((l) => Number(/"msg":"epoch (\d+) done"/.exec(l)?.[1]) >= 10);
    run.child.kill('SIGTERM');
    const exited = await run.exited;
    expect(exited.code, exited.stderr.slice(-1500)).toBe(143);
    const stopped = readJson(tmp.path('stopped/model.run.json'));
    expect(stopped).toMatchObject({ status: 'stopped', reason: expect.stringMatching(/^training stopped/) });
    expect(stopped).not.toHaveProperty('dashboard');
    expect(Date.parse(stopped.endedAt)).toBeGreaterThanOrEqual(Date.parse(stopped.startedAt));
    // every line whole and a metrics line; step lines every 5 steps
    const lines = readFileSync(tmp.path('stopped/model.metrics.jsonl'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
    const steps = lines.filter((l) => l.kind === 'step').map((l) => l.step);
    expect(steps.length).toBeGreaterThanOrEqual(2);
    for (const [i, s] of steps.entries()) expect(s).toBe(5 * (i + 1));
  });

  it('never holds the token or the TLS certificate and key it was given', () => {
    const token = 'x'.repeat(16);
    const [cert, key] = ['-----BEGIN CERTIFICATE----- recognisable-cert', '-----BEGIN PRIVATE KEY----- recognisable-key'];
    const options = { data: 'xor', layers: [2, 3, 1], steps: 5, batch: 'full' as const, workers: 2, out: tmp.path('secret/model.json'), token, tls: { cert: Buffer.from(cert), key: Buffer.from(key) } };
    const plan = planTraining(options, 'js', 2);
    const summary = { steps: 5, workers: 2 } as TrainSummary;
    const record = makeRunRecord({ options, plan, status: 'finished', workers: 2, summary, startedAt: new Date(), endedAt: new Date() });
    // a Buffer would be written as {"type":"Buffer","data":[...]}: read it back as text, so a leaked key shows
    const json = JSON.stringify(record, (_, v) => (v?.type === 'Buffer' && Array.isArray(v.data) ? Buffer.from(v.data).toString() : v));
    expect(record.config).toMatchObject({ data: 'xor', workers: 2, out: options.out }); // the options did reach it
    expect(json).not.toContain(token);
    expect(json).not.toContain('recognisable-cert');
    expect(json).not.toContain('recognisable-key');
    expect(json).not.toMatch(/token|tls/i);
  });

  it('is written by the programmatic train(), with what was left out filled in and no files it did not write', async () => {
    const out = tmp.path('api/lr-1.json');
    const summary = await train({ data: 'xor', layers: [2, 3, 1], steps: 50, batch: 'full', lr: 1, optimizer: 'momentum', dtype: 'float64', workers: 0, out, seed: 7, kernel: DEFAULT_KERNEL });
    expect(summary.runRecord).toBe(tmp.path('api/lr-1.run.json'));
    const record = readJson(summary.runRecord!);
    expect(record.config).toMatchObject({ data: 'xor', batch: 4, steps: 50, epochs: 50, optimizer: 'momentum', momentum: 0.9, lr: 1, seed: 7, workers: 0, dtype: 'float64' });
    // in process: no worker settings
    expect(record.config).not.toHaveProperty('gradientForm');
    expect(record.config).not.toHaveProperty('stepTimeout');
    expect(record.data.test).toBeUndefined();
    expect(record.files).toEqual({ model: out, runMetrics: tmp.path('api/lr-1.metrics.jsonl') });
    expect(record.result).toEqual(JSON.parse(JSON.stringify({ ...summary, runRecord: undefined })));
    // written atomically: no temporary file left next to it
    expect(readdirSync(tmp.path('api')).sort()).toEqual(['lr-1.json', 'lr-1.metrics.jsonl', 'lr-1.run.json']);
  });
});
