/**
 * ONNX values as users see them (Tensor, sequence = array, map = Map, absent optional =
 * null) and their wire encoding for the native layer (native/value_convert.h).
 */

import { type DTypeInfo, dtypeByName, dtypeByOnnx } from './dtypes.js';
import { OrtexError } from './errors.js';
import type { EncodedTensor, EncodedValue } from './native.js';
import { Tensor, type TensorData } from './tensor.js';
import { isObject } from './validate.js';

export type MapKey = string | number | bigint;
export type OnnxValue = Tensor | OnnxValue[] | Map<MapKey, number | bigint | string> | null;

/** The minimal shape of a tensor feed: ortex and onnxruntime-common Tensors, or plain objects. */
export interface TensorLike {
  readonly type: string;
  readonly data: unknown;
  readonly dims: readonly number[];
}

export const isTensorLike = (v: unknown): v is TensorLike =>
  isObject(v) && typeof v.type === 'string' && 'data' in v && Array.isArray(v.dims);

/** Decodes native output. Tensors wrap the native buffer without a copy. */
export function decodeValue(v: EncodedValue): OnnxValue {
  if (v === null) return null;
  if (Array.isArray(v)) return Tensor.fromNative(dtypeByOnnx(v[0])!.name, v[1] as TensorData, v[2]);
  if ('sequence' in v) return v.sequence.map(decodeValue);
  const keys = decodeValue(v.keys) as Tensor;
  const values = decodeValue(v.values) as Tensor;
  const map = new Map<MapKey, number | bigint | string>();
  const k = keys.data as ArrayLike<MapKey>;
  const x = values.data as ArrayLike<number | bigint | string>;
  for (let i = 0; i < k.length; i++) map.set(k[i]!, x[i]!);
  return map;
}

/** Parses the element type out of an ONNX type description such as "map(int64,tensor(float))". */
const ONNX_TO_NAME: Record<string, string> = { float: 'float32', double: 'float64' };
export function elementTypeOf(description: string): DTypeInfo | undefined {
  const m = /tensor\((\w+)\)/.exec(description);
  if (!m) return undefined;
  return dtypeByName(ONNX_TO_NAME[m[1]!] ?? m[1]!);
}

function keysTensor(keyType: string, keys: MapKey[]): EncodedTensor {
  const d = dtypeByName(ONNX_TO_NAME[keyType] ?? keyType);
  if (!d) throw new OrtexError('ERR_INPUT_TYPE', `Unsupported map key type ${keyType}`);
  return valuesTensor(d, keys);
}

function valuesTensor(d: DTypeInfo, values: unknown[]): EncodedTensor {
  if (d.name === 'string') return [d.onnx, values.map(String), [values.length]];
  const data = (d.name === 'int64' || d.name === 'uint64')
    ? (d.array as BigInt64ArrayConstructor).from(values, (v) => BigInt(v as number))
    : (d.array as Float64ArrayConstructor).from(values, (v) => Number(v));
  return [d.onnx, data, [values.length]];
}

/**
 * Encodes a composite (non-tensor) value against its ONNX type description. Only the
 * structure is checked here; ONNX Runtime checks element types and says which it wanted.
 */
export function encodeComposite(value: unknown, description: string, what: string): EncodedValue {
  if (value === null || value === undefined) {
    if (description.startsWith('optional(')) return null;
    throw new OrtexError('ERR_INPUT_TYPE', `Expected a ${description} value for ${what} but received ${value}`);
  }
  if (description.startsWith('optional(')) return encodeComposite(value, description.slice(9, -1), what);
  if (description.startsWith('seq(')) {
    if (!Array.isArray(value)) throw new OrtexError('ERR_INPUT_TYPE', `Expected an array (a ${description}) for ${what}`);
    const inner = description.slice(4, -1);
    // An empty sequence carries its element type: ORT builds it from that alone.
    if (value.length === 0) return { sequence: [], elemType: elementTypeOf(inner)?.onnx };
    return { sequence: value.map((x, i) => encodeComposite(x, inner, `${what}[${i}]`)) };
  }
  if (description.startsWith('map(')) {
    if (!(value instanceof Map)) throw new OrtexError('ERR_INPUT_TYPE', `Expected a Map (a ${description}) for ${what}`);
    const keyType = description.slice(4, description.indexOf(','));
    const valueType = elementTypeOf(description.slice(description.indexOf(',') + 1));
    if (!valueType) throw new OrtexError('ERR_INPUT_TYPE', `Unsupported map value type in ${description} for ${what}`);
    return { keys: keysTensor(keyType, [...value.keys()]), values: valuesTensor(valueType, [...value.values()]) };
  }
  if (!isTensorLike(value)) throw new OrtexError('ERR_INPUT_TYPE', `Expected a tensor (${description}) for ${what}`);
  const d = dtypeByName(value.type);
  if (!d) throw new OrtexError('ERR_INPUT_TYPE', `Unknown tensor type '${value.type}' for ${what}`);
  return [d.onnx, value.data as EncodedTensor[1], value.dims as number[]];
}
