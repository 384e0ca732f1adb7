/**
 * The WebAssembly SIMD128 kernels as WAT text, assembled at load time by wabt
 * (see wasm.ts). One template is written once and instantiated for float32
 * (f32x4, four lanes) and float64 (f64x2, two lanes); every function name ends
 * in its type, e.g. gemm_nt_f32 and gemm_nt_f64.
 *
 * All pointers are byte offsets into the module's memory; all matrices are
 * row-major. Products are accumulated in the matrices' own precision, a lane at
 * a time, so results agree with the TypeScript kernels (which sum in float64
 * and round once) to that precision, not bit for bit.
 *
 * - gemm_nt: C[m,n] (+)= A[m,k] · B[n,k]ᵀ, the forward product Z = A · Wᵀ. Both
 *   operands are read along contiguous rows, so it is a dot product over k:
 *   two rows of A against four rows of B, eight vector sums (each load of B
 *   serves both rows of A), added across lanes at the end. The pairs of rows of
 *   A, and four rows of B at a time, are first copied into a scratch area
 *   interleaved a vector at a time, so the loop reads each with one pointer and
 *   immediate offsets (V8 then spends one instruction per load, not two). The
 *   last k % lanes products go through a scalar loop, the last n % 4 rows of B
 *   and an odd last row of A through a one-row loop; every path sums in the
 *   same order, so a row's result never depends on its neighbours. The panel of
 *   four rows of B stays in cache across all rows of A.
 * - row_update: C[m,n] (+)= Σ_p a(i,p) B[p,:] with a(i,p) = A[i*rs + p*cs], the
 *   two backward products A · B (rs = k, cs = 1) and Aᵀ · B (rs = 1, cs = m).
 *   Two vectors of each of four rows of C are held in registers over all of k,
 *   each load of B serving all four rows. The coefficients of every four rows
 *   (four per p) and a strip of two vectors' columns of B are packed first, so
 *   the loop reads each with one pointer and immediate offsets; the strip stays
 *   in cache across all rows of A. Each element is summed over p in order on
 *   every path (the leftover rows and columns go one row at a time).
 * - add_row_vector, sum_rows: the bias, Z += b, and its gradient, Σ_rows Δ.
 * - sigmoid, sigmoid_grad, relu, relu_grad: σ and δ ⊙= σ'; exp is computed in
 *   registers (range reduction by ln 2, a Taylor polynomial, the power of two
 *   built in the exponent bits), within a few units in the last place.
 * - all_finite, sgd: the coordinator's check of every gradient that arrives, and
 *   the SGD update (in float64, as the portable loop does it: the same bits).
 *
 * The micro-kernels' loops take UNROLL (8) steps a turn, with the exit test before
 * each step: without a branch between them, V8's scheduler would hoist all the
 * turn's loads to its start and run out of the 16 vector registers of x64.
 */

interface Lane {
  /** scalar and vector type names */
  T: 'f32' | 'f64';
  V: 'f32x4' | 'f64x2';
  /** bytes per value, and its log2 */
  E: number;
  SH: number;
  /** values per vector */
  N: number;
}

const F32: Lane = { T: 'f32', V: 'f32x4', E: 4, SH: 2, N: 4 };
const F64: Lane = { T: 'f64', V: 'f64x2', E: 8, SH: 3, N: 2 };

/** Steps per turn of the micro-kernels' loops (vectors of k in gemm_nt, values of p in row_update). */
const UNROLL = 8;

/**
 * Rows of A packed at a time (a multiple of 4): the products go through A in blocks of
 * this many rows, so the scratch is (PACK_ROWS + a few) · k values whatever m is, and the
 * packed block stays in the L2 cache while every panel of B meets it.
 */
export const PACK_ROWS = 128;

/** A vector of `x` in every lane. */
function splat(t: Lane, x: number): string {
  return `(v128.const ${t.V} ${Array(t.N).fill(literal(x)).join(' ')})`;
}

function literal(x: number): string {
  const s = String(x);
  return s.includes('.') || s.includes('e') ? s : `${s}.0`;
}

/** p(r) = Σ c_i r^i by Horner's rule, as one WAT expression. */
function horner(t: Lane, coefficients: number[], r: string): string {
  let p = splat(t, coefficients[coefficients.length - 1]);
  for (let i = coefficients.length - 2; i >= 0; i--) p = `(${t.V}.add (${t.V}.mul ${p} ${r}) ${splat(t, coefficients[i])})`;
  return p;
}

/** 1/i! for i = 0..degree */
function taylorExp(degree: number): number[] {
  const c = [1];
  for (let i = 1; i <= degree; i++) c.push(c[i - 1] / i);
  return c;
}

/**
 * The SGD update θ ← θ − η (g·s + λθ) (λ = 0: θ − η (g·s)), computed in float64 in the
 * order the portable loop computes it and rounded once to the parameters' type, so it
 * gives the same bits as the TypeScript optimizer.
 */
