import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { train } from '@shardprop/coordinator';
import { Rng, checkpointPath, loadCheckpoint, loadModel, type Floats } from '@shardprop/core';
import { collect, killAll, runCli, startCli, summaryOf, tempDir } from '../helpers/cli.js';
import { UNBOUNDED_STEPS, checkpointAt, lastCheckpoint, stopWithCheckpoint } from '../helpers/runs.js';

/**
 * The promise of canonical blocks and one reduction tree (issue 16): the model is
 * the same to the last bit whatever the number of workers, the gradient form, the
 * number type and the kernels, through a worker killed, a worker joining and a
 * checkpoint resumed at another worker count. Bits, not a tolerance: the saved
 * model files (deterministic text of every parameter) and the checkpoints are
 * compared byte for byte with those of the in-process reference, computed here by
 * train({ workers: 0 }) with the same kernels (no process to start: it is the cheap
 * side of every comparison).
 *
 * The whole cross product (4 worker counts × 2 forms × 2 dtypes × 2 kernels × 2
 * batches) would start over a hundred processes. Instead the worker runs follow an
 * orthogonal array L8(4¹×2⁴): 8 runs in which every worker count 1–4 meets both
 * values of every other setting, and every pair of those settings meets in all four
 * combinations (twice). Blocks are K = 8 rows. The mini-batch, 20 rows, is not a
 * multiple of K: 3 blocks, the last of 4 rows, so 2 workers are dealt ranges that
 * are not whole subtrees and a fourth worker is dealt none; the full batch, 150
 * rows, is 19 blocks (the last of 6) dealt unevenly. The faults, the join and the
 * resume run float32 and dense sums, where any other order of additions shows at
 * once, with a batch of 50 rows: 7 blocks, the last of 2, cut differently by 1, 2
 * and 3 workers.
 */
const tmp = tempDir();
const STEPS = 200;
const ROWS = 150;
const BLOCK = 8;
const LAYERS = [3, 16, 8, 2];

afterAll(() => {
  killAll();
  tmp.remove();
});

beforeAll(() => {
  const rng = new Rng(11);
  const x: number[][] = [];
  const y: number[][] = [];
  for (let i = 0; i < ROWS; i++) {
    const row = [rng.uniform() * 2 - 1, rng.uniform() * 2 - 1, rng.uniform() * 2 - 1];
    x.push(row);
    y.push([row[0] * row[1] > 0 ? 1 : 0, row[2] > 0 ? 1 : 0]);
  }
  writeFileSync(tmp.path('data.json'), JSON.stringify({ x, y }));
});

interface Setting {
  form: 'dense' | 'factors';
  dtype: 'float32' | 'float64';
  kernel: 'wasm' | 'js';
  batch: '20' | '50' | 'full';
}

/** The L8(4¹×2⁴) array: workers = 1 + 2a + b and the settings c, a⊕c, b⊕c, a⊕b⊕c over (a, b, c) ∈ {0,1}³. */
const DESIGN: (Setting & { workers: number })[] = [
  { workers: 1, form: 'dense', dtype: 'float32', kernel: 'wasm', batch: '20' },
  { workers: 1, form: 'factors', dtype: 'float64', kernel: 'js', batch: 'full' },
  { workers: 2, form: 'dense', dtype: 'float32', kernel: 'js', batch: 'full' },
  { workers: 2, form: 'factors', dtype: 'float64', kernel: 'wasm', batch: '20' },
  { workers: 3, form: 'dense', dtype: 'float64', kernel: 'wasm', batch: 'full' },
  { workers: 3, form: 'factors', dtype: 'float32', kernel: 'js', batch: '20' },
  { workers: 4, form: 'dense', dtype: 'float64', kernel: 'js', batch: '20' },
  { workers: 4, form: 'factors', dtype: 'float32', kernel: 'wasm', batch: 'full' },
];
/** The settings of the runs with faults, joins and resumes. */
const CHANGING: Setting = { form: 'dense', dtype: 'float32', kernel: 'wasm', batch: '50' };

const flags = (s: Setting): string[] => [
  '--data', tmp.path('data.json'), '--layers', LAYERS.join(','), '--batch', s.batch, '--block', String(BLOCK),
  '--lr', '0.5', '--optimizer', 'momentum', '--seed', '3', '--dtype', s.dtype, '--kernel', s.kernel, '--gradient-form', s.form,
];

/** What this test reads of a --trace line. */
interface TraceRecord {
  batch: number[];
  workers?: { workerId: number; count: number }[];
}

const traceOf = (model: string): string => model.replace(/\.json$/, '.trace.jsonl');
const readTrace = (file: string): TraceRecord[] => readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l));

const references = new Map<string, Promise<string>>();

