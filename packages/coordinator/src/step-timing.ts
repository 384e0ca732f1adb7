/**
 * A distributed step's wall time in three parts that add up to it: compute (the
 * slowest worker's backprop, and rebuilding the sum from factors here), the wait
 * between the first and the last gradient, and communication (the rest).
 */
import type { StepTiming } from './step-events.js';
import type { EngineTiming } from './training-loop.js';

/**
 * Adds one finished step to `total`. `end` is when its sum was ready (this
 * process's clock, ms); `rebuilt` when that took rebuilding the sum from factors,
 * which is backprop's BP4 done here (adding dense sums is part of the exchange).
 */
export function addStepTime(total: Required<EngineTiming>, t: StepTiming, end: number, rebuilt: boolean): void {
  const wall = (end - t.sentAt) / 1000;
  // When the slowest worker is also the last to answer, its backprop and the wait for it overlap: the overlap counts as compute.
  const compute = Math.min(wall, (t.maxComputeMs + (rebuilt ? end - t.lastArrival : 0)) / 1000);
  const wait = Math.min((t.lastArrival - t.firstArrival) / 1000, wall - compute);
  total.computeSeconds += compute;
  total.waitSeconds += wait;
  total.commSeconds += wall - compute - wait;
  // the previous step's synchronization: from its last gradient sent to these parameters received at every worker
  if (t.lastPreviousSentAt > 0) total.syncSeconds += Math.max(0, t.lastReceivedAt - t.lastPreviousSentAt) / 1000;
}
