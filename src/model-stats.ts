/**
 * The batcher's statistics, decoded from the one Float64Array native/batch_model.cc
 * JS_stats() fills, so reading them costs one native call.
 */

/** Upper bounds (µs) of the time histograms' buckets (kTimeBucketsUs in native/batch_stats.h); then +Inf. */
export const TIME_BUCKETS_US: readonly number[] = [
  10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000, 1000000, 2500000, 5000000, 10000000,
];

export interface Histogram {
  /** Sum of all observations, in µs. */
  readonly sum: number;
  readonly count: number;
  /** Cumulative counts per upper bound (µs), Prometheus-style; the last bound is Infinity. */
  readonly buckets: ReadonlyArray<{ readonly le: number; readonly count: number }>;
}

/**
 * A time histogram kept in JS with the native one's buckets (for what the batcher does not
 * time: unbatched models, the server's own steps). observe() is a few comparisons and adds.
 */
export class TimeHistogram {
  sum = 0;
  count = 0;
  /** Per bucket (not cumulative); the last one is +Inf. */
  readonly counts = new Array<number>(TIME_BUCKETS_US.length + 1).fill(0);

  /** @param us one observation, in µs. */
  observe(us: number): void {
    this.sum += us;
    this.count++;
    let i = 0;
    while (i < TIME_BUCKETS_US.length && us > TIME_BUCKETS_US[i]!) i++;
    this.counts[i]!++;
  }

  snapshot(): Histogram {
    let acc = 0;
    const buckets = this.counts.map((n, i) => ({ le: i < TIME_BUCKETS_US.length ? TIME_BUCKETS_US[i]! : Infinity, count: (acc += n) }));
    return { sum: this.sum, count: this.count, buckets };
  }
}

export interface ModelStats {
  /** Requests admitted to the queue. */
  readonly requests: number;
  /** Requests answered with outputs. */
  readonly completed: number;
  /** Model executions (batches run). Average batch size = rows / batches. */
  readonly batches: number;
  /** Samples (batch rows) run. */
  readonly rows: number;
  /** Requests waiting in the queue now. */
  readonly pending: number;
  /** Requests in batches being run now. */
  readonly executing: number;
  readonly maxBatchSize: number;
  readonly maxQueueDelayUs: number;
  /** The queue delay the load-aware mode chose last (latencyTargetUs), in µs. */
  readonly adaptiveDelayUs: number;
  /** Requests that ended without outputs, by reason. */
  readonly rejected: { readonly queueFull: number; readonly timeout: number; readonly cancelled: number; readonly closed: number; readonly failed: number };
  /** Executions by batch size in rows: batchSizes[n] batches had n rows. */
  readonly batchSizes: readonly number[];
  /** Per batch size (index as batchSizes): summed input staging, run and output fetch time, in µs. */
  readonly batchPhasesUs: { readonly input: readonly number[]; readonly infer: readonly number[]; readonly output: readonly number[] };
  /** Per request: from enqueue to the start of its batch. */
  readonly queueUs: Histogram;
  /** Per batch: input staging, run and output fetch. */
  readonly computeUs: Histogram;
  /** Per request: from enqueue to its outputs being ready (before the hop to JS). */
  readonly requestUs: Histogram;
  /** Per timed-out request: how late after its deadline the batcher ended it. */
  readonly timeoutLatenessUs: Histogram;
  /** Per execution: input staging and binding (Triton's compute_input). */
  readonly computeInputUs: Histogram;
  /** Per execution: the run itself (compute_infer). */
  readonly computeInferUs: Histogram;
  /** Per execution: fetching the outputs (compute_output; the copy to JS happens later, on the JS thread). */
  readonly computeOutputUs: Histogram;
}

export function decodeStats(a: Float64Array): ModelStats {
  let p = 0;
  const next = () => a[p++]!;
  const requests = next(), completed = next(), batches = next(), rows = next(), pending = next(), executing = next();
  const maxBatchSize = next(), maxQueueDelayUs = next(), adaptiveDelayUs = next();
  const rejected = { queueFull: next(), timeout: next(), cancelled: next(), closed: next(), failed: next() };
  const nSizes = next();
  const batchSizes = Array.from(a.subarray(p, p + nSizes));
  p += nSizes;
  const phase = () => { const v = Array.from(a.subarray(p, p + nSizes)); p += nSizes; return v; };
  const batchPhasesUs = { input: phase(), infer: phase(), output: phase() };
  const nBuckets = next();
  const hist = (): Histogram => {
    const sum = next(), count = next();
    const buckets: Array<{ le: number; count: number }> = [];
    let acc = 0;
    for (let i = 0; i < nBuckets; i++) {
      acc += next();
      buckets.push({ le: i < TIME_BUCKETS_US.length ? TIME_BUCKETS_US[i]! : Infinity, count: acc });
    }
    return { sum, count, buckets };
  };
  const queueUs = hist(), computeUs = hist(), requestUs = hist(), timeoutLatenessUs = hist();
  const computeInputUs = hist(), computeInferUs = hist(), computeOutputUs = hist();
  return {
    requests, completed, batches, rows, pending, executing, maxBatchSize, maxQueueDelayUs, adaptiveDelayUs, rejected, batchSizes, batchPhasesUs,
    queueUs, computeUs, requestUs, timeoutLatenessUs, computeInputUs, computeInferUs, computeOutputUs,
  };
}