/**
 * The model file of the in-process run of `s` over `steps` steps (its form plays no
 * part in process), beside it its trace (`.trace.jsonl`); with `checkpoint`, the
 * folder whose checkpoint.bin it wrote after its last step. Each is trained once.
 */
function reference(s: Setting, steps: number, checkpoint = false): Promise<string> {
  const tag = `ref-${s.dtype}-${s.kernel}-${s.batch}-${steps}${checkpoint ? '-ckpt' : ''}`;
  let made = references.get(tag);
  if (!made) {
    const out = tmp.path(`${tag}.json`);
    const dir = tmp.path(tag);
    made = train({
      data: tmp.path('data.json'), layers: LAYERS, batch: s.batch === 'full' ? 'full' : Number(s.batch), block: BLOCK,
      lr: 0.5, optimizer: 'momentum', seed: 3, dtype: s.dtype, kernel: s.kernel, workers: 0, steps, out, trace: traceOf(out),
      ...(checkpoint ? { checkpointDir: dir, checkpointEvery: steps } : {}),
    }).then(() => (checkpoint ? dir : out));
    references.set(tag, made);
  }
  return made;
}

/** How many of two parameter arrays' entries differ in any bit, and by how much at most. */
function bitDifference(a: Floats, b: Floats): string {
  expect(a.length).toBe(b.length);
  let count = 0;
  let max = 0;
  for (let i = 0; i < a.length; i++) {
    if (Object.is(a[i], b[i])) continue;
    count++;
    max = Math.max(max, Math.abs(a[i] - b[i]));
  }
  return `${count} of ${a.length} parameters differ, by up to ${max}`;
}

/** The model file `got` has the bytes of `want`; if not, the failure says how far apart their parameters are. */
function expectSameModel(got: string, want: string, dtype: Setting['dtype']): void {
  if (readFileSync(got).equals(readFileSync(want))) return;
  expect.fail(`${got} is not ${want}: ${bitDifference(loadModel(got, dtype).params, loadModel(want, dtype).params)}`);
}

/** The checkpoint in folder `got` has the bytes of the one in `want` (parameters, optimizer and sampler state). */
function expectSameCheckpoint(got: string, want: string): void {
  if (readFileSync(checkpointPath(got)).equals(readFileSync(checkpointPath(want)))) return;
  const [a, b] = [loadCheckpoint(got), loadCheckpoint(want)];
  expect.fail(`the checkpoint in ${got} is not the one in ${want} (steps ${a.step} and ${b.step}): ${bitDifference(a.params, b.params)}`);
}

/** The coordinator said which form its workers send and the block size it deals. */
function expectForm(stderr: string, s: Setting): void {
  const line = stderr.split('\n').find((l) => l.includes('"msg":"workers send gradients"'));
  expect(line, stderr.slice(-2000)).toBeDefined();
  expect(JSON.parse(line!)).toMatchObject({ gradientForm: s.form, block: BLOCK });
}

describe('the same bits for any number of workers', () => {
  for (const row of DESIGN) {
    const { workers, ...s } = row;
    it(`${workers} worker(s), ${s.form}, ${s.dtype}, ${s.kernel} kernels, batch ${s.batch}: the in-process model, byte for byte`, async () => {
      const out = tmp.path(`w${workers}-${s.form}-${s.dtype}-${s.kernel}-${s.batch}.json`);
      const [run, want] = await Promise.all([
        runCli(['train', ...flags(s), '--steps', String(STEPS), '--workers', String(workers), '--out', out, '--trace', traceOf(out), '--json']),
        reference(s, STEPS),
      ]);
      expect(run.code, run.stderr.slice(-2000)).toBe(0);
      expect(summaryOf(run)).toMatchObject({ workers, kernel: s.kernel, dtype: s.dtype, steps: STEPS });
      expectForm(run.stderr, s);
      expectSameModel(out, want, s.dtype);
      // the same global batches, and every step's rows computed by the workers together, each row once
      const trace = readTrace(traceOf(out));
      expect(trace.map((r) => r.batch)).toEqual(readTrace(traceOf(want)).map((r) => r.batch));
      for (const r of trace) {
        expect(r.workers).toHaveLength(workers);
        expect(r.workers!.reduce((sum, w) => sum + w.count, 0)).toBe(r.batch.length);
      }
      // 20 rows are 3 blocks: a fourth worker is dealt none (it is absent from the tree, not a zero in it)
      if (workers === 4 && s.batch === '20') expect(trace[0].workers!.map((w) => w.count)).toContain(0);
    });
  }
});

