import { ACTIVATIONS, type Activation, type ActivationName } from '../activations.js';
import { allFinite } from './js.js';
import type { Dtype, Floats } from '../numbers.js';
import { MAX_THREADS, type Kernels } from './kernel.js';
import { KernelTeam, SLOT_BYTES, type SpawnHelper } from './team.js';
import { PACK_ROWS, kernelsWat } from './wasm-text.js';

// The WebAssembly global of Node and browsers, typed as far as this file uses it (the project's lib has no DOM types).
interface WasmMemory {
  readonly buffer: ArrayBufferLike;
  grow(pages: number): number;
}
export interface WasmModule {
  readonly __brand: 'WebAssembly.Module';
}
declare const WebAssembly: {
  Instance: new (module: WasmModule, imports: object) => { exports: Record<string, unknown> };
  Memory: new (descriptor: { initial: number; maximum: number; shared: boolean }) => WasmMemory;
};

/** What the module exports for one number type (the names without their _f32 / _f64 suffix). */
interface TypedExports {
  gemm_nt(m: number, n: number, k: number, A: number, B: number, C: number, accumulate: number, pack: number, ldc: number): void;
  row_update(m: number, n: number, k: number, A: number, rowStride: number, colStride: number, B: number, C: number, accumulate: number, pack: number, ldn: number): void;
  add_row_vector(m: number, n: number, v: number, C: number): void;
  sum_rows(m: number, n: number, A: number, out: number, accumulate: number): void;
  all_finite(x: number, n: number): number;
  sgd(params: number, grad: number, n: number, lr: number, scale: number, weightDecay: number): void;
  sigmoid(z: number, a: number, n: number): void;
  sigmoid_grad(a: number, delta: number, out: number, n: number): void;
  relu(z: number, a: number, n: number): void;
  relu_grad(z: number, delta: number, out: number, n: number): void;
}

/** The index of each export in the team's list (the same names as TypedExports). */
type TypedOps = { [name in keyof TypedExports]: number };

const PAGE = 65536;
/** 4 GiB: all a 32-bit memory can address. Only reserved, never committed, until used. */
const MAX_PAGES = 65536;
/** Every allocation starts on a cache line. */
const ALIGN = 64;

/**
 * The least work a thread is handed, below which a call stays on fewer threads:
 * products in multiply-adds; activations (σ and σ′: an exp and a division, about
 * 3 ns a value) and streaming passes (sums, the update, the finiteness check:
 * a fraction of a nanosecond a value) in values. A hand-over costs about a
 * microsecond each way; the defaults keep every part above 10 µs or so (measured
 * with bench/ours.mjs --threads). Tests pass 1 to split even the smallest shapes.
 */
export interface SplitLimits {
  readonly product: number;
  readonly activation: number;
  readonly stream: number;
}
export const SPLIT_LIMITS: SplitLimits = { product: 1 << 17, activation: 1 << 12, stream: 1 << 14 };
/** The scratch area of staged copies; area 1 + t is thread t's packing. */
const STAGING = 0;
/** Elementwise parts start on multiples of this many values (a cache line of float32). */
const GRAIN = 16;

/** Start of part t of `parts` over `total` units, on multiples of `grain`; part `parts` starts at total. */
function cut(t: number, parts: number, total: number, grain: number): number {
  return t >= parts ? total : grain * Math.floor((t * Math.floor(total / grain)) / parts);
}

/** `bytes` rounded up to a whole number of cache lines. */
function aligned(bytes: number): number {
  return Math.ceil(bytes / ALIGN) * ALIGN;
}

/** Helpers of kernels nobody holds any more stop with them. */
const closeWhenCollected = new FinalizationRegistry<KernelTeam>((team) => team.close());

/**
 * Where the kernels run: the compiled module (wasm-node.ts compiles it in Node, a
 * browser page from the binary the build assembled), whether its memory is
 * shared (the module imports a shared memory: threads possible, and the memory
 * grows in place) or not (a page without cross-origin isolation has no shared
 * memory: one thread, and a memory of `fixedBytes` from the start, since growing
 * an unshared memory would detach every array handed out), and how a helper
 * thread is started (null: one thread only).
 */
export interface WasmPlatform {
  module: WasmModule;
  shared: boolean;
  spawnHelper: SpawnHelper | null;
  fixedBytes?: number;
}

let platform: WasmPlatform | null | undefined;
let unavailable = '';

