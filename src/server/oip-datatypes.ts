/**
 * The Open Inference Protocol's tensor datatypes and their ortex tensor types. One table:
 * the element size used for binary data and the array that holds the values come from it.
 */

import type { TensorType, TypedArray } from '../dtypes.js';

/** A datatype name of the Open Inference Protocol (KServe v2 / Triton). */
export type OipDatatype =
  | 'BOOL' | 'UINT8' | 'UINT16' | 'UINT32' | 'UINT64' | 'INT8' | 'INT16' | 'INT32' | 'INT64'
  | 'FP16' | 'BF16' | 'FP32' | 'FP64' | 'BYTES';

type ArrayCtor =
  | Uint8ArrayConstructor | Uint16ArrayConstructor | Uint32ArrayConstructor | BigUint64ArrayConstructor
  | Int8ArrayConstructor | Int16ArrayConstructor | Int32ArrayConstructor | BigInt64ArrayConstructor
  | Float32ArrayConstructor | Float64ArrayConstructor;

export interface OipDatatypeInfo {
  readonly name: OipDatatype;
  readonly type: TensorType;
  /** Bytes per element in binary data; 0 for BYTES (each element is length-prefixed). */
  readonly bytes: number;
  /** The array ortex keeps the values in; null for BYTES (string[]). */
  readonly array: ArrayCtor | null;
}

const TABLE: Record<OipDatatype, Omit<OipDatatypeInfo, 'name'>> = {
  BOOL: { type: 'bool', bytes: 1, array: Uint8Array },
  UINT8: { type: 'uint8', bytes: 1, array: Uint8Array },
  UINT16: { type: 'uint16', bytes: 2, array: Uint16Array },
  UINT32: { type: 'uint32', bytes: 4, array: Uint32Array },
  UINT64: { type: 'uint64', bytes: 8, array: BigUint64Array },
  INT8: { type: 'int8', bytes: 1, array: Int8Array },
  INT16: { type: 'int16', bytes: 2, array: Int16Array },
  INT32: { type: 'int32', bytes: 4, array: Int32Array },
  INT64: { type: 'int64', bytes: 8, array: BigInt64Array },
  FP16: { type: 'float16', bytes: 2, array: Uint16Array },
  BF16: { type: 'bfloat16', bytes: 2, array: Uint16Array },
  FP32: { type: 'float32', bytes: 4, array: Float32Array },
  FP64: { type: 'float64', bytes: 8, array: Float64Array },
  BYTES: { type: 'string', bytes: 0, array: null },
};

const BY_NAME = new Map<string, OipDatatypeInfo>();
const BY_TYPE = new Map<string, OipDatatype>();
for (const [name, info] of Object.entries(TABLE)) {
  BY_NAME.set(name, { name: name as OipDatatype, ...info });
  BY_TYPE.set(info.type, name as OipDatatype);
}

/** Every datatype name, in the order the protocol lists them. */
export const OIP_DATATYPES = [...BY_NAME.keys()] as OipDatatype[];

/** The table entry of a datatype name, or undefined for a name the protocol does not have. */
export function oipDatatype(name: string): OipDatatypeInfo | undefined {
  return BY_NAME.get(name);
}

/**
 * The ortex tensor type of a protocol datatype, or undefined for an unknown name.
 * @example oipToOrtexType('FP32') === 'float32'; oipToOrtexType('BYTES') === 'string'
 */
export function oipToOrtexType(datatype: string): TensorType | undefined {
  return BY_NAME.get(datatype)?.type;
}

/**
 * The protocol datatype of an ortex tensor type, or undefined for the types the protocol
 * cannot carry (complex, float8, 4- and 2-bit types).
 * @example ortexToOipType('bfloat16') === 'BF16'; ortexToOipType('complex64') === undefined
 */
export function ortexToOipType(type: TensorType | string): OipDatatype | undefined {
  return BY_TYPE.get(type);
}

/** Whether `data` is the array a datatype's values are kept in. */
export function isDataOf(info: OipDatatypeInfo, data: unknown): data is TypedArray {
  return info.array !== null && data instanceof info.array;
}
