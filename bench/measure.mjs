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

/**
 * measureRate for a step that returns a promise (a distributed step waits on sockets).
 * `sample()` is read at the start and end of every window, and the windows' differences
 * are returned with the rates, so a probe can split a window's time into parts.
 */
export async function measureRateAsync(step, { warmMs, windowMs }, sample = () => ({})) {
  const warmEnd = performance.now() + warmMs;
  while (performance.now() < warmEnd) await step();
  const windows = [];
  for (let w = 0; w < 3; w++) {
    let units = 0;
    let calls = 0;
    const before = sample();
    const t0 = performance.now();
    const end = t0 + windowMs;
    while (performance.now() < end) {
      units += await step();
      calls++;
    }
    const seconds = (performance.now() - t0) / 1000;
    const after = sample();
    const delta = Object.fromEntries(Object.keys(after).map((k) => [k, after[k] - before[k]]));
    windows.push({ rate: units / seconds, seconds, calls, delta });
  }
  windows.sort((a, b) => a.rate - b.rate);
  return { median: windows[1].rate, medianWindow: windows[1], windows: windows.map((w) => w.rate) };
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
export function runProbe(command, args, timeoutMs = 180_000, env = process.env) {
  const r = spawnSync(command, args, { encoding: 'utf8', timeout: timeoutMs, maxBuffer: 16 << 20, env, killSignal: 'SIGKILL' });
  const last = (r.stdout ?? '').trim().split('\n').pop() ?? '';
  try {
    // a probe that printed its figures and then hung on the way out (PyTorch DDP's teardown does) still counts
    return JSON.parse(last);
  } catch {
    if (r.error) return { error: `${command}: ${r.error.message}` };
    const why = r.stderr.split('\n').find((l) => /Error/.test(l)) ?? r.stderr.trim().slice(-300);
    return { error: `${[command, ...args].join(' ')} exited with ${r.status ?? r.signal}: ${why}` };
  }
}