/** Makes WasmKernels.create work here (or, with a reason, says why it cannot). */
export function installWasmPlatform(chosen: WasmPlatform | string): void {
  if (typeof chosen === 'string') {
    platform = null;
    unavailable = chosen;
  } else platform = chosen;
}

/** Why the wasm kernels cannot run here ('' when they can, or before they were prepared). */
export function wasmUnavailableReason(): string {
  return unavailable;
}

/**
 * The kernels in WebAssembly SIMD128, float32 and float64, on a memory of their
 * own. `alloc` places arrays in that memory; the model's parameters, its
 * gradients and backprop's scratch all live there, so a step passes pointers
 * and copies nothing between JavaScript and WebAssembly (inside the module, a
 * product copies its operands into the packed layout of its micro-kernel). The
 * memory is shared, so growing it never detaches an array handed out before. Arrays from elsewhere still work: they are copied in
 * and out of a staging area (correct, only slower).
 */
export class WasmKernels implements Kernels {
  readonly name = 'wasm';
  private readonly memory: WasmMemory;
  private readonly f32: TypedExports;
  private readonly f64: TypedExports;
  /** Every ArrayBuffer object this memory has had (one per size): an array is resident when its buffer is one of them. */
  private readonly buffers = new Set<ArrayBufferLike>();
  private top = ALIGN;
  /** Scratch: copies of operands from elsewhere (areas[0]), and each thread's packed operands (areas[1 + t]). */
  private readonly areas: { at: number; bytes: number }[] = [];
  private readonly sigmoid: Activation;
  private readonly relu: Activation;
  /** The helper threads (threads − 1 of them), or null for one thread. */
  private team: KernelTeam | null = null;
  private readonly ops32: TypedOps;
  private readonly ops64: TypedOps;

  private constructor(private readonly platform: WasmPlatform, readonly threads: number, private readonly least: SplitLimits) {
    const { module, shared, fixedBytes } = platform;
    const fixed = shared ? 0 : Math.ceil((fixedBytes ?? 2 ** 30) / PAGE);
    this.memory = new WebAssembly.Memory(shared ? { initial: 1, maximum: MAX_PAGES, shared } : { initial: fixed, maximum: fixed, shared });
    this.buffers.add(this.memory.buffer);
    for (let t = 0; t <= threads; t++) this.areas.push({ at: 0, bytes: 0 });
    const { exports } = new WebAssembly.Instance(module, { env: { memory: this.memory } });
    const names = Object.keys(exports).sort();
    const typed = <V>(suffix: string, value: (name: string) => V) => {
      const out: Record<string, V> = {};
      for (const name of names) if (name.endsWith(suffix)) out[name.slice(0, -suffix.length)] = value(name);
      return out;
    };
    this.f32 = typed('_f32', (name) => exports[name]) as unknown as TypedExports;
    this.f64 = typed('_f64', (name) => exports[name]) as unknown as TypedExports;
    this.ops32 = typed('_f32', (name) => names.indexOf(name)) as TypedOps;
    this.ops64 = typed('_f64', (name) => names.indexOf(name)) as TypedOps;
    if (threads > 1) {
      this.team = new KernelTeam(platform.spawnHelper!, module, this.memory, this.reserve((threads - 1) * SLOT_BYTES), threads - 1, names);
      closeWhenCollected.register(this, this.team, this);
    }
    this.sigmoid = {
      apply: (z, a, n) => this.apply('sigmoid', z, a, n),
      // σ' from a = σ(z)
      scaleByDerivative: (_z, a, delta, n) => this.scale('sigmoid_grad', a, delta, n),
    };
    this.relu = {
      apply: (z, a, n) => this.apply('relu', z, a, n),
      scaleByDerivative: (z, _a, delta, n) => this.scale('relu_grad', z, delta, n),
    };
  }

  /**
   * A fresh instance with its own memory, computing on `threads` threads (this
   * one and threads − 1 helpers, which start in the background until the first
   * call that splits); needs a resolved
   * `prepareWasmKernels()`. Any thread count gives the same bits.
   */
  static create(threads = 1, least: SplitLimits = SPLIT_LIMITS): WasmKernels {
    if (!platform) throw new Error(platform === null ? `WebAssembly SIMD kernels are not available here: ${unavailable}` : 'call prepareWasmKernels() first');
    if (!Number.isInteger(threads) || threads < 1 || threads > MAX_THREADS) throw new RangeError(`threads must be an integer from 1 to ${MAX_THREADS}, got ${threads}`);
    if (threads > 1 && !platform.spawnHelper) throw new RangeError('the wasm kernels compute on one thread here (no shared memory): threads must be 1');
    return new WasmKernels(platform, threads, least);
  }

