/** `shardprop export`: a trained model as ONNX or safetensors, through exportModel(). */
import type { CommandModule } from 'yargs';
import { EXPORT_FORMATS, exportModel, type ExportFormat } from '@shardprop/coordinator';
import { bytesShown } from '@shardprop/core';
import { str } from '../flags.js';

export const exportCommand: CommandModule = {
  command: 'export',
  describe: 'write a model as ONNX (a graph: Gemm and activations) or safetensors (weights and biases by layer)',
  builder: (y) =>
    y
      .option('model', { type: 'string', demandOption: true, describe: 'a shardprop.model/v1 file' })
      .option('format', { type: 'string', choices: EXPORT_FORMATS, demandOption: true, describe: 'onnx or safetensors' })
      .option('out', { alias: 'o', type: 'string', demandOption: true, describe: 'the file to write, e.g. model.onnx' })
      .example('$0 export --model model.json --format onnx -o model.onnx', 'an ONNX graph, for onnxruntime and other runtimes')
      .example('$0 export --model model.json --format safetensors -o model.safetensors', 'the weights and biases by layer name'),
  async handler(args) {
    const r = exportModel({ model: str(args, 'model') as string, format: str(args, 'format') as ExportFormat, out: str(args, 'out') as string });
    process.stdout.write(`${r.format} (${r.dtype}) written to ${r.out}, ${bytesShown(r.bytes)}\n`);
  },
};
