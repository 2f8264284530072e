/**
 * IEEE half (float16) and bfloat16 encodings as 16-bit integers, the form ortex keeps
 * them in (Uint16Array). JSON carries these types as ordinary numbers, so the codec
 * converts each value once: rounding to nearest, ties to even, straight from the double
 * (not via float32, which would round twice), overflow to ±Infinity, NaN to the quiet NaN.
 */

interface Format {
  readonly mantissaBits: number;
  readonly bias: number;
  /** Bit pattern of the quiet NaN with the sign bit clear. */
  readonly nan: number;
  /** |v| at or above which rounding gives Infinity: halfway between the largest finite value and 2^(bias+1). */
  readonly overflow: number;
}

const FLOAT16: Format = { mantissaBits: 10, bias: 15, nan: 0x7e00, overflow: (2 - 2 ** -11) * 2 ** 15 };
const BFLOAT16: Format = { mantissaBits: 7, bias: 127, nan: 0x7fc0, overflow: (2 - 2 ** -8) * 2 ** 127 };

function roundHalfEven(x: number): number {
  const f = Math.floor(x);
  const d = x - f;
  if (d > 0.5) return f + 1;
  if (d < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

function encode(v: number, f: Format): number {
  if (v !== v) return f.nan;
  const sign = v < 0 || Object.is(v, -0) ? 0x8000 : 0;
  const a = Math.abs(v);
  const infinity = ((2 * f.bias + 1) << f.mantissaBits) | sign;
  if (a >= f.overflow) return infinity;
  const minExp = 1 - f.bias;
  const implicit = 2 ** f.mantissaBits;
  if (a < 2 ** minExp) {
    // Subnormal: a multiple of 2^(minExp - mantissaBits); a carry into 2^mantissaBits
    // lands exactly on the smallest normal's encoding.
    return sign | roundHalfEven(a * 2 ** (f.mantissaBits - minExp));
  }
  let e = Math.floor(Math.log2(a));
  // log2 may be off by one next to powers of two; settle e so that 2^e <= a < 2^(e+1).
  if (2 ** e > a) e--;
  else if (2 ** (e + 1) <= a) e++;
  let m = roundHalfEven(a * 2 ** (f.mantissaBits - e));
  if (m === 2 * implicit) {
    m = implicit;
    e++;
  }
  if (e > f.bias) return infinity;
  return sign | ((e + f.bias) << f.mantissaBits) | (m - implicit);
}

function decode(bits: number, f: Format): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exp = (bits & 0x7fff) >> f.mantissaBits;
  const mant = bits & ((1 << f.mantissaBits) - 1);
  if (exp === 0) return sign * mant * 2 ** (1 - f.bias - f.mantissaBits);
  if (exp === 2 * f.bias + 1) return mant ? NaN : sign * Infinity;
  return sign * (1 + mant / 2 ** f.mantissaBits) * 2 ** (exp - f.bias);
}

/**
 * The float16 bit pattern nearest to a number.
 * @example numberToFloat16Bits(1) === 0x3c00; numberToFloat16Bits(65520) === 0x7c00 // Infinity
 */
export function numberToFloat16Bits(v: number): number {
  return encode(v, FLOAT16);
}

/**
 * The number a float16 bit pattern holds (exactly; every float16 is a double).
 * @example float16BitsToNumber(0x3c00) === 1
 */
export function float16BitsToNumber(bits: number): number {
  return decode(bits, FLOAT16);
}

/**
 * The bfloat16 bit pattern nearest to a number.
 * @example numberToBfloat16Bits(1) === 0x3f80
 */
export function numberToBfloat16Bits(v: number): number {
  return encode(v, BFLOAT16);
}

/**
 * The number a bfloat16 bit pattern holds (exactly).
 * @example bfloat16BitsToNumber(0x3f80) === 1
 */
export function bfloat16BitsToNumber(bits: number): number {
  return decode(bits, BFLOAT16);
}
