import { ACTIVATIONS } from '../activations.js';
import { allocFloats, type Floats } from '../numbers.js';
import type { Kernels } from './kernel.js';

/**
 * The portable kernels, in plain TypeScript. Two loop shapes cover the three
 * products:
 * - gemmNT is a dot-product kernel (both operands are read along contiguous
 *   rows), register-blocked 4 rows of A by 2 rows of B (8 accumulators) and
 *   cache-blocked along k so a panel of B stays in L2;
 * - gemmNN and gemmTN are row-update ("axpy") kernels: C[i,:] += Σ_p a_ip B[p,:],
 *   2 rows of C by 4 rows of B at a time, so the inner loop streams long
 *   contiguous rows. They differ only in the stride of the coefficients a_ip.
 */
const KC = 256; // k-panel of gemmNT: a 4-row A panel and the B panel it meets stay cache-resident

function gemmNT(m: number, n: number, k: number, A: Floats, B: Floats, C: Floats, accumulate: boolean): void {
  if (k === 0) {
    if (!accumulate) C.fill(0, 0, m * n);
    return;
  }
  for (let p0 = 0; p0 < k; p0 += KC) {
    const p1 = p0 + KC < k ? p0 + KC : k;
    const add = accumulate || p0 > 0;
    let i = 0;
    for (; i + 4 <= m; i += 4) {
      const a0 = i * k;
      const a1 = a0 + k;
      const a2 = a1 + k;
      const a3 = a2 + k;
      const c0 = i * n;
      let j = 0;
      for (; j + 2 <= n; j += 2) {
        const b0 = j * k;
        const b1 = b0 + k;
        let s00 = 0, s01 = 0, s10 = 0, s11 = 0, s20 = 0, s21 = 0, s30 = 0, s31 = 0;
        for (let p = p0; p < p1; p++) {
          const x0 = B[b0 + p];
          const x1 = B[b1 + p];
          const y0 = A[a0 + p];
          const y1 = A[a1 + p];
          const y2 = A[a2 + p];
          const y3 = A[a3 + p];
          s00 += y0 * x0;
          s01 += y0 * x1;
          s10 += y1 * x0;
          s11 += y1 * x1;
          s20 += y2 * x0;
          s21 += y2 * x1;
          s30 += y3 * x0;
          s31 += y3 * x1;
        }
        const c = c0 + j;
        if (add) {
          C[c] += s00; C[c + 1] += s01;
          C[c + n] += s10; C[c + n + 1] += s11;
          C[c + 2 * n] += s20; C[c + 2 * n + 1] += s21;
          C[c + 3 * n] += s30; C[c + 3 * n + 1] += s31;
        } else {
          C[c] = s00; C[c + 1] = s01;
          C[c + n] = s10; C[c + n + 1] = s11;
          C[c + 2 * n] = s20; C[c + 2 * n + 1] = s21;
          C[c + 3 * n] = s30; C[c + 3 * n + 1] = s31;
        }
      }
      if (j < n) {
        const b0 = j * k;
        let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
        for (let p = p0; p < p1; p++) {
          const x = B[b0 + p];
          s0 += A[a0 + p] * x;
          s1 += A[a1 + p] * x;
          s2 += A[a2 + p] * x;
          s3 += A[a3 + p] * x;
        }
        const c = c0 + j;
        if (add) {
          C[c] += s0; C[c + n] += s1; C[c + 2 * n] += s2; C[c + 3 * n] += s3;
        } else {
          C[c] = s0; C[c + n] = s1; C[c + 2 * n] = s2; C[c + 3 * n] = s3;
        }
      }
    }
    // Leftover rows: one row of A against 4 rows of B.
    for (; i < m; i++) {
      const a0 = i * k;
      const c0 = i * n;
      let j = 0;
      for (; j + 4 <= n; j += 4) {
        const b0 = j * k;
        const b1 = b0 + k;
        const b2 = b1 + k;
        const b3 = b2 + k;
        let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
        for (let p = p0; p < p1; p++) {
          const y = A[a0 + p];
          s0 += y * B[b0 + p];
          s1 += y * B[b1 + p];
          s2 += y * B[b2 + p];
          s3 += y * B[b3 + p];
        }
        const c = c0 + j;
        if (add) {
          C[c] += s0; C[c + 1] += s1; C[c + 2] += s2; C[c + 3] += s3;
        } else {
          C[c] = s0; C[c + 1] = s1; C[c + 2] = s2; C[c + 3] = s3;
        }
      }
      for (; j < n; j++) {
        const b0 = j * k;
        let s = 0;
        for (let p = p0; p < p1; p++) s += A[a0 + p] * B[b0 + p];
        if (add) C[c0 + j] += s;
        else C[c0 + j] = s;
      }
    }
  }
}

