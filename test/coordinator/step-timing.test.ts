import { describe, expect, it } from 'vitest';
import { addStepTime } from '../../packages/coordinator/src/step-timing.js';

/** A distributed step's wall time in compute, wait and communication, which add up to it. */
describe('addStepTime', () => {
  const zero = () => ({ computeSeconds: 0, waitSeconds: 0, commSeconds: 0, syncSeconds: 0 });

  it('splits a step: the slowest backprop, the spread of arrivals, and the rest; the workers\' own sync apart', () => {
    const t = zero();
    // sent at 100 ms, gradients in at 130 and 160, the slowest backprop 25 ms, the sum ready at 170
    addStepTime(t, { sentAt: 100, firstArrival: 130, lastArrival: 160, maxComputeMs: 25, lastReceivedAt: 5012, lastPreviousSentAt: 5000 }, 170, false);
    expect(t.computeSeconds).toBeCloseTo(0.025, 12);
    expect(t.waitSeconds).toBeCloseTo(0.03, 12);
    expect(t.commSeconds).toBeCloseTo(0.015, 12);
    expect(t.computeSeconds + t.waitSeconds + t.commSeconds).toBeCloseTo(0.07, 12);
    expect(t.syncSeconds).toBeCloseTo(0.012, 12);
  });

  it('counts rebuilding the sum from factors as compute, and never lets the parts outgrow the wall time', () => {
    const t = zero();
    addStepTime(t, { sentAt: 0, firstArrival: 5, lastArrival: 10, maxComputeMs: 9, lastReceivedAt: 0, lastPreviousSentAt: 0 }, 14, true);
    expect(t.computeSeconds).toBeCloseTo(0.013, 12); // 9 ms of backprop + 4 ms of rebuilding
    expect(t.computeSeconds + t.waitSeconds + t.commSeconds).toBeCloseTo(0.014, 12);
    expect(t.syncSeconds).toBe(0); // no previous gradient: nothing to measure
    const u = zero();
    addStepTime(u, { sentAt: 0, firstArrival: 1, lastArrival: 2, maxComputeMs: 50, lastReceivedAt: 0, lastPreviousSentAt: 0 }, 3, false);
    expect(u).toEqual({ computeSeconds: 0.003, waitSeconds: 0, commSeconds: 0, syncSeconds: 0 });
  });
});
