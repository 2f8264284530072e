/**
 * A metric family whose samples are read when Prometheus scrapes, for prom-client's
 * Registry. ortex keeps its counts where they are cheapest to keep (the batcher natively,
 * the server in plain numbers), so nothing is incremented in prom-client per request; at
 * scrape time each family turns those counts into samples and the Registry formats them.
 *
 * The Registry takes any object with prom-client's metric shape (name, help, type,
 * aggregator, get(), reset()); this is that shape around a `collect` function.
 */

import type { Metric, Registry } from 'prom-client';
import type { Histogram } from '../model-stats.js';

export type MetricType = 'counter' | 'gauge' | 'histogram';
export type Labels = Readonly<Record<string, string>>;

/** One line of the exposition: a value with its labels (histograms: suffixed names). */
export interface Sample {
  readonly labels: Labels;
  readonly value: number;
  /** For histograms: `<name>_bucket`, `<name>_sum` or `<name>_count`. */
  readonly metricName?: string;
  /**
   * Labels of the whole series (model, version). The Registry formats such an object once
   * and remembers the text by identity, so pass the same object at every scrape: it makes a
   * scrape about three times faster than labels spread into every sample.
   */
  readonly sharedLabels?: Labels;
}

class CollectedMetric {
  readonly aggregator = 'sum';

  constructor(
    readonly name: string,
    readonly help: string,
    readonly type: MetricType,
    readonly collect: () => readonly Sample[],
  ) {}

  get(): { name: string; help: string; type: MetricType; aggregator: string; values: readonly Sample[] } {
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values: this.collect() };
  }

  /** Registry#resetMetrics() calls it; the counts belong to their owners, so there is nothing to reset. */
  reset(): void {}
}

/**
 * Registers a family read at scrape time.
 * @example
 * collected(registry, 'ortex_pending_requests', 'Requests waiting in the queue', 'gauge',
 *   () => servables.map((s) => ({ labels: { model: s.name }, value: s.model.pendingRequests })));
 */
export function collected(registry: Registry, name: string, help: string, type: MetricType, collect: () => readonly Sample[]): void {
  registry.registerMetric(new CollectedMetric(name, help, type, collect) as unknown as Metric);
}

const NO_LABELS: Labels = Object.freeze({});
const leLabels = new Map<number, Labels>();

/** The `le` label of a bucket bound, in the family's unit; Infinity is `+Inf`. */
function le(bound: number): Labels {
  let labels = leLabels.get(bound);
  if (labels === undefined) {
    labels = Object.freeze({ le: bound === Infinity ? '+Inf' : String(bound) });
    leLabels.set(bound, labels);
  }
  return labels;
}

/**
 * The samples of one histogram series from cumulative buckets (the batcher's, or a
 * TimeHistogram's snapshot), with bounds and sum divided by `divisor` (1e6: µs to s;
 * dividing keeps bounds such as 10 µs exact, 0.00001, where multiplying by 1e-6 would not).
 * @param series the series' labels, the same object at every scrape (see Sample#sharedLabels).
 */
export function histogramSamples(name: string, series: Labels, h: Histogram, divisor = 1): Sample[] {
  const out: Sample[] = [];
  const bucket = `${name}_bucket`;
  for (const b of h.buckets) out.push({ metricName: bucket, labels: le(b.le / divisor), sharedLabels: series, value: b.count });
  out.push({ metricName: `${name}_sum`, labels: NO_LABELS, sharedLabels: series, value: h.sum / divisor });
  out.push({ metricName: `${name}_count`, labels: NO_LABELS, sharedLabels: series, value: h.count });
  return out;
}

/** A sample of a series with no labels of its own. */
export function seriesSample(series: Labels, value: number): Sample {
  return { labels: NO_LABELS, sharedLabels: series, value };
}
