/**
 * The statistics the model tools read off latency samples. Percentiles are nearest-rank (the
 * sample value at rank ceil(p * n)) and a spread is the median with the min and max, the same
 * definitions as bench/stats.ts, which src/ cannot import (bench/ is not published).
 */

/** Nearest-rank percentile of an ascending-sorted, non-empty sample. */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) throw new RangeError('Expected a non-empty sample for percentile()');
  return sorted[Math.max(1, Math.ceil(p * sorted.length)) - 1]!;
}

export function mean(values: ArrayLike<number>): number {
  let sum = 0;
  for (let i = 0; i < values.length; i++) sum += values[i]!;
  return sum / values.length;
}

/** Median with the min-max range, over the repeats of a measurement. */
export interface Spread {
  readonly median: number;
  readonly min: number;
  readonly max: number;
}

export function spread(values: readonly number[]): Spread {
  if (values.length === 0) return { median: NaN, min: NaN, max: NaN };
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return { median: s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2, min: s[0]!, max: s[s.length - 1]! };
}

/** p50, p90, p99, mean, min and max of latencies in ms. */
export interface LatencyPercentiles {
  readonly p50Ms: number;
  readonly p90Ms: number;
  readonly p99Ms: number;
  readonly meanMs: number;
  readonly minMs: number;
  readonly maxMs: number;
}

export function latencyPercentiles(samplesMs: ArrayLike<number>): LatencyPercentiles {
  const sorted = Float64Array.from(samplesMs).sort();
  return {
    p50Ms: percentile(sorted, 0.5),
    p90Ms: percentile(sorted, 0.9),
    p99Ms: percentile(sorted, 0.99),
    meanMs: mean(sorted),
    minMs: sorted[0]!,
    maxMs: sorted[sorted.length - 1]!,
  };
}
