/**
 * Loader for the ONNX backend test data shipped by Debian's libonnx-testdata.
 *
 * Each case directory holds `model.onnx` and `test_data_set_N/{input_K.pb, output_K.pb}`.
 * A .pb holds a TensorProto, SequenceProto, MapProto or OptionalProto; which one is
 * decided by the type of the K-th graph input or output, as the ONNX backend runner does.
 *
 * Values come out runtime-neutral (plain typed arrays and tags) so that each runtime
 * adapter converts them into its own Tensor/array/Map form.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import onnxProto from 'onnx-proto';
import type { onnx as Onnx } from 'onnx-proto';

const { onnx } = onnxProto;

/** Where Debian's libonnx-testdata puts the cases. */
export const TESTDATA_ROOT = '/usr/share/libonnx-testdata/data';

/** The suites with data; `real` is left out because Debian ships its models without data. */
export const SUITES = ['node', 'simple', 'pytorch-converted', 'pytorch-operator'] as const;

/** Tensor element type names, spelled as onnxruntime-node spells them (plus bfloat16). */
export type TensorType =
  | 'float32' | 'uint8' | 'int8' | 'uint16' | 'int16' | 'int32' | 'int64' | 'string'
  | 'bool' | 'float16' | 'float64' | 'uint32' | 'uint64' | 'bfloat16';

export type TensorData =
  | Float32Array | Float64Array | Int8Array | Uint8Array | Int16Array | Uint16Array
  | Int32Array | Uint32Array | BigInt64Array | BigUint64Array | string[];

export interface TensorValue {
  readonly kind: 'tensor';
  readonly type: TensorType;
  readonly dims: readonly number[];
  /** float16/bfloat16 as raw bits; bool as 0/1 bytes. */
  readonly data: TensorData;
}

export interface SequenceValue {
  readonly kind: 'sequence';
  readonly elements: readonly Value[];
}

export type MapKey = number | bigint | string;

export interface MapValue {
  readonly kind: 'map';
  readonly keyType: TensorType;
  readonly entries: ReadonlyArray<readonly [MapKey, Value]>;
}

/**
 * A decoded value. An optional that holds a value is that value; an absent optional is `null`.
 */
export type Value = TensorValue | SequenceValue | MapValue | null;

/** The declared type of a graph input or output, from its ValueInfoProto. */
export type ValueType =
  | {
    readonly kind: 'tensor';
    readonly elemType: number;
    /** Declared dims, a number where static; undefined when the rank is not declared. */
    readonly shape: ReadonlyArray<number | null> | undefined;
  }
  | { readonly kind: 'sequence'; readonly elem: ValueType }
  | { readonly kind: 'map'; readonly keyType: number; readonly value: ValueType }
  | { readonly kind: 'optional'; readonly elem: ValueType }
  | { readonly kind: 'sparse-tensor'; readonly elemType: number }
  | { readonly kind: 'unknown' };

export interface GraphValueInfo {
  readonly name: string;
  readonly type: ValueType;
}

export interface ModelSignature {
  /** Graph inputs that are not initializers, in graph order. */
  readonly inputs: readonly GraphValueInfo[];
  readonly outputs: readonly GraphValueInfo[];
  /** Every operator used, main graph and subgraphs, as `domain::OpType` ('' is ai.onnx). */
  readonly ops: ReadonlySet<string>;
  /**
   * The operators whose output is drawn at random: Bernoulli, Multinomial, Random*, and
   * Dropout when it is given a training_mode input.
   */
  readonly randomOps: ReadonlySet<string>;
}

export interface DataSet {
  readonly name: string;
  /** Feeds by input name; inputs without an input_K.pb are absent. */
  readonly inputs: ReadonlyMap<string, Value>;
  /** Expected outputs by output name, in graph order. */
  readonly outputs: ReadonlyMap<string, Value>;
}