  /** Stops the helper threads; the kernels still work afterwards, on this thread alone. */
  close(): void {
    if (!this.team) return;
    this.team.close();
    closeWhenCollected.unregister(this);
    this.team = null;
  }

  /** A zeroed array of `length` values in this module's memory. */
  alloc(dtype: Dtype, length: number): Floats {
    const bytes = length * (dtype === 'float64' ? 8 : 4);
    const at = this.reserve(bytes);
    const buffer = this.memory.buffer;
    return dtype === 'float64' ? new Float64Array(buffer, at, length) : new Float32Array(buffer, at, length);
  }

  /** Bytes in use (for tests and the bench). */
  get bytesAllocated(): number {
    return this.top;
  }

  gemmNT(m: number, n: number, k: number, A: Floats, B: Floats, C: Floats, accumulate: boolean): void {
    const acc = accumulate ? 1 : 0;
    if (this.resident(A) && this.resident(B) && this.resident(C)) this.gemmNtAt(C instanceof Float64Array, m, n, k, A.byteOffset, B.byteOffset, C.byteOffset, acc);
    else this.staged([A, B, C], [m * k, n * k, m * n], accumulate, (p) => this.gemmNtAt(C instanceof Float64Array, m, n, k, p[0], p[1], p[2], acc));
  }

  gemmNN(m: number, n: number, k: number, A: Floats, B: Floats, C: Floats, accumulate: boolean): void {
    this.rowUpdate(m, n, k, A, k, 1, B, C, accumulate);
  }

  gemmTN(m: number, n: number, k: number, A: Floats, B: Floats, C: Floats, accumulate: boolean): void {
    this.rowUpdate(m, n, k, A, 1, m, B, C, accumulate);
  }

  /** C[m,n] (+)= Σ_p a(i,p) B[p,:] with a(i,p) = A[i*rowStride + p*colStride]: gemmNN and gemmTN. */
  private rowUpdate(m: number, n: number, k: number, A: Floats, rowStride: number, colStride: number, B: Floats, C: Floats, accumulate: boolean): void {
    const acc = accumulate ? 1 : 0;
    const f64 = C instanceof Float64Array;
    if (this.resident(A) && this.resident(B) && this.resident(C)) this.rowUpdateAt(f64, m, n, k, A.byteOffset, rowStride, colStride, B.byteOffset, C.byteOffset, acc);
    else this.staged([A, B, C], [m * k, k * n, m * n], accumulate, (p) => this.rowUpdateAt(f64, m, n, k, p[0], rowStride, colStride, p[1], p[2], acc));
  }

  /**
   * gemm_nt split across the threads by rows of C (whole pairs; the odd last row
   * with the last part) or, when C is wider than tall, by columns (whole fours;
   * each thread then reads only its rows of B). Every value of C is one dot
   * product summed in the same order whichever part computes it, so any split
   * gives the same bits.
   */
  private gemmNtAt(f64: boolean, m: number, n: number, k: number, A: number, B: number, C: number, acc: number): void {
    const E = f64 ? 8 : 4;
    const x = f64 ? this.f64 : this.f32;
    const op = (f64 ? this.ops64 : this.ops32).gemm_nt;
    const byColumns = n > m;
    const grain = byColumns ? 4 : 2;
    const size = byColumns ? n : m;
    const parts = this.partsFor(Math.floor(size / grain), grain * (byColumns ? m : n) * k, this.least.product);
    // a block of pairs of rows of A and one panel of four rows of B, interleaved
    const rows = byColumns ? m : grain * Math.ceil(Math.floor(m / grain) / parts);
    const packBytes = (Math.min(rows - (rows % 2), PACK_ROWS) + 4) * k * E;
    for (let t = parts - 1; t >= 0; t--) {
      const from = cut(t, parts, size, grain);
      const count = cut(t + 1, parts, size, grain) - from;
      const pack = this.scratch(1 + t, packBytes);
      // part t: C[:, from..] = A · B[from.., :]ᵀ, or C[from.., :] = A[from.., :] · Bᵀ
      const pm = byColumns ? m : count;
      const pn = byColumns ? count : n;
      const pa = byColumns ? A : A + from * k * E;
      const pb = byColumns ? B + from * k * E : B;
      const pc = byColumns ? C + from * E : C + from * n * E;
      if (t > 0) this.team!.post(t - 1, op, pm, pn, k, pa, pb, pc, acc, pack, n);
      else x.gemm_nt(pm, pn, k, pa, pb, pc, acc, pack, n);
    }
    if (parts > 1) this.team!.join();
  }

