/**
 * Whole-array float32 -> float16 conversion for weights, on the bits: rounding to nearest,
 * ties to even, overflow to ±Infinity, NaN kept NaN. Per value it gives the same result as
 * numberToFloat16Bits (src/server/float-bits.ts), which works from doubles one at a time and
 * would take seconds on a large embedding table.
 */

/** The largest finite float16. */
export const FLOAT16_MAX = 65504;
/** The smallest positive float16 (subnormal): anything under half of it becomes 0. */
export const FLOAT16_MIN_SUBNORMAL = 2 ** -24;

export function float32ToFloat16Bits(values: Float32Array): Uint16Array {
  const bits = new Uint32Array(values.buffer, values.byteOffset, values.length);
  const out = new Uint16Array(values.length);
  for (let i = 0; i < bits.length; i++) {
    const x = bits[i]!;
    const sign = (x >>> 16) & 0x8000;
    const exp = (x >>> 23) & 0xff;
    let mant = x & 0x7fffff;
    if (exp === 0xff) {
      out[i] = sign | 0x7c00 | (mant !== 0 ? 0x200 : 0);
      continue;
    }
    const e = exp - 127 + 15;
    if (e >= 31) {
      out[i] = sign | 0x7c00;
      continue;
    }
    if (e <= 0) {
      // Subnormal in float16: m x 2^-24 with m = mantissa (implicit bit included) >> (14 - e).
      if (e < -10) {
        out[i] = sign;
        continue;
      }
      mant |= 0x800000;
      const shift = 14 - e;
      let half = mant >>> shift;
      const rem = mant & ((1 << shift) - 1);
      const halfway = 1 << (shift - 1);
      if (rem > halfway || (rem === halfway && (half & 1) === 1)) half++;
      out[i] = sign | half;
      continue;
    }
    let half = (e << 10) | (mant >>> 13);
    const rem = mant & 0x1fff;
    // A carry out of the mantissa moves into the exponent, which is the right rounding (up to Infinity).
    if (rem > 0x1000 || (rem === 0x1000 && (half & 1) === 1)) half++;
    out[i] = sign | half;
  }
  return out;
}

export interface Float16RangeCheck {
  /** Finite values beyond ±65504, which would become Infinity. */
  readonly overflow: number;
  /** Non-zero values that become 0. */
  readonly underflow: number;
  readonly maxAbs: number;
}

export function checkFloat16Range(values: Float32Array): Float16RangeCheck {
  let overflow = 0;
  let underflow = 0;
  let maxAbs = 0;
  for (let i = 0; i < values.length; i++) {
    const a = Math.abs(values[i]!);
    if (!Number.isFinite(a)) continue;
    if (a > maxAbs) maxAbs = a;
    if (a > FLOAT16_MAX) overflow++;
    else if (a !== 0 && a < FLOAT16_MIN_SUBNORMAL / 2) underflow++;
  }
  return { overflow, underflow, maxAbs };
}
