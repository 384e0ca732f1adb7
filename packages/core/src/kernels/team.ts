/**
 * The helper threads of the wasm kernels: each runs the same module over the
 * same shared memory, waits on its slot of a control block in that memory, runs
 * the export named there with the arguments there, and says it is done. No
 * message per call: the hand-over is Atomics.store + notify, and back.
 * Which part of a product each thread computes is wasm.ts's business.
 */

/** Bytes of one helper's slot: the int32 fields, then the arguments as float64. */
export const SLOT_BYTES = 256;
/** int32 fields of a slot */
const SEQ = 0; // the job number the caller published
const DONE = 1; // the job number the helper finished
const OP = 2; // index of the export to run
const RESULT = 3; // what it returned (all_finite)
const FAILED = 4; // 1 when the export threw (a trap)
const READY = 5; // 1 once the helper has its instance
const ARGS_AT = 64; // byte offset of the float64 arguments in a slot
export const MAX_ARGS = 12;

/**
 * How long a helper polls for the next job before it sleeps, and the caller for
 * the helpers' parts before it does (µs). A sleeping thread takes tens of
 * microseconds to wake; between the kernel calls of a step the caller does
 * milliseconds of its own work at most, so polling keeps the hand-over quick
 * while a step runs, and a helper idle for longer (between steps of a worker
 * waiting for the network) sleeps.
 */
const HELPER_POLL_US = 500;
const CALLER_POLL_US = 300;
/** How long a helper may take to start, and to answer once started, before the caller gives up. */
const START_MS = 30_000;
const ANSWER_MS = 120_000;

/** What a helper thread is given: the module, the shared memory, its slot there, and the exports a job may name. */
export interface HelperData {
  module: object;
  memory: { buffer: ArrayBufferLike };
  slot: number;
  names: readonly string[];
}

/** A started helper thread, as far as the team needs it. */
export interface HelperThread {
  terminate(): void;
}

/**
 * Starts a helper: a thread (a Node worker_threads Worker, a browser Web Worker)
 * that runs HELPER_LOOP with `module, memory, slot, names` bound to `data`'s.
 * It must never keep its process alive.
 */
export type SpawnHelper = (data: HelperData) => HelperThread;

/**
 * The helper's loop as JavaScript source, evaluated in the helper thread after
 * `module, memory, slot, names` are bound (so it runs the same from the
 * TypeScript sources, the built package and a browser bundle). It spins a
 * little after each job, since the next usually follows within microseconds.
 */
export const HELPER_LOOP = `
const { exports } = new WebAssembly.Instance(module, { env: { memory } });
const ops = names.map((name) => exports[name]);
const ctl = new Int32Array(memory.buffer, slot, ${SLOT_BYTES / 4});
const args = new Float64Array(memory.buffer, slot + ${ARGS_AT}, ${MAX_ARGS});
Atomics.store(ctl, ${READY}, 1);
Atomics.notify(ctl, ${READY});
let seen = 0;
for (;;) {
  let seq = Atomics.load(ctl, ${SEQ});
  if (seq === seen) {
    const until = performance.now() + ${HELPER_POLL_US / 1000};
    for (let spin = 1; seq === seen; spin++) {
      seq = Atomics.load(ctl, ${SEQ});
      if ((spin & 255) === 0 && performance.now() > until) break;
    }
  }
  while (seq === seen) {
    Atomics.wait(ctl, ${SEQ}, seen);
    seq = Atomics.load(ctl, ${SEQ});
  }
  seen = seq;
  const op = ctl[${OP}];
  if (op < 0) break;
  try {
    ctl[${RESULT}] = ops[op](args[0], args[1], args[2], args[3], args[4], args[5], args[6], args[7], args[8], args[9], args[10], args[11]) | 0;
    ctl[${FAILED}] = 0;
  } catch {
    ctl[${FAILED}] = 1;
  }
  Atomics.store(ctl, ${DONE}, seen);
  Atomics.notify(ctl, ${DONE});
}
`;

/**
 * `helpers` threads over `memory`, each with the slot at `slots + i * SLOT_BYTES`
 * (reserved by the caller in that memory). The caller posts a job to a helper,
 * does its own part, then joins. Helpers never keep a process alive (see
 * SpawnHelper), and close() (or the caller's end) stops them.
 */