  /** row_update split likewise: by rows of C (whole fours), or by columns of B and C (whole strips of eight) when C is wider than tall. */
  private rowUpdateAt(f64: boolean, m: number, n: number, k: number, A: number, rs: number, cs: number, B: number, C: number, acc: number): void {
    const E = f64 ? 8 : 4;
    const x = f64 ? this.f64 : this.f32;
    const op = (f64 ? this.ops64 : this.ops32).row_update;
    const byColumns = n > m;
    const grain = byColumns ? 8 : 4;
    const size = byColumns ? n : m;
    const parts = this.partsFor(Math.floor(size / grain), grain * (byColumns ? m : n) * k, this.least.product);
    // the coefficients of a block of rows, four by four, and one strip of B
    const rows = byColumns ? m : grain * Math.ceil(Math.floor(m / grain) / parts);
    const packBytes = (Math.min(rows - (rows % 4), PACK_ROWS) * E + 32) * k;
    for (let t = parts - 1; t >= 0; t--) {
      const from = cut(t, parts, size, grain);
      const count = cut(t + 1, parts, size, grain) - from;
      const pack = this.scratch(1 + t, packBytes);
      const pm = byColumns ? m : count;
      const pn = byColumns ? count : n;
      const pa = byColumns ? A : A + from * rs * E;
      const pb = byColumns ? B + from * E : B;
      const pc = byColumns ? C + from * E : C + from * n * E;
      if (t > 0) this.team!.post(t - 1, op, pm, pn, k, pa, rs, cs, pb, pc, acc, pack, n);
      else x.row_update(pm, pn, k, pa, rs, cs, pb, pc, acc, pack, n);
    }
    if (parts > 1) this.team!.join();
  }

  /** How many threads share `units` units of `work` each, each part at least `least` (the first split waits for the helpers to start). */
  private partsFor(units: number, work: number, least: number): number {
    if (!this.team) return 1;
    const parts = Math.max(1, Math.min(this.threads, units, Math.floor((units * work) / least)));
    return parts > 1 ? Math.min(parts, 1 + this.team.started()) : 1;
  }

  /** Threads that take parts: this one and the helpers that started (waiting for them, once). */
  get threadsStarted(): number {
    return 1 + (this.team?.started() ?? 0);
  }

  /** Blocks until every helper thread has started; throws when one did not within 30 s. */
  waitForThreads(): void {
    this.team?.waitForStart();
  }

  addRowVector(m: number, n: number, v: Floats, C: Floats): void {
    const f64 = C instanceof Float64Array;
    if (this.resident(v) && this.resident(C)) this.addRowVectorAt(f64, m, n, v.byteOffset, C.byteOffset);
    else this.staged([v, C], [n, m * n], true, (p) => this.addRowVectorAt(f64, m, n, p[0], p[1]));
  }

  /** C[r,:] += v by rows of C, or by columns for one row (the tree's sum of two gradients); elementwise, so any split. */
  private addRowVectorAt(f64: boolean, m: number, n: number, v: number, C: number): void {
    const E = f64 ? 8 : 4;
    const x = f64 ? this.f64 : this.f32;
    const op = (f64 ? this.ops64 : this.ops32).add_row_vector;
    if (m === 1) {
      const parts = this.partsFor(Math.ceil(n / GRAIN), GRAIN, this.least.stream);
      for (let t = parts - 1; t >= 0; t--) {
        const j0 = cut(t, parts, n, GRAIN);
        const j1 = cut(t + 1, parts, n, GRAIN);
        if (t > 0) this.team!.post(t - 1, op, 1, j1 - j0, v + j0 * E, C + j0 * E);
        else x.add_row_vector(1, j1 - j0, v, C);
      }
    } else {
      const parts = this.partsFor(m, n, this.least.stream);
      for (let t = parts - 1; t >= 0; t--) {
        const r0 = cut(t, parts, m, 1);
        const r1 = cut(t + 1, parts, m, 1);
        if (t > 0) this.team!.post(t - 1, op, r1 - r0, n, v, C + r0 * n * E);
        else x.add_row_vector(r1 - r0, n, v, C);
      }
    }
    this.team?.join();
  }