/**
 * C[m,n] (+)= Σ_p a(i,p) B[p,:], where a(i,p) = A[i * rowStride + p * colStride].
 * gemmNN: A is [m,k], so rowStride = k, colStride = 1; gemmTN: A is [k,m], so rowStride = 1, colStride = m.
 */
function rowUpdate(
  m: number, n: number, k: number,
  A: Floats, rowStride: number, colStride: number,
  B: Floats, C: Floats, accumulate: boolean,
): void {
  if (!accumulate) C.fill(0, 0, m * n);
  let i = 0;
  for (; i + 2 <= m; i += 2) {
    const c0 = i * n;
    const c1 = c0 + n;
    const r0 = i * rowStride;
    const r1 = r0 + rowStride;
    let p = 0;
    for (; p + 4 <= k; p += 4) {
      const q0 = p * colStride;
      const q1 = q0 + colStride;
      const q2 = q1 + colStride;
      const q3 = q2 + colStride;
      const a00 = A[r0 + q0], a01 = A[r0 + q1], a02 = A[r0 + q2], a03 = A[r0 + q3];
      const a10 = A[r1 + q0], a11 = A[r1 + q1], a12 = A[r1 + q2], a13 = A[r1 + q3];
      const b0 = p * n;
      const b1 = b0 + n;
      const b2 = b1 + n;
      const b3 = b2 + n;
      for (let j = 0; j < n; j++) {
        const x0 = B[b0 + j];
        const x1 = B[b1 + j];
        const x2 = B[b2 + j];
        const x3 = B[b3 + j];
        C[c0 + j] += a00 * x0 + a01 * x1 + a02 * x2 + a03 * x3;
        C[c1 + j] += a10 * x0 + a11 * x1 + a12 * x2 + a13 * x3;
      }
    }
    for (; p < k; p++) {
      const a0 = A[r0 + p * colStride];
      const a1 = A[r1 + p * colStride];
      const b0 = p * n;
      for (let j = 0; j < n; j++) {
        const x = B[b0 + j];
        C[c0 + j] += a0 * x;
        C[c1 + j] += a1 * x;
      }
    }
  }
  if (i < m) {
    const c0 = i * n;
    const r0 = i * rowStride;
    let p = 0;
    for (; p + 4 <= k; p += 4) {
      const a0 = A[r0 + p * colStride];
      const a1 = A[r0 + (p + 1) * colStride];
      const a2 = A[r0 + (p + 2) * colStride];
      const a3 = A[r0 + (p + 3) * colStride];
      const b0 = p * n;
      const b1 = b0 + n;
      const b2 = b1 + n;
      const b3 = b2 + n;
      for (let j = 0; j < n; j++) C[c0 + j] += a0 * B[b0 + j] + a1 * B[b1 + j] + a2 * B[b2 + j] + a3 * B[b3 + j];
    }
    for (; p < k; p++) {
      const a0 = A[r0 + p * colStride];
      const b0 = p * n;
      for (let j = 0; j < n; j++) C[c0 + j] += a0 * B[b0 + j];
    }
  }
}

/**
 * True when no value is NaN or ±Infinity: any of them makes the sum of x·0 NaN.
 * Allocation-free; four sums, so the additions do not wait on each other.
 */
export function allFinite(a: Floats): boolean {
  const n = a.length;
  let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    s0 += a[i] * 0;
    s1 += a[i + 1] * 0;
    s2 += a[i + 2] * 0;
    s3 += a[i + 3] * 0;
  }
  for (; i < n; i++) s0 += a[i] * 0;
  return s0 + s1 + s2 + s3 === 0;
}

export const jsKernels: Kernels = {
  name: 'js',
  threads: 1,
  close: () => undefined,
  alloc: allocFloats,
  activation: (name) => ACTIVATIONS[name],
  allFinite,
  sgdStep(params, grad, n, lr, scale, wd) {
    // the same values without decay: x + 0·θ = x, but 0·θ costs a multiply per value
    if (wd === 0) for (let i = 0; i < n; i++) params[i] -= lr * (grad[i] * scale);
    else for (let i = 0; i < n; i++) params[i] -= lr * (grad[i] * scale + wd * params[i]);
  },
  gemmNT,
  gemmNN(m, n, k, A, B, C, accumulate) {
    rowUpdate(m, n, k, A, k, 1, B, C, accumulate);
  },
  gemmTN(m, n, k, A, B, C, accumulate) {
    rowUpdate(m, n, k, A, 1, m, B, C, accumulate);
  },
  addRowVector(m, n, v, C) {
    for (let r = 0; r < m; r++) {
      const o = r * n;
      for (let j = 0; j < n; j++) C[o + j] += v[j];
    }
  },
  sumRows(m, n, A, out, accumulate) {
    if (!accumulate) out.fill(0, 0, n);
    for (let r = 0; r < m; r++) {
      const o = r * n;
      for (let j = 0; j < n; j++) out[j] += A[o + j];
    }
  },
};
