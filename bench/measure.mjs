// Timing and process plumbing shared by the sections (which run in the parent) and
// the probes (each measures one thing in its own child process and prints one JSON line).
import { spawnSync } from 'node:child_process';

/** The peers' method: 1.5 s warm-up, then the median of 3 windows of 2 s. */
export const FULL = { warmMs: 1500, windowMs: 2000 };
/** A smoke run: the same shape, short enough to check that everything runs. */
export const QUICK = { warmMs: 300, windowMs: 400 };

/**
 * Calls `step` (it returns how many units it did: samples, calls) for warmMs, then
 * during 3 windows of windowMs. Returns the units per second of each window, sorted,
 * and their median. `settle` runs at the end of every window, inside it, so work a
 * backend may have queued is paid for in the window that queued it.
 */
export function measureRate(step, { warmMs, windowMs }, settle = () => {}) {
  const warmEnd = performance.now() + warmMs;
  while (performance.now() < warmEnd) step();
  settle();
  const windows = [];
  for (let w = 0; w < 3; w++) {
    let units = 0;
    const t0 = performance.now();
    const end = t0 + windowMs;
    while (performance.now() < end) units += step();
    settle();
    windows.push(units / ((performance.now() - t0) / 1000));
  }
  windows.sort((a, b) => a - b);
  return { median: windows[1], windows };
}

/** How a section hands the timing to a probe: two trailing arguments. */
export function timingArgs({ warmMs, windowMs }) {
  return [String(warmMs), String(windowMs)];
}

/** The timing a probe was given (its last two arguments), or FULL. */
export function probeTiming(args) {
  if (args.length === 0) return FULL;
  const [warmMs, windowMs] = args.map(Number);
  if (!(warmMs >= 0 && windowMs > 0)) throw new RangeError(`expected warm-up and window in ms, got ${args.join(' ')}`);
  return { warmMs, windowMs };
}

/**
 * Runs a probe to completion (one at a time, so probes never share a CPU) and returns
 * the JSON object on the last line of its stdout, or { error } saying why there is none.
 */
export function runProbe(command, args, timeoutMs = 180_000) {
  const r = spawnSync(command, args, { encoding: 'utf8', timeout: timeoutMs, maxBuffer: 16 << 20 });
  if (r.error) return { error: `${command}: ${r.error.message}` };
  const last = r.stdout.trim().split('\n').pop() ?? '';
  try {
    return JSON.parse(last);
  } catch {
    const why = r.stderr.split('\n').find((l) => /Error/.test(l)) ?? r.stderr.trim().slice(-300);
    return { error: `${[command, ...args].join(' ')} exited with ${r.status ?? r.signal}: ${why}` };
  }
}
