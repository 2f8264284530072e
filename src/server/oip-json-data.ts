/**
 * Tensor values in the JSON form of the Open Inference Protocol: reading `data` (flat or
 * nested arrays, row-major) into the array ortex keeps the values in, and writing an array
 * back as JSON text.
 *
 * JSON numbers are doubles in JavaScript, so INT64/UINT64 values beyond ±(2^53 − 1) are
 * refused as numbers (they would arrive rounded) and accepted as decimal strings; the writer
 * emits such values as strings. NaN and ±Infinity, which JSON numbers cannot express, are
 * the strings "NaN", "Infinity" and "-Infinity" both ways (as in protobuf's JSON mapping).
 */

import { Buffer } from 'node:buffer';
import type { TypedArray } from '../dtypes.js';
import { type ErrorCode, OrtexTypeError } from '../errors.js';
import { invalidRange, invalidType } from '../validate.js';
import { bfloat16BitsToNumber, float16BitsToNumber, numberToBfloat16Bits, numberToFloat16Bits } from './float-bits.js';
import type { OipDatatype, OipDatatypeInfo } from './oip-datatypes.js';
import type { OipEncodableData, OipTensorData } from './oip-types.js';

const CODE: ErrorCode = 'ERR_REQUEST_INVALID';
/** Deeper nesting than any tensor rank ortex accepts is refused rather than recursed into. */
const MAX_DEPTH = 64;
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const UINT64_MAX = 2n ** 64n - 1n;
const DECIMAL = /^-?\d{1,20}$/;

type Convert = (v: unknown, what: string) => number | bigint | string;

const integer = (min: number, max: number): Convert => (v, what) => {
  if (typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max) return v;
  throw invalidRange(`an integer from ${min} to ${max}`, what, v, CODE);
};

const integer64 = (min: bigint, max: bigint): Convert => (v, what) => {
  let b: bigint | undefined;
  if (typeof v === 'number' && Number.isSafeInteger(v)) b = BigInt(v);
  else if (typeof v === 'string' && DECIMAL.test(v)) b = BigInt(v);
  if (b !== undefined && b >= min && b <= max) return b;
  throw invalidRange(
    `an integer from ${min} to ${max} (beyond ±(2^53 − 1) as a decimal string, or send binary data)`,
    what,
    v,
    CODE,
  );
};

function float(v: unknown, what: string): number {
  if (typeof v === 'number') return v;
  if (v === 'NaN') return NaN;
  if (v === 'Infinity') return Infinity;
  if (v === '-Infinity') return -Infinity;
  throw invalidType('a number (or "NaN", "Infinity", "-Infinity")', what, v, CODE);
}

const CONVERT: Record<OipDatatype, Convert> = {
  BOOL: (v, what) => {
    if (v === true) return 1;
    if (v === false) return 0;
    throw invalidType('a boolean', what, v, CODE);
  },
  UINT8: integer(0, 0xff),
  UINT16: integer(0, 0xffff),
  UINT32: integer(0, 0xffffffff),
  UINT64: integer64(0n, UINT64_MAX),
  INT8: integer(-0x80, 0x7f),
  INT16: integer(-0x8000, 0x7fff),
  INT32: integer(-0x80000000, 0x7fffffff),
  INT64: integer64(INT64_MIN, INT64_MAX),
  FP16: (v, what) => numberToFloat16Bits(float(v, what)),
  BF16: (v, what) => numberToBfloat16Bits(float(v, what)),
  FP32: float,
  FP64: float,
  BYTES: (v, what) => {
    if (typeof v === 'string') return v;
    throw invalidType('a string', what, v, CODE);
  },
};

/**
 * Reads the JSON `data` of a tensor of `count` elements into its array.
 * @param label names the tensor in errors, e.g. "input 'x'".
 * @throws ERR_REQUEST_INVALID for data that is not an array, a value of the wrong kind or
 *   range, nesting deeper than 64, or an element count other than `count`.
 */