function sgdFunction(t: Lane): string {
  const { T } = t;
  const f32 = T === 'f32';
  // two lanes in float64: the update of p from g
  const update = (g: string, p: string, decay: boolean) =>
    decay
      ? `(f64x2.sub ${p} (f64x2.mul (local.get $vlr) (f64x2.add (f64x2.mul ${g} (local.get $vs)) (f64x2.mul (local.get $vwd) ${p}))))`
      : `(f64x2.sub ${p} (f64x2.mul (local.get $vlr) (f64x2.mul ${g} (local.get $vs))))`;
  const one = (g: string, p: string, decay: boolean) =>
    decay
      ? `(f64.sub ${p} (f64.mul (local.get $lr) (f64.add (f64.mul ${g} (local.get $s)) (f64.mul (local.get $wd) ${p}))))`
      : `(f64.sub ${p} (f64.mul (local.get $lr) (f64.mul ${g} (local.get $s))))`;
  const high = (v: string) => `(i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 ${v} ${v})`;
  const loops = (decay: boolean) => {
    const vector = f32
      ? `(v128.store (i32.add (local.get $p) (local.get $off))
          (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23
            (f32x4.demote_f64x2_zero ${update('(f64x2.promote_low_f32x4 (local.get $gv))', '(f64x2.promote_low_f32x4 (local.get $pv))', decay)})
            (f32x4.demote_f64x2_zero ${update(`(f64x2.promote_low_f32x4 ${high('(local.get $gv)')})`, `(f64x2.promote_low_f32x4 ${high('(local.get $pv)')})`, decay)})))`
      : `(v128.store (i32.add (local.get $p) (local.get $off)) ${update('(local.get $gv)', '(local.get $pv)', decay)})`;
    const scalar = f32
      ? `(f32.store (i32.add (local.get $p) (local.get $off)) (f32.demote_f64 ${one('(f64.promote_f32 (f32.load (i32.add (local.get $g) (local.get $off))))', '(f64.promote_f32 (f32.load (i32.add (local.get $p) (local.get $off))))', decay)}))`
      : `(f64.store (i32.add (local.get $p) (local.get $off)) ${one('(f64.load (i32.add (local.get $g) (local.get $off)))', '(f64.load (i32.add (local.get $p) (local.get $off)))', decay)})`;
    return `(block $done
        (loop $next
          (br_if $done (i32.ge_u (local.get $i) (local.get $whole)))
          (local.set $off (i32.shl (local.get $i) (i32.const ${t.SH})))
          (local.set $gv (v128.load (i32.add (local.get $g) (local.get $off))))
          (local.set $pv (v128.load (i32.add (local.get $p) (local.get $off))))
          ${vector}
          (local.set $i (i32.add (local.get $i) (i32.const ${t.N})))
          (br $next)))
      (block $done1
        (loop $next1
          (br_if $done1 (i32.ge_u (local.get $i) (local.get $n)))
          (local.set $off (i32.shl (local.get $i) (i32.const ${t.SH})))
          ${scalar}
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br $next1)))`;
  };
  return `
  ;; θ[i] ← θ[i] − lr (g[i] s + wd θ[i]) over n values, in float64 (wd = 0: without the decay term)
  (func (export "sgd_${T}") (param $p i32) (param $g i32) (param $n i32) (param $lr f64) (param $s f64) (param $wd f64)
    (local $i i32) (local $off i32) (local $whole i32) (local $gv v128) (local $pv v128)
    (local $vlr v128) (local $vs v128) (local $vwd v128)
    (local.set $vlr (f64x2.splat (local.get $lr)))
    (local.set $vs (f64x2.splat (local.get $s)))
    (local.set $vwd (f64x2.splat (local.get $wd)))
    (local.set $whole (i32.and (local.get $n) (i32.const ${-t.N})))
    (if (f64.eq (local.get $wd) (f64.const 0))
      (then
      ${loops(false)})
      (else
      ${loops(true)})))`;
}

/**
 * exp on a vector: n = round(x / ln 2), r = x − n ln 2 (in two parts, so r is
 * exact), e^x = 2^n · e^r with |r| ≤ ln 2 / 2. 2^n is applied as two factors
 * 2^h · 2^(n−h), h = n >> 1, each a normal number built in the exponent bits,
 * so results that are subnormal or overflow round as they should. x is clamped
 * just past where e^x rounds to 0 or ∞; NaN stays NaN.
 */
function expFunction(t: Lane): string {
  const { V, T } = t;
  const f32 = T === 'f32';
  const [lo, hi] = f32 ? [-104, 89] : [-746, 710];
  // Cody-Waite split of ln 2: n · ln2Hi is exact for the n that occur here
  const [ln2Hi, ln2Lo] = f32 ? [0.693359375, -2.12194440e-4] : [6.93147180369123816490e-1, 1.90821492927058770002e-10];
  // 2^e for the integer lanes of the i32x4 vector e (f64: its two low lanes)
  const power = (e: string) =>
    f32
      ? `(i32x4.shl (i32x4.add ${e} (v128.const i32x4 127 127 127 127)) (i32.const 23))`
      : `(i64x2.shl (i64x2.add (i64x2.extend_low_i32x4_s ${e}) (v128.const i64x2 1023 1023)) (i32.const 52))`;
  const toInt = f32 ? 'i32x4.trunc_sat_f32x4_s' : 'i32x4.trunc_sat_f64x2_s_zero';
  return `
  (func $exp_${T} (param $x v128) (result v128) (local $n v128) (local $r v128) (local $e v128) (local $h v128)
    (local.set $x (${V}.max (${V}.min (local.get $x) ${splat(t, hi)}) ${splat(t, lo)}))
    (local.set $n (${V}.nearest (${V}.mul (local.get $x) ${splat(t, Math.LOG2E)})))
    (local.set $r (${V}.sub (${V}.sub (local.get $x) (${V}.mul (local.get $n) ${splat(t, ln2Hi)})) (${V}.mul (local.get $n) ${splat(t, ln2Lo)})))
    (local.set $e (${toInt} (local.get $n)))
    (local.set $h (i32x4.shr_s (local.get $e) (i32.const 1)))
    (${V}.mul
      (${V}.mul ${horner(t, taylorExp(f32 ? 7 : 13), '(local.get $r)')} ${power('(local.get $h)')})
      ${power('(i32x4.sub (local.get $e) (local.get $h))')}))

  ;; σ(z) = 1 / (1 + e^−z) for z ≥ 0 and e^z / (1 + e^z) below, so e^(−|z|) never overflows
  (func $sigmoid_${T} (param $z v128) (result v128) (local $e v128)
    (local.set $e (call $exp_${T} (${V}.neg (${V}.abs (local.get $z)))))
    (${V}.div
      (v128.bitselect ${splat(t, 1)} (local.get $e) (${V}.ge (local.get $z) ${splat(t, 0)}))
      (${V}.add ${splat(t, 1)} (local.get $e))))`;
}

