/**
 * WebAssembly SIMD128 matrix products in float32, as WAT text assembled at load
 * time by wabt: C[m,n] (+)= A[m,k] · B[n,k]ᵀ (the forward product Z = A · Wᵀ), and
 * the row update behind A · B and Aᵀ · B (the backward products).
 *
 * Both operands are read along contiguous rows, so the kernel is a dot product
 * over k, four lanes at a time: two rows of A against four rows of B, eight f32x4
 * accumulators (each load of B serves both rows of A), summed across lanes at the
 * end; the last k % 4 products go through a scalar loop, the last n % 4 rows of B
 * and an odd last row of A through a one-row loop. Products are accumulated in
 * float32 (the JS kernels accumulate in float64 and round once), so results
 * agree with them to float32 precision, not bit for bit. The row update keeps
 * sixteen columns of a row of C in four f32x4 sums over all of k.
 *
 * All pointers are byte offsets into the module's own memory; the caller places
 * the matrices there (see WasmGemm).
 */
export const KERNELS_WAT = String.raw`
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

  ;; C[i, j] for every j from $j on, one row of A ($a) against one row of B at a time
  (func $singles (param $a i32) (param $c i32) (param $B i32) (param $j i32) (param $n i32) (param $k i32) (param $acc i32)
    (local $k4 i32) (local $rowBytes i32) (local $b i32) (local $p i32) (local $s v128)
    (local.set $k4 (i32.and (local.get $k) (i32.const -4)))
    (local.set $rowBytes (i32.shl (local.get $k) (i32.const 2)))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $j) (local.get $n)))
        (local.set $b (i32.add (local.get $B) (i32.mul (local.get $j) (local.get $rowBytes))))
        (local.set $s (v128.const i32x4 0 0 0 0))
        (local.set $p (i32.const 0))
        (block $kDone
          (loop $kLoop
            (br_if $kDone (i32.ge_u (local.get $p) (local.get $k4)))
            (local.set $s (f32x4.add (local.get $s)
              (f32x4.mul (v128.load (i32.add (local.get $a) (i32.shl (local.get $p) (i32.const 2))))
                         (v128.load (i32.add (local.get $b) (i32.shl (local.get $p) (i32.const 2)))))))
            (local.set $p (i32.add (local.get $p) (i32.const 4)))
            (br $kLoop)))
        (call $store (i32.add (local.get $c) (i32.shl (local.get $j) (i32.const 2)))
          (f32.add (call $hsum (local.get $s)) (call $tail (local.get $a) (local.get $b) (local.get $k4) (local.get $k))) (local.get $acc))
        (local.set $j (i32.add (local.get $j) (i32.const 1)))
        (br $next))))

  ;; rows $a0 and $a1 of A against rows $j..$j+3 of B: eight f32x4 sums, each load of B used twice
  (func $block2x4 (param $a0 i32) (param $a1 i32) (param $c0 i32) (param $c1 i32) (param $B i32) (param $j i32) (param $k i32) (param $acc i32)
    (local $k4 i32) (local $rowBytes i32) (local $p i32) (local $off i32)
    (local $b0 i32) (local $b1 i32) (local $b2 i32) (local $b3 i32)
    (local $x0 v128) (local $x1 v128) (local $y v128)
    (local $s00 v128) (local $s01 v128) (local $s02 v128) (local $s03 v128)
    (local $s10 v128) (local $s11 v128) (local $s12 v128) (local $s13 v128)
    (local.set $k4 (i32.and (local.get $k) (i32.const -4)))
    (local.set $rowBytes (i32.shl (local.get $k) (i32.const 2)))
    (local.set $b0 (i32.add (local.get $B) (i32.mul (local.get $j) (local.get $rowBytes))))
    (local.set $b1 (i32.add (local.get $b0) (local.get $rowBytes)))
    (local.set $b2 (i32.add (local.get $b1) (local.get $rowBytes)))
    (local.set $b3 (i32.add (local.get $b2) (local.get $rowBytes)))
    (local.set $p (i32.const 0))
    (block $kDone
      (loop $kLoop
        (br_if $kDone (i32.ge_u (local.get $p) (local.get $k4)))
        (local.set $off (i32.shl (local.get $p) (i32.const 2)))
        (local.set $x0 (v128.load (i32.add (local.get $a0) (local.get $off))))
        (local.set $x1 (v128.load (i32.add (local.get $a1) (local.get $off))))
        (local.set $y (v128.load (i32.add (local.get $b0) (local.get $off))))
        (local.set $s00 (f32x4.add (local.get $s00) (f32x4.mul (local.get $x0) (local.get $y))))
        (local.set $s10 (f32x4.add (local.get $s10) (f32x4.mul (local.get $x1) (local.get $y))))
        (local.set $y (v128.load (i32.add (local.get $b1) (local.get $off))))
        (local.set $s01 (f32x4.add (local.get $s01) (f32x4.mul (local.get $x0) (local.get $y))))
        (local.set $s11 (f32x4.add (local.get $s11) (f32x4.mul (local.get $x1) (local.get $y))))
        (local.set $y (v128.load (i32.add (local.get $b2) (local.get $off))))
        (local.set $s02 (f32x4.add (local.get $s02) (f32x4.mul (local.get $x0) (local.get $y))))
        (local.set $s12 (f32x4.add (local.get $s12) (f32x4.mul (local.get $x1) (local.get $y))))
        (local.set $y (v128.load (i32.add (local.get $b3) (local.get $off))))
        (local.set $s03 (f32x4.add (local.get $s03) (f32x4.mul (local.get $x0) (local.get $y))))
        (local.set $s13 (f32x4.add (local.get $s13) (f32x4.mul (local.get $x1) (local.get $y))))
        (local.set $p (i32.add (local.get $p) (i32.const 4)))
        (br $kLoop)))
    (local.set $off (i32.shl (local.get $j) (i32.const 2)))
    (call $store (i32.add (local.get $c0) (local.get $off))
      (f32.add (call $hsum (local.get $s00)) (call $tail (local.get $a0) (local.get $b0) (local.get $k4) (local.get $k))) (local.get $acc))
    (call $store (i32.add (local.get $c0) (i32.add (local.get $off) (i32.const 4)))
      (f32.add (call $hsum (local.get $s01)) (call $tail (local.get $a0) (local.get $b1) (local.get $k4) (local.get $k))) (local.get $acc))
    (call $store (i32.add (local.get $c0) (i32.add (local.get $off) (i32.const 8)))
      (f32.add (call $hsum (local.get $s02)) (call $tail (local.get $a0) (local.get $b2) (local.get $k4) (local.get $k))) (local.get $acc))
    (call $store (i32.add (local.get $c0) (i32.add (local.get $off) (i32.const 12)))
      (f32.add (call $hsum (local.get $s03)) (call $tail (local.get $a0) (local.get $b3) (local.get $k4) (local.get $k))) (local.get $acc))
    (call $store (i32.add (local.get $c1) (local.get $off))
      (f32.add (call $hsum (local.get $s10)) (call $tail (local.get $a1) (local.get $b0) (local.get $k4) (local.get $k))) (local.get $acc))
    (call $store (i32.add (local.get $c1) (i32.add (local.get $off) (i32.const 4)))
      (f32.add (call $hsum (local.get $s11)) (call $tail (local.get $a1) (local.get $b1) (local.get $k4) (local.get $k))) (local.get $acc))
    (call $store (i32.add (local.get $c1) (i32.add (local.get $off) (i32.const 8)))
      (f32.add (call $hsum (local.get $s12)) (call $tail (local.get $a1) (local.get $b2) (local.get $k4) (local.get $k))) (local.get $acc))
    (call $store (i32.add (local.get $c1) (i32.add (local.get $off) (i32.const 12)))
      (f32.add (call $hsum (local.get $s13)) (call $tail (local.get $a1) (local.get $b3) (local.get $k4) (local.get $k))) (local.get $acc)))

  ;; C[m,n] (+)= Σ_p a(i,p) B[p,:], a(i,p) = A[i*rs + p*cs]: gemmNN (rs = k, cs = 1) and gemmTN
  ;; (rs = 1, cs = m). Row i of C, sixteen columns at a time held in four f32x4 sums over all p
  ;; (each a(i,p) splat across the lanes), then four columns at a time, then one at a time.
  (func (export "row_update_f32")
    (param $m i32) (param $n i32) (param $k i32) (param $A i32) (param $rs i32) (param $cs i32)
    (param $B i32) (param $C i32) (param $acc i32)
    (local $i i32) (local $j i32) (local $p i32) (local $c i32) (local $aRow i32) (local $bCol i32)
    (local $x v128) (local $s0 v128) (local $s1 v128) (local $s2 v128) (local $s3 v128) (local $f f32)
    (block $rowsDone
      (loop $rows
        (br_if $rowsDone (i32.ge_u (local.get $i) (local.get $m)))
        (local.set $c (i32.add (local.get $C) (i32.shl (i32.mul (local.get $i) (local.get $n)) (i32.const 2))))
        (local.set $aRow (i32.add (local.get $A) (i32.shl (i32.mul (local.get $i) (local.get $rs)) (i32.const 2))))
        (local.set $j (i32.const 0))
        (block $wideDone
          (loop $wide
            (br_if $wideDone (i32.gt_u (i32.add (local.get $j) (i32.const 16)) (local.get $n)))
            (if (local.get $acc)
              (then
                (local.set $s0 (v128.load (i32.add (local.get $c) (i32.shl (local.get $j) (i32.const 2)))))
                (local.set $s1 (v128.load offset=16 (i32.add (local.get $c) (i32.shl (local.get $j) (i32.const 2)))))
                (local.set $s2 (v128.load offset=32 (i32.add (local.get $c) (i32.shl (local.get $j) (i32.const 2)))))
                (local.set $s3 (v128.load offset=48 (i32.add (local.get $c) (i32.shl (local.get $j) (i32.const 2))))))
              (else
                (local.set $s0 (v128.const i32x4 0 0 0 0))
                (local.set $s1 (v128.const i32x4 0 0 0 0))
                (local.set $s2 (v128.const i32x4 0 0 0 0))
                (local.set $s3 (v128.const i32x4 0 0 0 0))))
            (local.set $p (i32.const 0))
            (block $kDone
              (loop $kLoop
                (br_if $kDone (i32.ge_u (local.get $p) (local.get $k)))
                (local.set $x (f32x4.splat (f32.load (i32.add (local.get $aRow) (i32.shl (i32.mul (local.get $p) (local.get $cs)) (i32.const 2))))))
                (local.set $bCol (i32.add (local.get $B) (i32.shl (i32.add (i32.mul (local.get $p) (local.get $n)) (local.get $j)) (i32.const 2))))
                (local.set $s0 (f32x4.add (local.get $s0) (f32x4.mul (local.get $x) (v128.load (local.get $bCol)))))
                (local.set $s1 (f32x4.add (local.get $s1) (f32x4.mul (local.get $x) (v128.load offset=16 (local.get $bCol)))))
                (local.set $s2 (f32x4.add (local.get $s2) (f32x4.mul (local.get $x) (v128.load offset=32 (local.get $bCol)))))
                (local.set $s3 (f32x4.add (local.get $s3) (f32x4.mul (local.get $x) (v128.load offset=48 (local.get $bCol)))))
                (local.set $p (i32.add (local.get $p) (i32.const 1)))
                (br $kLoop)))
            (v128.store (i32.add (local.get $c) (i32.shl (local.get $j) (i32.const 2))) (local.get $s0))
            (v128.store offset=16 (i32.add (local.get $c) (i32.shl (local.get $j) (i32.const 2))) (local.get $s1))
            (v128.store offset=32 (i32.add (local.get $c) (i32.shl (local.get $j) (i32.const 2))) (local.get $s2))
            (v128.store offset=48 (i32.add (local.get $c) (i32.shl (local.get $j) (i32.const 2))) (local.get $s3))
            (local.set $j (i32.add (local.get $j) (i32.const 16)))
            (br $wide)))
        (block $quadDone
          (loop $quad
            (br_if $quadDone (i32.gt_u (i32.add (local.get $j) (i32.const 4)) (local.get $n)))
            (local.set $s0 (select (v128.load (i32.add (local.get $c) (i32.shl (local.get $j) (i32.const 2)))) (v128.const i32x4 0 0 0 0) (local.get $acc)))
            (local.set $p (i32.const 0))
            (block $kDone4
              (loop $kLoop4
                (br_if $kDone4 (i32.ge_u (local.get $p) (local.get $k)))
                (local.set $s0 (f32x4.add (local.get $s0)
                  (f32x4.mul (f32x4.splat (f32.load (i32.add (local.get $aRow) (i32.shl (i32.mul (local.get $p) (local.get $cs)) (i32.const 2)))))
                             (v128.load (i32.add (local.get $B) (i32.shl (i32.add (i32.mul (local.get $p) (local.get $n)) (local.get $j)) (i32.const 2)))))))
                (local.set $p (i32.add (local.get $p) (i32.const 1)))
                (br $kLoop4)))
            (v128.store (i32.add (local.get $c) (i32.shl (local.get $j) (i32.const 2))) (local.get $s0))
            (local.set $j (i32.add (local.get $j) (i32.const 4)))
            (br $quad)))
        (block $oneDone
          (loop $one
            (br_if $oneDone (i32.ge_u (local.get $j) (local.get $n)))
            (local.set $f (select (f32.load (i32.add (local.get $c) (i32.shl (local.get $j) (i32.const 2)))) (f32.const 0) (local.get $acc)))
            (local.set $p (i32.const 0))
            (block $kDone1
              (loop $kLoop1
                (br_if $kDone1 (i32.ge_u (local.get $p) (local.get $k)))
                (local.set $f (f32.add (local.get $f)
                  (f32.mul (f32.load (i32.add (local.get $aRow) (i32.shl (i32.mul (local.get $p) (local.get $cs)) (i32.const 2))))
                           (f32.load (i32.add (local.get $B) (i32.shl (i32.add (i32.mul (local.get $p) (local.get $n)) (local.get $j)) (i32.const 2)))))))
                (local.set $p (i32.add (local.get $p) (i32.const 1)))
                (br $kLoop1)))
            (f32.store (i32.add (local.get $c) (i32.shl (local.get $j) (i32.const 2))) (local.get $f))
            (local.set $j (i32.add (local.get $j) (i32.const 1)))
            (br $one)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $rows))))

  (func (export "gemm_nt_f32")
    (param $m i32) (param $n i32) (param $k i32) (param $A i32) (param $B i32) (param $C i32) (param $acc i32)
    (local $i i32) (local $j i32) (local $rowBytes i32) (local $a0 i32) (local $a1 i32) (local $c0 i32) (local $c1 i32)
    (local.set $rowBytes (i32.shl (local.get $k) (i32.const 2)))
    ;; four rows of B (a panel that stays in cache) against every pair of rows of A
    (block $quadsDone
      (loop $quads
        (br_if $quadsDone (i32.gt_u (i32.add (local.get $j) (i32.const 4)) (local.get $n)))
        (local.set $i (i32.const 0))
        (block $pairsDone
          (loop $pairs
            (br_if $pairsDone (i32.gt_u (i32.add (local.get $i) (i32.const 2)) (local.get $m)))
            (local.set $a0 (i32.add (local.get $A) (i32.mul (local.get $i) (local.get $rowBytes))))
            (local.set $c0 (i32.add (local.get $C) (i32.shl (i32.mul (local.get $i) (local.get $n)) (i32.const 2))))
            (call $block2x4 (local.get $a0) (i32.add (local.get $a0) (local.get $rowBytes))
              (local.get $c0) (i32.add (local.get $c0) (i32.shl (local.get $n) (i32.const 2)))
              (local.get $B) (local.get $j) (local.get $k) (local.get $acc))
            (local.set $i (i32.add (local.get $i) (i32.const 2)))
            (br $pairs)))
        (local.set $j (i32.add (local.get $j) (i32.const 4)))
        (br $quads)))
    ;; the last n % 4 rows of B, for every pair of rows of A
    (local.set $i (i32.const 0))
    (block $restDone
      (loop $rest
        (br_if $restDone (i32.gt_u (i32.add (local.get $i) (i32.const 2)) (local.get $m)))
        (local.set $a0 (i32.add (local.get $A) (i32.mul (local.get $i) (local.get $rowBytes))))
        (local.set $c0 (i32.add (local.get $C) (i32.shl (i32.mul (local.get $i) (local.get $n)) (i32.const 2))))
        (call $singles (local.get $a0) (local.get $c0) (local.get $B) (local.get $j) (local.get $n) (local.get $k) (local.get $acc))
        (call $singles (i32.add (local.get $a0) (local.get $rowBytes)) (i32.add (local.get $c0) (i32.shl (local.get $n) (i32.const 2)))
          (local.get $B) (local.get $j) (local.get $n) (local.get $k) (local.get $acc))
        (local.set $i (i32.add (local.get $i) (i32.const 2)))
        (br $rest)))
    ;; an odd last row of A
    (if (i32.lt_u (local.get $i) (local.get $m))
      (then
        (call $singles
          (i32.add (local.get $A) (i32.mul (local.get $i) (local.get $rowBytes)))
          (i32.add (local.get $C) (i32.shl (i32.mul (local.get $i) (local.get $n)) (i32.const 2)))
          (local.get $B) (i32.const 0) (local.get $n) (local.get $k) (local.get $acc))))))
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
  row_update_f32(m: number, n: number, k: number, A: number, rowStride: number, colStride: number, B: number, C: number, accumulate: number): void;
}

/** Assembles the WAT with wabt (SIMD enabled) and instantiates it. */
async function loadWasmGemm(): Promise<GemmExports> {
  const { default: initWabt } = await import('wabt');
  const wabt = await initWabt();
  const parsed = wabt.parseWat('shardprop-kernels.wat', KERNELS_WAT, { simd: true });
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
    this.check(A, m * k, B, n * k, C, m * n);
    this.exports.gemm_nt_f32(m, n, k, A.byteOffset, B.byteOffset, C.byteOffset, accumulate ? 1 : 0);
  }

  /** C[m,n] (+)= A[m,k] · B[k,n] (backward: Δ^(l-1) = Δ^l W^l); all three from alloc(). */
  gemmNN(m: number, n: number, k: number, A: Float32Array, B: Float32Array, C: Float32Array, accumulate: boolean): void {
    this.check(A, m * k, B, k * n, C, m * n);
    this.exports.row_update_f32(m, n, k, A.byteOffset, k, 1, B.byteOffset, C.byteOffset, accumulate ? 1 : 0);
  }

  /** C[m,n] (+)= A[k,m]ᵀ · B[k,n] (backward: ∂W^l = (Δ^l)ᵀ A^(l-1)); all three from alloc(). */
  gemmTN(m: number, n: number, k: number, A: Float32Array, B: Float32Array, C: Float32Array, accumulate: boolean): void {
    this.check(A, k * m, B, k * n, C, m * n);
    this.exports.row_update_f32(m, n, k, A.byteOffset, 1, m, B.byteOffset, C.byteOffset, accumulate ? 1 : 0);
  }

  private check(A: Float32Array, a: number, B: Float32Array, b: number, C: Float32Array, c: number): void {
    for (const [name, v, len] of [['A', A, a], ['B', B, b], ['C', C, c]] as const) {
      if (v.buffer !== this.exports.memory.buffer) throw new RangeError(`${name} is not in this module's memory (or the memory grew since it was allocated)`);
      if (v.length < len) throw new RangeError(`${name} has ${v.length} values, the product needs ${len}`);
    }
  }
}
