/** Tiny predicates and the one message shape: "Expected X for Y but received Z". */

import { type ErrorCode, OrtexRangeError, OrtexTypeError } from './errors.js';

export const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null;
export const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  isObject(v) && !Array.isArray(v) && (Object.getPrototypeOf(v) === Object.prototype || Object.getPrototypeOf(v) === null);
export const isString = (v: unknown): v is string => typeof v === 'string';
export const isBoolean = (v: unknown): v is boolean => typeof v === 'boolean';
export const isInteger = (v: unknown): v is number => Number.isInteger(v);
export const inRange = (v: number, min: number, max: number): boolean => v >= min && v <= max;

/** A short, safe description of what arrived, for error messages. */
export function describe(v: unknown): string {
  if (v === null) return 'null';
  if (v === undefined) return 'undefined';
  if (Array.isArray(v)) return `array of length ${v.length}`;
  if (ArrayBuffer.isView(v)) {
    const length = (v as unknown as { length?: number }).length;
    if (length !== undefined) return `${v.constructor.name} of length ${length}`;
    // A DataView over a detached buffer throws on byteLength: the message must not.
    try {
      return `${v.constructor.name} of length ${v.byteLength}`;
    } catch {
      return `${v.constructor.name} over a detached buffer`;
    }
  }
  if (typeof v === 'string') return `string "${v.length > 40 ? v.slice(0, 40) + '…' : v}"`;
  if (typeof v === 'object') return v.constructor?.name && v.constructor !== Object ? `${v.constructor.name} object` : 'object';
  return `${typeof v} ${String(v)}`;
}

export function invalidType(expected: string, what: string, received: unknown, code: ErrorCode = 'ERR_INVALID_ARG'): OrtexTypeError {
  return new OrtexTypeError(code, `Expected ${expected} for ${what} but received ${describe(received)}`);
}

export function invalidRange(expected: string, what: string, received: unknown, code: ErrorCode = 'ERR_INVALID_ARG'): OrtexRangeError {
  return new OrtexRangeError(code, `Expected ${expected} for ${what} but received ${describe(received)}`);
}
