/**
 * Two --trace files compared step by step, for `shardprop trace-diff`: the first
 * step both have where they part (another batch, or other parameters after it),
 * with what differs there and who computed which blocks, or how many steps they
 * agree on. Reading tolerates a last line cut short (a run still writing, or killed
 * mid-line); anything else that is not a trace is a UsageError naming file and line.
 */
import { UsageError, type TraceLine, type WorkerContribution } from '@shardprop/coordinator';
import { readInputFile } from './input-file.js';

/** One step of a trace as compared (the batch kept compactly: traces of full batches are large). */
export interface TracedStep {
  step: number;
  batch: Uint32Array;
  count: number;
  /** null where JSON had no number for it. */
  lossSum: number | null;
  params: string;
  workers?: WorkerContribution[];
}

export interface Trace {
  file: string;
  /** By step. A step written twice (a resumed run appending to its trace) is its last line's: the one the run went on from. */
  steps: Map<number, TracedStep>;
  /** The last line was cut short and left out. */
  cutShort: boolean;
}

/** What can differ at a step; the traces part where the batch or the parameters do. */
export type TraceField = 'batch' | 'count' | 'lossSum' | 'params';

/** One trace in the answer: its span, the steps the other lacks and, where they part, its line for that step. */
export interface TraceSide {
  file: string;
  steps: number;
  first: number;
  last: number;
  /** Its steps the other trace does not have. */
  only: number;
  cutShort: boolean;
  at?: { count: number; lossSum: number | null; params: string; batchLength: number; workers?: WorkerContribution[] };
}

export interface TraceDiff {
  /** Every step the two have in common agrees. */
  agree: boolean;
  /** Steps both traces have. */
  common: number;
  /** Common steps that agree before they part (all of them when they agree). */
  agreed: number;
  /** The first common step where they part. */
  step?: number;
  /** What differs there. */
  differs?: TraceField[];
  /** The first batch position where the batches differ there (the shorter's length when one is a prefix of the other). */
  batchFrom?: number;
  a: TraceSide;
  b: TraceSide;
}

const HASH = /^[0-9a-f]{16}$/;

/** The trace in `file`: every whole line a trace line, and at least one. */
export function readTrace(file: string): Trace {
  const bytes = readInputFile(file, 'trace');
  const steps = new Map<number, TracedStep>();
  let cutShort = false;
  for (let start = 0, lineNo = 1; start < bytes.length; lineNo++) {
    const newline = bytes.indexOf(0x0a, start);
    const end = newline < 0 ? bytes.length : newline;
    const text = bytes.toString('utf8', start, end).trim();
    start = end + 1;
    if (text === '') continue;
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      // appendLine writes a line and its newline at once: one without its newline was cut short
      if (newline < 0) {
        cutShort = true;
        break;
      }
      throw new UsageError(`${file}, line ${lineNo}: not JSON: ${JSON.stringify(text.length > 60 ? `${text.slice(0, 60)}...` : text)}`);
    }
    const traced = tracedStep(value, `${file}, line ${lineNo}`);
    steps.set(traced.step, traced);
  }
  if (steps.size === 0) throw new UsageError(`${file}: no trace line in it, expected one JSON line per step (from shardprop train --trace)`);
  return { file, steps, cutShort };
}

function tracedStep(value: unknown, where: string): TracedStep {
  const r = value as Partial<Record<keyof TraceLine, unknown>> | null;
  if (typeof r !== 'object' || r === null || Array.isArray(r) || !Number.isSafeInteger(r.step) || (r.step as number) < 1 || !Array.isArray(r.batch) || typeof r.count !== 'number') {
    throw new UsageError(`${where}: not a trace line: expected an object with "step", "batch", "count" and "params" (as shardprop train --trace writes)`);
  }
  if (typeof r.params !== 'string' || !HASH.test(r.params)) {
    throw new UsageError(`${where}: no parameters' hash ("params", 16 hex digits); traces written before shardprop recorded it cannot be compared`);
  }
  const batch = r.batch as unknown[];
  if (!batch.every((i) => Number.isInteger(i) && (i as number) >= 0 && (i as number) < 2 ** 32)) throw new UsageError(`${where}: "batch" must hold sample indices`);
  if (r.workers !== undefined && !(Array.isArray(r.workers) && r.workers.every((w) => typeof w === 'object' && w !== null))) throw new UsageError(`${where}: "workers" must be a list of objects`);
  const lossSum = typeof r.lossSum === 'number' ? r.lossSum : null;
  return { step: r.step as number, batch: Uint32Array.from(batch as number[]), count: r.count, lossSum, params: r.params, workers: r.workers as WorkerContribution[] | undefined };
}

