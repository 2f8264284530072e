/**
 * The model families, read at scrape time from what each loaded version already keeps:
 * Model#stats() (the batcher's counters and cumulative-bucket histograms, one native call
 * per version per scrape) and the servable's load time. Nothing here runs per request.
 *
 * A version's series start again from zero when it is reloaded (a new model in its place)
 * and go away when it is unloaded, as Triton's do; Prometheus' rate() reads a drop as a
 * counter reset.
 *
 * Threading: the event loop only.
 */

import type { Registry } from 'prom-client';
import type { Histogram, ModelStats } from '../model-stats.js';
import type { ModelRepository } from '../repository/repository.js';
import type { Servable } from '../repository/servable.js';
import { type Labels, type Sample, collected, histogramSamples, seriesSample } from './collected-metric.js';

interface VersionSnapshot {
  readonly labels: Labels;
  readonly servable: Servable;
  readonly stats: ModelStats;
}

/** Upper bounds of the batch-size histogram: powers of two up to the largest batch, then +Inf. */
export function batchSizeBounds(maxBatchSize: number): number[] {
  const bounds: number[] = [];
  for (let b = 1; b < Math.max(1, maxBatchSize); b *= 2) bounds.push(b);
  bounds.push(Math.max(1, maxBatchSize), Infinity);
  return bounds;
}

/** The batcher's batchSizes (executions per row count) as a cumulative histogram of rows per execution. */
export function batchSizeHistogram(stats: ModelStats): Histogram {
  const bounds = batchSizeBounds(Math.max(stats.maxBatchSize, stats.batchSizes.length - 1));
  const buckets = bounds.map((b) => ({ le: b, count: 0 }));
  let sum = 0;
  let count = 0;
  stats.batchSizes.forEach((executions, rows) => {
    if (executions === 0) return;
    sum += rows * executions;
    count += executions;
    for (const bucket of buckets) if (rows <= bucket.le) bucket.count += executions;
  });
  return { sum, count, buckets };
}

const REJECT_REASONS = [['queueFull', 'queue_full'], ['timeout', 'timeout'], ['cancelled', 'cancelled'], ['closed', 'closed'], ['failed', 'failed']] as const;

const TIME_FAMILIES: ReadonlyArray<readonly [string, keyof ModelStats, string]> = [
  ['ortex_queue_duration_seconds', 'queueUs', 'Time requests waited in the batcher queue, in seconds (per request)'],
  ['ortex_model_request_duration_seconds', 'requestUs', 'Time from a request entering the batcher queue to its outputs being ready, in seconds (per request)'],
  ['ortex_compute_duration_seconds', 'computeUs', 'Time to run a batch: input staging, run and output fetch, in seconds (per execution)'],
  ['ortex_compute_input_duration_seconds', 'computeInputUs', 'Time to stage and bind a batch\'s inputs, in seconds (per execution)'],
  ['ortex_compute_infer_duration_seconds', 'computeInferUs', 'Time ONNX Runtime ran a batch, in seconds (per execution)'],
  ['ortex_compute_output_duration_seconds', 'computeOutputUs', 'Time to fetch a batch\'s outputs, in seconds (per execution)'],
];

/** The labels of each reason, per series, made once (see Sample#sharedLabels). */
const REASON_LABELS = REJECT_REASONS.map(([, reason]) => Object.freeze({ reason }));

export class ModelMetrics {
  readonly #repository: ModelRepository;
  /** Each version's labels, one object for every scrape (see Sample#sharedLabels). */
  readonly #labels = new WeakMap<Servable, Labels>();
  #scrape: VersionSnapshot[] | undefined;

  constructor(repository: ModelRepository) {
    this.#repository = repository;
  }

  /** Reads every loaded version's statistics once for the families of one scrape; end() drops them. */
  begin(): void {
    this.#scrape = this.#read();
  }

  end(): void {
    this.#scrape = undefined;
  }

  #read(): VersionSnapshot[] {
    return this.#repository.servables().map((servable) => {
      let labels = this.#labels.get(servable);
      if (!labels) {
        labels = Object.freeze({ model: servable.name, version: servable.versionText });
        this.#labels.set(servable, labels);
      }
      return { labels, servable, stats: servable.model.stats() };
    });
  }

  #versions(): VersionSnapshot[] {
    return this.#scrape ?? this.#read();
  }

  /** Registers the families on `registry`. */
  register(registry: Registry): void {
    const each = (f: (v: VersionSnapshot) => number) => (): Sample[] => this.#versions().map((v) => seriesSample(v.labels, f(v)));
    collected(registry, 'ortex_inference_count_total', 'Inferences run (batch rows; cache hits excluded). Average batch size: its rate over ortex_inference_exec_count_total\'s', 'counter',
      each((v) => v.stats.rows));
    collected(registry, 'ortex_inference_exec_count_total', 'Model executions (batches run)', 'counter', each((v) => v.stats.batches));
    collected(registry, 'ortex_model_requests_total', 'Requests admitted to the model\'s queue (cache hits excluded)', 'counter', each((v) => v.stats.requests));
    collected(registry, 'ortex_model_rejected_total', 'Requests the model ended without outputs, by reason', 'counter',
      () => this.#versions().flatMap((v) => REJECT_REASONS.map(([field], i): Sample => ({ labels: REASON_LABELS[i]!, sharedLabels: v.labels, value: v.stats.rejected[field] }))));
    collected(registry, 'ortex_pending_requests', 'Requests waiting in the model\'s queue now', 'gauge', each((v) => v.stats.pending));
    collected(registry, 'ortex_executing_requests', 'Requests in batches being run now', 'gauge', each((v) => v.stats.executing));
    for (const [name, field, help] of TIME_FAMILIES) {
      collected(registry, name, help, 'histogram', () => this.#versions().flatMap((v) => histogramSamples(name, v.labels, v.stats[field] as Histogram, 1e6)));
    }
    collected(registry, 'ortex_batch_size', 'Rows per model execution', 'histogram',
      () => this.#versions().flatMap((v) => histogramSamples('ortex_batch_size', v.labels, batchSizeHistogram(v.stats))));
    collected(registry, 'ortex_model_load_duration_seconds', 'Time to load the model version, warm-up included, in seconds', 'gauge',
      each((v) => v.servable.loadMs / 1000));
    collected(registry, 'ortex_model_load_failures_total', 'Failed loads of the model or of one of its versions (configuration error, missing or broken model file, failed warm-up), each counted once until its files change', 'counter',
      () => this.#repository.loadFailures().map((f) => seriesSample({ model: f.name }, f.count)));
  }
}
