/**
 * The WebAssembly SIMD128 matrix product C[m,n] (+)= A[m,k] · B[n,k]ᵀ in float32
 * (the forward product Z = A · Wᵀ), as WAT text assembled at load time by wabt.
 *
 * Both operands are read along contiguous rows, so the kernel is a dot product
 * over k, four lanes at a time: one row of A against four rows of B, four f32x4
 * accumulators, summed across lanes at the end; the last k % 4 products and the
 * last n % 4 rows of B go through scalar loops. Products are accumulated in
 * float32 (the JS kernels accumulate in float64 and round once), so results
 * agree with them to float32 precision, not bit for bit.
 *
 * All pointers are byte offsets into the module's own memory; the caller places
 * the matrices there (see WasmGemm).
 */
export const GEMM_NT_F32_WAT = String.raw`
(module
  (memory (export "memory") 1)

  ;; the dot product of rows a and b over k floats, from p (a multiple of 4 or k) to k, scalar
  (func $tail (param $a i32) (param $b i32) (param $p i32) (param $k i32) (result f32)
    (local $s f32)
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $p) (local.get $k)))
        (local.set $s (f32.add (local.get $s)
          (f32.mul (f32.load (i32.add (local.get $a) (i32.shl (local.get $p) (i32.const 2))))
                   (f32.load (i32.add (local.get $b) (i32.shl (local.get $p) (i32.const 2)))))))
        (local.set $p (i32.add (local.get $p) (i32.const 1)))
        (br $next)))
    (local.get $s))

  ;; the four lanes of v, added
  (func $hsum (param $v v128) (result f32)
    (f32.add
      (f32.add (f32x4.extract_lane 0 (local.get $v)) (f32x4.extract_lane 1 (local.get $v)))
      (f32.add (f32x4.extract_lane 2 (local.get $v)) (f32x4.extract_lane 3 (local.get $v)))))

  ;; C[i,j] = (or +=, when $acc) the sum over p of A[i,p] B[j,p]
  (func $store (param $c i32) (param $value f32) (param $acc i32)
    (f32.store (local.get $c)
      (select
        (f32.add (f32.load (local.get $c)) (local.get $value))
        (local.get $value)
        (local.get $acc))))

  (func (export "gemm_nt_f32")
    (param $m i32) (param $n i32) (param $k i32) (param $A i32) (param $B i32) (param $C i32) (param $acc i32)
    (local $i i32) (local $j i32) (local $p i32) (local $k4 i32) (local $rowBytes i32)
    (local $a i32) (local $b0 i32) (local $b1 i32) (local $b2 i32) (local $b3 i32) (local $c i32)
    (local $va v128) (local $s0 v128) (local $s1 v128) (local $s2 v128) (local $s3 v128)
    (local.set $k4 (i32.and (local.get $k) (i32.const -4)))
    (local.set $rowBytes (i32.shl (local.get $k) (i32.const 2)))
    (local.set $i (i32.const 0))
    (block $rowsDone
      (loop $rows
        (br_if $rowsDone (i32.ge_u (local.get $i) (local.get $m)))
        (local.set $a (i32.add (local.get $A) (i32.mul (local.get $i) (local.get $rowBytes))))
        (local.set $c (i32.add (local.get $C) (i32.shl (i32.mul (local.get $i) (local.get $n)) (i32.const 2))))
        (local.set $j (i32.const 0))
        ;; four rows of B at a time
        (block $quadsDone
          (loop $quads
            (br_if $quadsDone (i32.gt_u (i32.add (local.get $j) (i32.const 4)) (local.get $n)))
            (local.set $b0 (i32.add (local.get $B) (i32.mul (local.get $j) (local.get $rowBytes))))
            (local.set $b1 (i32.add (local.get $b0) (local.get $rowBytes)))
            (local.set $b2 (i32.add (local.get $b1) (local.get $rowBytes)))
            (local.set $b3 (i32.add (local.get $b2) (local.get $rowBytes)))
            (local.set $s0 (v128.const i32x4 0 0 0 0))
            (local.set $s1 (v128.const i32x4 0 0 0 0))
            (local.set $s2 (v128.const i32x4 0 0 0 0))
            (local.set $s3 (v128.const i32x4 0 0 0 0))
            (local.set $p (i32.const 0))
            (block $kDone
              (loop $kLoop
                (br_if $kDone (i32.ge_u (local.get $p) (local.get $k4)))
                (local.set $va (v128.load (i32.add (local.get $a) (i32.shl (local.get $p) (i32.const 2)))))
                (local.set $s0 (f32x4.add (local.get $s0) (f32x4.mul (local.get $va) (v128.load (i32.add (local.get $b0) (i32.shl (local.get $p) (i32.const 2)))))))
                (local.set $s1 (f32x4.add (local.get $s1) (f32x4.mul (local.get $va) (v128.load (i32.add (local.get $b1) (i32.shl (local.get $p) (i32.const 2)))))))
                (local.set $s2 (f32x4.add (local.get $s2) (f32x4.mul (local.get $va) (v128.load (i32.add (local.get $b2) (i32.shl (local.get $p) (i32.const 2)))))))
                (local.set $s3 (f32x4.add (local.get $s3) (f32x4.mul (local.get $va) (v128.load (i32.add (local.get $b3) (i32.shl (local.get $p) (i32.const 2)))))))
                (local.set $p (i32.add (local.get $p) (i32.const 4)))
                (br $kLoop)))
            (call $store (i32.add (local.get $c) (i32.shl (local.get $j) (i32.const 2)))
              (f32.add (call $hsum (local.get $s0)) (call $tail (local.get $a) (local.get $b0) (local.get $k4) (local.get $k))) (local.get $acc))
            (call $store (i32.add (local.get $c) (i32.shl (i32.add (local.get $j) (i32.const 1)) (i32.const 2)))
              (f32.add (call $hsum (local.get $s1)) (call $tail (local.get $a) (local.get $b1) (local.get $k4) (local.get $k))) (local.get $acc))
            (call $store (i32.add (local.get $c) (i32.shl (i32.add (local.get $j) (i32.const 2)) (i32.const 2)))
              (f32.add (call $hsum (local.get $s2)) (call $tail (local.get $a) (local.get $b2) (local.get $k4) (local.get $k))) (local.get $acc))
            (call $store (i32.add (local.get $c) (i32.shl (i32.add (local.get $j) (i32.const 3)) (i32.const 2)))
              (f32.add (call $hsum (local.get $s3)) (call $tail (local.get $a) (local.get $b3) (local.get $k4) (local.get $k))) (local.get $acc))
            (local.set $j (i32.add (local.get $j) (i32.const 4)))
            (br $quads)))
        ;; the last n % 4 rows of B, one at a time
        (block $singlesDone
          (loop $singles
            (br_if $singlesDone (i32.ge_u (local.get $j) (local.get $n)))
            (local.set $b0 (i32.add (local.get $B) (i32.mul (local.get $j) (local.get $rowBytes))))
            (local.set $s0 (v128.const i32x4 0 0 0 0))
            (local.set $p (i32.const 0))
            (block $kDone1
              (loop $kLoop1
                (br_if $kDone1 (i32.ge_u (local.get $p) (local.get $k4)))
                (local.set $s0 (f32x4.add (local.get $s0)
                  (f32x4.mul (v128.load (i32.add (local.get $a) (i32.shl (local.get $p) (i32.const 2))))
                             (v128.load (i32.add (local.get $b0) (i32.shl (local.get $p) (i32.const 2)))))))
                (local.set $p (i32.add (local.get $p) (i32.const 4)))
                (br $kLoop1)))
            (call $store (i32.add (local.get $c) (i32.shl (local.get $j) (i32.const 2)))
              (f32.add (call $hsum (local.get $s0)) (call $tail (local.get $a) (local.get $b0) (local.get $k4) (local.get $k))) (local.get $acc))
            (local.set $j (i32.add (local.get $j) (i32.const 1)))
            (br $singles)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $rows)))))
`;