export class KernelTeam {
  private readonly workers: HelperThread[] = [];
  private readonly ctl: Int32Array[] = [];
  private readonly args: Float64Array[] = [];
  private readonly seq: number[] = [];
  private readonly posted: boolean[] = [];
  private closed = false;
  /** Helpers 0..ready-1 take parts, once started() has waited for them. */
  private ready = 0;
  private waited = false;

  /** `names`: the exports a job may name, by index (the same list in every thread). */
  constructor(spawn: SpawnHelper, module: object, memory: { buffer: ArrayBufferLike }, slots: number, readonly helpers: number, private readonly names: readonly string[]) {
    for (let i = 0; i < helpers; i++) {
      const slot = slots + i * SLOT_BYTES;
      this.ctl.push(new Int32Array(memory.buffer, slot, SLOT_BYTES / 4));
      this.args.push(new Float64Array(memory.buffer, slot + ARGS_AT, MAX_ARGS));
      this.seq.push(0);
      this.posted.push(false);
      this.workers.push(spawn({ module, memory, slot, names }));
    }
  }

  /**
   * Helpers that take parts. They start in parallel in the background (tens of
   * milliseconds each: a new isolate); the first call that splits waits for them,
   * once, so a process whose calls never split (small models) never waits, and one
   * whose calls do splits them into the same parts from the first. A helper not
   * started within 30 s is left out for good (the others' parts: the same bits).
   */
  started(): number {
    if (this.waited) return this.ready;
    this.waited = true;
    while (this.ready < this.helpers) {
      if (Atomics.wait(this.ctl[this.ready], READY, 0, START_MS) === 'timed-out' && Atomics.load(this.ctl[this.ready], READY) === 0) break;
      this.ready++;
    }
    return this.ready;
  }

  /** started(), throwing when a helper did not start (tests, benchmarks). */
  waitForStart(): void {
    if (this.started() < this.helpers) throw new Error(`kernel thread ${this.ready + 1} did not start within ${START_MS / 1000} s`);
  }

  /** Hands helper `i` the export `op` (an index into names) with `args`; returns at once. */
  post(i: number, op: number, a0: number, a1: number, a2 = 0, a3 = 0, a4 = 0, a5 = 0, a6 = 0, a7 = 0, a8 = 0, a9 = 0, a10 = 0): void {
    const args = this.args[i];
    args[0] = a0;
    args[1] = a1;
    args[2] = a2;
    args[3] = a3;
    args[4] = a4;
    args[5] = a5;
    args[6] = a6;
    args[7] = a7;
    args[8] = a8;
    args[9] = a9;
    args[10] = a10;
    const ctl = this.ctl[i];
    ctl[OP] = op;
    const seq = (this.seq[i] = (this.seq[i] + 1) | 0 || 1);
    this.posted[i] = true;
    Atomics.store(ctl, SEQ, seq);
    Atomics.notify(ctl, SEQ);
  }

  /** Waits for every posted job; returns the AND of their results as booleans (all_finite), throws when one failed. */
  join(): boolean {
    let all = true;
    let failed = -1;
    for (let i = 0; i < this.helpers; i++) {
      if (!this.posted[i]) continue;
      this.posted[i] = false;
      const ctl = this.ctl[i];
      const seq = this.seq[i];
      let done = Atomics.load(ctl, DONE);
      if (done !== seq) {
        const until = performance.now() + CALLER_POLL_US / 1000;
        for (let spin = 1; done !== seq; spin++) {
          done = Atomics.load(ctl, DONE);
          if ((spin & 255) === 0 && performance.now() > until) break;
        }
      }
      const deadline = Date.now() + ANSWER_MS;
      while (done !== seq) {
        if (Date.now() > deadline) throw new Error(`kernel thread ${i + 1} stopped answering (${this.names[ctl[OP]]}); use --threads 1`);
        Atomics.wait(ctl, DONE, done, 1000);
        done = Atomics.load(ctl, DONE);
      }
      if (ctl[FAILED] !== 0) failed = i;
      else if (ctl[RESULT] === 0) all = false;
    }
    if (failed >= 0) throw new Error(`kernel thread ${failed + 1} failed in ${this.names[this.ctl[failed][OP]]}`);
    return all;
  }

  /** Stops the helpers (idempotent). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (let i = 0; i < this.workers.length; i++) {
      this.ctl[i][OP] = -1;
      Atomics.store(this.ctl[i], SEQ, (this.seq[i] + 1) | 0 || 1);
      Atomics.notify(this.ctl[i], SEQ);
      this.workers[i].terminate();
    }
  }
}
