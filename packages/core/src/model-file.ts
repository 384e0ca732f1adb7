import { ACTIVATIONS, type ActivationName } from './activations.js';
import { LOSSES, type LossName } from './losses.js';
import { Model, validateSpec } from './model.js';
import type { Dtype, Floats } from './numbers.js';
import { writeFileAtomically } from './atomic-file.js';
import { oneLine, shortList, shown } from './quote.js';
import { UnreadableFile, readRegularFile } from './regular-file.js';

/**
 * The user-facing model file, `shardprop.model/v1`: plain JSON, data only.
 *
 *   { "format": "shardprop.model/v1", "layers": [784, 30, 10],
 *     "activation": "sigmoid", "loss": "quadratic", "dtype": "float64",
 *     "weights": [W^1, W^2, ...],   W^l nested as [n_l][n_(l-1)]: W^l[j][k] = w^l_jk
 *     "biases":  [b^1, b^2, ...] }  b^l as [n_l]
 *
 * Numbers are written in JavaScript's shortest round-trip form (and -0 as "-0"),
 * so a float64 model loads back bit for bit, and a float32 one too.
 */
export const MODEL_FORMAT = 'shardprop.model/v1';

export interface ModelJson {
  format: typeof MODEL_FORMAT;
  layers: number[];
  activation: ActivationName;
  loss: LossName;
  dtype: Dtype;
  weights: number[][][];
  biases: number[][];
}

/** Any problem with a model file; the message is one line that starts with the file's name. */
export class ModelFileError extends Error {
  override name = 'ModelFileError';
  /** The system's error code, when the file system refused (ENOSPC, EROFS, ...). */
  readonly code?: string;
  constructor(readonly file: string, problem: string, code?: string) {
    super(`${file}: ${problem}`);
    this.code = code;
  }
}

/** The model as the JSON object of the file format. Refuses non-finite parameters, which JSON cannot hold. */
export function modelToJson(model: Model): ModelJson {
  assertFinite(model, 'the model');
  const { layers } = model.spec;
  const weights: number[][][] = [];
  const biases: number[][] = [];
  for (let l = 1; l < layers.length; l++) {
    const W = model.W[l];
    const rows: number[][] = [];
    for (let j = 0; j < layers[l]; j++) rows.push(Array.from(W.subarray(j * layers[l - 1], (j + 1) * layers[l - 1])));
    weights.push(rows);
    biases.push(Array.from(model.b[l]));
  }
  return {
    format: MODEL_FORMAT,
    layers: [...layers],
    activation: model.spec.activation,
    loss: model.spec.loss,
    dtype: model.spec.dtype,
    weights,
    biases,
  };
}

/**
 * Writes the model file atomically: a temporary file in the same directory is
 * written, fsynced and renamed over `path`, so a reader sees the old file or the
 * new one, never half of one. Parent directories are created.
 */
export function saveModel(model: Model, path: string): void {
  assertFinite(model, path);
  try {
    writeFileAtomically(path, (put) => writeModelText(model, (text) => put(Buffer.from(text, 'utf8'))));
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new ModelFileError(path, `cannot write the model file (${e.code ?? 'error'}: ${oneLine(String(e.message))})`, e.code);
  }
}

/** Reads and validates a model file. `dtype` overrides the file's own (which defaults to float64). */
export function loadModel(path: string, dtype?: Dtype): Model {
  let text: string;
  try {
    text = readRegularFile(path).toString('utf8');
  } catch (err) {
    if (err instanceof UnreadableFile) throw new ModelFileError(path, err.message === 'file not found' ? 'no such file' : err.message);
    throw err;
  }
  return parseModel(text, path, dtype);
}

