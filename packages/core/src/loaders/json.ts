/**
 * JSON data sets: `{ "x": [[x_1, ..., x_n], ...], "y": [[y_1, ..., y_m], ...] }`,
 * one row per sample. A `y` row may also be a plain number (a width-1 row).
 * Produces x: Float64Array [count, n], y: Float64Array [count, m].
 * Rows and columns in messages are 1-based: "row 17 of x" is x[16].
 */
import { DatasetError, makeDataset, type Dataset } from '../dataset.js';
import { readDataFile } from './file.js';

export function loadJson(path: string): Dataset {
  const text = readDataFile(path).toString('utf8');
  if (text.trim() === '') throw new DatasetError(`${path}: empty file`);
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new DatasetError(`${path}: invalid JSON (${(err as Error).message})`);
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) {
    throw new DatasetError(`${path}: expected an object { "x": [...], "y": [...] }`);
  }
  const { x: xs, y: ys } = doc as { x?: unknown; y?: unknown };
  if (!Array.isArray(xs)) throw new DatasetError(`${path}: ${xs === undefined ? 'missing' : 'bad'} "x" (expected an array of rows)`);
  if (!Array.isArray(ys)) throw new DatasetError(`${path}: ${ys === undefined ? 'missing' : 'bad'} "y" (expected an array of rows)`);
  if (xs.length !== ys.length) throw new DatasetError(`${path}: x has ${xs.length} rows but y has ${ys.length}`);
  if (xs.length === 0) throw new DatasetError(`${path}: no samples (x and y are empty)`);

  const inputs = rowWidth(path, 'x', xs[0]);
  const outputs = rowWidth(path, 'y', ys[0]);
  const x = new Float64Array(xs.length * inputs);
  const y = new Float64Array(ys.length * outputs);
  for (let r = 0; r < xs.length; r++) {
    copyRow(path, 'x', r, xs[r], inputs, x);
    copyRow(path, 'y', r, ys[r], outputs, y);
  }
  return makeDataset(path, x, y, inputs, outputs);
}

function rowWidth(path: string, name: string, row: unknown): number {
  if (name === 'y' && typeof row === 'number') return 1;
  if (!Array.isArray(row)) throw notARow(path, name, 0, row);
  if (row.length === 0) throw new DatasetError(`${path}: row 1 of ${name} is empty`);
  return row.length;
}

/** Writes row r of x or y into `out` at r * width, checking its width and its numbers. */
function copyRow(path: string, name: string, r: number, row: unknown, width: number, out: Float64Array): void {
  const values = name === 'y' && typeof row === 'number' ? [row] : row;
  if (!Array.isArray(values)) throw notARow(path, name, r, row);
  if (values.length !== width) {
    throw new DatasetError(`${path}: row ${r + 1} of ${name} has ${values.length} values, expected ${width}`);
  }
  for (let c = 0; c < width; c++) {
    const v: unknown = values[c];
    if (typeof v !== 'number' || !Number.isFinite(v)) {
      throw new DatasetError(`${path}: row ${r + 1} of ${name}, column ${c + 1}: expected a finite number, got ${describe(v)}`);
    }
    out[r * width + c] = v;
  }
}

function notARow(path: string, name: string, r: number, row: unknown): DatasetError {
  const expected = name === 'y' ? 'a number or an array of numbers' : 'an array of numbers';
  return new DatasetError(`${path}: row ${r + 1} of ${name} is not ${expected}: ${describe(row)}`);
}

/** A short rendering of a bad JSON value for a one-line message. */
function describe(v: unknown): string {
  const text = typeof v === 'number' ? String(v) : JSON.stringify(v) ?? String(v);
  return text.length > 40 ? `${text.slice(0, 37)}...` : text;
}