/**
 * An elementwise pass over n values: `body` maps the vectors at $x (and $y) to
 * the vector stored at $out, for whole vectors, then for the last n % lanes
 * values one at a time (each in lane 0 of a vector, so both use one body).
 */
function elementwise(t: Lane, name: string, body: string, twoInputs: boolean, exported = true): string {
  const { T, V, SH, N } = t;
  const load = (p: string) => `(v128.load (i32.add (local.get ${p}) (local.get $off)))`;
  const loadOne = (p: string) => `(${V}.splat (${T}.load (i32.add (local.get ${p}) (local.get $off))))`;
  const vectors = body.replaceAll('$X', load('$x')).replaceAll('$Y', load('$y'));
  const singles = body.replaceAll('$X', loadOne('$x')).replaceAll('$Y', loadOne('$y'));
  return `
  (func ${exported ? `(export "${name}_${T}")` : `$${name}_${T}`} (param $x i32) ${twoInputs ? '(param $y i32) ' : ''}(param $out i32) (param $n i32)
    (local $i i32) (local $off i32) (local $whole i32)
    (local.set $whole (i32.and (local.get $n) (i32.const ${-N})))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (local.get $whole)))
        (local.set $off (i32.shl (local.get $i) (i32.const ${SH})))
        (v128.store (i32.add (local.get $out) (local.get $off)) ${vectors})
        (local.set $i (i32.add (local.get $i) (i32.const ${N})))
        (br $next)))
    (block $done1
      (loop $next1
        (br_if $done1 (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $off (i32.shl (local.get $i) (i32.const ${SH})))
        (${T}.store (i32.add (local.get $out) (local.get $off)) (${V}.extract_lane 0 ${singles}))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next1))))`;
}

/**
 * Row r of gemm_nt's 2x4 block when k has no tail: C[r, j..j+3] (+)= the lane sums of $s{r}0..$s{r}3,
 * each (l0 + l1) + (l2 + l3) as hsum adds them (f64: l0 + l1), then + 0 as the tail's empty sum
 * is added, found for four columns at once by transposing the sums, and stored as whole vectors.
 */
function rowOfSums(t: Lane, r: number): string {
  const { V, SH, N } = t;
  const sum = (q: number) => `(local.get $s${r}${q})`;
  const shuffle = (lanes: number[], a: string, b: string) =>
    `(i8x16.shuffle ${lanes.flatMap((l) => Array.from({ length: 16 / N }, (_, i) => l * (16 / N) + i)).join(' ')} ${a} ${b})`;
  const zero = '(v128.const i64x2 0 0)';
  const cell = (q: number) => `(i32.add (local.get $c${r}) (i32.add (i32.shl (local.get $j) (i32.const ${SH})) (i32.const ${q * 16})))`;
  const store = (q: number, value: string) =>
    `(v128.store ${cell(q)} (select (${V}.add (v128.load ${cell(q)}) ${value}) ${value} (local.get $acc)))`;
  if (N === 2) {
    // [s0.0 + s0.1, s1.0 + s1.1] and the same for s2, s3
    const pair = (a: number, b: number) => `(${V}.add (${V}.add ${shuffle([0, 2], sum(a), sum(b))} ${shuffle([1, 3], sum(a), sum(b))}) ${zero})`;
    return `${store(0, pair(0, 1))}
        ${store(1, pair(2, 3))}`;
  }
  // lane l of every sum: low = [s0.l, s1.l, ...] interleaved pairs, then their halves joined
  const lo01 = shuffle([0, 4, 1, 5], sum(0), sum(1));
  const hi01 = shuffle([2, 6, 3, 7], sum(0), sum(1));
  const lo23 = shuffle([0, 4, 1, 5], sum(2), sum(3));
  const hi23 = shuffle([2, 6, 3, 7], sum(2), sum(3));
  const lane = (l: number) => shuffle(l % 2 === 0 ? [0, 1, 4, 5] : [2, 3, 6, 7], l < 2 ? lo01 : hi01, l < 2 ? lo23 : hi23);
  return store(0, `(${V}.add (${V}.add (${V}.add ${lane(0)} ${lane(1)}) (${V}.add ${lane(2)} ${lane(3)})) ${zero})`);
}

