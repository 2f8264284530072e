/**
 * Tensor element types: names as in onnxruntime-common, plus the types onnxruntime-node
 * lacks (bfloat16, float8, 2/4-bit). `onnx` is the ONNX TensorProto enum the native layer
 * indexes its own table with (native/tensor.cc), so the two must agree.
 */

export type TypedArray =
  | Float32Array | Float64Array | Int8Array | Int16Array | Int32Array | BigInt64Array
  | Uint8Array | Uint16Array | Uint32Array | BigUint64Array;

type TypedArrayCtor =
  | Float32ArrayConstructor | Float64ArrayConstructor | Int8ArrayConstructor | Int16ArrayConstructor
  | Int32ArrayConstructor | BigInt64ArrayConstructor | Uint8ArrayConstructor | Uint16ArrayConstructor
  | Uint32ArrayConstructor | BigUint64ArrayConstructor;

export interface DTypeInfo {
  readonly name: TensorType;
  readonly onnx: number;
  /** Bits per element; 4 or 2 for packed types, 0 for string. */
  readonly bits: number;
  /** The TypedArray that holds the data (null for string). */
  readonly array: TypedArrayCtor | null;
}

export const DTYPES = {
  float32: { onnx: 1, bits: 32, array: Float32Array },
  uint8: { onnx: 2, bits: 8, array: Uint8Array },
  int8: { onnx: 3, bits: 8, array: Int8Array },
  uint16: { onnx: 4, bits: 16, array: Uint16Array },
  int16: { onnx: 5, bits: 16, array: Int16Array },
  int32: { onnx: 6, bits: 32, array: Int32Array },
  int64: { onnx: 7, bits: 64, array: BigInt64Array },
  string: { onnx: 8, bits: 0, array: null },
  bool: { onnx: 9, bits: 8, array: Uint8Array },
  float16: { onnx: 10, bits: 16, array: Uint16Array },
  float64: { onnx: 11, bits: 64, array: Float64Array },
  uint32: { onnx: 12, bits: 32, array: Uint32Array },
  uint64: { onnx: 13, bits: 64, array: BigUint64Array },
  complex64: { onnx: 14, bits: 64, array: Float32Array },
  complex128: { onnx: 15, bits: 128, array: Float64Array },
  bfloat16: { onnx: 16, bits: 16, array: Uint16Array },
  float8e4m3fn: { onnx: 17, bits: 8, array: Uint8Array },
  float8e4m3fnuz: { onnx: 18, bits: 8, array: Uint8Array },
  float8e5m2: { onnx: 19, bits: 8, array: Uint8Array },
  float8e5m2fnuz: { onnx: 20, bits: 8, array: Uint8Array },
  uint4: { onnx: 21, bits: 4, array: Uint8Array },
  int4: { onnx: 22, bits: 4, array: Int8Array },
  float4e2m1: { onnx: 23, bits: 4, array: Uint8Array },
  uint2: { onnx: 24, bits: 2, array: Uint8Array },
  int2: { onnx: 25, bits: 2, array: Int8Array },
  float8e8m0: { onnx: 26, bits: 8, array: Uint8Array },
} as const;

export type TensorType = keyof typeof DTYPES;

/** Maps each type name to the JS type of its `data`. */
export interface TensorDataMap {
  float32: Float32Array; uint8: Uint8Array; int8: Int8Array; uint16: Uint16Array; int16: Int16Array;
  int32: Int32Array; int64: BigInt64Array; string: string[]; bool: Uint8Array; float16: Uint16Array;
  float64: Float64Array; uint32: Uint32Array; uint64: BigUint64Array; complex64: Float32Array;
  complex128: Float64Array; bfloat16: Uint16Array; float8e4m3fn: Uint8Array; float8e4m3fnuz: Uint8Array;
  float8e5m2: Uint8Array; float8e5m2fnuz: Uint8Array; uint4: Uint8Array; int4: Int8Array;
  float4e2m1: Uint8Array; uint2: Uint8Array; int2: Int8Array; float8e8m0: Uint8Array;
}

const BY_NAME = new Map<string, DTypeInfo>();
const BY_ONNX: DTypeInfo[] = [];
for (const [name, d] of Object.entries(DTYPES)) {
  const info: DTypeInfo = { name: name as TensorType, ...d };
  BY_NAME.set(name, info);
  BY_ONNX[d.onnx] = info;
}

export function dtypeByName(name: string): DTypeInfo | undefined {
  return BY_NAME.get(name);
}

export function dtypeByOnnx(onnx: number): DTypeInfo | undefined {
  return BY_ONNX[onnx];
}

export const TENSOR_TYPES = [...BY_NAME.keys()] as TensorType[];

/** Number of `data` elements that `count` tensor elements occupy (packed types share bytes). */
export function dataLength(d: DTypeInfo, count: number): number {
  if (d.bits === 4) return Math.ceil(count / 2);
  if (d.bits === 2) return Math.ceil(count / 4);
  if (d.name === 'complex64' || d.name === 'complex128') return count * 2;
  return count;
}

/** The type a TypedArray implies when no type is given (as onnxruntime-common infers). */
export function inferType(data: unknown): TensorType | undefined {
  if (data instanceof Float32Array) return 'float32';
  if (data instanceof Float64Array) return 'float64';
  if (data instanceof Int8Array) return 'int8';
  if (data instanceof Int16Array) return 'int16';
  if (data instanceof Int32Array) return 'int32';
  if (data instanceof BigInt64Array) return 'int64';
  if (data instanceof Uint8Array) return 'uint8';
  if (data instanceof Uint16Array) return 'uint16';
  if (data instanceof Uint32Array) return 'uint32';
  if (data instanceof BigUint64Array) return 'uint64';
  return undefined;
}