export function jsonToData(info: OipDatatypeInfo, data: unknown, count: number, shape: readonly number[], label: string): OipTensorData {
  if (!Array.isArray(data)) throw invalidType('an array (flat or nested)', `${label} data`, data, CODE);
  // Count first, so a short `data` with a huge shape is refused before anything is allocated.
  const n = countLeaves(data, 1, label);
  if (n !== count) {
    throw new OrtexTypeError(
      CODE,
      `Expected ${count} elements of ${info.name} data for ${label} with shape [${shape.join(',')}] but received ${n}`,
    );
  }
  const convert = CONVERT[info.name];
  const out: { [i: number]: number | bigint | string } = info.array ? new info.array(count) : new Array<string>(count);
  // Floats take numbers as they are: no conversion call and no element label (built only
  // when a value is refused), which is most of the cost of a walk otherwise.
  const floats = info.name === 'FP32' || info.name === 'FP64';
  fill(data, out, 0, convert, floats, label);
  return out as OipTensorData;
}

/** Writes the leaves of `a` into `out` from index `i`, depth first; returns the next index. */
function fill(a: readonly unknown[], out: { [i: number]: number | bigint | string }, i: number, convert: Convert, floats: boolean, label: string): number {
  for (let k = 0; k < a.length; k++) {
    const v = a[k];
    if (floats && typeof v === 'number') out[i++] = v;
    else if (Array.isArray(v)) i = fill(v, out, i, convert, floats, label);
    else {
      out[i] = convert(v, `${label} data[${i}]`);
      i++;
    }
  }
  return i;
}

function countLeaves(a: readonly unknown[], depth: number, label: string): number {
  let n = 0;
  for (let k = 0; k < a.length; k++) {
    const v = a[k];
    if (!Array.isArray(v)) n++;
    else if (depth >= MAX_DEPTH) throw invalidRange(`at most ${MAX_DEPTH} levels of nesting`, `${label} data`, v, CODE);
    else n += countLeaves(v, depth + 1, label);
  }
  return n;
}

function formatFloat(v: number): string {
  if (Number.isFinite(v)) return Object.is(v, -0) ? '-0' : String(v);
  return v !== v ? '"NaN"' : v > 0 ? '"Infinity"' : '"-Infinity"';
}

/** A float array as JSON: join() when every value prints as JSON does, else value by value. */
function floatsToJson(values: ArrayLike<number>): string {
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (!Number.isFinite(v) || (v === 0 && 1 / v < 0)) return '[' + Array.from(values, formatFloat).join(',') + ']';
  }
  return '[' + Array.prototype.join.call(values, ',') + ']';
}

const SAFE_MIN = BigInt(Number.MIN_SAFE_INTEGER);
const SAFE_MAX = BigInt(Number.MAX_SAFE_INTEGER);

function bigintsToJson(values: BigInt64Array | BigUint64Array): string {
  const parts = new Array<string>(values.length);
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    parts[i] = v < SAFE_MIN || v > SAFE_MAX ? `"${v}"` : String(v);
  }
  return '[' + parts.join(',') + ']';
}

/**
 * Writes tensor values as a flat JSON array. `data` must already match the datatype
 * (checked by the caller): FP16/BF16 bit patterns are written as the numbers they hold.
 */
export function dataToJson(info: OipDatatypeInfo, data: OipEncodableData): string {
  switch (info.name) {
    case 'BYTES':
      return JSON.stringify(
        Array.from(data as ArrayLike<string | Uint8Array>, (v) =>
          typeof v === 'string' ? v : Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('utf8'),
        ),
      );
    case 'BOOL':
      return JSON.stringify(Array.from(data as ArrayLike<number | boolean>, (v) => v === true || (v !== false && v !== 0)));
    case 'FP16':
      return floatsToJson(Array.from(data as Uint16Array, float16BitsToNumber));
    case 'BF16':
      return floatsToJson(Array.from(data as Uint16Array, bfloat16BitsToNumber));
    case 'FP32':
    case 'FP64':
      return floatsToJson(data as Float32Array | Float64Array);
    case 'INT64':
    case 'UINT64':
      return bigintsToJson(data as BigInt64Array | BigUint64Array);
    default:
      return '[' + Array.prototype.join.call(data as TypedArray, ',') + ']';
  }
}
