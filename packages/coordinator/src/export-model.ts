/**
 * exportModel(): a trained model in another framework's format, the API behind
 * `shardprop export`: ONNX (a graph that runs) or safetensors (the weights by
 * layer name). The output path is checked before the model is read; the file is
 * written atomically, so a reader sees the old file or the whole new one.
 */
import { loadModel, modelToOnnx, modelToSafetensors, oneLine, writeFileAtomically } from '@shardprop/core';
import { OutputError, checkReplaceable } from './outputs.js';
import { UsageError } from './options.js';
import { packageVersion } from './run-record.js';

export const EXPORT_FORMATS = ['onnx', 'safetensors'] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

export interface ExportOptions {
  /** A shardprop.model/v1 file. */
  model: string;
  format: ExportFormat;
  /** Where to write the exported file. */
  out: string;
}

export interface ExportResult {
  out: string;
  format: ExportFormat;
  bytes: number;
  /** The dtype of the exported tensors: the model's (float32, or float64 as double). */
  dtype: string;
}

export function exportModel(options: ExportOptions): ExportResult {
  if (!(EXPORT_FORMATS as readonly string[]).includes(options.format)) {
    throw new UsageError(`unknown export format ${JSON.stringify(options.format)}: expected ${EXPORT_FORMATS.join(' or ')}`);
  }
  checkReplaceable('--out', options.out);
  const model = loadModel(options.model);
  let pieces: Uint8Array[];
  try {
    pieces = options.format === 'onnx' ? modelToOnnx(model, { producerVersion: packageVersion() }) : modelToSafetensors(model);
  } catch (err) {
    if (err instanceof RangeError) throw new UsageError(`${options.model}: ${err.message}`);
    throw err;
  }
  try {
    writeFileAtomically(options.out, (put) => pieces.forEach(put));
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new OutputError('--out', `--out ${options.out}: cannot write (${e.code ?? oneLine(e.message)})`);
  }
  return { out: options.out, format: options.format, bytes: pieces.reduce((n, p) => n + p.length, 0), dtype: model.spec.dtype };
}
