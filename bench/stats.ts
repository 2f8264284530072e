/**
 * The few statistics the benchmark needs. Percentiles are nearest-rank (the sample value
 * at rank ceil(p * n)), the definition bench/native/raw_run.cc uses too, so the C and JS
 * figures are read off their samples the same way.
 */

/** Per-call latency summary of one trial process, in microseconds. */
export interface LatencySummary {
  p50_us: number;
  p99_us: number;
  mean_us: number;
  n: number;
  min_us: number;
  max_us: number;
  /** The sample at each probability of QUANTILE_PER_MILLE, when asked for: the latency CDF bench/plots.ts draws. */
  quantiles_us?: number[];
}

/**
 * The probabilities, in per mille, at which a latency trial records its distribution:
 * 1 %, 2 %, ..., 99 %, then 99.5 % and 99.9 %. bench/native/raw_run.cc prints the same list.
 */
export const QUANTILE_PER_MILLE: readonly number[] = [...Array.from({ length: 99 }, (_, i) => (i + 1) * 10), 995, 999];

/** Nearest-rank percentile of an ascending-sorted sample. */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) throw new RangeError('Expected a non-empty sample for percentile()');
  const rank = Math.max(1, Math.ceil(p * sorted.length));
  return sorted[rank - 1]!;
}

/**
 * Nearest-rank samples at QUANTILE_PER_MILLE, rounded to the nanosecond. The rank is computed
 * from the per-mille integer, so 7 % of 100 samples is rank 7 (0.07 * 100 is 7.000000000000001).
 */
export function quantilesUs(sorted: ArrayLike<number>): number[] {
  if (sorted.length === 0) throw new RangeError('Expected a non-empty sample for quantilesUs()');
  return QUANTILE_PER_MILLE.map((pm) => Math.round(sorted[Math.max(1, Math.ceil((pm * sorted.length) / 1000)) - 1]! * 1000) / 1000);
}

/** @param o.quantiles also record quantiles_us (a hundred numbers more in the JSON). */
export function summarize(samplesUs: Float64Array, o: { quantiles?: boolean } = {}): LatencySummary {
  const sorted = Float64Array.from(samplesUs).sort();
  let sum = 0;
  for (const v of sorted) sum += v;
  const summary: LatencySummary = {
    p50_us: percentile(sorted, 0.5),
    p99_us: percentile(sorted, 0.99),
    mean_us: sum / sorted.length,
    n: sorted.length,
    min_us: sorted[0]!,
    max_us: sorted[sorted.length - 1]!,
  };
  if (o.quantiles) summary.quantiles_us = quantilesUs(sorted);
  return summary;
}

/** Median with the min-max spread, over the repeats of a trial. */
export interface Spread {
  median: number;
  min: number;
  max: number;
  n: number;
}

export function spread(values: readonly number[]): Spread {
  if (values.length === 0) return { median: NaN, min: NaN, max: NaN, n: 0 };
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  const median = s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
  return { median, min: s[0]!, max: s[s.length - 1]!, n: s.length };
}

/** A ratio of two runners' figures over the same repeats. */
export interface Ratio {
  /** median(a) ÷ median(b) */
  ofMedians: number;
  /** The per-repeat ratios a[i] ÷ b[i] (the i-th repeats of two runners ran side by side). */
  paired: Spread;
}

export function ratioOf(a: readonly number[], b: readonly number[]): Ratio {
  const n = Math.min(a.length, b.length);
  const paired: number[] = [];
  for (let i = 0; i < n; i++) paired.push(a[i]! / b[i]!);
  return { ofMedians: spread(a).median / spread(b).median, paired: spread(paired) };
}

/** Latencies in µs, grown by doubling so the timed loop never copies per request. */
export class Samples {
  #data = new Float64Array(1 << 16);
  length = 0;
  push(v: number): void {
    if (this.length === this.#data.length) {
      const grown = new Float64Array(this.#data.length * 2);
      grown.set(this.#data);
      this.#data = grown;
    }
    this.#data[this.length++] = v;
  }
  view(): Float64Array {
    return this.#data.subarray(0, this.length);
  }
}