export interface ConformanceCase {
  /** `suite/test_name`, e.g. `node/test_abs`. */
  readonly id: string;
  readonly dir: string;
  readonly modelPath: string;
}

export interface LoadedCase extends ConformanceCase {
  readonly signature: ModelSignature;
  readonly dataSets: readonly DataSet[];
}

/** Thrown for data this loader does not turn into a Value (complex numbers, sparse tensors). */
export class UnsupportedDataError extends Error {
  override readonly name = 'UnsupportedDataError';
}

// ONNX TensorProto.DataType numbers.
export const DataType = {
  FLOAT: 1, UINT8: 2, INT8: 3, UINT16: 4, INT16: 5, INT32: 6, INT64: 7, STRING: 8, BOOL: 9,
  FLOAT16: 10, DOUBLE: 11, UINT32: 12, UINT64: 13, COMPLEX64: 14, COMPLEX128: 15, BFLOAT16: 16,
} as const;

const TYPE_NAMES: Readonly<Record<number, TensorType>> = {
  [DataType.FLOAT]: 'float32', [DataType.UINT8]: 'uint8', [DataType.INT8]: 'int8',
  [DataType.UINT16]: 'uint16', [DataType.INT16]: 'int16', [DataType.INT32]: 'int32',
  [DataType.INT64]: 'int64', [DataType.STRING]: 'string', [DataType.BOOL]: 'bool',
  [DataType.FLOAT16]: 'float16', [DataType.DOUBLE]: 'float64', [DataType.UINT32]: 'uint32',
  [DataType.UINT64]: 'uint64', [DataType.BFLOAT16]: 'bfloat16',
};

/** The tensor type name for an ONNX data type number, or throws for complex and unknown types. */
export function tensorTypeName(dataType: number): TensorType {
  const name = TYPE_NAMES[dataType];
  if (name === undefined) throw new UnsupportedDataError(`tensor data type ${dataType} is not supported`);
  return name;
}

/** Lists the cases of every suite, sorted by id. Throws when the test data is not installed. */
export function listCases(root: string = TESTDATA_ROOT): ConformanceCase[] {
  if (!existsSync(root)) {
    throw new Error(
      `ONNX backend test data not found at ${root}.\n` +
        'Install the Debian package: apt-get install -y libonnx-testdata',
    );
  }
  const cases: ConformanceCase[] = [];
  for (const suite of SUITES) {
    const suiteDir = join(root, suite);
    if (!existsSync(suiteDir)) throw new Error(`ONNX backend test suite missing: ${suiteDir}`);
    for (const name of readdirSync(suiteDir).sort()) {
      const dir = join(suiteDir, name);
      const modelPath = join(dir, 'model.onnx');
      if (existsSync(modelPath)) cases.push({ id: `${suite}/${name}`, dir, modelPath });
    }
  }
  return cases;
}

/** Parses the model and every test data set of a case. */
export function loadCase(c: ConformanceCase): LoadedCase {
  const signature = readSignature(readFileSync(c.modelPath));
  const dataSets: DataSet[] = [];
  const setNames = readdirSync(c.dir)
    .filter((n) => n.startsWith('test_data_set_'))
    .sort((a, b) => trailingNumber(a) - trailingNumber(b));
  for (const setName of setNames) {
    const setDir = join(c.dir, setName);
    const files = readdirSync(setDir);
    dataSets.push({
      name: setName,
      inputs: readValues(setDir, files, 'input', signature.inputs),
      outputs: readValues(setDir, files, 'output', signature.outputs),
    });
  }
  return { ...c, signature, dataSets };
}

function trailingNumber(name: string): number {
  const m = /(\d+)(?:\.pb)?$/.exec(name);
  return m === null ? -1 : Number(m[1]);
}

