import { afterAll, describe, expect, it } from 'vitest';
import { loadModel } from '@shardprop/core';
import { maxAbsDiff } from '../helpers/arrays.js';
import { collect, killAll, runCli, startCli, tempDir } from '../helpers/cli.js';

/**
 * Workers that die, hang, or join while a coordinator trains, with real
 * processes: the samples of a lost worker go to the others, the step in flight
 * is sent again, a newcomer gets a share at the next step, and the model is the
 * one of a run where nothing happened (float64: within 1e-9 for dense sums; the
 * factors form rebuilds the very same sums, so there it is exact).
 */
const tmp = tempDir();
afterAll(() => {
  killAll();
  tmp.remove();
});

const STEPS = 3000;
const RUN = ['--data', 'spirals', '--seed', '8', '--layers', '2,16,2', '--batch', '9', '--lr', '0.3', '--optimizer', 'momentum', '--dtype', 'float64', '--steps', String(STEPS)];

let reference: Float64Array | null = null;
async function referenceParams(): Promise<Float64Array> {
  if (!reference) {
    const out = tmp.path('reference.json');
    const r = await runCli(['train', ...RUN, '--workers', '0', '--out', out]);
    expect(r.code, r.stderr).toBe(0);
    reference = loadModel(out, 'float64').params as Float64Array;
  }
  return reference;
}

async function coordinator(tag: string, extra: string[]) {
  const out = tmp.path(`${tag}.json`);
  const c = collect(startCli(['coordinator', '--port', '0', ...RUN, '--out', out, '--json', '--checkpoint-dir', tmp.path(`${tag}-ckpt`), ...MARKS, ...extra], { SHARDPROP_LOG_LEVEL: 'info' }));
  const url = JSON.parse(await c.stderrLines((l) => l.includes('coordinator listening'))).url as string;
  return { ...c, url, out };
}

const worker = (url: string, extra: string[] = []) => collect(startCli(['worker', '--connect', url, ...extra], { SHARDPROP_LOG_LEVEL: 'info' }));
/** Progress marks: a checkpoint every 100 steps, logged with its step. */
const MARKS = ['--checkpoint-every', '100'];
const atStep = (n: number) => (l: string) => l.includes('checkpoint written') && JSON.parse(l).step >= n;

describe('worker faults and elastic membership', () => {
  for (const form of ['dense', 'factors']) {
    it(`${form}: a worker SIGKILLed mid-run and a worker joining later change nothing in the model`, async () => {
      const want = await referenceParams();
      const c = await coordinator(`kill-join-${form}`, ['--expect', '3', '--gradient-form', form]);
      const ws = [worker(c.url), worker(c.url), worker(c.url)];
      await c.stderrLines(atStep(200));
      ws[0].child.kill('SIGKILL');
      await c.stderrLines((l) => l.includes('worker lost: its samples go to the others'));
      await c.stderrLines(atStep(1000));
      const late = worker(c.url);
      const [done, ...rest] = await Promise.all([c.exited, ws[1].exited, ws[2].exited, late.exited]);
      expect(done.code, done.stderr.slice(-2000)).toBe(0);
      for (const r of rest) expect(r.code, r.stderr.slice(-1000)).toBe(0);
      expect(done.stderr).toContain('worker joined during training');
      expect(rest[2].stderr).toMatch(/now holds [1-9]\d* samples/); // the newcomer got a share
      expect(JSON.parse(done.stdout.trim()).workers).toBe(3);
      const diff = maxAbsDiff(loadModel(c.out, 'float64').params, want);
      if (form === 'factors') expect(diff).toBe(0);
      else expect(diff).toBeLessThan(1e-9);
    });
  }

  it('every worker gone: the coordinator waits, a new worker takes over the step, the model is unchanged', async () => {
    const want = await referenceParams();
    const c = await coordinator('all-gone', ['--expect', '2', '--wait-workers', '60']);
    const ws = [worker(c.url, ['--reconnect-for', '0']), worker(c.url, ['--reconnect-for', '0'])];
    await c.stderrLines(atStep(200));
    for (const w of ws) w.child.kill('SIGKILL');
    await c.stderrLines((l) => l.includes('waiting up to 60 s for a worker to join'));
    const rescue = worker(c.url);
    const [done, r] = await Promise.all([c.exited, rescue.exited]);
    expect(done.code, done.stderr.slice(-2000)).toBe(0);
    expect(r.code).toBe(0);
    expect(done.stderr).toContain('workers are back: the step goes on');
    expect(maxAbsDiff(loadModel(c.out, 'float64').params, want)).toBeLessThan(1e-9);
  });

  it('a worker that stops answering (SIGSTOP) is dropped after --step-timeout; once resumed it reconnects and joins again', async () => {
    const want = await referenceParams();
    const c = await coordinator('hung', ['--expect', '2', '--step-timeout', '1']);
    const ws = [worker(c.url), worker(c.url, ['--reconnect-for', '60'])];
    await c.stderrLines(atStep(200));
    ws[1].child.kill('SIGSTOP');
    await c.stderrLines((l) => l.includes('no gradient within 1 s (--step-timeout)'));
    ws[1].child.kill('SIGCONT');
    const [done, a, b] = await Promise.all([c.exited, ws[0].exited, ws[1].exited]);
    expect(done.code, done.stderr.slice(-2000)).toBe(0);
    expect([a.code, b.code]).toEqual([0, 0]);
    expect(b.stderr.match(/joined as worker/g)!.length).toBeGreaterThanOrEqual(2);
    // only the silent worker was dropped: the one that had answered stayed
    expect(a.stderr.match(/joined as worker/g)).toHaveLength(1);
    expect(done.stderr.split('\n').filter((l) => l.includes('"msg":"dropped a worker"'))).toHaveLength(1);
    expect(maxAbsDiff(loadModel(c.out, 'float64').params, want)).toBeLessThan(1e-9);
  });
});
