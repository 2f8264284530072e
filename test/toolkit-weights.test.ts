// The number conversions under `ortex quantize`: symmetric INT8 weights and float16 bits.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { numberToFloat16Bits } from '../src/server/float-bits.js';
import { checkFloat16Range, float32ToFloat16Bits } from '../src/toolkit/float16-array.js';
import { quantizeSymmetric } from '../src/toolkit/int8-weights.js';

const floats = fc.float({ noNaN: true, noDefaultInfinity: true, min: -1e3, max: 1e3 });

describe('quantizeSymmetric()', () => {
  it('keeps every weight within half a step of its value, per channel', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 6 }), fc.array(floats, { minLength: 36, maxLength: 36 }), fc.boolean(), (rows, cols, values, reduce) => {
        const w = Float32Array.from(values.slice(0, rows * cols));
        const { data, scales } = quantizeSymmetric(w, [rows, cols], 1, reduce);
        expect(scales.length).toBe(cols);
        const qmax = reduce ? 63 : 127;
        for (let r = 0; r < rows; r++) {
          for (let c = 0; c < cols; c++) {
            const q = data[r * cols + c]!;
            expect(Math.abs(q)).toBeLessThanOrEqual(qmax);
            expect(Math.abs(q * scales[c]! - w[r * cols + c]!)).toBeLessThanOrEqual(scales[c]! / 2 + 1e-6 * scales[c]!);
          }
        }
      }),
    );
  });

  it('maps each channel\'s largest magnitude to ±127 (±63 with reduceRange)', () => {
    const w = Float32Array.from([0.5, -2, 0.25, 1, 0, 0]);
    const full = quantizeSymmetric(w, [3, 2], 1, false);
    expect(Array.from(full.scales)).toEqual([0.5 / 127, 2 / 127].map(Math.fround));
    expect(full.data[0]).toBe(127);
    expect(full.data[1]).toBe(-127);
    expect(quantizeSymmetric(w, [3, 2], 1, true).data[1]).toBe(-63);
    // Per row (an embedding table) and per tensor.
    expect(quantizeSymmetric(w, [3, 2], 0, false).scales.length).toBe(3);
    expect(quantizeSymmetric(w, [3, 2], null, false).scales.length).toBe(1);
  });

  it('gives an all-zero channel scale 1 rather than dividing by zero', () => {
    const { data, scales } = quantizeSymmetric(new Float32Array(4), [2, 2], 1, false);
    expect(Array.from(scales)).toEqual([1, 1]);
    expect(Array.from(data)).toEqual([0, 0, 0, 0]);
  });
});

describe('float32ToFloat16Bits()', () => {
  it('agrees with the per-value converter on any float32, specials included', () => {
    fc.assert(
      fc.property(fc.array(fc.float(), { minLength: 1, maxLength: 64 }), (values) => {
        const f32 = Float32Array.from(values);
        const bits = float32ToFloat16Bits(f32);
        f32.forEach((v, i) => expect(bits[i]).toBe(numberToFloat16Bits(v)));
      }),
    );
    const edges = Float32Array.from([0, -0, 65504, 65519, 65520, 1e-8, 2 ** -24, 2 ** -25, 3 * 2 ** -26, 6.1e-5, Infinity, -Infinity, NaN]);
    const bits = float32ToFloat16Bits(edges);
    edges.forEach((v, i) => expect(bits[i]).toBe(numberToFloat16Bits(v)));
  });

  it('counts the values that would overflow or flush to zero', () => {
    expect(checkFloat16Range(Float32Array.from([1, 70000, -1e6, 1e-9, 0]))).toEqual({ overflow: 2, underflow: 1, maxAbs: 1e6 });
  });
});
