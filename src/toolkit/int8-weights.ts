/**
 * Symmetric INT8 quantization of weights: q = round(w / scale), scale = max|w| / qmax, zero
 * point 0, per tensor or per channel along one axis.
 *
 * Symmetric weights let the integer kernels skip the weight zero-point correction. With
 * `reduceRange` weights use 7 bits (±63): on x86 CPUs without VNNI the u8 x s8 multiply-add
 * instruction sums pairs into 16 bits and can saturate with full-range weights.
 */

export interface QuantizedWeights {
  readonly data: Int8Array;
  /** One scale per channel along `axis`, or a single scale. */
  readonly scales: Float32Array;
}

export function qmaxFor(reduceRange: boolean): number {
  return reduceRange ? 63 : 127;
}

/**
 * Quantizes `values` (row-major, shape `dims`) with one scale per index of `axis`, or one for
 * the whole tensor when `axis` is null.
 */
export function quantizeSymmetric(values: Float32Array, dims: readonly number[], axis: number | null, reduceRange: boolean): QuantizedWeights {
  const qmax = qmaxFor(reduceRange);
  // Row-major [outer, channels, inner]: channel c owns inner-long runs, one per outer index.
  const channels = axis === null ? 1 : dims[axis]!;
  const inner = axis === null ? values.length : dims.slice(axis + 1).reduce((a, b) => a * b, 1);
  const outer = values.length / (channels * inner);

  const maxAbs = new Float32Array(channels);
  for (let o = 0, i = 0; o < outer; o++) {
    for (let c = 0; c < channels; c++) {
      let m = maxAbs[c]!;
      for (const end = i + inner; i < end; i++) {
        const a = Math.abs(values[i]!);
        if (a > m) m = a;
      }
      maxAbs[c] = m;
    }
  }
  // A channel whose scale would be 0 in float32 (all zeros, or subnormals only) gets scale 1 and
  // quantizes to zeros, so nothing divides by zero and the error stays under half a step.
  const scales = maxAbs.map((m) => (Math.fround(m / qmax) > 0 ? m / qmax : 1));
  const data = new Int8Array(values.length);
  for (let o = 0, i = 0; o < outer; o++) {
    for (let c = 0; c < channels; c++) {
      const inv = 1 / scales[c]!;
      for (const end = i + inner; i < end; i++) {
        const q = Math.round(values[i]! * inv);
        data[i] = q > qmax ? qmax : q < -qmax ? -qmax : q;
      }
    }
  }
  return { data, scales };
}

/** The transpose of a row-major [rows, cols] matrix. */
export function transpose2d(values: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(values.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = values[r * cols + c]!;
  return out;
}
