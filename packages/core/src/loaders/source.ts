/**
 * One entry point for every data source: a built-in name (mnist, xor, spirals, circles)
 * or a path to a .json, .csv or IDX file. Returns the training set and, for sources
 * that bring one (mnist, spirals, circles), a held-out test set.
 * Also holds what the file loaders share: reading a file with one-line errors.
 */
import { existsSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { DatasetError, type Dataset } from '../dataset.js';
export { MAX_CLASSES, readDataFile } from './file.js';
import { loadCsv } from './csv.js';
import { loadIdx } from './idx.js';
import { loadJson } from './json.js';
import { loadMnist } from './mnist.js';
import { circles, spirals, xor } from './synthetic.js';

export interface SourceOptions {
  /** CSV: the last `targets` columns are targets (default 1). */
  targets?: number;
  /** CSV: a class-label column (header name or 0-based index), turned one-hot. */
  labelColumn?: string | number;
  /** CSV/IDX: number of classes of the one-hot targets. */
  classes?: number;
  /** CSV: every column is an input, no targets (data to predict on). */
  inputsOnly?: boolean;
  /** Seed of the synthetic sets (spirals, circles); default 0. */
  seed?: number;
  /** Seed of mnist's train/test split; default 0. */
  splitSeed?: number;
}

/** Test samples generated for spirals and circles, from a seed of their own. */
const SYNTHETIC_TEST_COUNT = 500;
const IDX_NAME = /\.idx(\.gz)?$|idx\d-ubyte/i;

type Loaded = { train: Dataset; test?: Dataset };

/** The built-in data sets by name: a name here is the built-in, never a path (config.ts keeps it so in config files too). */
const BUILT_IN: Record<string, (options: SourceOptions) => Loaded> = {
  mnist: (o) => loadMnist({ seed: o.splitSeed ?? 0 }),
  xor: () => ({ train: xor() }),
  spirals: (o) => synthetic(spirals, o.seed ?? 0),
  circles: (o) => synthetic(circles, o.seed ?? 0),
};

/**
 * A synthetic set with its test set. The test set's seed is seed + 2^32: a stream no
 * small user seed reaches, so no run's test set is another run's training set.
 */
function synthetic(make: (o: { seed: number; count?: number }) => Dataset, seed: number): Loaded {
  return { train: make({ seed }), test: make({ seed: seed + 0x100000000, count: SYNTHETIC_TEST_COUNT }) };
}

/** mnist, xor, spirals, circles. */
export const BUILT_IN_SOURCES: readonly string[] = Object.keys(BUILT_IN);

export function loadSource(source: string, options: SourceOptions = {}): Loaded {
  if (Object.hasOwn(BUILT_IN, source)) return BUILT_IN[source](options);
  const name = basename(source).toLowerCase();
  if (name.endsWith('.json')) return { train: loadJson(source) };
  if (name.endsWith('.csv')) return { train: loadCsv(source, options) };
  if (!existsSync(source) && source.includes(',')) {
    const [images, labels, ...rest] = source.split(',');
    if (rest.length > 0) throw new DatasetError(`${source}: expected IMAGES,LABELS (two IDX paths)`);
    return { train: loadIdx(images, labels, options) };
  }
  if (IDX_NAME.test(name)) return { train: loadIdx(source, labelsFileOf(source), options) };
  if (existsSync(source)) {
    throw new DatasetError(`${source}: unknown file type: expected a .json, .csv or IDX file (.idx, .idx.gz, *-idx3-ubyte[.gz])`);
  }
  throw new DatasetError(`unknown data source "${source}": expected ${BUILT_IN_SOURCES.join(', ')}, or a path to a .json, .csv or IDX file`);
}

/** The labels file next to an IDX images file: "images" -> "labels", "idx3" -> "idx1", gzipped or not. */
function labelsFileOf(imagesPath: string): string {
  if (!existsSync(imagesPath)) throw new DatasetError(`${imagesPath}: file not found`);
  const name = basename(imagesPath).replace(/images/g, 'labels').replace(/idx3/g, 'idx1');
  const hint = 'name it like the images file with "images" -> "labels" and "idx3" -> "idx1", or pass IMAGES,LABELS';
  if (name === basename(imagesPath)) throw new DatasetError(`${imagesPath}: cannot tell where its labels are: ${hint}`);
  const path = join(dirname(imagesPath), name);
  const other = path.endsWith('.gz') ? path.slice(0, -3) : `${path}.gz`;
  if (existsSync(path)) return path;
  if (existsSync(other)) return other;
  throw new DatasetError(`${imagesPath}: no labels file ${path}: ${hint}`);
}

