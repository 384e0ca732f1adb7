import { allocFloats, type Dtype, type Floats } from './numbers.js';
import { jsKernels } from './kernels/js.js';
import type { Kernels } from './kernels/kernel.js';

export type OptimizerKind = 'sgd' | 'momentum' | 'adam';
export const OPTIMIZER_KINDS: readonly OptimizerKind[] = ['sgd', 'momentum', 'adam'];
/** μ of momentum when the config gives none. */
export const DEFAULT_MOMENTUM = 0.9;

export interface OptimizerConfig {
  kind: OptimizerKind;
  /** η */
  lr: number;
  /** L2 weight decay λ, added to the gradient as λθ for every parameter (as PyTorch's weight_decay). */
  weightDecay?: number;
  /** μ of momentum (default DEFAULT_MOMENTUM). */
  momentum?: number;
  /** Adam's β1, β2, ε (defaults 0.9, 0.999, 1e-8). */
  beta1?: number;
  beta2?: number;
  eps?: number;
}

/** Everything an optimizer remembers between steps: plain typed arrays and a step count, for checkpoints. */
export interface OptimizerState {
  t: number;
  /** momentum: velocity; adam: first and second moments. */
  buffers: Floats[];
}

/** How many buffers of the parameters' size an optimizer keeps: none for sgd, the velocity for momentum, both moments for adam. */
export function optimizerBuffers(kind: OptimizerKind): number {
  return kind === 'sgd' ? 0 : kind === 'momentum' ? 1 : 2;
}

/**
 * An optimizer over the flat parameter buffer. `step` takes the gradient SUM and
 * the sample count; the mean ∂R/∂θ = sum / count is formed here, once, per element.
 */
export class Optimizer {
  private t = 0;
  private readonly buffers: Floats[];

  /** `kernels` runs the SGD update (the same bits whichever they are; momentum and adam stay here). */
  constructor(readonly config: OptimizerConfig, readonly size: number, readonly dtype: Dtype, private readonly kernels: Kernels = jsKernels) {
    validateOptimizer(config);
    this.buffers = Array.from({ length: optimizerBuffers(config.kind) }, () => allocFloats(dtype, size));
  }

  step(params: Floats, gradSum: Floats, count: number): void {
    if (count <= 0) return;
    const { lr } = this.config;
    const wd = this.config.weightDecay ?? 0;
    const inv = 1 / count;
    const n = this.size;
    this.t++;
    switch (this.config.kind) {
      case 'sgd':
        // θ ← θ − η ∂R/∂θ
        this.kernels.sgdStep(params, gradSum, n, lr, inv, wd);
        break;
      case 'momentum': {
        // v ← μ v + g;  θ ← θ − η v
        const mu = this.config.momentum ?? DEFAULT_MOMENTUM;
        const v = this.buffers[0];
        for (let i = 0; i < n; i++) {
          v[i] = mu * v[i] + (gradSum[i] * inv + wd * params[i]);
          params[i] -= lr * v[i];
        }
        break;
      }
      case 'adam': {
        const b1 = this.config.beta1 ?? 0.9;
        const b2 = this.config.beta2 ?? 0.999;
        const eps = this.config.eps ?? 1e-8;
        const [m, v] = this.buffers;
        const c1 = 1 / (1 - Math.pow(b1, this.t));
        const c2 = 1 / (1 - Math.pow(b2, this.t));
        for (let i = 0; i < n; i++) {
          const g = gradSum[i] * inv + wd * params[i];
          m[i] = b1 * m[i] + (1 - b1) * g;
          v[i] = b2 * v[i] + (1 - b2) * g * g;
          params[i] -= (lr * (m[i] * c1)) / (Math.sqrt(v[i] * c2) + eps);
        }
        break;
      }
    }
  }

  state(): OptimizerState {
    return { t: this.t, buffers: this.buffers.map((b) => b.slice()) };
  }

  setState(state: OptimizerState): void {
    if (!Number.isInteger(state.t) || state.t < 0) throw new RangeError('optimizer state: step count must be a non-negative integer');
    if (state.buffers.length !== this.buffers.length) {
      throw new RangeError(`optimizer state: ${this.config.kind} keeps ${this.buffers.length} buffers, got ${state.buffers.length}`);
    }
    state.buffers.forEach((b, i) => {
      if (b.length !== this.size) throw new RangeError(`optimizer state: buffer ${i} has length ${b.length}, expected ${this.size}`);
      this.buffers[i].set(b);
    });
    this.t = state.t;
  }
}

export function validateOptimizer(config: OptimizerConfig): void {
  if (!OPTIMIZER_KINDS.includes(config.kind)) throw new RangeError(`unknown optimizer "${config.kind}" (expected ${OPTIMIZER_KINDS.join(', ')})`);
  const positive = (name: string, v: number | undefined, open = false): void => {
    if (v === undefined) return;
    if (!Number.isFinite(v) || v < 0 || (open && v === 0)) throw new RangeError(`${name} must be a finite ${open ? 'positive' : 'non-negative'} number, got ${v}`);
  };
  positive('learning rate', config.lr, true);
  positive('weight decay', config.weightDecay);
  positive('eps', config.eps, true);
  for (const [name, v] of [['momentum', config.momentum], ['beta1', config.beta1], ['beta2', config.beta2]] as const) {
    if (v !== undefined && !(Number.isFinite(v) && v >= 0 && v < 1)) throw new RangeError(`${name} must be in [0, 1), got ${v}`);
  }
}
