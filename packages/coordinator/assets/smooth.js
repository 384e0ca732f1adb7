// Smoothing of a noisy curve for the dashboard and the board: an exponential
// moving average, as TensorBoard draws it. A classic script (no module), so the
// pages load it before their own and tests can run it in a bare VM context.
'use strict';

(function (global) {
  /**
   * ys smoothed with `weight` w in [0, 1): s_n = w·s_(n-1) + (1 − w)·y_n, divided
   * by 1 − w^n (n: the finite points so far) so that the start is not pulled
   * towards 0. null, NaN and ±Infinity stay null (a gap) and do not count. w = 0
   * gives ys back.
   */
  function ema(ys, weight) {
    const out = new Array(ys.length);
    let s = 0;
    let n = 0;
    for (let i = 0; i < ys.length; i++) {
      const y = ys[i];
      if (typeof y !== 'number' || !Number.isFinite(y)) {
        out[i] = null;
        continue;
      }
      s = weight * s + (1 - weight) * y;
      n++;
      out[i] = weight === 0 ? y : s / (1 - Math.pow(weight, n));
    }
    return out;
  }

  global.shardpropSmooth = { ema };
})(globalThis);
