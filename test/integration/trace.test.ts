import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TraceLine } from '@shardprop/coordinator';
import { killAll, runCli, summaryOf, tempDir, type RunResult } from '../helpers/cli.js';

/**
 * The proof, step by step, on real runs: the same training in process and with 2 local
 * workers (dense sums, a batch of 5 blocks dealt 2 and 3) writes the same parameters' hash
 * after every step, each worker's line names its range of blocks, the summary and the run
 * record carry the final hash, and trace-diff says the traces agree; a run with another
 * --lr parts from them at step 1.
 */
const tmp = tempDir('shardprop-trace-');
afterAll(() => {
  killAll();
  tmp.remove();
});

const STEPS = 30;
const RUN = ['--data', 'spirals', '--layers', '2,8,2', '--batch', '40', '--block', '8', '--seed', '5', '--gradient-form', 'dense', '--json'];

interface Traced {
  result: RunResult;
  trace: string;
  lines: TraceLine[];
}

async function traced(name: string, args: string[]): Promise<Traced> {
  const trace = tmp.path(`${name}.trace.jsonl`);
  const result = await runCli(['train', ...RUN, ...args, '--trace', trace, '--out', tmp.path(`${name}.json`)], { timeoutMs: 30_000 });
  expect(result.code, result.stderr.slice(-2000)).toBe(0);
  return { result, trace, lines: readFileSync(trace, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as TraceLine) };
}

let inProcess: Traced;
let workers: Traced;
let otherLr: Traced;
beforeAll(async () => {
  [inProcess, workers, otherLr] = await Promise.all([
    traced('w0', ['--steps', String(STEPS), '--lr', '1', '--workers', '0']),
    traced('w2', ['--steps', String(STEPS), '--lr', '1', '--workers', '2']),
    traced('lr', ['--steps', '3', '--lr', '1.5', '--workers', '0']),
  ]);
});

describe('--trace and trace-diff', () => {
  it('in process and with 2 workers, every step leaves the same parameters\' hash', () => {
    const hashes = (t: Traced) => t.lines.map((l) => l.params);
    expect(hashes(inProcess)).toHaveLength(STEPS);
    for (const h of hashes(inProcess)) expect(h).toMatch(/^[0-9a-f]{16}$/);
    expect(new Set(hashes(inProcess)).size).toBe(STEPS); // training moves the parameters every step
    expect(hashes(workers)).toEqual(hashes(inProcess));
    expect(workers.lines.map((l) => l.batch)).toEqual(inProcess.lines.map((l) => l.batch));
  });

  it('names each worker\'s blocks; an in-process line has no workers', () => {
    for (const line of inProcess.lines) expect(line).not.toHaveProperty('workers');
    for (const line of workers.lines) {
      // 40 positions in blocks of 8: 5 blocks, dealt [0, 2) and [2, 5)
      expect(line.workers!.map((w) => w.blocks)).toEqual([[0, 2], [2, 5]]);
      expect(line.workers!.map((w) => w.count)).toEqual([16, 24]);
    }
  });

  it('the summary and the run record carry the final hash: the last step\'s', () => {
    for (const run of [inProcess, workers]) {
      const summary = summaryOf(run.result);
      expect(summary.paramsHash).toBe(run.lines.at(-1)!.params);
      const record = JSON.parse(readFileSync(summary.runRecord as string, 'utf8'));
      expect(record.result.paramsHash).toBe(summary.paramsHash);
    }
  });

  it('trace-diff says the two traces agree, exit 0', async () => {
    const r = await runCli(['trace-diff', inProcess.trace, workers.trace]);
    expect(r.stdout).toBe(`the traces agree on all ${STEPS} common steps\n`);
    expect(r.code).toBe(0);
  });

  it('trace-diff finds a run with another --lr parting at step 1, exit 1', async () => {
    const r = await runCli(['trace-diff', workers.trace, otherLr.trace, '--json']);
    expect(r.code).toBe(1);
    const d = JSON.parse(r.stdout);
    // the same batch and loss at step 1 (the parameters before it are the same), other parameters after it
    expect(d).toMatchObject({ agree: false, step: 1, agreed: 0, common: 3, differs: ['params'] });
    expect(d.a.at.workers.map((w: { blocks: number[] }) => w.blocks)).toEqual([[0, 2], [2, 5]]);
    expect(d.b.at).not.toHaveProperty('workers');
  });
});