describe('the same bits through slice servers (--aggregation slices)', () => {
  const SLICED: (Setting & { workers: number })[] = [
    // 20 rows are 3 blocks: the fourth worker is dealt none, and sends its slice servers empty parts
    { workers: 4, form: 'dense', dtype: 'float32', kernel: 'wasm', batch: '20' },
    { workers: 2, form: 'dense', dtype: 'float64', kernel: 'js', batch: 'full' },
  ];
  for (const row of SLICED) {
    const { workers, ...s } = row;
    it(`${workers} workers and their slice servers, ${s.dtype}, ${s.kernel} kernels, batch ${s.batch}: the in-process model, byte for byte`, async () => {
      const out = tmp.path(`sliced-w${workers}-${s.dtype}-${s.kernel}-${s.batch}.json`);
      const [run, want] = await Promise.all([
        runCli(['train', ...flags(s), '--aggregation', 'slices', '--steps', String(STEPS), '--workers', String(workers), '--out', out, '--json']),
        reference(s, STEPS),
      ]);
      expect(run.code, run.stderr.slice(-2000)).toBe(0);
      // training started once every worker's slice server had joined: every step went through them
      const started = run.stderr.split('\n').find((l) => l.includes('"msg":"workers send gradients"'));
      expect(JSON.parse(started!)).toMatchObject({ aggregation: 'slices' });
      expect(run.stderr.split('\n').filter((l) => l.includes('slice server joined'))).toHaveLength(workers);
      // ... and none was missing at the start or lost on the way (steps would then go through the coordinator)
      expect(run.stderr).not.toContain('slice server joined in time');
      expect(run.stderr).not.toContain('slice server lost');
      expectSameModel(out, want, s.dtype);
    });
  }
});

const worker = (url: string) => collect(startCli(['worker', '--connect', url, '--reconnect-for', '0'], { SHARDPROP_LOG_LEVEL: 'info' }));

describe('the same bits through faults, joins and resumes', () => {
  it('a worker SIGKILLed mid-run, then one joining later: the checkpoint of the in-process run, byte for byte', async () => {
    // Unbounded and stopped by the test (SIGTERM: a checkpoint after the step in flight) once
    // all has happened, so no event can come after the run's end; checkpoints every 25 steps mark progress.
    const dir = tmp.path('faults-ckpt');
    const c = collect(startCli(['coordinator', '--port', '0', '--expect', '2', ...flags(CHANGING), '--steps', UNBOUNDED_STEPS, '--checkpoint-dir', dir, '--checkpoint-every', '25'], { SHARDPROP_LOG_LEVEL: 'info' }));
    const url = JSON.parse(await c.stderrLines((l) => l.includes('coordinator listening'))).url as string;
    const [doomed, stays] = [worker(url), worker(url)];
    await c.stderrLines(checkpointAt(25));
    doomed.child.kill('SIGKILL');
    await c.stderrLines((l) => l.includes('worker lost: its blocks go to the others'));
    await c.stderrLines(checkpointAt(lastCheckpoint(c) + 25)); // the one left trained alone
    const late = worker(url);
    await c.stderrLines((l) => l.includes('worker joined during training'));
    await late.stderrLines((l) => l.includes('"msg":"training"')); // it computed blocks of a step
    await c.stderrLines(checkpointAt(lastCheckpoint(c) + 25)); // and went on with the other
    const { exited, checkpoint } = await stopWithCheckpoint(c, dir);
    expectForm(exited.stderr, CHANGING);
    expect((await doomed.exited).signal).toBe('SIGKILL');
    for (const w of [stays, late]) expect((await w.exited).code).toBe(0);
    expectSameCheckpoint(dir, await reference(CHANGING, checkpoint.step, true));
  });

  it('a checkpoint written with 2 workers, resumed with 3 and in process: the model of the run never stopped, byte for byte', async () => {
    const half = STEPS / 2;
    const dir = tmp.path('resume-ckpt');
    const first = await runCli(['train', ...flags(CHANGING), '--steps', String(half), '--workers', '2', '--checkpoint-dir', dir, '--checkpoint-every', String(half), '--out', tmp.path('resume-first.json')]);
    expect(first.code, first.stderr.slice(-2000)).toBe(0);
    expectSameCheckpoint(dir, await reference(CHANGING, half, true));
    cpSync(dir, tmp.path('resume-ckpt-0'), { recursive: true }); // each resume goes on from the same checkpoint
    const want = await reference(CHANGING, STEPS);
    const resume = async (workers: number, from: string): Promise<void> => {
      const out = tmp.path(`resumed-w${workers}.json`);
      const resumed = await runCli(['train', ...flags(CHANGING), '--steps', String(STEPS), '--workers', String(workers), '--checkpoint-dir', from, '--resume', '--out', out, '--json']);
      expect(resumed.code, resumed.stderr.slice(-2000)).toBe(0);
      expect(resumed.stderr).toContain(`resuming after step ${half}`);
      expect(summaryOf(resumed).workers).toBe(workers);
      expectSameModel(out, want, CHANGING.dtype);
    };
    await Promise.all([resume(3, dir), resume(0, tmp.path('resume-ckpt-0'))]);
  });
});
