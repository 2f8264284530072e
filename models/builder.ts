/**
 * A small helper for writing ONNX graphs by hand on top of onnx-proto.
 *
 * Each model family calls `node()` in data-flow order and gets back the
 * names of the new values, so a model reads like the forward pass it
 * describes. Everything the builder emits is in insertion order, which
 * protobufjs encodes field by field, so the same calls give the same bytes.
 */
import onnxProto from 'onnx-proto';
import type { onnx as Onnx } from 'onnx-proto';
import { Prng, glorotLimit, seedFor } from './prng.js';

// onnx-proto is CommonJS with a single `module.exports`; Node's ESM loader
// only exposes it as the default export.
export const { onnx } = onnxProto;
export type TypeProto = Onnx.ITypeProto;
export type Attribute = Onnx.IAttributeProto;

/** ONNX TensorProto.DataType values by name. */
export const DataType = onnx.TensorProto.DataType;

/** IR version 8 is what onnx-proto 8 (ONNX 1.10) describes; ORT 1.30 reads it. */
export const IR_VERSION = 8;
/** Opset 17: the first with LayerNormalization, and loaded by ORT 1.30. */
export const OPSET = 17;

/** A dimension: a fixed size, or a symbolic name such as "N" for a dynamic batch. */
export type Dim = number | string;

/** A tensor type; leaving out `dims` leaves the rank unknown too. */
export function tensorType(elemType: number, dims?: readonly Dim[]): TypeProto {
  if (dims === undefined) return { tensorType: { elemType } };
  return {
    tensorType: {
      elemType,
      shape: {
        dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })),
      },
    },
  };
}

export function sequenceType(elem: TypeProto): TypeProto {
  return { sequenceType: { elemType: elem } };
}

export function optionalType(elem: TypeProto): TypeProto {
  return { optionalType: { elemType: elem } };
}

export function mapType(keyType: number, valueType: TypeProto): TypeProto {
  return { mapType: { keyType, valueType } };
}

// Attribute constructors. The ONNX attribute type cannot be inferred from a
// JavaScript number (1.0 and 1 are the same value), so callers say which.
type AttrValue = Omit<Attribute, 'name'>;
export const attr = {
  int: (i: number): AttrValue => ({ type: onnx.AttributeProto.AttributeType.INT, i }),
  ints: (ints: number[]): AttrValue => ({ type: onnx.AttributeProto.AttributeType.INTS, ints }),
  float: (f: number): AttrValue => ({ type: onnx.AttributeProto.AttributeType.FLOAT, f }),
};

export interface Opset {
  domain: string;
  version: number;
}

export class GraphBuilder {
  private readonly inputs: Onnx.IValueInfoProto[] = [];
  private readonly outputs: Onnx.IValueInfoProto[] = [];
  private readonly initializers: Onnx.ITensorProto[] = [];
  private readonly nodes: Onnx.INodeProto[] = [];
  private readonly counters = new Map<string, number>();

  /** `name` names the graph and seeds every random weight in it. */
  constructor(readonly name: string) {}

  input(name: string, type: TypeProto): string {
    this.inputs.push({ name, type });
    return name;
  }

  output(name: string, type: TypeProto): string {
    this.outputs.push({ name, type });
    return name;
  }

  /**
   * Adds a node and returns its output names. Unnamed outputs get a
   * fresh name from the op type, e.g. `matmul_3`.
   */
  node(
    opType: string,
    inputs: readonly string[],
    opts: { outputs?: readonly string[]; count?: number; attrs?: Record<string, AttrValue>; domain?: string; name?: string } = {},
  ): string[] {
    const outputs = opts.outputs
      ? [...opts.outputs]
      : Array.from({ length: opts.count ?? 1 }, () => this.fresh(opType.toLowerCase()));
    const attribute = Object.entries(opts.attrs ?? {}).map(([name, a]) => ({ name, ...a }));
    this.nodes.push({
      name: opts.name ?? this.fresh(`${opType}_node`),
      opType,
      domain: opts.domain ?? '',
      input: [...inputs],
      output: outputs,
      attribute,
    });
    return outputs;
  }

  /** Adds a one-output node and returns its output name. */
  op(opType: string, inputs: readonly string[], attrs?: Record<string, AttrValue>): string {
    return this.node(opType, inputs, { attrs })[0]!;
  }

  /** A float32 initializer from explicit values. */
  floats(name: string, dims: readonly number[], values: Float32Array): string {
    const raw = new Uint8Array(values.length * 4);
    const view = new DataView(raw.buffer);
    // ONNX raw_data is little-endian whatever the host; DataView says so explicitly.
    for (let k = 0; k < values.length; k++) view.setFloat32(k * 4, values[k]!, true);
    this.initializers.push({ name, dims: [...dims], dataType: DataType.FLOAT, rawData: raw });
    return name;
  }

  /** A float32 weight drawn from the Glorot range for its fan-in and fan-out. */
  weight(name: string, dims: readonly number[], fanIn: number, fanOut: number): string {
    return this.uniform(name, dims, glorotLimit(fanIn, fanOut));
  }

  /** A float32 tensor drawn uniformly from [-limit, limit), seeded by graph and tensor name. */
  uniform(name: string, dims: readonly number[], limit: number): string {
    const count = dims.reduce((a, b) => a * b, 1);
    const prng = new Prng(seedFor(`${this.name}/${name}`));
    return this.floats(name, dims, prng.uniform(count, limit));
  }

  /** A float32 tensor filled with one value (biases, LayerNorm scales). */
  filled(name: string, dims: readonly number[], value: number): string {
    const count = dims.reduce((a, b) => a * b, 1);
    return this.floats(name, dims, new Float32Array(count).fill(value));
  }

  /** An int64 initializer; `dims` of [] makes a scalar. */
  int64s(name: string, dims: readonly number[], values: readonly number[]): string {
    const raw = new Uint8Array(values.length * 8);
    const view = new DataView(raw.buffer);
    for (let k = 0; k < values.length; k++) view.setBigInt64(k * 8, BigInt(values[k]!), true);
    this.initializers.push({ name, dims: [...dims], dataType: DataType.INT64, rawData: raw });
    return name;
  }

  /** Encodes the model. `extraOpsets` adds domains such as ai.onnx.ml. */
  encode(extraOpsets: readonly Opset[] = []): Uint8Array {
    const model = onnx.ModelProto.create({
      irVersion: IR_VERSION,
      producerName: 'ortex-models',
      producerVersion: '1',
      opsetImport: [{ domain: '', version: OPSET }, ...extraOpsets],
      graph: {
        name: this.name,
        node: this.nodes,
        initializer: this.initializers,
        input: this.inputs,
        output: this.outputs,
      },
    });
    return onnx.ModelProto.encode(model).finish();
  }

  private fresh(prefix: string): string {
    const n = this.counters.get(prefix) ?? 0;
    this.counters.set(prefix, n + 1);
    return `${prefix}_${n}`;
  }
}
