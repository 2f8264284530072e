/**
 * What the server measures per request, from each RequestRecord once its request is over:
 * successes, failures by HTTP status and error code, and the durations the batcher cannot
 * see (the whole request as the client saw it, parsing, encoding). Kept in plain numbers
 * and TimeHistograms: observe() is a WeakMap lookup and a few adds, about 40 ns, where
 * prom-client's Counter and Histograms would cost about 2 µs (bench/metrics-observe.ts); the
 * Prometheus families are built from these numbers at scrape time.
 *
 * Label values are bounded: `model` is a model the repository knows ('' for requests that
 * named none, such as a 404 for an unknown model: their names come from clients), `version`
 * the version that answered ('' when none did).
 *
 * Threading: the event loop only.
 */

import type { Registry } from 'prom-client';
import { TimeHistogram } from '../model-stats.js';
import type { ModelRepository } from '../repository/repository.js';
import type { Servable } from '../repository/servable.js';
import type { RequestRecord } from '../server/request-record.js';
import { type Labels, type Sample, collected, histogramSamples, seriesSample } from './collected-metric.js';

interface Failure {
  readonly labels: Labels;
  count: number;
}

class Series {
  success = 0;
  readonly failures = new Map<string, Failure>();
  /** Successful requests, received to response written. */
  readonly duration = new TimeHistogram();
  /** Body received to feeds built. */
  readonly parse = new TimeHistogram();
  /** Outputs back to response encoded. */
  readonly encode = new TimeHistogram();

  readonly labels: Labels;

  constructor(model: string, version: string) {
    this.labels = Object.freeze({ model, version });
  }
}

export class RequestMetrics {
  readonly #repository: ModelRepository;
  /** By `model\0version`: survives a reload, so counters only go up. */
  readonly #series = new Map<string, Series>();
  /** The series of each servable seen, to skip building the key per request. */
  readonly #byServable = new WeakMap<Servable, Series>();

  constructor(repository: ModelRepository) {
    this.#repository = repository;
  }

  /** A RequestObserver: counts a request that is over. */
  observe(record: RequestRecord): void {
    if (record.endMs === 0) return;
    const series = this.#seriesOf(record);
    if (record.ok) {
      series.success++;
      series.duration.observe((record.endMs - record.startMs) * 1000);
    } else {
      const code = record.aborted ? '499' : String(record.status);
      const reason = record.code ?? (record.aborted ? 'ERR_REQUEST_ABORTED' : 'ERR_INTERNAL');
      const key = `${code} ${reason}`;
      const f = series.failures.get(key);
      if (f) f.count++;
      else series.failures.set(key, { labels: { code, reason }, count: 1 });
    }
    if (record.inputMs > 0) series.parse.observe((record.inputMs - (record.bodyMs || record.startMs)) * 1000);
    if (record.outputMs > 0) series.encode.observe((record.outputMs - record.inferEndMs) * 1000);
  }

  #seriesOf(record: RequestRecord): Series {
    const s = record.servable;
    if (s) {
      let series = this.#byServable.get(s);
      if (!series) {
        series = this.#get(s.name, s.versionText);
        this.#byServable.set(s, series);
      }
      return series;
    }
    return this.#get(this.#repository.has(record.model) ? record.model : '', '');
  }

  #get(model: string, version: string): Series {
    const key = `${model}\0${version}`;
    let series = this.#series.get(key);
    if (!series) {
      series = new Series(model, version);
      this.#series.set(key, series);
    }
    return series;
  }

  /** Registers the families on `registry`. */
  register(registry: Registry): void {
    const all = () => [...this.#series.values()];
    collected(registry, 'ortex_request_success_total', 'Inference requests answered with outputs (HTTP and WebSocket), cache hits included', 'counter',
      () => all().map((s) => seriesSample(s.labels, s.success)));
    collected(registry, 'ortex_request_failure_total', 'Inference requests that failed, by HTTP status (code; 499: the client went away) and error code (reason)', 'counter',
      () => all().flatMap((s) => [...s.failures.values()].map((f): Sample => ({ labels: f.labels, sharedLabels: s.labels, value: f.count }))));
    collected(registry, 'ortex_request_duration_seconds', 'Successful inference requests from arrival to the response written, in seconds', 'histogram',
      () => all().filter((s) => s.duration.count > 0).flatMap((s) => histogramSamples('ortex_request_duration_seconds', s.labels, s.duration.snapshot(), 1e6)));
    collected(registry, 'ortex_request_parse_duration_seconds', 'Parsing a request and building its input tensors, in seconds', 'histogram',
      () => all().filter((s) => s.parse.count > 0).flatMap((s) => histogramSamples('ortex_request_parse_duration_seconds', s.labels, s.parse.snapshot(), 1e6)));
    collected(registry, 'ortex_response_encode_duration_seconds', 'Encoding a response from the output tensors, in seconds', 'histogram',
      () => all().filter((s) => s.encode.count > 0).flatMap((s) => histogramSamples('ortex_response_encode_duration_seconds', s.labels, s.encode.snapshot(), 1e6)));
  }
}
