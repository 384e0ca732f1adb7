/**
 * The sweep file of `shardprop sweep --config sweep.json`:
 *
 *     { "base": { "data": "mnist", "layers": "784,30,10", "epochs": 1, "workers": 0 },
 *       "grid": { "lr": [0.5, 1, 3], "batch": [10, 50] },
 *       "out": "sweeps/lr",
 *       "parallel": 2 }
 *
 * `base` holds the flags every run shares, `grid` a list of values for each swept
 * flag; the runs are every combination, the last flag of the grid varying fastest.
 * Keys are `shardprop train` flags, checked as in `--config` files (config.ts);
 * relative paths, `out` too, are relative to the sweep file's directory.
 */
import { dirname, resolve } from 'node:path';
import * as v from 'valibot';
import { shown } from '@shardprop/core';
import { flagNameOf, flagValue, normalizeFlags, readJsonObject, type FlagTypes, type FlagValues } from './config.js';
import { UsageError } from '@shardprop/coordinator';

/** Runs in a sweep at most: the grid's combinations are all built (and each run is a directory) before the first runs. */
const MAX_SWEEP_RUNS = 10_000;

/** Runs at once at most (--parallel, "parallel"): each run may start its own local workers. */
export const MAX_PARALLEL = 64;

/** Flags the sweep sets for each run (its own directory), or that a sweep's runs do not take. */
const SWEEP_OWNED_FLAGS = ['out', 'metrics', 'trace', 'checkpoint-dir', 'checkpoint-every', 'resume', 'resume-if-present', 'json', 'dashboard'];

export interface SweepRunFlags {
  /** The run's directory name, e.g. "02_lr=0.5_batch=50". */
  name: string;
  /** The grid point: the swept flags' values. */
  values: FlagValues;
  /** base and the grid point: every flag of the run. */
  flags: FlagValues;
}

export interface SweepFile {
  path: string;
  runs: SweepRunFlags[];
  /** Resolved against the file's directory. */
  out?: string;
  parallel?: number;
}

/** A JSON object (valibot's record alone takes an array too) of `value`s. */
function objectOf<T extends v.GenericSchema>(value: T, message: string) {
  return v.pipe(v.custom<object>((o) => typeof o === 'object' && o !== null && !Array.isArray(o), message), v.record(v.string(), value, message));
}

const PARALLEL = `an integer from 1 to ${MAX_PARALLEL}`;

const FileSchema = v.strictObject(
  {
    base: v.optional(objectOf(v.unknown(), 'an object of flags')),
    grid: v.pipe(
      objectOf(v.pipe(v.array(v.unknown(), 'a list of values'), v.minLength(1, 'a list of at least one value')), 'an object of flags, each with a list of values'),
      v.check((grid) => Object.keys(grid).length > 0, 'an object naming at least one flag'),
    ),
    out: v.optional(v.pipe(v.string('a directory path'), v.minLength(1, 'a directory path'))),
    parallel: v.optional(v.pipe(v.number(PARALLEL), v.integer(PARALLEL), v.minValue(1, PARALLEL), v.maxValue(MAX_PARALLEL, PARALLEL))),
  },
  'one of the sweep file\'s keys: base, grid, out, parallel',
);

/** Reads and checks a sweep file against the training flags; every mistake is a one-line UsageError naming the file and the key. */
export function readSweepFile(path: string, trainFlags: FlagTypes): SweepFile {
  const object = readJsonObject(path, 'sweep file');
  const parsed = v.safeParse(FileSchema, object, { abortEarly: true });
  if (!parsed.success) {
    const issue = parsed.issues[0];
    const keys = (issue.path ?? []).map((p) => String(p.key));
    const got = keys.reduce<unknown>((o, k) => (o as Record<string, unknown> | undefined)?.[k], object);
    if (issue.type === 'strict_object' && issue.expected === 'never') throw new UsageError(`sweep file ${path}: unknown key "${keys[0]}": expected ${issue.message}`);
    if (issue.type === 'strict_object') throw new UsageError(`sweep file ${path}: "${keys[0]}" is missing: give the swept flags as { "grid": { "lr": [0.5, 3] } }`);
    throw new UsageError(`sweep file ${path}: "${keys.join('.') || 'grid'}" must be ${issue.message}, got ${shown(got)}`);
  }
  const file = parsed.output;
  const dir = dirname(resolve(path));
  const flags: FlagTypes = new Map([...trainFlags].filter(([name]) => !SWEEP_OWNED_FLAGS.includes(name)));
  const owned = (key: string): void => {
    const name = flagNameOf(key, trainFlags);
    if (name !== undefined && SWEEP_OWNED_FLAGS.includes(name)) {
      throw new UsageError(`sweep file ${path}: "${key}" cannot be set in a sweep: each run gets its own directory under "out" for its model, metrics and run.json (the sweep owns ${SWEEP_OWNED_FLAGS.join(', ')})`);
    }
  };

  Object.keys(file.base ?? {}).forEach(owned);
  const base = normalizeFlags(file.base ?? {}, flags, `sweep file ${path}: base`, dir, 'train');
  /** Each swept flag's values: as written (for names and tables) and as the run uses them (paths resolved). */
  const grid: { flag: string; values: { written: string | number | boolean; used: string | number | boolean }[] }[] = [];
  for (const [key, values] of Object.entries(file.grid)) {
    owned(key);
    const flag = flagNameOf(key, flags);
    if (flag === undefined) throw new UsageError(`sweep file ${path}: grid: unknown key "${key}": not a flag of shardprop train (see shardprop train --help)`);
    if (Object.hasOwn(base, flag)) throw new UsageError(`sweep file ${path}: "${flag}" is both in base and in grid; give it in one place`);
    if (grid.some((g) => g.flag === flag)) throw new UsageError(`sweep file ${path}: grid: "${flag}" is given twice`);
    grid.push({
      flag,
      values: values.map((value, i) => flagValue(flag, flags.get(flag)!, value, dir, `sweep file ${path}: grid "${flag}" value ${i + 1}`)),
    });
  }

  // counted before any combination is built: a grid of a few long lists is already millions of runs
  const count = grid.reduce((n, g) => n * g.values.length, 1);
  if (count > MAX_SWEEP_RUNS) {
    const sizes = grid.map((g) => `${g.flag} ${g.values.length}`).join(' x ');
    throw new UsageError(`sweep file ${path}: the grid makes ${count} runs (${sizes}); at most ${MAX_SWEEP_RUNS} are allowed: split it into several sweeps`);
  }
  type Point = { values: FlagValues; flags: FlagValues };
  const points = grid.reduce<Point[]>(
    (acc, { flag, values }) => acc.flatMap((p) => values.map(({ written, used }) => ({ values: { ...p.values, [flag]: written }, flags: { ...p.flags, [flag]: used } }))),
    [{ values: {}, flags: { ...base } }],
  );
  const width = String(points.length).length;
  const runs = points.map((p, i) => ({ name: runName(i + 1, width, p.values), values: p.values, flags: p.flags }));
  return { path, runs, out: file.out === undefined ? undefined : resolve(dir, file.out), parallel: file.parallel };
}

/** "02_lr=0.5_batch=50": the index keeps names apart, the values make them readable (only [A-Za-z0-9._=+-]). */
function runName(index: number, width: number, values: FlagValues): string {
  const point = Object.entries(values)
    .map(([flag, value]) => `${flag}=${String(value).replace(/[^A-Za-z0-9.+-]+/g, '-')}`)
    .join('_');
  return `${String(index).padStart(Math.max(2, width), '0')}_${point}`.slice(0, 120);
}
