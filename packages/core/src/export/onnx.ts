/**
 * A model as an ONNX graph (ModelProto, opset 13, IR version 7): per layer a Gemm
 * z^l = a^(l-1) (W^l)ᵀ + b^l and σ, or Softmax after the last Gemm where the loss is
 * cross-entropy, so the graph computes what predict() does. Initializers are the
 * model's own numbers: float32 for a float32 model, double for a float64 one.
 * Field numbers are those of onnx.proto; protobuf.ts writes them.
 */
import type { ActivationName } from '../activations.js';
import type { Model } from '../model.js';
import { MAX_MESSAGE_BYTES, ProtoMessage } from './protobuf.js';
import { littleEndianBytes, tensorName } from './tensor-bytes.js';

/** The operator set the graph imports: Gemm-13, Sigmoid-13, Tanh-13, Relu-13 and Softmax-13 take float and double. */
export const ONNX_OPSET = 13;
/** The IR version of ONNX 1.8, the release that brought opset 13. */
export const ONNX_IR_VERSION = 7;

/** σ as an ONNX operator; a Record, so a new activation does not compile until it has one. */
const ONNX_ACTIVATION: Record<ActivationName, string> = { sigmoid: 'Sigmoid', tanh: 'Tanh', relu: 'Relu' };

/** TensorProto.DataType values. */
const FLOAT = 1;
const DOUBLE = 11;
/** AttributeProto.AttributeType.INT. */
const ATTRIBUTE_INT = 2;

/** The graph's input and output names; the batch dimension is symbolic. */
export const ONNX_INPUT = 'input';
export const ONNX_OUTPUT = 'output';

export interface OnnxOptions {
  /** producer_version: the shardprop version that wrote the file. */
  producerVersion?: string;
}

/** The ModelProto's bytes, as pieces in order (the parameters are views, not copies). */
export function modelToOnnx(model: Model, options: OnnxOptions = {}): Uint8Array[] {
  const { layers, activation, loss, dtype } = model.spec;
  const L = layers.length - 1;
  const elemType = dtype === 'float64' ? DOUBLE : FLOAT;
  const graph = new ProtoMessage();
  let previous = ONNX_INPUT;
  for (let l = 1; l <= L; l++) {
    const z = `z${l}`;
    const a = l === L ? ONNX_OUTPUT : `a${l}`;
    // z^l = a^(l-1) (W^l)ᵀ + b^l, one row per sample: Gemm with transB = 1
    graph.message(1, node('Gemm', [previous, tensorName(l, 'weight'), tensorName(l, 'bias')], z, [['transB', 1]]));
    const softmax = l === L && loss === 'cross-entropy';
    // a^l = σ(z^l); the last layer's a^L = softmax(z^L) row by row (axis 1) under cross-entropy
    graph.message(1, node(softmax ? 'Softmax' : ONNX_ACTIVATION[activation], [z], a, softmax ? [['axis', 1]] : []));
    previous = a;
  }
  graph.string(2, 'shardprop');
  for (let l = 1; l <= L; l++) {
    graph.message(5, tensor(tensorName(l, 'weight'), [layers[l], layers[l - 1]], elemType, littleEndianBytes(model.W[l])));
    graph.message(5, tensor(tensorName(l, 'bias'), [layers[l]], elemType, littleEndianBytes(model.b[l])));
  }
  graph.message(11, valueInfo(ONNX_INPUT, elemType, layers[0]));
  graph.message(12, valueInfo(ONNX_OUTPUT, elemType, layers[L]));

  const onnx = new ProtoMessage()
    .int(1, ONNX_IR_VERSION)
    .string(2, 'shardprop')
    .string(3, options.producerVersion ?? '')
    .message(7, graph)
    .message(8, new ProtoMessage().string(1, '').int(2, ONNX_OPSET));
  const metadata: [string, string][] = [['layers', layers.join(',')], ['activation', activation], ['loss', loss], ['dtype', dtype]];
  for (const [key, value] of metadata) onnx.message(14, new ProtoMessage().string(1, key).string(2, value));
  if (onnx.length > MAX_MESSAGE_BYTES) {
    throw new RangeError(`the model's ONNX file would take ${onnx.length} bytes, more than protobuf's 2 GiB limit; export it as safetensors`);
  }
  return onnx.pieces;
}

/** NodeProto: op_type, inputs, one output and integer attributes. */
function node(opType: string, inputs: string[], output: string, attributes: [string, number][]): ProtoMessage {
  const m = new ProtoMessage();
  for (const input of inputs) m.string(1, input);
  m.string(2, output).string(3, `${opType.toLowerCase()}:${output}`).string(4, opType);
  for (const [name, value] of attributes) m.message(5, new ProtoMessage().string(1, name).int(3, value).int(20, ATTRIBUTE_INT));
  return m;
}

/** TensorProto with its values as raw little-endian bytes. */
function tensor(name: string, dims: number[], elemType: number, raw: Uint8Array): ProtoMessage {
  const m = new ProtoMessage();
  for (const d of dims) m.int(1, d);
  return m.int(2, elemType).string(8, name).bytes(9, raw);
}

/** ValueInfoProto of a [batch, width] tensor: TypeProto.tensor_type with elem_type and shape. */
function valueInfo(name: string, elemType: number, width: number): ProtoMessage {
  const shape = new ProtoMessage()
    .message(1, new ProtoMessage().string(2, 'batch'))
    .message(1, new ProtoMessage().int(1, width));
  const tensorType = new ProtoMessage().int(1, elemType).message(2, shape);
  return new ProtoMessage().string(1, name).message(2, new ProtoMessage().message(1, tensorType));
}