/** Compares two traces on the steps both have, in order; a UsageError when they have none in common. */
export function diffTraces(a: Trace, b: Trace): TraceDiff {
  const common = [...a.steps.keys()].filter((s) => b.steps.has(s)).sort((x, y) => x - y);
  const diff: TraceDiff = { agree: true, common: common.length, agreed: common.length, a: side(a, b), b: side(b, a) };
  if (common.length === 0) throw new UsageError(`${a.file} (${span(diff.a)}) and ${b.file} (${span(diff.b)}) have no step in common: nothing to compare`);
  for (let k = 0; k < common.length; k++) {
    const x = a.steps.get(common[k])!;
    const y = b.steps.get(common[k])!;
    const batchFrom = firstDifference(x.batch, y.batch);
    if (batchFrom < 0 && x.params === y.params) continue;
    const differs: TraceField[] = [];
    if (batchFrom >= 0) differs.push('batch');
    if (x.count !== y.count) differs.push('count');
    if (x.lossSum !== y.lossSum) differs.push('lossSum');
    if (x.params !== y.params) differs.push('params');
    Object.assign(diff, { agree: false, agreed: k, step: common[k], differs, batchFrom: batchFrom < 0 ? undefined : batchFrom });
    diff.a.at = stepView(x);
    diff.b.at = stepView(y);
    break;
  }
  return diff;
}

function side(t: Trace, other: Trace): TraceSide {
  let first = Infinity;
  let last = -Infinity;
  let only = 0;
  for (const s of t.steps.keys()) {
    first = Math.min(first, s);
    last = Math.max(last, s);
    if (!other.steps.has(s)) only++;
  }
  return { file: t.file, steps: t.steps.size, first, last, only, cutShort: t.cutShort };
}

function stepView(s: TracedStep): NonNullable<TraceSide['at']> {
  return { count: s.count, lossSum: s.lossSum, params: s.params, batchLength: s.batch.length, workers: s.workers };
}

/** The first position where the two differ, -1 when they are equal. */
function firstDifference(x: Uint32Array, y: Uint32Array): number {
  const n = Math.min(x.length, y.length);
  for (let i = 0; i < n; i++) if (x[i] !== y[i]) return i;
  return x.length === y.length ? -1 : n;
}

function span({ first, last }: TraceSide): string {
  return first === last ? `step ${first}` : `steps ${first} to ${last}`;
}

/** The answer in a few lines of text, as `shardprop trace-diff` prints it. */
export function describeTraceDiff(d: TraceDiff): string {
  const { a, b } = d;
  const lines: string[] = [];
  if (d.agree) {
    lines.push(`the traces agree on all ${d.common} common step${d.common === 1 ? '' : 's'}`);
    for (const [t, other] of [[a, b], [b, a]]) {
      if (t.only > 0) lines.push(`${t.file} is longer: ${t.only} step${t.only === 1 ? '' : 's'} ${other.file} has not (${span(t)}; ${other.file}: ${span(other)})`);
    }
  } else {
    const x = a.at!;
    const y = b.at!;
    lines.push(`the traces part at step ${d.step}${d.agreed > 0 ? `, after ${d.agreed} common step${d.agreed === 1 ? '' : 's'} that agree` : ', the first they have in common'}: ${d.differs!.join(', ')} differ${d.differs!.length === 1 ? 's' : ''}`);
    const pair = (name: string, u: unknown, v: unknown): string => (u === v ? `  ${name}: ${String(u)} in both` : `  ${name}: ${String(u)} in ${a.file}, ${String(v)} in ${b.file}`);
    lines.push(pair('params', x.params, y.params), pair('lossSum', x.lossSum, y.lossSum), pair('count', x.count, y.count));
    if (d.batchFrom === undefined) lines.push(`  batch: the same ${x.batchLength} samples`);
    else lines.push(`  batch: differs from position ${d.batchFrom} (${x.batchLength} samples in ${a.file}, ${y.batchLength} in ${b.file})`);
    lines.push(`  blocks in ${a.file}: ${blocksOf(x.workers)}`, `  blocks in ${b.file}: ${blocksOf(y.workers)}`);
  }
  for (const t of [a, b]) if (t.cutShort) lines.push(`(the last line of ${t.file} was cut short and is left out)`);
  return lines.join('\n') + '\n';
}

/** "worker 1: blocks [0, 2), 64 samples; worker 2: ...", or in process. */
function blocksOf(workers: WorkerContribution[] | undefined): string {
  if (workers === undefined) return 'all, in process';
  if (workers.length === 0) return 'no worker listed';
  return workers.map((w) => `worker ${w.workerId}: ${w.blocks ? `blocks [${w.blocks[0]}, ${w.blocks[1]})` : 'blocks not recorded'}, ${w.count} samples`).join('; ');
}