// The K-th file goes with the K-th graph value, as in onnx/backend/test/runner.
function readValues(
  setDir: string,
  files: readonly string[],
  prefix: 'input' | 'output',
  infos: readonly GraphValueInfo[],
): Map<string, Value> {
  const count = files.filter((f) => f.startsWith(`${prefix}_`) && f.endsWith('.pb')).length;
  if (count > infos.length) {
    throw new Error(`${setDir}: ${count} ${prefix} files but the graph declares ${infos.length}`);
  }
  const values = new Map<string, Value>();
  for (let k = 0; k < count; k++) {
    const info = infos[k]!;
    const bytes = readFileSync(join(setDir, `${prefix}_${k}.pb`));
    values.set(info.name, decodeValue(bytes, info.type));
  }
  return values;
}

// ---------------------------------------------------------------------------------------------
// Model signature


/** Reads graph inputs (initializers excluded), outputs and the operators used from model bytes. */
export function readSignature(modelBytes: Uint8Array): ModelSignature {
  const model = onnx.ModelProto.decode(modelBytes);
  const graph = model.graph;
  if (graph === null || graph === undefined) throw new Error('model has no graph');
  const initializers = new Set((graph.initializer ?? []).map((t) => t.name ?? ''));
  const toInfo = (vi: Onnx.IValueInfoProto): GraphValueInfo => ({ name: vi.name ?? '', type: valueType(vi.type) });
  const ops = new Set<string>();
  const randomOps = new Set<string>();
  collectOps(graph, ops, randomOps);
  return {
    inputs: (graph.input ?? []).filter((vi) => !initializers.has(vi.name ?? '')).map(toInfo),
    outputs: (graph.output ?? []).map(toInfo),
    ops,
    randomOps,
  };
}

function valueType(t: Onnx.ITypeProto | null | undefined): ValueType {
  if (t === null || t === undefined) return { kind: 'unknown' };
  if (t.tensorType) {
    const shape = t.tensorType.shape?.dim?.map((d) =>
      // dim_value and dim_param are a oneof; the one not set decodes as null.
      d.dimValue === null || d.dimValue === undefined ? null : Number(toBigInt(d.dimValue, false)));
    return { kind: 'tensor', elemType: t.tensorType.elemType ?? 0, shape };
  }
  if (t.sequenceType) return { kind: 'sequence', elem: valueType(t.sequenceType.elemType) };
  if (t.mapType) {
    return { kind: 'map', keyType: t.mapType.keyType ?? 0, value: valueType(t.mapType.valueType) };
  }
  if (t.optionalType) return { kind: 'optional', elem: valueType(t.optionalType.elemType) };
  if (t.sparseTensorType) return { kind: 'sparse-tensor', elemType: t.sparseTensorType.elemType ?? 0 };
  return { kind: 'unknown' };
}

const RANDOM_OPS = new Set([
  'Bernoulli', 'Multinomial', 'RandomNormal', 'RandomNormalLike', 'RandomUniform', 'RandomUniformLike',
]);

