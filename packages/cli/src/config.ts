/**
 * `--config FILE`: a JSON object whose keys are a command's flags. The keys, their
 * types and their choices come from the command's yargs option definitions, so a
 * flag added to the command is accepted in the file with no code here. Flags given
 * on the command line win over the file (also flags with a default, such as
 * --json); relative paths in the file are relative to the file's directory.
 */
import { existsSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import * as v from 'valibot';
import type { Argv } from 'yargs';
import { BUILT_IN_SOURCES, shown } from '@shardprop/core';
import { readInputFile } from './input-file.js';
import { UsageError } from '@shardprop/coordinator';

/** What a flag accepts, as its yargs definition says. */
export interface FlagType {
  type: 'string' | 'number' | 'boolean' | 'any';
  choices?: readonly unknown[];
}

/** A command's flags by name (kebab-case, as written on the command line). */
export type FlagTypes = Map<string, FlagType>;

/** Flag values as yargs would parse them: keyed by flag name. */
export type FlagValues = Record<string, string | number | boolean>;

/** Flags whose value is a file or directory. A new flag that takes a path belongs here. */
const PATH_FLAGS = new Set(['init', 'out', 'metrics', 'trace', 'checkpoint-dir', 'token-file', 'tls-cert', 'tls-key', 'ca']);
/** Flags naming a data source: a built-in name (mnist, xor, ...), a path, or IMAGES,LABELS. */
const SOURCE_FLAGS = new Set(['data', 'test-data']);
/** yargs' own flags, and --config itself: not settable from a file. */
const NOT_IN_FILES = new Set(['help', 'version', 'config']);

interface YargsOptions {
  key: Record<string, unknown>;
  string: string[];
  number: string[];
  boolean: string[];
  choices: Record<string, unknown[]>;
}

/** The flags a yargs command defines, with their types and choices. */
export function flagTypesOf(y: Argv<unknown>): FlagTypes {
  const o = (y as unknown as { getOptions(): YargsOptions }).getOptions();
  const flags: FlagTypes = new Map();
  for (const key of Object.keys(o.key)) {
    if (NOT_IN_FILES.has(key)) continue;
    const type = o.number.includes(key) ? 'number' : o.boolean.includes(key) ? 'boolean' : o.string.includes(key) ? 'string' : 'any';
    flags.set(key, { type, choices: o.choices[key] });
  }
  return flags;
}

/**
 * The valibot schema of one flag's value in a file. String flags also take a number
 * (`"batch": 10`) and a list, joined with commas (`"layers": [784, 30, 10]`).
 */
function flagSchema(flag: FlagType) {
  if (flag.choices !== undefined) {
    return v.picklist(flag.choices as (string | number)[], `one of ${flag.choices.join(', ')}`);
  }
  switch (flag.type) {
    case 'number':
      return v.number('a number');
    case 'boolean':
      return v.boolean('true or false');
    case 'string': {
      const scalar = v.union([v.string(), v.number()]);
      return v.pipe(
        v.union([scalar, v.array(scalar)], 'a string, a number or a list of them'),
        v.transform((value): string => (Array.isArray(value) ? value.join(',') : String(value))),
      );
    }
    default:
      return v.union([v.string(), v.number(), v.boolean()], 'a string, a number, true or false');
  }
}

/** "gradientForm" -> "gradient-form": config files may use either spelling. */
function kebab(key: string): string {
  return key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

function camel(key: string): string {
  return key.replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}


/** The flag a key names (kebab-case or camelCase), or undefined. */
export function flagNameOf(key: string, flags: FlagTypes): string | undefined {
  if (flags.has(key)) return key;
  const name = kebab(key);
  return name !== key && flags.has(name) ? name : undefined;
}

/**
 * Checks an object of flag values against the flags and returns it keyed by flag
 * name, lists joined and relative paths resolved against `dir` (flagValue). `where`
 * starts every error message, e.g. "--config run.json".
 */
export function normalizeFlags(object: Record<string, unknown>, flags: FlagTypes, where: string, dir: string, command: string): FlagValues {
  const byName: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(object)) {
    const name = flagNameOf(key, flags);
    if (name === undefined) throw new UsageError(`${where}: unknown key "${key}": not a flag of shardprop ${command} (see shardprop ${command} --help)`);
    if (Object.hasOwn(byName, name)) throw new UsageError(`${where}: "${name}" is given twice (as ${name} and ${camel(name)})`);
    byName[name] = value;
  }
  const values: FlagValues = {};
  for (const [name, value] of Object.entries(byName)) values[name] = flagValue(name, flags.get(name)!, value, dir, `${where}: "${name}"`).used;
  return values;
}

/**
 * One flag's value as a file gives it, checked by flagSchema: as `written` (lists
 * joined) and as `used` (a relative path resolved against `dir`). A value that does
 * not fit is a UsageError: "`where` must be ..., got ...".
 */
export function flagValue(flag: string, type: FlagType, value: unknown, dir: string, where: string): { written: string | number | boolean; used: string | number | boolean } {
  const parsed = v.safeParse(flagSchema(type), value);
  if (!parsed.success) throw new UsageError(`${where} must be ${parsed.issues[0].message}, got ${shown(value)}`);
  const written = parsed.output as string | number | boolean;
  return { written, used: typeof written === 'string' ? resolvePath(flag, written, dir) : written };
}

/**
 * A path flag's value resolved against the config file's directory. Data sources
 * are resolved part by part (IMAGES,LABELS) when they look like a path (a slash or
 * a dot in them) or name a file there; a bare word is a built-in source (mnist).
 * A built-in name is never a path, even when a file of that name sits next to the
 * config file: the same value means the same data set here as on the command line
 * (write "./mnist" for the file).
 */
function resolvePath(flag: string, value: string, dir: string): string {
  if (PATH_FLAGS.has(flag)) return isAbsolute(value) ? value : resolve(dir, value);
  if (!SOURCE_FLAGS.has(flag) || BUILT_IN_SOURCES.includes(value)) return value;
  return value
    .split(',')
    .map((part) => {
      if (isAbsolute(part) || !(/[./\\]/.test(part) || existsIn(dir, part))) return part;
      return resolve(dir, part);
    })
    .join(',');
}

function existsIn(dir: string, name: string): boolean {
  return existsSync(resolve(dir, name));
}

/** A JSON file holding an object, or a one-line UsageError naming the file. */
export function readJsonObject(path: string, what: string): Record<string, unknown> {
  const text = readInputFile(path, what).toString('utf8');
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new UsageError(`${what} ${path}: not valid JSON (${(err as Error).message.split('\n')[0]})`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new UsageError(`${what} ${path}: expected a JSON object of flags, e.g. { "data": "mnist", "lr": 3 }; got ${Array.isArray(value) ? 'an array' : shown(value)}`);
  }
  return value as Record<string, unknown>;
}

/** The flags in a config file, checked against the command's flags, paths resolved against the file's directory. */
function readConfigFile(path: string, flags: FlagTypes, command: string): FlagValues {
  const where = `--config ${path}`;
  return normalizeFlags(readJsonObject(path, '--config'), flags, where, dirname(resolve(path)), command);
}

/**
 * Adds `--config FILE` to a command: a middleware run before validation (so a
 * required flag may come from the file) sets every flag of the file that the
 * command line did not give. yargs' own `.config()` is not used: it lets unknown
 * keys through to a generic "Unknown argument", does not check types, and knows
 * nothing of paths relative to the file.
 */
export function withConfigFile<T>(y: Argv<T>) {
  return y
    .option('config', { type: 'string', describe: 'a JSON file of flags, e.g. { "data": "mnist", "lr": 3 }; flags on the command line win' })
    .middleware((argv: Record<string, unknown>, parser?: unknown) => {
      if (argv.config === undefined) return;
      if (Array.isArray(argv.config)) throw new UsageError('--config was given more than once');
      const instance = (parser ?? y) as Argv<unknown> & { parsed?: { defaulted?: Record<string, boolean> } };
      const defaulted = instance.parsed && instance.parsed.defaulted ? instance.parsed.defaulted : {};
      const command = String((argv._ as unknown[] | undefined)?.[0] ?? 'train');
      const values = readConfigFile(String(argv.config), flagTypesOf(instance), command);
      for (const [name, value] of Object.entries(values)) {
        const onCommandLine = Object.hasOwn(argv, name) && !defaulted[name];
        if (onCommandLine) continue;
        argv[name] = value;
        argv[camel(name)] = value;
      }
    }, true);
}
