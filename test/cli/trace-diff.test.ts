import { afterAll, describe, expect, it } from 'vitest';
import { diffTraces, readTrace } from '@shardprop/cli';
import { UsageError, type TraceLine } from '@shardprop/coordinator';
import { killAll, runCli, tempDir } from '../helpers/cli.js';

/**
 * `shardprop trace-diff` on trace files written by hand: runs that agree (in process
 * and with workers), that part at step k (parameters, then batch), of different
 * lengths, resumed into the same file, and damaged or foreign files. The command as a
 * real process for its output and exit codes; readTrace/diffTraces for the rest.
 */
const tmp = tempDir('shardprop-trace-diff-');
afterAll(() => {
  killAll();
  tmp.remove();
});

const BATCH = [3, 1, 0, 2];
const hashOf = (step: number, run = 'x'): string => (run === 'x' ? 'a0' : 'b0') + step.toString(16).padStart(14, '0');
const inProcess = (step: number, over: Partial<TraceLine> = {}): TraceLine =>
  ({ step, epoch: 1, batch: BATCH, count: 4, lossSum: 1 / step, params: hashOf(step), ...over });
const twoWorkers = (step: number, over: Partial<TraceLine> = {}): TraceLine => inProcess(step, {
  workers: [{ workerId: 1, count: 2, lossSum: 0.5 / step, blocks: [0, 1] }, { workerId: 2, count: 2, lossSum: 0.5 / step, blocks: [1, 2] }], ...over,
});
const jsonl = (lines: object[]): string => lines.map((l) => JSON.stringify(l) + '\n').join('');
const steps = (from: number, to: number, make: (step: number) => TraceLine): TraceLine[] => Array.from({ length: to - from + 1 }, (_, i) => make(from + i));

const reference = tmp.write('w0.jsonl', jsonl(steps(1, 5, (s) => inProcess(s))));

