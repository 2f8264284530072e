import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  bfloat16BitsToNumber,
  float16BitsToNumber,
  numberToBfloat16Bits,
  numberToFloat16Bits,
} from '../src/server/float-bits.js';

const isNaNBits16 = (bits: number, mantissaBits: number) =>
  ((bits & 0x7fff) >> mantissaBits) === (1 << (15 - mantissaBits)) - 1 && (bits & ((1 << mantissaBits) - 1)) !== 0;

/** bfloat16 from float32 bits, round to nearest even: an independent reference. */
function bfloat16Reference(v: number): number {
  const u = new Uint32Array(new Float32Array([v]).buffer)[0]!;
  if (Number.isNaN(v)) return 0x7fc0;
  const lsb = (u >>> 16) & 1;
  return ((u + 0x7fff + lsb) >>> 16) & 0xffff;
}

describe('numberToFloat16Bits()', () => {
  it('encodes known values, rounding ties to even', () => {
    expect(numberToFloat16Bits(1)).toBe(0x3c00);
    expect(numberToFloat16Bits(-2)).toBe(0xc000);
    expect(numberToFloat16Bits(0.5)).toBe(0x3800);
    expect(numberToFloat16Bits(65504)).toBe(0x7bff);
    expect(numberToFloat16Bits(65519.99)).toBe(0x7bff);
    expect(numberToFloat16Bits(65520)).toBe(0x7c00);
    expect(numberToFloat16Bits(-Infinity)).toBe(0xfc00);
    expect(numberToFloat16Bits(NaN)).toBe(0x7e00);
    expect(numberToFloat16Bits(-0)).toBe(0x8000);
    expect(numberToFloat16Bits(2 ** -24)).toBe(0x0001);
    expect(numberToFloat16Bits(2 ** -25)).toBe(0x0000); // tie between 0 and the smallest subnormal: even
    expect(numberToFloat16Bits(3 * 2 ** -25)).toBe(0x0002); // tie between 1 and 2 ulps: even
    expect(numberToFloat16Bits(2 ** -14 - 2 ** -25)).toBe(0x0400); // subnormal rounding up into the normals
    expect(numberToFloat16Bits(1 + 2 ** -11)).toBe(0x3c00); // tie: even mantissa
    expect(numberToFloat16Bits(1 + 3 * 2 ** -11)).toBe(0x3c02);
    expect(numberToFloat16Bits(2047.9999)).toBe(0x6800); // mantissa carry into the next exponent
  });

  it('decodes and re-encodes every non-NaN pattern exactly', () => {
    const wrong: number[] = [];
    for (let bits = 0; bits < 0x10000; bits++) {
      const v = float16BitsToNumber(bits);
      if (isNaNBits16(bits, 10) ? !Number.isNaN(v) : numberToFloat16Bits(v) !== bits) wrong.push(bits);
    }
    expect(wrong).toEqual([]);
  });

  it('returns the nearest float16 to any double', () => {
    fc.assert(
      fc.property(fc.double({ min: -70000, max: 70000, noNaN: true }), (v) => {
        const bits = numberToFloat16Bits(v);
        const d = float16BitsToNumber(bits);
        if (!Number.isFinite(d)) return Math.abs(v) >= 65520;
        const err = Math.abs(d - v);
        for (const n of [bits - 1, bits + 1]) {
          if ((n & 0x7fff) > 0x7bff || n < 0) continue;
          const other = Math.abs(float16BitsToNumber(n) - v);
          if (other < err) return false;
          if (other === err && (bits & 1) === 1) return false;
        }
        return true;
      }),
    );
  });
});

describe('numberToBfloat16Bits()', () => {
  it('encodes known values', () => {
    expect(numberToBfloat16Bits(1)).toBe(0x3f80);
    expect(numberToBfloat16Bits(-2)).toBe(0xc000);
    expect(numberToBfloat16Bits(3.140625)).toBe(0x4049);
    expect(numberToBfloat16Bits(Infinity)).toBe(0x7f80);
    expect(numberToBfloat16Bits(NaN)).toBe(0x7fc0);
    expect(numberToBfloat16Bits(3.4e38)).toBe(0x7f80); // past the largest bfloat16 (about 3.39e38)
  });

  it('agrees with rounding float32 bits for every float32', () => {
    fc.assert(
      fc.property(fc.float({ noNaN: true }), (v) => numberToBfloat16Bits(v) === bfloat16Reference(v)),
      { numRuns: 5000 },
    );
  });

  it('decodes and re-encodes every non-NaN pattern exactly', () => {
    const wrong: number[] = [];
    for (let bits = 0; bits < 0x10000; bits++) {
      const v = bfloat16BitsToNumber(bits);
      if (isNaNBits16(bits, 7) ? !Number.isNaN(v) : numberToBfloat16Bits(v) !== bits) wrong.push(bits);
    }
    expect(wrong).toEqual([]);
  });
});
