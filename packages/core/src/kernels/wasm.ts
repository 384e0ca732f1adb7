import { ACTIVATIONS, type Activation, type ActivationName } from '../activations.js';
import { allFinite } from './js.js';
import type { Dtype, Floats } from '../numbers.js';
import type { Kernels } from './kernel.js';
import { PACK_ROWS, kernelsWat } from './wasm-text.js';

// The WebAssembly global of Node, typed as far as this file uses it (the project's lib has no DOM types).
interface WasmMemory {
  readonly buffer: ArrayBufferLike;
  grow(pages: number): number;
}
interface WasmModule {
  readonly __brand: 'WebAssembly.Module';
}
declare const WebAssembly: {
  compile(bytes: Uint8Array): Promise<WasmModule>;
  Instance: new (module: WasmModule, imports: object) => { exports: Record<string, unknown> };
  Memory: new (descriptor: { initial: number; maximum: number; shared: boolean }) => WasmMemory;
};

/** What the module exports for one number type (the names without their _f32 / _f64 suffix). */
interface TypedExports {
  gemm_nt(m: number, n: number, k: number, A: number, B: number, C: number, accumulate: number, pack: number): void;
  row_update(m: number, n: number, k: number, A: number, rowStride: number, colStride: number, B: number, C: number, accumulate: number, pack: number): void;
  add_row_vector(m: number, n: number, v: number, C: number): void;
  sum_rows(m: number, n: number, A: number, out: number, accumulate: number): void;
  all_finite(x: number, n: number): number;
  sgd(params: number, grad: number, n: number, lr: number, scale: number, weightDecay: number): void;
  sigmoid(z: number, a: number, n: number): void;
  sigmoid_grad(a: number, delta: number, out: number, n: number): void;
  relu(z: number, a: number, n: number): void;
  relu_grad(z: number, delta: number, out: number, n: number): void;
}

const PAGE = 65536;
/** 4 GiB: all a 32-bit memory can address. Only reserved, never committed, until used. */
const MAX_PAGES = 65536;
/** Every allocation starts on a cache line. */
const ALIGN = 64;

/** `bytes` rounded up to a whole number of cache lines. */
function aligned(bytes: number): number {
  return Math.ceil(bytes / ALIGN) * ALIGN;
}

let compiled: Promise<WasmModule | null> | undefined;
let ready: WasmModule | null | undefined;
let unavailable = '';

/**
 * Assembles the WAT with wabt and compiles it, once per process. Resolves to
 * false (and remembers why) where this Node has no WebAssembly SIMD; afterwards
 * WasmKernels.create is synchronous.
 */
export function prepareWasmKernels(): Promise<boolean> {
  compiled ??= (async () => {
    try {
      const { default: initWabt } = await import('wabt');
      const wabt = await initWabt();
      const parsed = wabt.parseWat('shardprop-kernels.wat', kernelsWat(), { simd: true, threads: true, bulk_memory: true });
      try {
        parsed.resolveNames();
        // V8 validates the module when it compiles it (wabt's own validator refuses shared memory)
        const { buffer } = parsed.toBinary({});
        return await WebAssembly.compile(buffer);
      } finally {
        parsed.destroy();
      }
    } catch (err) {
      unavailable = err instanceof Error ? err.message.split('\n')[0] : String(err);
      return null;
    }
  })();
  return compiled.then((module) => {
    ready = module;
    return module !== null;
  });
}