  sumRows(m: number, n: number, A: Floats, out: Floats, accumulate: boolean): void {
    // one thread: a sum down the rows, small next to the products beside it
    const x = this.typed(out);
    if (this.resident(A) && this.resident(out)) x.sum_rows(m, n, A.byteOffset, out.byteOffset, accumulate ? 1 : 0);
    else this.staged([A, out], [m * n, n], accumulate, (p) => x.sum_rows(m, n, p[0], p[1], accumulate ? 1 : 0));
  }

  activation(name: ActivationName): Activation {
    if (name === 'sigmoid') return this.sigmoid;
    if (name === 'relu') return this.relu;
    return ACTIVATIONS[name]; // tanh: the portable loop, on these same arrays
  }

  /** True when no value of x is NaN or ±Infinity (an array from elsewhere: the portable check, one pass all the same). */
  allFinite(x: Floats): boolean {
    if (!this.resident(x)) return allFinite(x);
    const f64 = x instanceof Float64Array;
    const E = f64 ? 8 : 4;
    const n = x.length;
    const parts = this.partsFor(Math.ceil(n / GRAIN), GRAIN, this.least.stream);
    let finite = true;
    for (let t = parts - 1; t >= 0; t--) {
      const i0 = cut(t, parts, n, GRAIN);
      const i1 = cut(t + 1, parts, n, GRAIN);
      if (t > 0) this.team!.post(t - 1, (f64 ? this.ops64 : this.ops32).all_finite, x.byteOffset + i0 * E, i1 - i0);
      else finite = (f64 ? this.f64 : this.f32).all_finite(x.byteOffset, i1 - i0) === 1;
    }
    return parts > 1 ? this.team!.join() && finite : finite;
  }

  /** θ ← θ − lr (g·scale + wd θ) over the first n values: the same bits as the portable loop. */
  sgdStep(params: Floats, grad: Floats, n: number, lr: number, scale: number, weightDecay: number): void {
    const f64 = params instanceof Float64Array;
    if (this.resident(params) && this.resident(grad)) this.sgdAt(f64, params.byteOffset, grad.byteOffset, n, lr, scale, weightDecay);
    else this.staged([grad, params], [n, n], true, (p) => this.sgdAt(f64, p[1], p[0], n, lr, scale, weightDecay));
  }

  private sgdAt(f64: boolean, params: number, grad: number, n: number, lr: number, scale: number, weightDecay: number): void {
    const E = f64 ? 8 : 4;
    const parts = this.partsFor(Math.ceil(n / GRAIN), GRAIN, this.least.stream);
    for (let t = parts - 1; t >= 0; t--) {
      const i0 = cut(t, parts, n, GRAIN);
      const i1 = cut(t + 1, parts, n, GRAIN);
      if (t > 0) this.team!.post(t - 1, (f64 ? this.ops64 : this.ops32).sgd, params + i0 * E, grad + i0 * E, i1 - i0, lr, scale, weightDecay);
      else (f64 ? this.f64 : this.f32).sgd(params, grad, i1 - i0, lr, scale, weightDecay);
    }
    if (parts > 1) this.team!.join();
  }

  private typed(v: Floats): TypedExports {
    return v instanceof Float64Array ? this.f64 : this.f32;
  }

  private resident(v: Floats): boolean {
    return this.buffers.has(v.buffer);
  }

  private reserve(bytes: number): number {
    const at = this.top;
    const end = at + aligned(bytes);
    const have = this.memory.buffer.byteLength;
    if (end > have) {
      const pages = Math.ceil((end - have) / PAGE);
      try {
        if (!this.platform.shared) throw new RangeError('fixed');
        this.memory.grow(pages);
      } catch {
        throw new RangeError(this.platform.shared
          ? `the WebAssembly kernels cannot hold ${bytes} more bytes (${end} in all; the limit is 4 GiB): use --kernel js`
          : `the WebAssembly kernels cannot hold ${bytes} more bytes (${end} in all; this memory is fixed at ${have} bytes)`);
      }
      this.buffers.add(this.memory.buffer);
    }
    this.top = end;
    return at;
  }

