/**
 * The lines a distributed run ends with: where its steps' time went, and, when
 * waiting or communication took most of it, how fast the measured alternative
 * (--workers 0, timed at the run's end by train()) would have been.
 */
import type { RunTime } from '@shardprop/coordinator';

export function timeReport(time: RunTime, workers: number): string[] {
  const { computeSeconds: compute, waitSeconds: wait, commSeconds: comm } = time;
  const lines = [`step time: compute ${seconds(compute)}, waiting for the slowest worker ${seconds(wait)}, communication ${seconds(comm)}`];
  const alt = time.inProcess;
  if (!alt || time.steps === 0) return lines;
  const what = comm >= wait ? 'communication dominates' : 'waiting for the slowest worker dominates';
  const distributed = (compute + wait + comm) / time.steps;
  const speedup = distributed / alt.secondsPerBatch;
  const measured = `measured: a batch's gradient took ${ms(distributed)} with ${workers} worker${workers === 1 ? '' : 's'}, ${ms(alt.secondsPerBatch)} in one process over ${alt.batches} batch${alt.batches === 1 ? '' : 'es'} timed at the end`;
  lines.push(speedup > 1
    ? `${what}: this model at batch ${alt.batch} trains ${speedup.toFixed(1)}x faster with --workers 0 (${measured})`
    : `${what}, yet --workers 0 measured no faster (${measured})`);
  return lines;
}

function seconds(s: number): string {
  return `${s.toFixed(s < 10 ? 2 : 1)} s`;
}

function ms(s: number): string {
  return `${(s * 1000).toFixed(s < 0.001 ? 3 : 1)} ms`;
}
