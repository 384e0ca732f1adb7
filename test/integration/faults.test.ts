import { afterAll, describe, expect, it } from 'vitest';
import { maxAbsDiff } from '../helpers/arrays.js';
import { collect, killAll, startCli, tempDir } from '../helpers/cli.js';
import { UNBOUNDED_STEPS, checkpointAt, inProcessParams, lastCheckpoint, stopWithCheckpoint } from '../helpers/runs.js';

/**
 * Workers that die, hang, or join while a coordinator trains, with real
 * processes: the blocks of a lost worker go to the others, the step in flight
 * is sent again, a newcomer is dealt blocks from the next step on, and the model
 * is, to the bit, the one of a run where nothing happened (canonical blocks and
 * one tree: the same sums whoever computes them).
 *
 * Each run is unbounded and ended by the test (SIGTERM) once everything it waited
 * for has happened, so no fault can come after the run's end however fast it goes;
 * its checkpoint is compared with an in-process run of as many steps.
 */
const tmp = tempDir();
afterAll(() => {
  killAll();
  tmp.remove();
});

/** Batches of 9 in blocks of 2: five blocks, so three workers all have some. */
const RUN = ['--data', 'spirals', '--seed', '8', '--layers', '2,16,2', '--batch', '9', '--block', '2', '--lr', '0.3', '--optimizer', 'momentum', '--dtype', 'float64'];
/** Progress marks: a checkpoint every 100 steps, logged with its step. */
const MARKS = ['--checkpoint-every', '100'];

async function coordinator(tag: string, extra: string[]) {
  const dir = tmp.path(`${tag}-ckpt`);
  const c = collect(startCli(['coordinator', '--port', '0', ...RUN, '--steps', UNBOUNDED_STEPS, '--checkpoint-dir', dir, ...MARKS, ...extra], { SHARDPROP_LOG_LEVEL: 'info' }));
  const url = JSON.parse(await c.stderrLines((l) => l.includes('coordinator listening'))).url as string;
  return { ...c, url, dir, tag };
}

const worker = (url: string, extra: string[] = []) => collect(startCli(['worker', '--connect', url, ...extra], { SHARDPROP_LOG_LEVEL: 'info' }));

/**
 * Waits until the run has logged 200 more steps than it had when called: steps taken after
 * whatever the test just waited for (the last mark logged lags the step in flight by under 100).
 */
const trainOn = (c: Awaited<ReturnType<typeof coordinator>>) => c.stderrLines(checkpointAt(lastCheckpoint(c) + 200));

/** Stops the run (SIGTERM: after the step in flight, with a checkpoint) and compares its parameters with an in-process run of as many steps: equal to the bit. */
async function stopAndCompare(c: Awaited<ReturnType<typeof coordinator>>) {
  const { exited, checkpoint } = await stopWithCheckpoint(c, c.dir);
  const want = await inProcessParams(RUN, checkpoint.step, tmp.path(`${c.tag}-reference.json`));
  expect(maxAbsDiff(checkpoint.params, want)).toBe(0);
  return exited;
}

/** The samples a worker computed, from its last line (`worker done: ...`). */
const samplesOf = (r: { stderr: string }): number => JSON.parse(r.stderr.split('\n').find((l) => l.includes('worker done'))!).samples as number;

