/**
 * The data a trained model is measured on or predicts for (eval, predict): its data
 * flags (those given, else those its run record says training used) and the data set
 * loaded with them and checked against the model's layers. Reads files; computes nothing.
 */
import { existsSync } from 'node:fs';
import { basename } from 'node:path';
import { BUILT_IN_SOURCES, DatasetError, loadSource, readRegularFile, shortList, shown, type Dataset, type Model } from '@shardprop/core';
import { UsageError, type TrainOptions } from './options.js';
import { RUN_RECORD_FORMAT, runRecordPath } from './run-record.js';

/** The flags that say how a CSV or IDX source becomes inputs and targets. */
export type DataFlags = Pick<TrainOptions, 'targets' | 'labelColumn' | 'classes'>;

/** What a run record says about the data its model was trained on. */
export interface TrainedOn {
  /** The record's path. */
  record: string;
  /** The training data source (a built-in name or a path). */
  data?: string;
  flags: DataFlags;
}

export interface ModelData {
  /** The data set (its held-out part where the source has one). */
  set: Dataset;
  /** False for a CSV of inputs only (no targets). */
  hasTargets: boolean;
  /** The flags the source was read with. */
  flags: DataFlags;
  /** The model's run record, where one sits beside it and was needed (a file read without data flags). */
  trainedOn?: TrainedOn;
}

/**
 * Loads `data` for the model of `modelPath`. Flags the user gave win; where none was
 * given, those of the model's run record apply. With `inputsOnly`, a CSV with exactly
 * as many columns as the model has inputs is read as inputs only.
 */
export function loadModelData(model: Model, modelPath: string, data: string, given: DataFlags, inputsOnly = false): ModelData {
  const { layers } = model.spec;
  const n0 = layers[0];
  const nL = layers[layers.length - 1];
  const anyGiven = given.targets !== undefined || given.labelColumn !== undefined || given.classes !== undefined;
  // the record matters only for a file read without flags: a damaged one never stops `--data mnist`
  const trainedOn = anyGiven || BUILT_IN_SOURCES.includes(data) ? undefined : readTrainedOn(modelPath);
  if (inputsOnly && !anyGiven && isCsv(data)) {
    const plain = loadSource(data, { inputsOnly: true }).train;
    if (plain.inputs === n0) return { set: plain, hasTargets: false, flags: {}, trainedOn };
  }
  const recalled = !anyGiven && trainedOn !== undefined;
  const flags = recalled ? trainedOn.flags : given;
  let loaded: ReturnType<typeof loadSource>;
  try {
    loaded = loadSource(data, flags);
  } catch (err) {
    // say where flags the user did not type came from
    const named = flagsShown(flags);
    if (recalled && named !== '' && err instanceof DatasetError) throw new DatasetError(`${err.message} (with ${named} from ${trainedOn.record}; give the data flags to override)`);
    throw err;
  }
  const set = loaded.test ?? loaded.train;
  if (set.inputs !== n0 || set.outputs !== nL) {
    const hint = isCsv(data) ? '; for a CSV say which columns are targets with --label-column or --targets, as in training' : '';
    const inputsOnlyHint = inputsOnly && isCsv(data) ? ` (or give only its ${n0} input columns)` : '';
    throw new UsageError(`the model's layers ${shortList(layers)} (${n0} inputs, ${nL} outputs) do not fit ${set.source}: it has ${set.inputs} inputs and ${set.outputs} outputs${hint}${inputsOnlyHint}`);
  }
  return { set, hasTargets: true, flags, trainedOn };
}

/** The run record beside a model, if there is one: its data source and data flags. */
export function readTrainedOn(modelPath: string): TrainedOn | undefined {
  const record = runRecordPath(modelPath);
  if (!existsSync(record)) return undefined;
  const bad = (problem: string): never => {
    throw new UsageError(`${record}: ${problem}; fix or remove it, or give the data flags (--label-column, --targets, --classes) yourself`);
  };
  let doc: unknown;
  try {
    doc = JSON.parse(readRegularFile(record).toString('utf8'));
  } catch (err) {
    bad(`cannot read the model's run record (${(err as Error).message.split('\n')[0]})`);
  }
  const config = (doc as { format?: unknown; config?: unknown } | null)?.config;
  if ((doc as { format?: unknown } | null)?.format !== RUN_RECORD_FORMAT || typeof config !== 'object' || config === null) {
    bad(`not a ${RUN_RECORD_FORMAT} run record`);
  }
  const c = config as Record<string, unknown>;
  const field = <T>(key: string, ok: (v: unknown) => boolean): T | undefined => {
    const v = Object.hasOwn(c, key) ? c[key] : undefined;
    if (v !== undefined && !ok(v)) bad(`config.${key} is ${shown(v)}`);
    return v as T | undefined;
  };
  const count = (v: unknown) => Number.isInteger(v) && (v as number) >= 1;
  return {
    record,
    data: field<string>('data', (v) => typeof v === 'string'),
    flags: {
      targets: field<number>('targets', count),
      labelColumn: field<string | number>('labelColumn', (v) => typeof v === 'string' || (Number.isInteger(v) && (v as number) >= 0)),
      classes: field<number>('classes', count),
    },
  };
}

/** Whether the run record says the model learned class labels (built-in sets, IDX, a CSV label column). */
export function trainedOnClasses(trainedOn: TrainedOn | undefined): boolean {
  if (!trainedOn) return false;
  const { data, flags } = trainedOn;
  if (flags.labelColumn !== undefined || flags.classes !== undefined) return true;
  if (data === undefined) return false;
  return BUILT_IN_SOURCES.includes(data) || !/\.(json|csv)$/i.test(basename(data));
}

function flagsShown(flags: DataFlags): string {
  const shownFlags: string[] = [];
  if (flags.labelColumn !== undefined) shownFlags.push(`--label-column ${flags.labelColumn}`);
  if (flags.targets !== undefined) shownFlags.push(`--targets ${flags.targets}`);
  if (flags.classes !== undefined) shownFlags.push(`--classes ${flags.classes}`);
  return shownFlags.join(' ');
}

function isCsv(data: string): boolean {
  return !BUILT_IN_SOURCES.includes(data) && basename(data).toLowerCase().endsWith('.csv');
}
