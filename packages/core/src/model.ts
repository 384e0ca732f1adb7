/**
 * A model: what it is (ModelSpec), where each W^l and b^l lives in its one flat
 * parameter buffer (Layout), and seeded initialisation. No arithmetic beyond that:
 * backprop.ts computes, model-file.ts reads and writes files.
 */
import { ACTIVATIONS, type ActivationName } from './activations.js';
import { LOSSES, type LossName } from './losses.js';
import { DTYPES, allocFloats, type Dtype, type Floats } from './numbers.js';
import { shortList, shown } from './quote.js';
import { Rng } from './rng.js';

/** Initial weights N(0, 1)/√n_in ('scaled') or N(0, 1) ('normal', as the seed's network.py). */
export const INIT_SCHEMES = ['scaled', 'normal'] as const;
export type InitScheme = (typeof INIT_SCHEMES)[number];

/** What a model is, without its numbers. */
export interface ModelSpec {
  /** n_0 (inputs), n_1, ..., n_L (outputs). */
  layers: number[];
  /** σ of the hidden layers, and of the output layer unless the loss brings its own (softmax). */
  activation: ActivationName;
  loss: LossName;
  dtype: Dtype;
}

export const DEFAULT_SPEC: Omit<ModelSpec, 'layers'> = { activation: 'sigmoid', loss: 'quadratic', dtype: 'float32' };

/**
 * Where each W^l and b^l lives in the flat parameter buffer: W^1, b^1, W^2, b^2, ...
 * W^l is row-major [n_l, n_(l-1)], so w^l_jk sits at wOffset[l-1] + j * n_(l-1) + k.
 */
export interface Layout {
  wOffset: number[];
  bOffset: number[];
  size: number;
}

/**
 * The per-layer views of a flat buffer in the parameters' layout (the parameters
 * themselves, or a gradient): W[l] = W^l and b[l] = b^l for l = 1..L, as the
 * equations index them; W[0] and b[0] are empty (there is no layer 0 to weigh).
 */
export function layerViews(layers: readonly number[], flat: Floats): { W: Floats[]; b: Floats[] } {
  const { wOffset, bOffset } = layoutOf(layers);
  const W = [flat.subarray(0, 0)];
  const b = [flat.subarray(0, 0)];
  for (let l = 1; l < layers.length; l++) {
    W.push(flat.subarray(wOffset[l - 1], wOffset[l - 1] + layers[l] * layers[l - 1]));
    b.push(flat.subarray(bOffset[l - 1], bOffset[l - 1] + layers[l]));
  }
  return { W, b };
}

export function layoutOf(layers: readonly number[]): Layout {
  const wOffset: number[] = [];
  const bOffset: number[] = [];
  let size = 0;
  for (let l = 1; l < layers.length; l++) {
    wOffset.push(size);
    size += layers[l] * layers[l - 1];
    bOffset.push(size);
    size += layers[l];
  }
  return { wOffset, bOffset, size };
}

/** The largest model: layers after the inputs, neurons in a layer, parameters in all. */
export const MAX_LAYERS = 1000;
export const MAX_LAYER_SIZE = 1_000_000;
export const MAX_PARAMETERS = 500_000_000;

/** Checks a spec built from user input; throws a RangeError naming the bad field. */
export function validateSpec(spec: ModelSpec): ModelSpec {
  const { layers } = spec;
  if (!Array.isArray(layers) || layers.length < 2) throw new RangeError('layers needs at least two sizes (inputs and outputs)');
  if (layers.length > MAX_LAYERS + 1) throw new RangeError(`at most ${MAX_LAYERS} layers after the inputs, got ${layers.length - 1}`);
  for (const n of layers) {
    if (!Number.isInteger(n) || n < 1 || n > MAX_LAYER_SIZE) throw new RangeError(`layer sizes must be integers from 1 to ${MAX_LAYER_SIZE}, got ${shown(n)}`);
  }
  if (layoutOf(layers).size > MAX_PARAMETERS) throw new RangeError(`the model has more than 500 million parameters: ${shortList(layers)}`);
  if (!Object.hasOwn(ACTIVATIONS, spec.activation)) throw new RangeError(`unknown activation ${shown(spec.activation)} (expected ${Object.keys(ACTIVATIONS).join(', ')})`);
  if (!Object.hasOwn(LOSSES, spec.loss)) throw new RangeError(`unknown loss ${shown(spec.loss)} (expected ${Object.keys(LOSSES).join(', ')})`);
  if (!DTYPES.includes(spec.dtype)) throw new RangeError(`unknown dtype ${shown(spec.dtype)} (expected ${DTYPES.join(' or ')})`);
  if (spec.loss === 'cross-entropy' && layers[layers.length - 1] < 2) throw new RangeError('the cross-entropy loss (softmax output) needs at least 2 outputs');
  return spec;
}

/** A model: its spec, its layout and ONE flat parameter buffer that every W^l and b^l views. */
export class Model {
  readonly layout: Layout;
  readonly params: Floats;
  /** W^l as a view into params, [n_l, n_(l-1)] row-major, at index l = 1..L (W[0] is empty: there is no W^0). */
  readonly W: Floats[];
  /** b^l as a view into params, at index l = 1..L (b[0] is empty). */
  readonly b: Floats[];

  constructor(readonly spec: ModelSpec, params?: Floats) {
    validateSpec(spec);
    this.layout = layoutOf(spec.layers);
    if (params) {
      const want = spec.dtype === 'float64' ? Float64Array : Float32Array;
      if (!(params instanceof want) || params.length !== this.layout.size) {
        throw new RangeError(`parameters must be a ${spec.dtype} array of length ${this.layout.size}`);
      }
      this.params = params;
    } else {
      this.params = allocFloats(spec.dtype, this.layout.size);
    }
    ({ W: this.W, b: this.b } = layerViews(spec.layers, this.params));
  }

  get depth(): number {
    return this.spec.layers.length - 1;
  }

  /**
   * Seeded initialisation: w ~ N(0, 1) / sqrt(n_in) ('scaled', the default) or N(0, 1)
   * ('normal', the seed's network.py); b ~ N(0, 1) in both, as in network.py.
   */
  static init(spec: ModelSpec, seed: number, scheme: InitScheme = 'scaled'): Model {
    const model = new Model(spec);
    const rng = new Rng(seed);
    for (let l = 1; l <= model.depth; l++) {
      const scale = scheme === 'scaled' ? 1 / Math.sqrt(spec.layers[l - 1]) : 1;
      const W = model.W[l];
      for (let i = 0; i < W.length; i++) W[i] = rng.gaussian() * scale;
      const b = model.b[l];
      for (let i = 0; i < b.length; i++) b[i] = rng.gaussian();
    }
    return model;
  }

  /** The same numbers in another dtype. */
  withDtype(dtype: Dtype): Model {
    const params = allocFloats(dtype, this.params.length);
    params.set(this.params);
    return new Model({ ...this.spec, layers: [...this.spec.layers], dtype }, params);
  }
}