// The WebAssembly global of Node, typed as far as this file uses it (the project's lib has no DOM types).
interface WasmMemory {
  readonly buffer: ArrayBuffer;
  grow(pages: number): number;
}
declare const WebAssembly: { instantiate(bytes: Uint8Array): Promise<{ instance: { exports: unknown } }> };

/** What the assembled module exports. */
export interface GemmExports {
  memory: WasmMemory;
  gemm_nt_f32(m: number, n: number, k: number, A: number, B: number, C: number, accumulate: number): void;
}

/** Assembles the WAT with wabt (SIMD enabled) and instantiates it. */
export async function loadWasmGemm(): Promise<GemmExports> {
  const { default: initWabt } = await import('wabt');
  const wabt = await initWabt();
  const parsed = wabt.parseWat('gemm-nt-f32.wat', GEMM_NT_F32_WAT, { simd: true });
  try {
    parsed.resolveNames();
    parsed.validate();
    const { buffer } = parsed.toBinary({});
    const { instance } = await WebAssembly.instantiate(buffer as Uint8Array);
    return instance.exports as unknown as GemmExports;
  } finally {
    parsed.destroy();
  }
}

/**
 * The f32 product on matrices that live in the module's memory: `alloc` hands out
 * Float32Array views of it (16-byte aligned), `gemmNT` multiplies views it handed
 * out. The memory is sized once, at create: growing it would detach every view.
 */
export class WasmGemm {
  private top = 16;
  private readonly end: number;

  private constructor(private readonly exports: GemmExports, capacityFloats: number) {
    const bytes = 16 + Math.ceil((capacityFloats * 4) / 16) * 16 + 16 * 16;
    const missing = bytes - exports.memory.buffer.byteLength;
    if (missing > 0) exports.memory.grow(Math.ceil(missing / 65536));
    this.end = exports.memory.buffer.byteLength;
  }

  /** A module with room for `capacityFloats` float32 values in all. */
  static async create(capacityFloats: number): Promise<WasmGemm> {
    return new WasmGemm(await loadWasmGemm(), capacityFloats);
  }

  /** A zeroed Float32Array of `length` in the module's memory. */
  alloc(length: number): Float32Array {
    const bytes = Math.ceil((length * 4) / 16) * 16;
    if (this.top + bytes > this.end) throw new RangeError(`no room for ${length} more values; create the module with a larger capacity`);
    const view = new Float32Array(this.exports.memory.buffer, this.top, length);
    this.top += bytes;
    return view;
  }

  /** C[m,n] (+)= A[m,k] · B[n,k]ᵀ; all three from alloc(). */
  gemmNT(m: number, n: number, k: number, A: Float32Array, B: Float32Array, C: Float32Array, accumulate: boolean): void {
    for (const [name, v, len] of [['A', A, m * k], ['B', B, n * k], ['C', C, m * n]] as const) {
      if (v.buffer !== this.exports.memory.buffer) throw new RangeError(`${name} is not in this module's memory (or the memory grew since it was allocated)`);
      if (v.length < len) throw new RangeError(`${name} has ${v.length} values, the product needs ${len}`);
    }
    this.exports.gemm_nt_f32(m, n, k, A.byteOffset, B.byteOffset, C.byteOffset, accumulate ? 1 : 0);
  }
}