function kernels(t: Lane): string {
  const { T, V, E, SH, N } = t;
  const hsum =
    N === 4
      ? `(${T}.add (${T}.add (${V}.extract_lane 0 (local.get $v)) (${V}.extract_lane 1 (local.get $v))) (${T}.add (${V}.extract_lane 2 (local.get $v)) (${V}.extract_lane 3 (local.get $v))))`
      : `(${T}.add (${V}.extract_lane 0 (local.get $v)) (${V}.extract_lane 1 (local.get $v)))`;
  const zero = '(v128.const i64x2 0 0)';
  // one value loaded into every lane
  const splatLoad = N === 4 ? 'v128.load32_splat' : 'v128.load64_splat';
  /**
   * The columns of row $c from $j on, `vectors` vectors of C at a time (0: one value at a
   * time, in $f), each a sum over all p of the coefficient at $pa times B's row at $pb.
   */
  const columnLoop = (label: string, vectors: number): string => {
    const one = vectors === 0;
    const sums = one ? ['$f'] : Array.from({ length: vectors }, (_, q) => `$s${q}`);
    const width = one ? 1 : vectors * N;
    const cell = (q: number) => (one ? `(i32.add (local.get $c) (local.get $at))` : `offset=${16 * q} (i32.add (local.get $c) (local.get $at))`);
    const load = (q: number) => (one ? `(${T}.load ${cell(q)})` : `(v128.load ${cell(q)})`);
    const coefficient = one ? `(${T}.load (local.get $pa))` : `(${splatLoad} (local.get $pa))`;
    const row = (q: number) => (one ? `(${T}.load (local.get $pb))` : `(v128.load offset=${16 * q} (local.get $pb))`);
    const add = one ? `${T}.add` : `${V}.add`;
    const mul = one ? `${T}.mul` : `${V}.mul`;
    return `(block $${label}Done
      (loop $${label}
        (br_if $${label}Done (i32.gt_u (i32.add (local.get $j) (i32.const ${width})) (local.get $n)))
        (local.set $at (i32.shl (local.get $j) (i32.const ${SH})))
        ${sums.map((s, q) => `(local.set ${s} (select ${load(q)} ${one ? `(${T}.const 0)` : zero} (local.get $acc)))`).join('\n        ')}
        (local.set $pa (local.get $aRow))
        (local.set $pb (i32.add (local.get $B) (local.get $at)))
        (local.set $p (i32.const 0))
        (block $${label}KDone
          (loop $${label}K
            (br_if $${label}KDone (i32.ge_u (local.get $p) (local.get $k)))
            ${sums.map((s, q) => `(local.set ${s} (${add} (local.get ${s}) (${mul} ${coefficient} ${row(q)})))`).join('\n            ')}
            (local.set $pa (i32.add (local.get $pa) (local.get $cs)))
            (local.set $pb (i32.add (local.get $pb) (local.get $nBytes)))
            (local.set $p (i32.add (local.get $p) (i32.const 1)))
            (br $${label}K)))
        ${sums.map((s, q) => `(${one ? `${T}.store` : 'v128.store'} ${cell(q)} (local.get ${s}))`).join('\n        ')}
        (local.set $j (i32.add (local.get $j) (i32.const ${width})))
        (br $${label})))`;
  };
  const at = (base: string, index: string) => `(i32.add (local.get ${base}) (i32.shl ${index} (i32.const ${SH})))`;
  /** `body` once per block of up to PACK_ROWS rows [$i0, $iEnd) of the first `limit` rows (locals $i0, $iEnd). */
  const rowBlocks = (limit: string, body: string): string => `(block $blocksDone
      (loop $blocks
        (br_if $blocksDone (i32.ge_u (local.get $i0) (local.get ${limit})))
        (local.set $iEnd (select (local.get ${limit}) (i32.add (local.get $i0) (i32.const ${PACK_ROWS}))
          (i32.le_u (i32.sub (local.get ${limit}) (local.get $i0)) (i32.const ${PACK_ROWS}))))
        ${body.trim()}
        (local.set $i0 (local.get $iEnd))
        (br $blocks)))`;
  return `
  ;; ---------------------------------------------------------------- ${T}

  ;; the dot product of rows $a and $b from $p (a multiple of the lanes) to $k, one value at a time
  (func $tail_${T} (param $a i32) (param $b i32) (param $p i32) (param $k i32) (result ${T})
    (local $s ${T})
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $p) (local.get $k)))
        (local.set $s (${T}.add (local.get $s)
          (${T}.mul (${T}.load ${at('$a', '(local.get $p)')}) (${T}.load ${at('$b', '(local.get $p)')}))))
        (local.set $p (i32.add (local.get $p) (i32.const 1)))
        (br $next)))
    (local.get $s))

  (func $hsum_${T} (param $v v128) (result ${T})
    ${hsum})

  ;; *$c = $value, or *$c += $value when $acc
  (func $store_${T} (param $c i32) (param $value ${T}) (param $acc i32)
    (${T}.store (local.get $c)
      (select (${T}.add (${T}.load (local.get $c)) (local.get $value)) (local.get $value) (local.get $acc))))

  ;; C[i, j..n) for one row $a of A, one row of B at a time
  (func $singles_${T} (param $a i32) (param $c i32) (param $B i32) (param $j i32) (param $n i32) (param $k i32) (param $acc i32)
    (local $kv i32) (local $rowBytes i32) (local $b i32) (local $p i32) (local $s v128)
    (local.set $kv (i32.and (local.get $k) (i32.const ${-N})))
    (local.set $rowBytes (i32.shl (local.get $k) (i32.const ${SH})))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $j) (local.get $n)))
        (local.set $b (i32.add (local.get $B) (i32.mul (local.get $j) (local.get $rowBytes))))
        (local.set $s ${zero})
        (local.set $p (i32.const 0))
        (block $kDone
          (loop $kLoop
            (br_if $kDone (i32.ge_u (local.get $p) (local.get $kv)))
            (local.set $s (${V}.add (local.get $s)
              (${V}.mul (v128.load ${at('$a', '(local.get $p)')}) (v128.load ${at('$b', '(local.get $p)')}))))
            (local.set $p (i32.add (local.get $p) (i32.const ${N})))
            (br $kLoop)))
        (call $store_${T} ${at('$c', '(local.get $j)')}
          (${T}.add (call $hsum_${T} (local.get $s)) (call $tail_${T} (local.get $a) (local.get $b) (local.get $kv) (local.get $k))) (local.get $acc))
        (local.set $j (i32.add (local.get $j) (i32.const 1)))
        (br $next))))

  ;; rows $a0, $a1 of A against rows $j..$j+3 of B: eight vector sums over the whole vectors of k,
  ;; read from the packed pair at $pa and the packed panel at $pb (one pointer each, the offsets
  ;; immediate), so each load costs one instruction and each load of B serves both rows
  (func $block2x4_${T} (param $pa i32) (param $pb i32) (param $kvBytes i32) (param $a0 i32) (param $a1 i32) (param $c0 i32) (param $c1 i32)
    (param $B i32) (param $j i32) (param $k i32) (param $acc i32)
    (local $kv i32) (local $rowBytes i32) (local $end i32)
    (local $b0 i32) (local $b1 i32) (local $b2 i32) (local $b3 i32)
    (local $x0 v128) (local $x1 v128) (local $y v128)
    (local $s00 v128) (local $s01 v128) (local $s02 v128) (local $s03 v128)
    (local $s10 v128) (local $s11 v128) (local $s12 v128) (local $s13 v128)
    (local.set $end (i32.add (local.get $pb) (i32.shl (local.get $kvBytes) (i32.const 2))))
    (block $kDone
      (loop $kLoop
        ${Array.from({ length: UNROLL }, (_, u) => `;; vector ${u} of the turn; each test also keeps V8 from hoisting the loads of all ${UNROLL} (which spills)
        (br_if $kDone (i32.le_u (i32.sub (local.get $end) (local.get $pb)) (i32.const ${u * 64})))
        (local.set $x0 (v128.load offset=${u * 32} (local.get $pa)))
        (local.set $x1 (v128.load offset=${u * 32 + 16} (local.get $pa)))
        ${[0, 1, 2, 3].map((q) => `(local.set $y (v128.load offset=${u * 64 + q * 16} (local.get $pb)))
        (local.set $s0${q} (${V}.add (local.get $s0${q}) (${V}.mul (local.get $x0) (local.get $y))))
        (local.set $s1${q} (${V}.add (local.get $s1${q}) (${V}.mul (local.get $x1) (local.get $y))))`).join('\n        ')}`).join('\n        ')}
        (local.set $pa (i32.add (local.get $pa) (i32.const ${UNROLL * 32})))
        (local.set $pb (i32.add (local.get $pb) (i32.const ${UNROLL * 64})))
        (br $kLoop)))
    (local.set $kv (i32.and (local.get $k) (i32.const ${-N})))
    (if (i32.eq (local.get $kv) (local.get $k))
      (then
        ;; no tail: each row's four sums added across lanes at once, in hsum's order, and stored as a vector
        ${[0, 1].map((r) => rowOfSums(t, r)).join('\n        ')}
        (return)))
    (local.set $rowBytes (i32.shl (local.get $k) (i32.const ${SH})))
    (local.set $b0 (i32.add (local.get $B) (i32.mul (local.get $j) (local.get $rowBytes))))
    (local.set $b1 (i32.add (local.get $b0) (local.get $rowBytes)))
    (local.set $b2 (i32.add (local.get $b1) (local.get $rowBytes)))
    (local.set $b3 (i32.add (local.get $b2) (local.get $rowBytes)))
    ${[0, 1]
      .flatMap((r) =>
        [0, 1, 2, 3].map(
          (q) => `(call $store_${T} (i32.add (local.get $c${r}) (i32.add (i32.shl (local.get $j) (i32.const ${SH})) (i32.const ${q * E})))
      (${T}.add (call $hsum_${T} (local.get $s${r}${q})) (call $tail_${T} (local.get $a${r}) (local.get $b${q}) (local.get $kv) (local.get $k))) (local.get $acc))`,
        ),
      )
      .join('\n    ')})

  ;; $pack: scratch of (min(m − m % 2, PACK_ROWS) + 4) · (k − k % ${N}) values; $ldc: values from a row of C
  ;; to the next (n, or more when C is a block of columns of a wider matrix)
  (func (export "gemm_nt_${T}")
    (param $m i32) (param $n i32) (param $k i32) (param $A i32) (param $B i32) (param $C i32) (param $acc i32) (param $pack i32) (param $ldc i32)
    (local $i i32) (local $j i32) (local $i0 i32) (local $iEnd i32) (local $m2 i32) (local $n4 i32)
    (local $rowBytes i32) (local $kvBytes i32) (local $a0 i32) (local $c0 i32) (local $pa i32) (local $panel i32)
    (local.set $rowBytes (i32.shl (local.get $k) (i32.const ${SH})))
    (local.set $kvBytes (i32.shl (i32.and (local.get $k) (i32.const ${-N})) (i32.const ${SH})))
    (local.set $m2 (i32.and (local.get $m) (i32.const -2)))
    (local.set $n4 (i32.and (local.get $n) (i32.const -4)))
    ;; blocks of up to ${PACK_ROWS} rows of A (so the scratch stays small and in cache), when there is a 2x4 block to compute
    (if (i32.eqz (local.get $n4)) (then (local.set $m2 (i32.const 0))))
    ${rowBlocks('$m2', `
        ;; the block's pairs of rows of A, interleaved a vector at a time; then the panel for four rows of B
        (local.set $a0 (i32.add (local.get $A) (i32.mul (local.get $i0) (local.get $rowBytes))))
        (local.set $pa (local.get $pack))
        (local.set $i (local.get $i0))
        (block $packed
          (loop $pairs
            (br_if $packed (i32.ge_u (local.get $i) (local.get $iEnd)))
            (call $pack2 (local.get $a0) (local.get $rowBytes) (local.get $pa) (local.get $kvBytes))
            (local.set $a0 (i32.add (local.get $a0) (i32.shl (local.get $rowBytes) (i32.const 1))))
            (local.set $pa (i32.add (local.get $pa) (i32.shl (local.get $kvBytes) (i32.const 1))))
            (local.set $i (i32.add (local.get $i) (i32.const 2)))
            (br $pairs)))
        (local.set $panel (local.get $pa))
        ;; four rows of B (a panel that stays in cache) against every pair of rows of the block
        (local.set $j (i32.const 0))
        (block $quadsDone
          (loop $quads
            (br_if $quadsDone (i32.ge_u (local.get $j) (local.get $n4)))
            (call $pack4 (i32.add (local.get $B) (i32.mul (local.get $j) (local.get $rowBytes))) (local.get $rowBytes) (local.get $panel) (local.get $kvBytes))
            (local.set $i (local.get $i0))
            (local.set $pa (local.get $pack))
            (block $pairsDone
              (loop $pairs
                (br_if $pairsDone (i32.ge_u (local.get $i) (local.get $iEnd)))
                (local.set $a0 (i32.add (local.get $A) (i32.mul (local.get $i) (local.get $rowBytes))))
                (local.set $c0 ${at('$C', '(i32.mul (local.get $i) (local.get $ldc))')})
                (call $block2x4_${T} (local.get $pa) (local.get $panel) (local.get $kvBytes)
                  (local.get $a0) (i32.add (local.get $a0) (local.get $rowBytes))
                  (local.get $c0) ${at('$c0', '(local.get $ldc)')}
                  (local.get $B) (local.get $j) (local.get $k) (local.get $acc))
                (local.set $pa (i32.add (local.get $pa) (i32.shl (local.get $kvBytes) (i32.const 1))))
                (local.set $i (i32.add (local.get $i) (i32.const 2)))
                (br $pairs)))
            (local.set $j (i32.add (local.get $j) (i32.const 4)))
            (br $quads)))
`)}
    (local.set $j (local.get $n4))
    ;; the last n % 4 rows of B, for every pair of rows of A
    (local.set $i (i32.const 0))
    (block $restDone
      (loop $rest
        (br_if $restDone (i32.gt_u (i32.add (local.get $i) (i32.const 2)) (local.get $m)))
        (local.set $a0 (i32.add (local.get $A) (i32.mul (local.get $i) (local.get $rowBytes))))
        (local.set $c0 ${at('$C', '(i32.mul (local.get $i) (local.get $ldc))')})
        (call $singles_${T} (local.get $a0) (local.get $c0) (local.get $B) (local.get $j) (local.get $n) (local.get $k) (local.get $acc))
        (call $singles_${T} (i32.add (local.get $a0) (local.get $rowBytes)) ${at('$c0', '(local.get $ldc)')}
          (local.get $B) (local.get $j) (local.get $n) (local.get $k) (local.get $acc))
        (local.set $i (i32.add (local.get $i) (i32.const 2)))
        (br $rest)))
    ;; an odd last row of A
    (if (i32.lt_u (local.get $i) (local.get $m))
      (then
        (call $singles_${T}
          (i32.add (local.get $A) (i32.mul (local.get $i) (local.get $rowBytes)))
          ${at('$C', '(i32.mul (local.get $i) (local.get $ldc))')}
          (local.get $B) (i32.const 0) (local.get $n) (local.get $k) (local.get $acc)))))

  ;; rows r = 0..3 of C from $c0 ($rowBytes apart), columns from byte $at on, two vectors: eight
  ;; sums over all p of the packed coefficients at $pa (four per p) times the packed strip of B at
  ;; $pb (two vectors per p), one pointer each, the offsets immediate
  (func $block4x2_${T} (param $pa i32) (param $pb i32) (param $k i32) (param $c0 i32) (param $rowBytes i32) (param $at i32) (param $acc i32)
    (local $end i32) (local $c1 i32) (local $c2 i32) (local $c3 i32)
    (local $x v128) (local $y0 v128) (local $y1 v128)
    (local $s00 v128) (local $s01 v128) (local $s10 v128) (local $s11 v128)
    (local $s20 v128) (local $s21 v128) (local $s30 v128) (local $s31 v128)
    (local.set $c0 (i32.add (local.get $c0) (local.get $at)))
    (local.set $c1 (i32.add (local.get $c0) (local.get $rowBytes)))
    (local.set $c2 (i32.add (local.get $c1) (local.get $rowBytes)))
    (local.set $c3 (i32.add (local.get $c2) (local.get $rowBytes)))
    (if (local.get $acc)
      (then
        ${[0, 1, 2, 3].flatMap((r) => [0, 1].map((q) => `(local.set $s${r}${q} (v128.load offset=${16 * q} (local.get $c${r})))`)).join('\n        ')}))
    (local.set $end (i32.add (local.get $pb) (i32.shl (local.get $k) (i32.const 5))))
    (block $kDone
      (loop $kLoop
        ${Array.from({ length: UNROLL }, (_, u) => `;; p + ${u}; each test also keeps V8 from hoisting the loads of the whole turn (which spills)
        (br_if $kDone (i32.le_u (i32.sub (local.get $end) (local.get $pb)) (i32.const ${u * 32})))
        (local.set $y0 (v128.load offset=${u * 32} (local.get $pb)))
        (local.set $y1 (v128.load offset=${u * 32 + 16} (local.get $pb)))
        ${[0, 1, 2, 3].map((r) => `(local.set $x (${splatLoad} offset=${(u * 4 + r) * E} (local.get $pa)))
        (local.set $s${r}0 (${V}.add (local.get $s${r}0) (${V}.mul (local.get $x) (local.get $y0))))
        (local.set $s${r}1 (${V}.add (local.get $s${r}1) (${V}.mul (local.get $x) (local.get $y1))))`).join('\n        ')}`).join('\n        ')}
        (local.set $pa (i32.add (local.get $pa) (i32.const ${UNROLL * 4 * E})))
        (local.set $pb (i32.add (local.get $pb) (i32.const ${UNROLL * 32})))
        (br $kLoop)))
    ${[0, 1, 2, 3].flatMap((r) => [0, 1].map((q) => `(v128.store offset=${16 * q} (local.get $c${r}) (local.get $s${r}${q}))`)).join('\n    ')})

  ;; row $c of C (coefficients from $aRow, $cs bytes apart; B's rows $ld values apart), columns $j..n: ${4 * N} at a time in four
  ;; vector sums over all p (the coefficient splat across the lanes), then ${N} at a time, then one at a time
  (func $row_${T} (param $c i32) (param $aRow i32) (param $cs i32) (param $B i32) (param $n i32) (param $k i32) (param $j i32) (param $acc i32) (param $ld i32)
    (local $p i32) (local $pa i32) (local $pb i32) (local $nBytes i32) (local $at i32)
    (local $s0 v128) (local $s1 v128) (local $s2 v128) (local $s3 v128) (local $f ${T})
    (local.set $nBytes (i32.shl (local.get $ld) (i32.const ${SH})))
    ${columnLoop('wide', 4)}
    ${columnLoop('vector', 1)}
    ${columnLoop('one', 0)})

  ;; C[m,n] (+)= Σ_p a(i,p) B[p,:], a(i,p) = A[i*rs + p*cs]. For each block of up to ${PACK_ROWS} rows, the
  ;; coefficients of every four rows are packed (four per p), then a strip of ${2 * N} columns of B at a time
  ;; (k × 32 bytes, kept in cache) is packed and met by every four rows. The last m % 4 rows, and the last
  ;; n % ${2 * N} columns of the others, one row at a time. $pack: scratch of (min(m − m % 4, PACK_ROWS) + ${32 / E}) · k values;
  ;; $ldn: values from a row of B, and of C, to the next (n, or more when they are blocks of columns of wider matrices).
  (func (export "row_update_${T}")
    (param $m i32) (param $n i32) (param $k i32) (param $A i32) (param $rs i32) (param $cs i32)
    (param $B i32) (param $C i32) (param $acc i32) (param $pack i32) (param $ldn i32)
    (local $i i32) (local $j i32) (local $p i32) (local $i0 i32) (local $iEnd i32) (local $m4 i32) (local $n2 i32) (local $rowBytes i32) (local $csBytes i32)
    (local $pa i32) (local $a0 i32) (local $a1 i32) (local $a2 i32) (local $a3 i32) (local $strip i32) (local $c0 i32) (local $pb i32)
    (local.set $rowBytes (i32.shl (local.get $ldn) (i32.const ${SH})))
    (local.set $csBytes (i32.shl (local.get $cs) (i32.const ${SH})))
    (local.set $m4 (i32.and (local.get $m) (i32.const -4)))
    (local.set $n2 (i32.and (local.get $n) (i32.const ${-2 * N})))
    ;; blocks of up to ${PACK_ROWS} rows (so the scratch stays small and in cache), when there is a 4x2 block to compute
    (if (i32.eqz (local.get $n2)) (then (local.set $m4 (i32.const 0))))
    ${rowBlocks('$m4', `
        ;; the coefficients of the block's rows i..i+3, four per p
        (local.set $pa (local.get $pack))
        (local.set $i (local.get $i0))
        (block $quadsPacked
          (loop $quads
            (br_if $quadsPacked (i32.ge_u (local.get $i) (local.get $iEnd)))
            (local.set $a0 ${at('$A', '(i32.mul (local.get $i) (local.get $rs))')})
            (local.set $a1 (i32.add (local.get $a0) (i32.shl (local.get $rs) (i32.const ${SH}))))
            (local.set $a2 (i32.add (local.get $a1) (i32.shl (local.get $rs) (i32.const ${SH}))))
            (local.set $a3 (i32.add (local.get $a2) (i32.shl (local.get $rs) (i32.const ${SH}))))
            (local.set $p (i32.const 0))
            (block $pDone
              (loop $ps
                (br_if $pDone (i32.ge_u (local.get $p) (local.get $k)))
                ${[0, 1, 2, 3].map((r) => `(${T}.store offset=${r * E} (local.get $pa) (${T}.load (local.get $a${r})))
                (local.set $a${r} (i32.add (local.get $a${r}) (local.get $csBytes)))`).join('\n                ')}
                (local.set $pa (i32.add (local.get $pa) (i32.const ${4 * E})))
                (local.set $p (i32.add (local.get $p) (i32.const 1)))
                (br $ps)))
            (local.set $i (i32.add (local.get $i) (i32.const 4)))
            (br $quads)))
        (local.set $strip (local.get $pa))
        (local.set $j (i32.const 0))
        (block $stripsDone
          (loop $strips
            (br_if $stripsDone (i32.ge_u (local.get $j) (local.get $n2)))
            ;; columns j..j+${2 * N} of B: two vectors per p
            (local.set $pb ${at('$B', '(local.get $j)')})
            (local.set $pa (local.get $strip))
            (local.set $p (i32.const 0))
            (block $pDone
              (loop $ps
                (br_if $pDone (i32.ge_u (local.get $p) (local.get $k)))
                (v128.store (local.get $pa) (v128.load (local.get $pb)))
                (v128.store offset=16 (local.get $pa) (v128.load offset=16 (local.get $pb)))
                (local.set $pa (i32.add (local.get $pa) (i32.const 32)))
                (local.set $pb (i32.add (local.get $pb) (local.get $rowBytes)))
                (local.set $p (i32.add (local.get $p) (i32.const 1)))
                (br $ps)))
            (local.set $i (local.get $i0))
            (local.set $pa (local.get $pack))
            (local.set $c0 (i32.add (local.get $C) (i32.mul (local.get $i0) (local.get $rowBytes))))
            (block $rowsDone
              (loop $rows
                (br_if $rowsDone (i32.ge_u (local.get $i) (local.get $iEnd)))
                (call $block4x2_${T} (local.get $pa) (local.get $strip) (local.get $k) (local.get $c0) (local.get $rowBytes)
                  (i32.shl (local.get $j) (i32.const ${SH})) (local.get $acc))
                (local.set $pa (i32.add (local.get $pa) (i32.mul (local.get $k) (i32.const ${4 * E}))))
                (local.set $c0 (i32.add (local.get $c0) (i32.shl (local.get $rowBytes) (i32.const 2))))
                (local.set $i (i32.add (local.get $i) (i32.const 4)))
                (br $rows)))
            (local.set $j (i32.add (local.get $j) (i32.const ${2 * N})))
            (br $strips)))
`)}
    ;; the last n % ${2 * N} columns of the rows so far, and every column of the last m % 4 rows
    (local.set $i (i32.const 0))
    (block $restDone
      (loop $rest
        (br_if $restDone (i32.ge_u (local.get $i) (local.get $m)))
        (call $row_${T} ${at('$C', '(i32.mul (local.get $i) (local.get $ldn))')} ${at('$A', '(i32.mul (local.get $i) (local.get $rs))')}
          (local.get $csBytes) (local.get $B) (local.get $n) (local.get $k)
          (select (local.get $n2) (i32.const 0) (i32.lt_u (local.get $i) (local.get $m4)))
          (local.get $acc) (local.get $ldn))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $rest))))

  ;; m times: dst[0..n) += src[0..n), then dst and src move on by their steps (bytes; 0 stays put)
  (func $add_rows_${T} (param $m i32) (param $n i32) (param $dst i32) (param $dstStep i32) (param $src i32) (param $srcStep i32)
    (block $done
      (loop $next
        (br_if $done (i32.eqz (local.get $m)))
        (call $add_${T} (local.get $dst) (local.get $src) (local.get $dst) (local.get $n))
        (local.set $dst (i32.add (local.get $dst) (local.get $dstStep)))
        (local.set $src (i32.add (local.get $src) (local.get $srcStep)))
        (local.set $m (i32.sub (local.get $m) (i32.const 1)))
        (br $next))))

  ;; C[r,:] += v for every row r of C[m,n]
  (func (export "add_row_vector_${T}") (param $m i32) (param $n i32) (param $v i32) (param $C i32)
    (call $add_rows_${T} (local.get $m) (local.get $n) (local.get $C) (i32.shl (local.get $n) (i32.const ${SH})) (local.get $v) (i32.const 0)))

  ;; out[j] (+)= Σ_r A[r,j] over A[m,n], row by row
  (func (export "sum_rows_${T}") (param $m i32) (param $n i32) (param $A i32) (param $out i32) (param $acc i32)
    (if (i32.eqz (local.get $acc))
      (then (memory.fill (local.get $out) (i32.const 0) (i32.shl (local.get $n) (i32.const ${SH})))))
    (call $add_rows_${T} (local.get $m) (local.get $n) (local.get $out) (i32.const 0) (local.get $A) (i32.shl (local.get $n) (i32.const ${SH}))))

  ;; 1 if none of the n values is NaN or ±Infinity
  (func (export "all_finite_${T}") (param $x i32) (param $n i32) (result i32)
    (local $i i32) (local $whole i32) (local $s v128)
    (local.set $whole (i32.and (local.get $n) (i32.const ${-N})))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (local.get $whole)))
        (local.set $s (${V}.add (local.get $s) (${V}.mul (v128.load ${at('$x', '(local.get $i)')}) ${splat(t, 0)})))
        (local.set $i (i32.add (local.get $i) (i32.const ${N})))
        (br $next)))
    (block $done1
      (loop $next1
        (br_if $done1 (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $s (${V}.add (local.get $s) (${V}.splat (${T}.mul (${T}.load ${at('$x', '(local.get $i)')}) (${T}.const 0)))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next1)))
    ;; 0 · x is 0 for finite x and NaN for NaN and ±Infinity; a NaN in the sum stays NaN
    (i32.eqz (v128.any_true (${V}.ne (local.get $s) (local.get $s)))))
${sgdFunction(t)}
${expFunction(t)}
${elementwise(t, 'add', `(${V}.add $X $Y)`, true, false)}
${elementwise(t, 'sigmoid', `(call $sigmoid_${T} $X)`, false)}
${elementwise(t, 'sigmoid_grad', `(${V}.mul $Y (${V}.mul $X (${V}.sub ${splat(t, 1)} $X)))`, true)}
${elementwise(t, 'relu', `(${V}.pmax ${splat(t, 0)} $X)`, false)}
${elementwise(t, 'relu_grad', `(v128.and $Y (${V}.gt $X ${splat(t, 0)}))`, true)}
`;
}

