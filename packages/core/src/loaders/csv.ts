/**
 * CSV data sets, one sample per line, every cell a decimal number.
 * Produces x: Float64Array [count, inputs], y: Float64Array [count, outputs], either
 *   - labelColumn given: that column holds a class index 0..K-1, turned one-hot
 *     (outputs = K = `classes`, or max label + 1); all other columns are inputs; or
 *   - else the last `targets` columns (default 1) are y, the others x.
 * A first row with any non-numeric cell is a header. Blank lines are skipped.
 * Rows in messages are 1-based data rows (the header is not a row), with the file line.
 * With neither option given, a file that surely wants a label column is refused
 * (refuseUnsaid), and the data set says which columns it took (`columns`).
 */
import { parse, type Info } from 'csv-parse/sync';
import { DatasetError, makeDataset, type Dataset } from '../dataset.js';
import { MAX_CLASSES, readDataFile } from './file.js';

export interface CsvOptions {
  /** The last `targets` columns are targets (default 1). Ignored with labelColumn. */
  targets?: number;
  /** A class-label column: its header name, or a 0-based column index. */
  labelColumn?: string | number;
  /** Number of classes for the one-hot targets (default: max label + 1). */
  classes?: number;
  /** Every column is an input and there are no targets (data to predict on). */
  inputsOnly?: boolean;
}

interface Row {
  cells: string[];
  line: number;
}

const DECIMAL = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

/** The cell as a finite number, or NaN if it is not one ("NaN", "", "1e999" and "0x10" are not). */
function numberOf(cell: string): number {
  const v = DECIMAL.test(cell) ? Number(cell) : NaN;
  return Number.isFinite(v) ? v : NaN;
}

export function loadCsv(path: string, options: CsvOptions = {}): Dataset {
  const records = readRows(path);
  if (records.length === 0) throw new DatasetError(`${path}: empty file`);
  const header = records[0].cells.some((cell) => Number.isNaN(numberOf(cell))) ? records[0].cells : undefined;
  const rows = header ? records.slice(1) : records;
  if (rows.length === 0) throw new DatasetError(`${path}: no data rows, only a header`);
  const columns = header ? header.length : rows[0].cells.length;

  const unsaid = options.labelColumn === undefined && options.targets === undefined;
  // Parse every cell first, so that a bad number is reported with its row and line.
  const values = new Float64Array(rows.length * columns);
  rows.forEach(({ cells, line }, r) => {
    const where = `row ${r + 1} (line ${line})`;
    if (cells.length !== columns) throw new DatasetError(`${path}: ${where} has ${cells.length} columns, expected ${columns}`);
    for (let c = 0; c < columns; c++) {
      const v = numberOf(cells[c]);
      if (Number.isNaN(v)) {
        const name = header ? ` ("${header[c]}")` : '';
        // words where the target is taken by default are most likely class names
        const hint = unsaid && c === columns - 1 && cells[c] !== '' ? textTargetHint : '';
        throw new DatasetError(`${path}: ${where}, column ${c + 1}${name}: ${JSON.stringify(cells[c])} is not a finite number${hint}`);
      }
      values[r * columns + c] = v;
    }
  });

  if (options.inputsOnly) return makeDataset(path, values, new Float64Array(0), columns, 0);
  if (unsaid) refuseUnsaid(path, header, values, rows.length, columns);
  if (options.labelColumn !== undefined) {
    const label = labelIndex(path, options.labelColumn, header, columns);
    const ds = withLabelColumn(path, rows, values, columns, label, options.classes);
    return { ...ds, columns: { header, count: columns, targets: [label], oneHot: true } };
  }
  const ds = withTargetColumns(path, values, rows.length, columns, options.targets ?? 1);
  const targets = Array.from({ length: ds.outputs }, (_, t) => ds.inputs + t);
  return { ...ds, columns: { header, count: columns, targets, oneHot: false } };
}

const textTargetHint =
  ': the last column is the target by default and targets must be numbers; for classes give --label-column with class indices 0..K-1, or say which columns are targets with --targets N';

/** Header names that say "this column is the class": a file with one, and neither --label-column nor --targets, is surely misread. */
const LABEL_NAMES = new Set(['label', 'labels', 'class', 'classes', 'target', 'targets', 'y']);

/**
 * Without --label-column or --targets every column but the last is an input and the last a
 * number to regress on. A column named like a label (LABEL_NAMES) holding class indices
 * (non-negative integers) then becomes an input or a regression target: refused, saying what to give.
 */
function refuseUnsaid(path: string, header: string[] | undefined, values: Float64Array, count: number, columns: number): void {
  if (!header) return;
  for (let c = 0; c < columns; c++) {
    if (!LABEL_NAMES.has(header[c].trim().toLowerCase())) continue;
    let classIndices = true;
    for (let r = 0; r < count && classIndices; r++) classIndices = Number.isInteger(values[r * columns + c]) && values[r * columns + c] >= 0;
    if (!classIndices) continue;
    const role = c === columns - 1 ? 'the target, regressed on as a number' : 'an input';
    throw new DatasetError(
      `${path}: column ${c + 1} ("${header[c]}") looks like class labels but would be ${role}: give --label-column ${header[c]} to learn its classes, or --targets N to say the last N columns are the targets`,
    );
  }
}


