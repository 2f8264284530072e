/**
 * The statistics extension's response in Triton's shape (`GET /v2/models[/{m}[/versions/{v}]]/stats`):
 * per model version, inference and execution counts and cumulative durations in ns.
 *
 * Sources: the batcher (Model#stats()) for queue, compute_infer (per execution: input
 * staging, run and output fetch together), counts and batch sizes; the server
 * (Servable#requestStats) for success and fail (whole request, from the handler to the last
 * byte written), compute_input (parsing and feeds) and compute_output (encoding). The
 * batcher does not time executions per batch size, so batch_stats carry counts with ns 0.
 * Warm-up runs count as inferences, as they are run through the batcher.
 */

import type { Histogram } from '../model-stats.js';
import type { Servable } from '../repository/servable.js';

const fromHistogram = (h: Histogram) => ({ count: h.count, ns: Math.round(h.sum * 1000) });

/** One entry of `model_stats`. */
export function modelStatsJson(servable: Servable): Record<string, unknown> {
  const s = servable.model.stats();
  const r = servable.requestStats;
  const batchStats: unknown[] = [];
  s.batchSizes.forEach((count, size) => {
    if (count > 0) {
      const zero = { count, ns: 0 };
      batchStats.push({ batch_size: size, compute_input: zero, compute_infer: zero, compute_output: zero });
    }
  });
  return {
    name: servable.name,
    version: servable.versionText,
    last_inference: r.lastInferenceMs,
    inference_count: s.rows,
    execution_count: s.batches,
    inference_stats: {
      success: { ...r.success },
      fail: { ...r.fail },
      queue: fromHistogram(s.queueUs),
      compute_input: { ...r.computeInput },
      compute_infer: fromHistogram(s.computeUs),
      compute_output: { ...r.computeOutput },
      cache_hit: { ...r.cacheHit },
      cache_miss: { ...r.cacheMiss },
    },
    batch_stats: batchStats,
    memory_usage: [],
  };
}

/** The whole response body: `{ "model_stats": [...] }`. */
export function statsJson(servables: readonly Servable[]): { model_stats: Array<Record<string, unknown>> } {
  return { model_stats: servables.map(modelStatsJson) };
}