/** Parses and validates the text of a model file; `file` names it in error messages. */
export function parseModel(text: string, file: string, dtype?: Dtype): Model {
  const fail = (problem: string): never => {
    throw new ModelFileError(file, problem);
  };
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  if (text.trim() === '') fail('is empty, expected a shardprop.model/v1 JSON document');
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    fail(`is not valid JSON (${oneLine((err as Error).message)})`);
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) fail(`expected a JSON object, got ${describe(doc)}`);
  const obj = doc as Record<string, unknown>;
  // Own properties only: a "__proto__" or "constructor" key in the file is plain data, never the prototype.
  const field = (key: string): unknown => (Object.hasOwn(obj, key) ? obj[key] : undefined);

  const format = field('format');
  if (format === undefined) fail(`missing "format" (expected "${MODEL_FORMAT}")`);
  if (format !== MODEL_FORMAT) fail(`unsupported format ${describe(format)} (expected "${MODEL_FORMAT}")`);

  const layers = field('layers');
  if (!Array.isArray(layers) || layers.length < 2) {
    fail(`"layers" must be an array of at least two layer sizes (inputs and outputs), got ${describe(layers)}`);
  }
  const sizes = layers as unknown[];
  sizes.forEach((n, i) => {
    if (!(typeof n === 'number' && Number.isInteger(n) && n >= 1)) fail(`"layers"[${i}] must be a positive integer, got ${describe(n)}`);
  });

  const activation = field('activation');
  if (typeof activation !== 'string' || !Object.hasOwn(ACTIVATIONS, activation)) {
    fail(`unknown activation ${describe(activation)} (expected one of ${Object.keys(ACTIVATIONS).join(', ')})`);
  }
  const loss = field('loss');
  if (typeof loss !== 'string' || !Object.hasOwn(LOSSES, loss)) {
    fail(`unknown loss ${describe(loss)} (expected one of ${Object.keys(LOSSES).join(', ')})`);
  }
  const fileDtype = field('dtype');
  if (fileDtype !== undefined && fileDtype !== 'float32' && fileDtype !== 'float64') {
    fail(`unknown dtype ${describe(fileDtype)} (expected "float32" or "float64")`);
  }
  const spec = {
    layers: sizes as number[],
    activation: activation as ActivationName,
    loss: loss as LossName,
    dtype: dtype ?? (fileDtype as Dtype | undefined) ?? 'float64',
  };
  try {
    validateSpec(spec);
  } catch (err) {
    fail(oneLine((err as Error).message));
  }

  const L = spec.layers.length - 1;
  const weights = field('weights');
  const biases = field('biases');
  if (!Array.isArray(weights)) fail(`"weights" must be an array of ${L} matrices (W^1..W^${L}), got ${describe(weights)}`);
  if (!Array.isArray(biases)) fail(`"biases" must be an array of ${L} vectors (b^1..b^${L}), got ${describe(biases)}`);
  const Ws = weights as unknown[];
  const bs = biases as unknown[];
  if (Ws.length !== L) fail(`"weights" has ${Ws.length} matrices, expected ${L} (one per layer after the inputs, layers ${shortList(spec.layers)})`);
  if (bs.length !== L) fail(`"biases" has ${bs.length} vectors, expected ${L} (one per layer after the inputs, layers ${shortList(spec.layers)})`);

  // Shapes first, so the buffer is allocated only for a file that really holds that many numbers.
  const shape = (value: unknown, expected: number, what: string, of: string): unknown[] => {
    if (!Array.isArray(value)) fail(`${what} must be an array of ${expected} ${of}, got ${describe(value)}`);
    const items = value as unknown[];
    if (items.length !== expected) fail(`${what} has ${items.length} ${of}, expected ${expected}`);
    return items;
  };
  for (let l = 1; l <= L; l++) {
    const rows = spec.layers[l];
    const cols = spec.layers[l - 1];
    const Wl = shape(Ws[l - 1], rows, `W^${l} (weights[${l - 1}], shape [${rows}][${cols}])`, 'rows');
    for (let j = 0; j < rows; j++) shape(Wl[j], cols, `W^${l} (weights[${l - 1}]) row ${j}`, 'values');
    shape(bs[l - 1], rows, `b^${l} (biases[${l - 1}])`, 'values');
  }

  const model = new Model(spec);
  const f32 = spec.dtype === 'float32';
  // Copies a row of JSON numbers into out[offset..], naming the first bad entry.
  const copyRow = (values: unknown[], out: Floats, offset: number, where: string): void => {
    for (let k = 0; k < values.length; k++) {
      const v = values[k];
      if (typeof v !== 'number' || !Number.isFinite(v)) fail(`${where}[${k}] must be a finite number, got ${describe(v)}`);
      if (f32 && !Number.isFinite(Math.fround(v as number))) fail(`${where}[${k}] = ${v} is out of the float32 range`);
      out[offset + k] = v as number;
    }
  };
  for (let l = 1; l <= L; l++) {
    const cols = spec.layers[l - 1];
    const Wl = Ws[l - 1] as unknown[][];
    for (let j = 0; j < Wl.length; j++) copyRow(Wl[j], model.W[l], j * cols, `W^${l} (weights[${l - 1}]) row ${j}`);
    copyRow(bs[l - 1] as unknown[], model.b[l], 0, `b^${l} (biases[${l - 1}])`);
  }
  return model;
}

/** Streams the file text in pieces (a row at a time) so a large model never becomes one giant string. */
function writeModelText(model: Model, write: (text: string) => void): void {
  const { layers, activation, loss, dtype } = model.spec;
  const L = layers.length - 1;
  const row = (v: Floats, from: number, to: number): string => {
    const parts: string[] = [];
    for (let i = from; i < to; i++) parts.push(formatNumber(v[i]));
    return `[${parts.join(',')}]`;
  };
  write(`{\n  "format": ${JSON.stringify(MODEL_FORMAT)},\n  "layers": ${JSON.stringify(layers)},\n`);
  write(`  "activation": ${JSON.stringify(activation)},\n  "loss": ${JSON.stringify(loss)},\n  "dtype": ${JSON.stringify(dtype)},\n`);
  write('  "weights": [\n');
  for (let l = 1; l <= L; l++) {
    const W = model.W[l];
    const cols = layers[l - 1];
    const lines: string[] = [];
    for (let j = 0; j < layers[l]; j++) lines.push(`      ${row(W, j * cols, (j + 1) * cols)}`);
    write(`    [\n${lines.join(',\n')}\n    ]${l < L ? ',' : ''}\n`);
  }
  write('  ],\n  "biases": [\n');
  for (let l = 1; l <= L; l++) write(`    ${row(model.b[l], 0, layers[l])}${l < L ? ',' : ''}\n`);
  write('  ]\n}\n');
}

/** Shortest round-trip decimal; "-0" keeps the sign that JSON.stringify would drop. */
function formatNumber(x: number): string {
  return Object.is(x, -0) ? '-0' : String(x);
}

function assertFinite(model: Model, file: string): void {
  const { layers } = model.spec;
  for (let l = 1; l < layers.length; l++) {
    const W = model.W[l];
    for (let i = 0; i < W.length; i++) {
      if (!Number.isFinite(W[i])) {
        const j = Math.floor(i / layers[l - 1]);
        throw new ModelFileError(file, `cannot save: W^${l} row ${j} column ${i - j * layers[l - 1]} is ${W[i]}`);
      }
    }
    const b = model.b[l];
    for (let i = 0; i < b.length; i++) {
      if (!Number.isFinite(b[i])) throw new ModelFileError(file, `cannot save: b^${l}[${i}] is ${b[i]}`);
    }
  }
}

/** A short one-line rendering of a JSON value for messages. */
function describe(value: unknown): string {
  return shown(value, 40);
}
