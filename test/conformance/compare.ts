/**
 * Compares a runtime's outputs with the expected values of an ONNX backend test case.
 *
 * Tolerances follow onnx/backend/test/runner: |actual - expected| <= atol + rtol * |expected|
 * with rtol 1e-3 and atol 1e-7, NaN equal to NaN. float16/bfloat16 are widened to float32
 * and get a looser tolerance, since a one-ulp difference there is already ~1e-3 relative.
 * Integers, bools and strings must match exactly.
 */
import type { MapKey, TensorType, TensorValue, Value } from './testdata.js';

export interface Tolerance {
  readonly rtol: number;
  readonly atol: number;
}

export const FLOAT_TOLERANCE: Tolerance = { rtol: 1e-3, atol: 1e-7 };
export const HALF_TOLERANCE: Tolerance = { rtol: 1e-2, atol: 1e-3 };

/** How many mismatching elements a message lists before eliding the rest. */
const MAX_REPORTED = 3;

/**
 * Returns null when `actual` matches `expected`, else a one-line description of the first
 * difference, prefixed with `path` (e.g. `y[2]` for the third element of sequence `y`).
 */
export function compareValues(expected: Value, actual: Value, path: string): string | null {
  if (expected === null || actual === null) {
    return expected === actual ? null : `${path}: expected ${describe(expected)}, got ${describe(actual)}`;
  }
  if (expected.kind !== actual.kind) {
    return `${path}: expected ${describe(expected)}, got ${describe(actual)}`;
  }
  switch (expected.kind) {
    case 'tensor':
      return compareTensors(expected, actual as TensorValue, path);
    case 'sequence': {
      const act = (actual as typeof expected).elements;
      if (act.length !== expected.elements.length) {
        return `${path}: expected a sequence of ${expected.elements.length}, got ${act.length}`;
      }
      for (let i = 0; i < act.length; i++) {
        const diff = compareValues(expected.elements[i]!, act[i]!, `${path}[${i}]`);
        if (diff !== null) return diff;
      }
      return null;
    }
    case 'map': {
      const act = new Map<MapKey, Value>((actual as typeof expected).entries.map(([k, v]) => [k, v]));
      if (act.size !== expected.entries.length) {
        return `${path}: expected a map of ${expected.entries.length}, got ${act.size}`;
      }
      for (const [k, v] of expected.entries) {
        if (!act.has(k)) return `${path}: key ${String(k)} missing`;
        const diff = compareValues(v, act.get(k)!, `${path}{${String(k)}}`);
        if (diff !== null) return diff;
      }
      return null;
    }
  }
}

function describe(v: Value): string {
  if (v === null) return 'an absent optional';
  if (v.kind === 'tensor') return `a ${v.type} tensor [${v.dims.join(', ')}]`;
  return `a ${v.kind}`;
}

function compareTensors(expected: TensorValue, actual: TensorValue, path: string): string | null {
  if (expected.type !== actual.type) return `${path}: expected type ${expected.type}, got ${actual.type}`;
  if (!sameDims(expected.dims, actual.dims)) {
    return `${path}: expected dims [${expected.dims.join(', ')}], got [${actual.dims.join(', ')}]`;
  }
  if (expected.data.length !== actual.data.length) {
    return `${path}: expected ${expected.data.length} elements, got ${actual.data.length}`;
  }
  const bad = isFloat(expected.type)
    ? floatMismatches(expected, actual)
    : exactMismatches(expected.data, actual.data);
  if (bad.length === 0) return null;
  const shown = bad.slice(0, MAX_REPORTED).map(
    (i) => `[${i}] expected ${format(expected, i)}, got ${format(actual, i)}`,
  );
  const more = bad.length > MAX_REPORTED ? ` (+${bad.length - MAX_REPORTED} more)` : '';
  return `${path}: ${bad.length}/${expected.data.length} elements differ: ${shown.join('; ')}${more}`;
}

function sameDims(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

function isFloat(type: TensorType): boolean {
  return type === 'float32' || type === 'float64' || type === 'float16' || type === 'bfloat16';
}

function floatMismatches(expected: TensorValue, actual: TensorValue): number[] {
  const half = expected.type === 'float16' || expected.type === 'bfloat16';
  const { rtol, atol } = half ? HALF_TOLERANCE : FLOAT_TOLERANCE;
  const e = numbers(expected);
  const a = numbers(actual);
  const bad: number[] = [];
  for (let i = 0; i < e.length; i++) {
    const x = e[i]!;
    const y = a[i]!;
    if (Number.isNaN(x) || Number.isNaN(y)) {
      if (Number.isNaN(x) !== Number.isNaN(y)) bad.push(i);
    } else if (!Number.isFinite(x) || !Number.isFinite(y)) {
      if (x !== y) bad.push(i);
    } else if (Math.abs(y - x) > atol + rtol * Math.abs(x)) {
      bad.push(i);
    }
  }
  return bad;
}

function exactMismatches(expected: ArrayLike<unknown>, actual: ArrayLike<unknown>): number[] {
  const bad: number[] = [];
  for (let i = 0; i < expected.length; i++) if (expected[i] !== actual[i]) bad.push(i);
  return bad;
}

/** The elements of a float tensor as JS numbers, float16/bfloat16 widened from their bits. */
export function numbers(t: TensorValue): ArrayLike<number> {
  if (t.type === 'float16') return Array.from(t.data as Uint16Array, float16ToNumber);
  if (t.type === 'bfloat16') return Array.from(t.data as Uint16Array, bfloat16ToNumber);
  return t.data as ArrayLike<number>;
}

function format(t: TensorValue, i: number): string {
  if (t.type === 'float16' || t.type === 'bfloat16') return String(numbers(t)[i]);
  const v = t.data[i];
  return typeof v === 'string' ? JSON.stringify(v) : String(v);
}

/** IEEE 754 binary16 bits to a number. */
export function float16ToNumber(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exp = (bits >> 10) & 0x1f;
  const frac = bits & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 0x1f) return frac === 0 ? sign * Infinity : NaN;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

const bf16View = new DataView(new ArrayBuffer(4));

/** bfloat16 bits (the top half of a float32) to a number. */
export function bfloat16ToNumber(bits: number): number {
  bf16View.setUint32(0, (bits & 0xffff) << 16 >>> 0);
  return bf16View.getFloat32(0);
}