describe('worker faults and elastic membership', () => {
  for (const form of ['dense', 'factors']) {
    it(`${form}: a worker SIGKILLed mid-run and a worker joining later change nothing in the model`, async () => {
      const c = await coordinator(`kill-join-${form}`, ['--expect', '3', '--gradient-form', form]);
      const ws = [worker(c.url), worker(c.url), worker(c.url)];
      await c.stderrLines(checkpointAt(200));
      ws[0].child.kill('SIGKILL');
      await c.stderrLines((l) => l.includes('worker lost: its blocks go to the others'));
      await trainOn(c);
      // The run is held while the late worker starts and joins: without ws[1]'s gradient the step in
      // flight cannot finish (a worker owing a gradient gets no heartbeat; the step timeout is 300 s).
      ws[1].child.kill('SIGSTOP');
      const late = worker(c.url);
      await c.stderrLines((l) => l.includes('worker joined during training'));
      ws[1].child.kill('SIGCONT');
      await trainOn(c); // the newcomer trains with the others
      await stopAndCompare(c);
      const rest = await Promise.all([ws[1].exited, ws[2].exited, late.exited]);
      for (const r of rest) expect(r.code, r.stderr.slice(-1000)).toBe(0);
      // the blocks went to the three workers left: the two that stayed and the newcomer computed some
      for (const r of rest) expect(samplesOf(r), r.stderr.slice(-1000)).toBeGreaterThan(0);
    });
  }

  it('every worker gone: the coordinator waits, a new worker takes over the step, the model is unchanged', async () => {
    // the wait is the coordinator's to bound, not the test's: far longer than a worker takes to start
    const c = await coordinator('all-gone', ['--expect', '2', '--wait-workers', '3600']);
    const ws = [worker(c.url, ['--reconnect-for', '0']), worker(c.url, ['--reconnect-for', '0'])];
    await c.stderrLines(checkpointAt(200));
    for (const w of ws) w.child.kill('SIGKILL');
    await c.stderrLines((l) => l.includes('waiting up to 3600 s for a worker to join'));
    const rescue = worker(c.url);
    await c.stderrLines((l) => l.includes('workers are back: the step goes on'));
    await trainOn(c);
    await stopAndCompare(c);
    expect((await rescue.exited).code).toBe(0);
  });

  it('a worker that stops answering (SIGSTOP) is dropped after --step-timeout; once resumed it reconnects and joins again', async () => {
    // 3 s: the honest worker answers every step of the run within it, even on a loaded machine
    const c = await coordinator('hung', ['--expect', '2', '--step-timeout', '3']);
    const ws = [worker(c.url), worker(c.url, ['--reconnect-for', '3600'])];
    await c.stderrLines(checkpointAt(200));
    ws[1].child.kill('SIGSTOP');
    await c.stderrLines((l) => l.includes('no gradient within 3 s (--step-timeout)'));
    ws[1].child.kill('SIGCONT');
    await c.stderrLines((l) => l.includes('worker joined during training'));
    await ws[1].stderrCount((l) => l.includes('joined as worker'), 2);
    await trainOn(c);
    const done = await stopAndCompare(c);
    const [a, b] = await Promise.all([ws[0].exited, ws[1].exited]);
    expect([a.code, b.code]).toEqual([0, 0]);
    expect(b.stderr.match(/joined as worker/g)!.length).toBeGreaterThanOrEqual(2);
    // only the silent worker was dropped: the one that had answered stayed
    expect(a.stderr.match(/joined as worker/g)).toHaveLength(1);
    expect(done.stderr.split('\n').filter((l) => l.includes('"msg":"dropped a worker"'))).toHaveLength(1);
  });

  it('a coordinator held up past --step-timeout reads the gradients that came in time before it drops anyone', async () => {
    const c = await coordinator('held', ['--expect', '2', '--step-timeout', '1']);
    const ws = [worker(c.url), worker(c.url)];
    await c.stderrLines(checkpointAt(200));
    // frozen mid-step while the workers answer: on waking, the step's deadline is long past and the
    // gradients wait in its sockets. They must be read before the deadline is checked.
    c.child.kill('SIGSTOP');
    await new Promise((r) => setTimeout(r, 2500)); // longer than the step timeout; any longer changes nothing
    c.child.kill('SIGCONT');
    await trainOn(c);
    const done = await stopAndCompare(c);
    expect(done.stderr).not.toContain('"msg":"dropped a worker"');
    expect((await Promise.all(ws.map((w) => w.exited))).map((r) => r.code)).toEqual([0, 0]);
  });
});