describe('shardprop trace-diff', () => {
  it('says two traces agree on every common step (in process and with 2 workers), exit 0', async () => {
    const workers = tmp.write('w2.jsonl', jsonl(steps(1, 5, (s) => twoWorkers(s))));
    const r = await runCli(['trace-diff', reference, workers]);
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('the traces agree on all 5 common steps\n');
    expect(r.code).toBe(0);
  });

  it('names the first step where the parameters part, what differs and each run\'s blocks, exit 1', async () => {
    const parted = tmp.write('part3.jsonl', jsonl(steps(1, 5, (s) => twoWorkers(s, s >= 3 ? { params: hashOf(s, 'y'), lossSum: s === 3 ? 1 / 3 : 0.25 } : {}))));
    const r = await runCli(['trace-diff', reference, parted]);
    expect(r.code).toBe(1);
    expect(r.stdout.split('\n')).toEqual([
      'the traces part at step 3, after 2 common steps that agree: params differs',
      `  params: ${hashOf(3)} in ${reference}, ${hashOf(3, 'y')} in ${parted}`,
      `  lossSum: ${1 / 3} in both`,
      '  count: 4 in both',
      '  batch: the same 4 samples',
      `  blocks in ${reference}: all, in process`,
      `  blocks in ${parted}: worker 1: blocks [0, 1), 2 samples; worker 2: blocks [1, 2), 2 samples`,
      '',
    ]);
  });

  it('parts at a step whose batch differs, from the position where it does', async () => {
    const other = tmp.write('batch2.jsonl', jsonl(steps(1, 5, (s) => inProcess(s, s === 2 ? { batch: [3, 1, 2, 0] } : {}))));
    const r = await runCli(['trace-diff', reference, other, '--json']);
    expect(r.code).toBe(1);
    const d = JSON.parse(r.stdout);
    expect(d).toMatchObject({ agree: false, step: 2, agreed: 1, common: 5, differs: ['batch'], batchFrom: 2 });
    expect(d.a.at).toEqual({ count: 4, lossSum: 0.5, params: hashOf(2), batchLength: 4 });
  });

  it('says which trace is longer when the shorter agrees with it', async () => {
    const short = tmp.write('short.jsonl', jsonl(steps(1, 3, (s) => twoWorkers(s))));
    const r = await runCli(['trace-diff', short, reference]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`the traces agree on all 3 common steps\n${reference} is longer: 2 steps ${short} has not (steps 1 to 5; ${short}: steps 1 to 3)\n`);
    const json = JSON.parse((await runCli(['trace-diff', short, reference, '--json'])).stdout);
    expect(json).toMatchObject({ agree: true, common: 3, agreed: 3, a: { steps: 3, only: 0 }, b: { steps: 5, first: 1, last: 5, only: 2 } });
  });

  it('leaves out a last line cut short (a run still writing), and says so', async () => {
    const whole = jsonl(steps(1, 4, (s) => inProcess(s)));
    const cut = tmp.write('cut.jsonl', whole + JSON.stringify(inProcess(5)).slice(0, 30));
    const r = await runCli(['trace-diff', reference, cut]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('the traces agree on all 4 common steps\n');
    expect(r.stdout).toContain(`(the last line of ${cut} was cut short and is left out)\n`);
  });

  const bad: [string, string, RegExp][] = [
    ['a missing file', 'nowhere.jsonl', /^shardprop: trace .*nowhere\.jsonl: file not found\n$/],
    ['an empty file', '', /: no trace line in it, expected one JSON line per step/],
    ['a damaged line before the last', jsonl([inProcess(1)]) + '{"step":2,"ba\n' + jsonl([inProcess(3)]), /, line 2: not JSON: /],
    ['a metrics file', '{"kind":"epoch","step":5,"epoch":1,"risk":0.2}\n', /, line 1: not a trace line: expected an object with "step", "batch", "count" and "params"/],
    ['a trace without hashes', JSON.stringify({ step: 1, epoch: 1, batch: [0], count: 1, lossSum: 1 }) + '\n', /, line 1: no parameters' hash \("params", 16 hex digits\)/],
    ['steps none of which the other has', jsonl(steps(6, 7, (s) => inProcess(s))), /\(steps 1 to 5\) and .* \(steps 6 to 7\) have no step in common: nothing to compare/],
  ];
  it.each(bad)('refuses %s in one line, exit 2', async (what, content, message) => {
    const file = what === 'a missing file' ? tmp.path(content) : tmp.write(`bad-${what.replace(/\W+/g, '-')}.jsonl`, content);
    const r = await runCli(['trace-diff', reference, file]);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(message);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
  });
});

describe('readTrace and diffTraces', () => {
  it('take a step written twice (a run resumed into the same trace) from its last line', () => {
    // steps 1-4, a crash, then the resume from a checkpoint of step 2 appends steps 3-5 again
    const resumed = tmp.write('resumed.jsonl', jsonl([...steps(1, 4, (s) => inProcess(s, s >= 3 ? { params: hashOf(s, 'y') } : {})), ...steps(3, 5, (s) => inProcess(s))]));
    const trace = readTrace(resumed);
    expect([...trace.steps.keys()]).toEqual([1, 2, 3, 4, 5]);
    expect(diffTraces(readTrace(reference), trace)).toMatchObject({ agree: true, common: 5 });
  });

  it('compare the steps both have, in order, whatever the order of the lines', () => {
    const shuffled = tmp.write('shuffled.jsonl', jsonl([inProcess(4, { params: hashOf(4, 'y') }), inProcess(2, { params: hashOf(2, 'y') }), inProcess(3)]));
    expect(diffTraces(readTrace(reference), readTrace(shuffled))).toMatchObject({ agree: false, step: 2, agreed: 0, common: 3, differs: ['params'] });
  });

  it('throw a UsageError for a file that is not a trace', () => {
    expect(() => readTrace(tmp.write('words.jsonl', 'hello\nworld\n'))).toThrow(UsageError);
  });
});
