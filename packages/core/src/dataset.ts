import { createHash } from 'node:crypto';
import type { Dtype, Floats } from './numbers.js';

/**
 * A data set held as two contiguous row-major matrices: x is [count, inputs],
 * y is [count, outputs]. Loaders produce float64; backprop converts rows to the
 * model's dtype as it gathers a batch, so a data set serves either dtype.
 */
export interface Dataset {
  /** Where it came from, for messages: a path or a built-in name. */
  source: string;
  count: number;
  inputs: number;
  outputs: number;
  x: Floats;
  y: Floats;
  /** For a file of named columns (CSV): which became inputs and which targets, to tell the user. */
  columns?: DatasetColumns;
}

/** The columns of a file (CSV) that became a data set's inputs and targets: every column not a target is an input, in order. */
export interface DatasetColumns {
  /** The file's header, or undefined where it has none (then columns are "column N", 1-based). */
  header?: readonly string[];
  count: number;
  /** The 0-based columns that are targets. */
  targets: readonly number[];
  /** One target column of class indices, one-hot encoded (--label-column); else the targets are numbers as they are. */
  oneHot: boolean;
}

/** One line saying which columns are inputs and which targets: `inputs: 2 columns ("x1", "x2"); target: "label", class indices one-hot (2 classes)`. */
export function describeColumns(columns: DatasetColumns, outputs: number): string {
  const name = (c: number): string => `"${columns.header?.[c] || `column ${c + 1}`}"`;
  const isInput = (c: number): boolean => !columns.targets.includes(c);
  // the first three and the last two inputs, never a list of a million
  const first: number[] = [];
  for (let c = 0; c < columns.count && first.length < 6; c++) if (isInput(c)) first.push(c);
  const last: number[] = [];
  for (let c = columns.count - 1; c >= 0 && last.length < 2; c--) if (isInput(c)) last.unshift(c);
  const inputCount = columns.count - columns.targets.length;
  const shown = inputCount <= 6 ? first.map(name).join(', ') : `${first.slice(0, 3).map(name).join(', ')}, …, ${last.map(name).join(', ')}`;
  const inputs = `inputs: ${inputCount} column${inputCount === 1 ? '' : 's'} (${shown})`;
  if (columns.oneHot) return `${inputs}; target: ${name(columns.targets[0])}, class indices one-hot (${outputs} classes)`;
  const n = columns.targets.length;
  const targets = n <= 6 ? columns.targets.map(name).join(', ') : `${columns.targets.slice(0, 3).map(name).join(', ')}, …, ${columns.targets.slice(-2).map(name).join(', ')}`;
  return `${inputs}; target${n === 1 ? '' : 's'}: ${targets}, regressed on as ${n === 1 ? 'a number' : 'numbers'} (--label-column NAME for classes)`;
}

/** Raised for any bad data-set input; the message names the file and, where it applies, the row. */
export class DatasetError extends Error {
  override name = 'DatasetError';
}

export function makeDataset(source: string, x: Floats, y: Floats, inputs: number, outputs: number): Dataset {
  const count = inputs > 0 ? x.length / inputs : 0;
  if (!Number.isInteger(count) || y.length !== count * outputs) {
    throw new DatasetError(`${source}: x and y disagree on the number of samples`);
  }
  return { source, count, inputs, outputs, x, y };
}

export function datasetAs(ds: Dataset, dtype: Dtype): Dataset {
  const Ctor = dtype === 'float64' ? Float64Array : Float32Array;
  if (ds.x instanceof Ctor && ds.y instanceof Ctor) return ds;
  return { ...ds, x: Ctor.from(ds.x), y: Ctor.from(ds.y) };
}

/** The samples at `indices`, as a new data set (used for train/test splits and shards). */
export function subset(ds: Dataset, indices: ArrayLike<number>, source = ds.source): Dataset {
  const n = indices.length;
  const x = new (ds.x.constructor as Float64ArrayConstructor)(n * ds.inputs);
  const y = new (ds.y.constructor as Float64ArrayConstructor)(n * ds.outputs);
  for (let r = 0; r < n; r++) {
    const i = indices[r];
    x.set(ds.x.subarray(i * ds.inputs, (i + 1) * ds.inputs), r * ds.inputs);
    y.set(ds.y.subarray(i * ds.outputs, (i + 1) * ds.outputs), r * ds.outputs);
  }
  return { source, count: n, inputs: ds.inputs, outputs: ds.outputs, x, y };
}

/**
 * A fingerprint of the numbers (shape, then x and y as float64 bytes), so two
 * processes can check that they hold the same data whatever its dtype or source path.
 */
export function fingerprint(ds: Dataset): string {
  const hash = createHash('sha256');
  hash.update(`${ds.count}x${ds.inputs}->${ds.outputs};`);
  for (const m of [ds.x, ds.y]) {
    const f64 = m instanceof Float64Array ? m : Float64Array.from(m);
    hash.update(new Uint8Array(f64.buffer, f64.byteOffset, f64.byteLength));
  }
  return hash.digest('hex').slice(0, 32);
}