  /**
   * The start of a scratch area of at least `bytes` bytes. When short, it grows in place if
   * it is the last thing reserved; else a new one is reserved (the old one abandoned), twice
   * the need where the memory allows it, so that a run's growing shapes move it rarely.
   */
  private scratch(area: number, bytes: number): number {
    const current = this.areas[area];
    if (bytes <= current.bytes) return current.at;
    if (current.bytes > 0 && current.at + aligned(current.bytes) === this.top) {
      this.reserve(aligned(bytes) - aligned(current.bytes));
      this.areas[area] = { at: current.at, bytes: aligned(bytes) };
      return current.at;
    }
    let at: number;
    try {
      at = this.reserve(2 * bytes);
      bytes *= 2;
    } catch {
      at = this.reserve(bytes);
    }
    this.areas[area] = { at, bytes };
    return at;
  }

  /**
   * Runs `call` with pointers to copies of the non-resident operands in the
   * staging area. The last operand is the output: copied in too when it is
   * read (`outputRead`), and copied back afterwards.
   */
  private staged(operands: Floats[], lengths: number[], outputRead: boolean, call: (pointers: number[]) => void): void {
    const out = operands[operands.length - 1];
    const size = out instanceof Float64Array ? 8 : 4;
    let need = 0;
    for (let i = 0; i < operands.length; i++) if (!this.resident(operands[i])) need += aligned(lengths[i] * size);
    let at = this.scratch(STAGING, need);
    const buffer = this.memory.buffer;
    const pointers: number[] = [];
    const copies: Floats[] = [];
    for (let i = 0; i < operands.length; i++) {
      const v = operands[i];
      if (this.resident(v)) {
        pointers.push(v.byteOffset);
        continue;
      }
      const copy = size === 8 ? new Float64Array(buffer, at, lengths[i]) : new Float32Array(buffer, at, lengths[i]);
      if (i < operands.length - 1 || outputRead) copy.set(v.subarray(0, lengths[i]));
      copies[i] = copy;
      pointers.push(at);
      at += aligned(lengths[i] * size);
    }
    call(pointers);
    const last = operands.length - 1;
    if (copies[last]) out.set(copies[last]);
  }

  /** a = σ(z) over n values. */
  private apply(fn: 'sigmoid' | 'relu', z: Floats, a: Floats, n: number): void {
    const f64 = a instanceof Float64Array;
    if (this.resident(z) && this.resident(a)) this.elementwiseAt(f64, fn, z.byteOffset, a.byteOffset, -1, n);
    else this.staged([z, a], [n, n], false, (p) => this.elementwiseAt(f64, fn, p[0], p[1], -1, n));
  }

  /** delta ⊙= σ'(...) over n values, from u (a for the sigmoid, z for relu). */
  private scale(fn: 'sigmoid_grad' | 'relu_grad', u: Floats, delta: Floats, n: number): void {
    const f64 = delta instanceof Float64Array;
    if (this.resident(u) && this.resident(delta)) this.elementwiseAt(f64, fn, u.byteOffset, delta.byteOffset, delta.byteOffset, n);
    else this.staged([u, delta], [n, n], true, (p) => this.elementwiseAt(f64, fn, p[0], p[1], p[1], n));
  }

  /** fn(x, out, n), or fn(x, y, out, n) when out ≥ 0, split across the threads by ranges of values. */
  private elementwiseAt(f64: boolean, fn: 'sigmoid' | 'relu' | 'sigmoid_grad' | 'relu_grad', x: number, y: number, out: number, n: number): void {
    const E = f64 ? 8 : 4;
    const two = out >= 0;
    const parts = this.partsFor(Math.ceil(n / GRAIN), GRAIN, this.least.activation);
    for (let t = parts - 1; t >= 0; t--) {
      const i0 = cut(t, parts, n, GRAIN);
      const count = cut(t + 1, parts, n, GRAIN) - i0;
      const at = i0 * E;
      if (t > 0) {
        const op = (f64 ? this.ops64 : this.ops32)[fn];
        if (two) this.team!.post(t - 1, op, x + at, y + at, out + at, count);
        else this.team!.post(t - 1, op, x + at, y + at, count);
      } else if (two) (f64 ? this.f64 : this.f32)[fn as 'sigmoid_grad'](x, y, out, count);
      else (f64 ? this.f64 : this.f32)[fn as 'sigmoid'](x, y, count);
    }
    if (parts > 1) this.team!.join();
  }
}