/**
 * $pack{rows}: rows rows of `bytes` bytes each, `stride` bytes apart from $src, interleaved a
 * vector (16 bytes) at a time into $dst: row 0's first vector, row 1's, ..., then every row's
 * second. The layout gemm_nt's micro-kernel reads with one pointer; any lane type.
 */
function packFunction(rows: number): string {
  return `
  (func $pack${rows} (param $src i32) (param $stride i32) (param $dst i32) (param $bytes i32)
    (local $off i32)
    ${Array.from({ length: rows - 1 }, (_, r) => `(local $r${r + 1} i32)`).join(' ')}
    ${Array.from({ length: rows - 1 }, (_, r) => `(local.set $r${r + 1} (i32.add (local.get $src) (i32.mul (local.get $stride) (i32.const ${r + 1}))))`).join('\n    ')}
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $off) (local.get $bytes)))
        ${Array.from({ length: rows }, (_, r) => `(v128.store offset=${16 * r} (local.get $dst) (v128.load (i32.add (local.get ${r === 0 ? '$src' : `$r${r}`}) (local.get $off))))`).join('\n        ')}
        (local.set $dst (i32.add (local.get $dst) (i32.const ${16 * rows})))
        (local.set $off (i32.add (local.get $off) (i32.const 16)))
        (br $next))))`;
}

/**
 * The whole module: both types over one memory, imported so it can be shared (and so grow without
 * moving views); `shared` false: the same code over an unshared memory (a browser page without
 * cross-origin isolation, which has no shared memory).
 */
export function kernelsWat(shared = true): string {
  return `(module
  (import "env" "memory" (memory 1 65536${shared ? ' shared' : ''}))
${packFunction(2)}
${packFunction(4)}
${kernels(F32)}
${kernels(F64)}
)`;
}