/** Why the wasm kernels cannot run here ('' when they can, or before prepareWasmKernels). */
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
  /** Scratch: copies of operands from elsewhere, and the products' packed operands. */
  private staging = { at: 0, bytes: 0 };
  private packing = { at: 0, bytes: 0 };
  private readonly sigmoid: Activation;
  private readonly relu: Activation;

  private constructor(module: WasmModule) {
    this.memory = new WebAssembly.Memory({ initial: 1, maximum: MAX_PAGES, shared: true });
    this.buffers.add(this.memory.buffer);
    const { exports } = new WebAssembly.Instance(module, { env: { memory: this.memory } });
    const typed = (suffix: string) => {
      const out: Record<string, unknown> = {};
      for (const [name, fn] of Object.entries(exports)) if (name.endsWith(suffix)) out[name.slice(0, -suffix.length)] = fn;
      return out as unknown as TypedExports;
    };
    this.f32 = typed('_f32');
    this.f64 = typed('_f64');
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

  /** A fresh instance with its own memory; needs a resolved `prepareWasmKernels()`. */
  static create(): WasmKernels {
    if (!ready) throw new Error(ready === null ? `WebAssembly SIMD kernels are not available here: ${unavailable}` : 'call prepareWasmKernels() first');
    return new WasmKernels(ready);
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
    const x = this.typed(C);
    // a block of pairs of rows of A and one panel of four rows of B, interleaved
    const pack = this.scratch('packing', (Math.min(m - (m % 2), PACK_ROWS) + 4) * k * (C instanceof Float64Array ? 8 : 4));
    if (this.resident(A) && this.resident(B) && this.resident(C)) x.gemm_nt(m, n, k, A.byteOffset, B.byteOffset, C.byteOffset, accumulate ? 1 : 0, pack);
    else this.staged([A, B, C], [m * k, n * k, m * n], accumulate, (p) => x.gemm_nt(m, n, k, p[0], p[1], p[2], accumulate ? 1 : 0, pack));
  }

  gemmNN(m: number, n: number, k: number, A: Floats, B: Floats, C: Floats, accumulate: boolean): void {
    this.rowUpdate(m, n, k, A, k, 1, B, C, accumulate);
  }

  gemmTN(m: number, n: number, k: number, A: Floats, B: Floats, C: Floats, accumulate: boolean): void {
    this.rowUpdate(m, n, k, A, 1, m, B, C, accumulate);
  }

  /** C[m,n] (+)= Σ_p a(i,p) B[p,:] with a(i,p) = A[i*rowStride + p*colStride]: gemmNN and gemmTN. */
  private rowUpdate(m: number, n: number, k: number, A: Floats, rowStride: number, colStride: number, B: Floats, C: Floats, accumulate: boolean): void {
    const x = this.typed(C);
    const size = C instanceof Float64Array ? 8 : 4;
    // the coefficients of a block of rows, four by four, and one strip of B
    const pack = this.scratch('packing', (Math.min(m - (m % 4), PACK_ROWS) * size + 32) * k);
    const acc = accumulate ? 1 : 0;
    if (this.resident(A) && this.resident(B) && this.resident(C)) x.row_update(m, n, k, A.byteOffset, rowStride, colStride, B.byteOffset, C.byteOffset, acc, pack);
    else this.staged([A, B, C], [m * k, k * n, m * n], accumulate, (p) => x.row_update(m, n, k, p[0], rowStride, colStride, p[1], p[2], acc, pack));
  }

  addRowVector(m: number, n: number, v: Floats, C: Floats): void {
    const x = this.typed(C);
    if (this.resident(v) && this.resident(C)) x.add_row_vector(m, n, v.byteOffset, C.byteOffset);
    else this.staged([v, C], [n, m * n], true, (p) => x.add_row_vector(m, n, p[0], p[1]));
  }

  sumRows(m: number, n: number, A: Floats, out: Floats, accumulate: boolean): void {
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
    return this.resident(x) ? this.typed(x).all_finite(x.byteOffset, x.length) === 1 : allFinite(x);
  }

  /** θ ← θ − lr (g·scale + wd θ) over the first n values: the same bits as the portable loop. */
  sgdStep(params: Floats, grad: Floats, n: number, lr: number, scale: number, weightDecay: number): void {
    const x = this.typed(params);
    if (this.resident(params) && this.resident(grad)) x.sgd(params.byteOffset, grad.byteOffset, n, lr, scale, weightDecay);
    else this.staged([grad, params], [n, n], true, (p) => x.sgd(p[1], p[0], n, lr, scale, weightDecay));
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
        this.memory.grow(pages);
      } catch {
        throw new RangeError(`the WebAssembly kernels cannot hold ${bytes} more bytes (${end} in all; the limit is 4 GiB): use --kernel js`);
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
  private scratch(area: 'staging' | 'packing', bytes: number): number {
    const current = this[area];
    if (bytes <= current.bytes) return current.at;
    if (current.bytes > 0 && current.at + aligned(current.bytes) === this.top) {
      this.reserve(aligned(bytes) - aligned(current.bytes));
      this[area] = { at: current.at, bytes: aligned(bytes) };
      return current.at;
    }
    let at: number;
    try {
      at = this.reserve(2 * bytes);
      bytes *= 2;
    } catch {
      at = this.reserve(bytes);
    }
    this[area] = { at, bytes };
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
    let at = this.scratch('staging', need);
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
    const x = this.typed(a);
    if (this.resident(z) && this.resident(a)) x[fn](z.byteOffset, a.byteOffset, n);
    else this.staged([z, a], [n, n], false, (p) => x[fn](p[0], p[1], n));
  }

  /** delta ⊙= σ'(...) over n values, from u (a for the sigmoid, z for relu). */
  private scale(fn: 'sigmoid_grad' | 'relu_grad', u: Floats, delta: Floats, n: number): void {
    const x = this.typed(delta);
    if (this.resident(u) && this.resident(delta)) x[fn](u.byteOffset, delta.byteOffset, delta.byteOffset, n);
    else this.staged([u, delta], [n, n], true, (p) => x[fn](p[0], p[1], p[1], n));
  }
}
