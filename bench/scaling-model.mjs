// The cost model of one synchronous step (docs/scaling.md): compute, then the aggregation's
// transfers over links of `mbit` Mbit/s each way (full duplex) with `latencyUs` per hop, for the
// star and the slices. Calibrated on the simulated cluster's measurements (bench section
// "scaling"): `efficiency` is the share of the nominal rate TCP gets through the caps, and
// `overheadMs` the per-step work outside backprop and transfers (the optimizer, the loop).

/** Milliseconds to move `bytes` over one link of `mbit` Mbit/s at `efficiency` of its rate. */
function transferMs(bytes, mbit, efficiency) {
  return (bytes * 8) / (mbit * 1e6 * efficiency) * 1000;
}

/**
 * efficiency: the share of a capped link's nominal rate the transfers get (fitted to the testbed's points
 * by plot-scaling.mjs); messageUs: CPU per message, sent plus received (bench/message-cost.mjs: about 32 µs to
 * send a small part over loopback and 20 µs to check and place it, on this machine); hopLatencies: what one hop
 * of a step's large messages costs in one-way latencies (TCP's window opening again every step: the scaling
 * bench's latency row measured 1 ms one-way adding 16 ms to the star's 2 hops and 27 ms to the slices' 4).
 */
export const CALIBRATION = { efficiency: 0.9, overheadMs: 0, messageUs: 52, hopLatencies: 7.5 };

/**
 * Predicted milliseconds of one step with `n` workers, parameters of `bytes` bytes, one backprop
 * of `computeMs`, links of `mbit` each way and `latencyUs` one-way latency (a hop costs hopLatencies of them).
 *   star:   the coordinator sends P to each worker and takes P from each, over its one link:
 *           2·n·P through it, and two hops.
 *   slices: the coordinator sends its P in slices to the slice servers; each server forwards its
 *           slice to every worker (a host sends and takes (n−1)/n·P: its own slice stays on the
 *           host); backprop; each worker sends its pieces' slices to the servers ((n−1)/n·P off the
 *           host); the servers' sums reach the coordinator (P through its link); four hops.
 */
export function predictStep(design, {
  n, bytes, mbit, computeMs, latencyUs = 0, efficiency = CALIBRATION.efficiency, overheadMs = CALIBRATION.overheadMs, messageUs = CALIBRATION.messageUs,
  hopLatencies = CALIBRATION.hopLatencies, samplesPerWorker = 64, control = 'v6',
}) {
  const t = (b) => transferMs(b, mbit, efficiency);
  const hop = (hopLatencies * latencyUs) / 1000;
  // the busiest process handles n messages each way a step: the coordinator (star), or every worker and slice server (slices)
  const messages = (n * messageUs) / 1000;
  const controlMs = t(controlBytes(design, n, samplesPerWorker, control));
  if (design === 'star') return computeMs + overheadMs + 2 * n * t(bytes) + 2 * hop + messages + controlMs;
  const offHost = (n - 1) / n;
  return computeMs + overheadMs + 2 * t(bytes) + 2 * offHost * t(bytes) + 4 * hop + messages + controlMs;
}

/**
 * What the coordinator sends a step besides values (protocol version 6): every worker gets the same
 * step message, with the whole global batch's sample ids (4 bytes each), the deal (8 bytes a worker)
 * and, sliced, every slice server's address and bound (about 30 bytes each); every slice server gets
 * the deal too. It grows as n²: negligible at tens of workers, the coordinator's largest cost at hundreds.
 */
export function controlBytes(design, n, samplesPerWorker = 64, control = 'v6') {
  // 'ranges': what it would be with each worker sent only its own blocks' ids and the slice map only when it changes
  if (control === 'ranges') return n * (4 * samplesPerWorker + 100) + (design === 'slices' ? n * 100 : 0);
  const stepMessage = 4 * samplesPerWorker * n + 8 * n + (design === 'slices' ? 30 * n : 0) + 100;
  return n * stepMessage + (design === 'slices' ? n * (8 * n + 100) : 0);
}

/** Scaling efficiency: throughput with n workers over n times one worker's with no communication at all. */
export function efficiency(design, params) {
  return params.computeMs / predictStep(design, params);
}
