/**
 * Initializer data in and out of ONNX TensorProtos.
 *
 * ONNX stores a tensor either in `raw_data` (little-endian bytes) or in a typed repeated
 * field (`float_data`, `int32_data`, ...); readers here accept both and writers always use
 * raw data, which is what ONNX Runtime loads fastest.
 */
import { OrtexError } from '../errors.js';
import { DataType, num, onnx, type Int64, type TensorProto } from './onnx-model.js';

/** Bytes per element of the fixed-size ONNX element types (STRING has none). */
export const ELEMENT_BYTES: Readonly<Record<number, number>> = {
  [DataType.FLOAT]: 4,
  [DataType.UINT8]: 1,
  [DataType.INT8]: 1,
  [DataType.UINT16]: 2,
  [DataType.INT16]: 2,
  [DataType.INT32]: 4,
  [DataType.INT64]: 8,
  [DataType.BOOL]: 1,
  [DataType.FLOAT16]: 2,
  [DataType.DOUBLE]: 8,
  [DataType.UINT32]: 4,
  [DataType.UINT64]: 8,
  [DataType.COMPLEX64]: 8,
  [DataType.COMPLEX128]: 16,
  [DataType.BFLOAT16]: 2,
};

/** The ONNX name of an element type, e.g. 'float', 'int8'. */
export function elementTypeName(t: number): string {
  const name = onnx.TensorProto.DataType[t];
  return typeof name === 'string' ? name.toLowerCase() : `type ${t}`;
}

export function dimsOf(t: TensorProto): number[] {
  return (t.dims ?? []).map((d) => num(d as Int64));
}

export function elementCount(dims: readonly number[]): number {
  return dims.reduce((a, b) => a * b, 1);
}

/** Bytes a tensor's data takes (strings: the sum of their lengths). */
export function tensorBytes(t: TensorProto): number {
  if (t.dataType === DataType.STRING) return (t.stringData ?? []).reduce((a, s) => a + s.length, 0);
  if (t.rawData && t.rawData.length > 0) return t.rawData.length;
  return elementCount(dimsOf(t)) * (ELEMENT_BYTES[t.dataType ?? 0] ?? 0);
}

/** A copy of raw data in its own aligned buffer (protobuf hands out unaligned views of the file). */
function alignedRaw(t: TensorProto): ArrayBuffer {
  const raw = t.rawData!;
  return raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.length) as ArrayBuffer;
}

function hasRaw(t: TensorProto): boolean {
  return t.rawData !== null && t.rawData !== undefined && t.rawData.length > 0;
}

/** A float32 tensor's values. */
export function readFloats(t: TensorProto): Float32Array {
  if (t.dataType !== DataType.FLOAT) {
    throw new OrtexError('ERR_INVALID_ARG', `Tensor ${t.name} is ${elementTypeName(t.dataType ?? 0)}, expected float`);
  }
  if (hasRaw(t)) return new Float32Array(alignedRaw(t));
  return Float32Array.from(t.floatData ?? []);
}

/** An int64 tensor's values as numbers (shapes, axes and indices fit). */
export function readInt64s(t: TensorProto): number[] {
  if (hasRaw(t)) return Array.from(new BigInt64Array(alignedRaw(t)), Number);
  return (t.int64Data ?? []).map((v) => num(v as Int64));
}

function rawTensor(name: string, dataType: number, dims: readonly number[], data: ArrayBufferView): TensorProto {
  return onnx.TensorProto.create({
    name,
    dims: [...dims],
    dataType,
    rawData: new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
  });
}

export const tensors = {
  float: (name: string, dims: readonly number[], data: Float32Array) => rawTensor(name, DataType.FLOAT, dims, data),
  float16: (name: string, dims: readonly number[], bits: Uint16Array) => rawTensor(name, DataType.FLOAT16, dims, bits),
  int8: (name: string, dims: readonly number[], data: Int8Array) => rawTensor(name, DataType.INT8, dims, data),
  uint8: (name: string, dims: readonly number[], data: Uint8Array) => rawTensor(name, DataType.UINT8, dims, data),
  int64: (name: string, dims: readonly number[], values: readonly number[]) =>
    rawTensor(name, DataType.INT64, dims, BigInt64Array.from(values, (v) => BigInt(v))),
};