/** The longest row a CSV file may have, in characters (a million columns of 15-digit numbers fit). */
export const MAX_ROW_CHARS = 16 * 2 ** 20;

/** A line longer than MAX_ROW_CHARS bytes, found before the parser spends a minute on it. */
function refuseLongLines(path: string, bytes: Buffer): void {
  let start = 0;
  for (let line = 1; start < bytes.length; line++) {
    const end = bytes.indexOf(10, start);
    const stop = end < 0 ? bytes.length : end;
    if (stop - start > MAX_ROW_CHARS) {
      throw new DatasetError(`${path}: line ${line} is longer than ${MAX_ROW_CHARS / 2 ** 20} MiB: a row that long is no data set's (is this a CSV file, with a newline after each row?)`);
    }
    start = stop + 1;
  }
}

function readRows(path: string): Row[] {
  const bytes = readDataFile(path);
  refuseLongLines(path, bytes);
  const text = bytes.toString('utf8');
  let records: { record: string[]; info: Info }[];
  try {
    // The typings do not model `info: true`, which wraps each record as { record, info }.
    const options = { info: true, bom: true, trim: true, skip_empty_lines: true, relax_column_count: true, max_record_size: MAX_ROW_CHARS };
    records = parse(text, options) as unknown as { record: string[]; info: Info }[];
  } catch (err) {
    const e = err as Error & { code?: string; lines?: number };
    if (e.code === 'CSV_MAX_RECORD_SIZE') {
      throw new DatasetError(`${path}: the row ending at line ${e.lines ?? '?'} is longer than ${MAX_ROW_CHARS / 2 ** 20} MiB: a row that long is no data set's (is this a CSV file?)`);
    }
    throw new DatasetError(`${path}: invalid CSV (${e.message})`);
  }
  return records.map(({ record, info }) => ({ cells: record, line: info.lines }));
}

function labelIndex(path: string, column: string | number, header: string[] | undefined, columns: number): number {
  if (typeof column === 'string') {
    const named = header?.indexOf(column) ?? -1;
    if (named >= 0) return named;
    if (!/^\d+$/.test(column)) {
      const known = header ? `columns: ${header.join(', ')}` : 'the file has no header row';
      throw new DatasetError(`${path}: no label column named "${column}" (${known})`);
    }
    column = Number(column);
  }
  if (!Number.isInteger(column) || column < 0 || column >= columns) {
    throw new DatasetError(`${path}: label column ${column} is out of range (0-based; the file has columns 0..${columns - 1})`);
  }
  if (columns < 2) throw new DatasetError(`${path}: a label column needs at least one more column for the inputs`);
  return column;
}

function withLabelColumn(
  path: string, rows: Row[], values: Float64Array, columns: number, label: number, classes: number | undefined,
): Dataset {
  if (classes !== undefined && !(Number.isInteger(classes) && classes >= 1)) {
    throw new DatasetError(`${path}: classes must be a positive integer, got ${classes}`);
  }
  const count = rows.length;
  let maxLabel = 0;
  for (let r = 0; r < count; r++) {
    const k = values[r * columns + label];
    if (!Number.isInteger(k) || k < 0 || (classes !== undefined && k >= classes)) {
      const expected = classes !== undefined ? `0..${classes - 1}` : 'a non-negative integer';
      throw new DatasetError(`${path}: row ${r + 1} (line ${rows[r].line}): label ${rows[r].cells[label]} is not a class index (expected ${expected})`);
    }
    if (k >= MAX_CLASSES) throw new DatasetError(`${path}: row ${r + 1} (line ${rows[r].line}): label ${k} is too large (at most ${MAX_CLASSES} classes)`);
    maxLabel = Math.max(maxLabel, k);
  }
  const outputs = classes ?? maxLabel + 1;
  const inputs = columns - 1;
  const x = new Float64Array(count * inputs);
  const y = new Float64Array(count * outputs);
  for (let r = 0; r < count; r++) {
    for (let c = 0, i = 0; c < columns; c++) if (c !== label) x[r * inputs + i++] = values[r * columns + c];
    y[r * outputs + values[r * columns + label]] = 1;
  }
  return makeDataset(path, x, y, inputs, outputs);
}

function withTargetColumns(path: string, values: Float64Array, count: number, columns: number, targets: number): Dataset {
  if (!Number.isInteger(targets) || targets < 1) throw new DatasetError(`${path}: targets must be a positive integer, got ${targets}`);
  if (targets >= columns) {
    throw new DatasetError(`${path}: targets=${targets} leaves no input columns (the file has ${columns} columns)`);
  }
  const inputs = columns - targets;
  const x = new Float64Array(count * inputs);
  const y = new Float64Array(count * targets);
  for (let r = 0; r < count; r++) {
    const row = values.subarray(r * columns, (r + 1) * columns);
    x.set(row.subarray(0, inputs), r * inputs);
    y.set(row.subarray(inputs), r * targets);
  }
  return makeDataset(path, x, y, inputs, targets);
}