function collectOps(graph: Onnx.IGraphProto, ops: Set<string>, randomOps: Set<string>): void {
  for (const node of graph.node ?? []) {
    const op = node.opType ?? '';
    ops.add(`${node.domain ?? ''}::${op}`);
    const inputs = node.input ?? [];
    if (RANDOM_OPS.has(op) || (op === 'Dropout' && (inputs[2] ?? '') !== '')) randomOps.add(op);
    for (const attr of node.attribute ?? []) {
      if (attr.g) collectOps(attr.g, ops, randomOps);
      for (const g of attr.graphs ?? []) collectOps(g, ops, randomOps);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Values

/** Decodes one .pb according to the declared type of the graph value it belongs to. */
export function decodeValue(bytes: Uint8Array, type: ValueType): Value {
  switch (type.kind) {
    case 'tensor':
      return asDeclared(decodeTensor(bytes), type.elemType);
    case 'sequence':
      return decodeSequence(bytes);
    case 'map':
      return decodeMap(bytes);
    case 'optional':
      return decodeOptional(bytes);
    case 'sparse-tensor':
      throw new UnsupportedDataError('sparse tensor values are not supported');
    case 'unknown':
      // Old models may leave the type out; a TensorProto is the only thing they could hold.
      return decodeTensor(bytes);
  }
}

// numpy has no bfloat16, so the ONNX 1.12 generator wrote bfloat16 values as uint16 tensors of
// the same bits (node/test_cast_BFLOAT16_to_FLOAT and friends); the graph type says what they are.
function asDeclared(t: TensorValue, elemType: number): TensorValue {
  return elemType === DataType.BFLOAT16 && t.type === 'uint16' ? { ...t, type: 'bfloat16' } : t;
}

type Long = { low: number; high: number; unsigned: boolean };
type Int64Field = number | Long;

function toBigInt(v: Int64Field, unsigned: boolean): bigint {
  const big =
    typeof v === 'number' ? BigInt(v) : (BigInt(v.high >>> 0) << 32n) | BigInt(v.low >>> 0);
  return unsigned ? BigInt.asUintN(64, big) : BigInt.asIntN(64, big);
}

const utf8 = new TextDecoder('utf-8');

/** Decodes a serialized TensorProto. */
export function decodeTensor(bytes: Uint8Array): TensorValue {
  const t = onnx.TensorProto.decode(bytes);
  const dataType = t.dataType ?? 0;
  const type = tensorTypeName(dataType);
  if (t.dataLocation === onnx.TensorProto.DataLocation.EXTERNAL) {
    throw new UnsupportedDataError('tensors with external data are not supported');
  }
  const dims = (t.dims ?? []).map((d) => Number(toBigInt(d as Int64Field, false)));
  const count = dims.reduce((a, b) => a * b, 1);
  const data = tensorData(t, type);
  if (data.length !== count) {
    throw new Error(`tensor ${t.name ?? ''}: ${data.length} elements for dims [${dims.join(', ')}]`);
  }
  return { kind: 'tensor', type, dims, data };
}


function tensorData(t: Onnx.ITensorProto, type: TensorType): TensorData {
  const raw = t.rawData;
  if (type === 'string') return (t.stringData ?? []).map((s) => utf8.decode(s));
  if (raw !== null && raw !== undefined && raw.length > 0) return fromRaw(raw, type);
  switch (type) {
    case 'float32':
      return Float32Array.from(t.floatData ?? []);
    case 'float64':
      return Float64Array.from(t.doubleData ?? []);
    case 'int64':
      return BigInt64Array.from((t.int64Data ?? []) as Int64Field[], (v) => toBigInt(v, false));
    case 'uint64':
      return BigUint64Array.from((t.uint64Data ?? []) as Int64Field[], (v) => toBigInt(v, true));
    case 'uint32':
      return Uint32Array.from((t.uint64Data ?? []) as Int64Field[], (v) => Number(toBigInt(v, true)));
    // int32_data carries every narrower type, float16/bfloat16 as their raw bits.
    case 'int32':
      return Int32Array.from(t.int32Data ?? []);
    case 'int16':
      return Int16Array.from(t.int32Data ?? []);
    case 'int8':
      return Int8Array.from(t.int32Data ?? []);
    case 'uint16':
    case 'float16':
    case 'bfloat16':
      return Uint16Array.from(t.int32Data ?? []);
    case 'uint8':
    case 'bool':
      return Uint8Array.from(t.int32Data ?? []);
  }
}

const BYTES_PER_ELEMENT: Readonly<Record<Exclude<TensorType, 'string'>, number>> = {
  float32: 4, uint8: 1, int8: 1, uint16: 2, int16: 2, int32: 4, int64: 8, bool: 1,
  float16: 2, float64: 8, uint32: 4, uint64: 8, bfloat16: 2,
};

// raw_data is little-endian and usually sits at an odd offset inside the .pb buffer, so it
// is copied into a fresh, aligned buffer before being viewed as a typed array. (protobufjs
// hands out a Node Buffer here, whose slice() is a view, hence the Uint8Array constructor.)
function fromRaw(raw: Uint8Array, type: Exclude<TensorType, 'string'>): TensorData {
  const size = BYTES_PER_ELEMENT[type];
  if (raw.length % size !== 0) throw new Error(`raw_data of ${raw.length} bytes for ${type}`);
  const buf = new Uint8Array(raw).buffer;
  const n = raw.length / size;
  switch (type) {
    case 'float32': return new Float32Array(buf, 0, n);
    case 'float64': return new Float64Array(buf, 0, n);
    case 'int8': return new Int8Array(buf, 0, n);
    case 'uint8': case 'bool': return new Uint8Array(buf, 0, n);
    case 'int16': return new Int16Array(buf, 0, n);
    case 'uint16': case 'float16': case 'bfloat16': return new Uint16Array(buf, 0, n);
    case 'int32': return new Int32Array(buf, 0, n);
    case 'uint32': return new Uint32Array(buf, 0, n);
    case 'int64': return new BigInt64Array(buf, 0, n);
    case 'uint64': return new BigUint64Array(buf, 0, n);
  }
}

// onnx-proto is generated from onnx.proto only, so SequenceProto, MapProto and OptionalProto
// (onnx-data.proto) are walked here with a small wire-format reader. Field numbers:
//   SequenceProto: 1 name, 2 elem_type, 3 tensor_values, 4 sparse_tensor_values,
//                  5 sequence_values, 6 map_values, 7 optional_values
//   MapProto:      1 name, 2 key_type, 3 keys (int64), 4 string_keys, 5 values (SequenceProto)
//   OptionalProto: 1 name, 2 elem_type, 3 tensor_value, 4 sparse_tensor_value,
//                  5 sequence_value, 6 map_value, 7 optional_value

interface WireField {
  readonly field: number;
  readonly wireType: number;
  /** Varint value (wire type 0). */
  readonly varint: bigint;
  /** Payload (wire type 2). */
  readonly bytes: Uint8Array;
}

function readVarint(buf: Uint8Array, pos: { at: number }): bigint {
  let result = 0n;
  let shift = 0n;
  for (;;) {
    if (pos.at >= buf.length) throw new Error('truncated varint');
    const b = buf[pos.at++]!;
    result |= BigInt(b & 0x7f) << shift;
    if ((b & 0x80) === 0) return result;
    shift += 7n;
  }
}

function wireFields(buf: Uint8Array): WireField[] {
  const fields: WireField[] = [];
  const pos = { at: 0 };
  const empty = new Uint8Array(0);
  while (pos.at < buf.length) {
    const key = Number(readVarint(buf, pos));
    const field = key >>> 3;
    const wireType = key & 7;
    switch (wireType) {
      case 0:
        fields.push({ field, wireType, varint: readVarint(buf, pos), bytes: empty });
        break;
      case 1:
        pos.at += 8;
        break;
      case 2: {
        const len = Number(readVarint(buf, pos));
        fields.push({ field, wireType, varint: 0n, bytes: buf.subarray(pos.at, pos.at + len) });
        pos.at += len;
        break;
      }
      case 5:
        pos.at += 4;
        break;
      default:
        throw new Error(`unsupported protobuf wire type ${wireType}`);
    }
  }
  return fields;
}

function decodeSequence(bytes: Uint8Array): SequenceValue {
  const elements: Value[] = [];
  for (const f of wireFields(bytes)) {
    if (f.field === 3) elements.push(decodeTensor(f.bytes));
    else if (f.field === 4) throw new UnsupportedDataError('sequences of sparse tensors are not supported');
    else if (f.field === 5) elements.push(decodeSequence(f.bytes));
    else if (f.field === 6) elements.push(decodeMap(f.bytes));
    else if (f.field === 7) elements.push(decodeOptional(f.bytes));
  }
  return { kind: 'sequence', elements };
}

function decodeMap(bytes: Uint8Array): MapValue {
  let keyType = 0;
  const intKeys: bigint[] = [];
  const stringKeys: string[] = [];
  let values: SequenceValue = { kind: 'sequence', elements: [] };
  for (const f of wireFields(bytes)) {
    if (f.field === 2) keyType = Number(f.varint);
    else if (f.field === 3 && f.wireType === 0) intKeys.push(BigInt.asIntN(64, f.varint));
    else if (f.field === 3) {
      // packed repeated int64
      const pos = { at: 0 };
      while (pos.at < f.bytes.length) intKeys.push(BigInt.asIntN(64, readVarint(f.bytes, pos)));
    } else if (f.field === 4) stringKeys.push(utf8.decode(f.bytes));
    else if (f.field === 5) values = decodeSequence(f.bytes);
  }
  const type = tensorTypeName(keyType);
  const keys: MapKey[] =
    type === 'string' ? stringKeys
      : type === 'int64' || type === 'uint64' ? intKeys
        : intKeys.map((k) => Number(k));
  if (keys.length !== values.elements.length) {
    throw new Error(`map with ${keys.length} keys and ${values.elements.length} values`);
  }
  return { kind: 'map', keyType: type, entries: keys.map((k, i) => [k, values.elements[i]!] as const) };
}

function decodeOptional(bytes: Uint8Array): Value {
  let value: Value = null;
  for (const f of wireFields(bytes)) {
    if (f.field === 3) value = decodeTensor(f.bytes);
    else if (f.field === 4) throw new UnsupportedDataError('optional sparse tensors are not supported');
    else if (f.field === 5) value = decodeSequence(f.bytes);
    else if (f.field === 6) value = decodeMap(f.bytes);
    else if (f.field === 7) value = decodeOptional(f.bytes);
  }
  return value;
}

export interface ShapeConflict {
  readonly input: string;
  readonly description: string;
}

/**
 * Inputs whose test data contradicts the static shape the model declares for them, e.g. the
 * ONNX 1.12 castlike bfloat16 cases feed `like` as [1] to a model that declares [3, 4].
 * ONNX Runtime refuses such feeds, whichever binding makes them.
 */
export function shapeConflicts(c: LoadedCase): ShapeConflict[] {
  const conflicts: ShapeConflict[] = [];
  for (const set of c.dataSets) {
    for (const info of c.signature.inputs) {
      const value = set.inputs.get(info.name);
      if (info.type.kind !== 'tensor' || info.type.shape === undefined) continue;
      if (value === undefined || value === null || value.kind !== 'tensor') continue;
      const declared = info.type.shape;
      const fits = declared.length === value.dims.length &&
        declared.every((d, i) => d === null || d === value.dims[i]);
      if (!fits) {
        const show = declared.map((d) => (d === null ? '?' : String(d))).join(', ');
        conflicts.push({
          input: info.name,
          description: `${set.name}: input '${info.name}' holds [${value.dims.join(', ')}], the model declares [${show}]`,
        });
      }
    }
  }
  return conflicts;
}

/** Tags describing the value kinds a case declares, for picking out bfloat16/sequence/map/optional cases. */
export function valueFeatures(signature: ModelSignature): Set<string> {
  const features = new Set<string>();
  const visit = (t: ValueType): void => {
    switch (t.kind) {
      case 'tensor':
        if (t.elemType === DataType.BFLOAT16) features.add('bfloat16');
        if (t.elemType === DataType.FLOAT16) features.add('float16');
        if (t.elemType === DataType.STRING) features.add('string');
        return;
      case 'sequence':
        features.add('sequence');
        return visit(t.elem);
      case 'map':
        features.add('map');
        return visit(t.value);
      case 'optional':
        features.add('optional');
        return visit(t.elem);
      case 'sparse-tensor':
        features.add('sparse-tensor');
        return;
      case 'unknown':
        return;
    }
  };
  for (const v of [...signature.inputs, ...signature.outputs]) visit(v.type);
  return features;
}
