/**
 * The statistics extension's response in Triton's shape (`GET /v2/models[/{m}[/versions/{v}]]/stats`):
 * per model version, inference and execution counts and cumulative durations in ns.
 *
 * Sources: the batcher (Model#stats()) for queue, counts, batch sizes and, per execution
 * and per batch size, its input staging, run and output fetch; the server
 * (Servable#requestStats) for success and fail (whole request, from the handler to the last
 * byte written) and its own share of compute_input (parsing, feeds) and compute_output
 * (encoding), added to the batcher's. Warm-up runs count as inferences, as they are run
 * through the batcher.
 */

import type { Histogram } from '../model-stats.js';
import type { Servable } from '../repository/servable.js';

const fromHistogram = (h: Histogram) => ({ count: h.count, ns: Math.round(h.sum * 1000) });
const plus = (a: { count: number; ns: number }, h: Histogram) => ({ count: a.count, ns: a.ns + Math.round(h.sum * 1000) });

/** One entry of `model_stats`. */
export function modelStatsJson(servable: Servable): Record<string, unknown> {
  const s = servable.model.stats();
  const r = servable.requestStats;
  const batchStats: unknown[] = [];
  s.batchSizes.forEach((count, size) => {
    if (count > 0) {
      const ns = (us: readonly number[]) => ({ count, ns: Math.round((us[size] ?? 0) * 1000) });
      const p = s.batchPhasesUs;
      batchStats.push({ batch_size: size, compute_input: ns(p.input), compute_infer: ns(p.infer), compute_output: ns(p.output) });
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
      compute_input: plus(r.computeInput, s.computeInputUs),
      compute_infer: fromHistogram(s.computeInferUs),
      compute_output: plus(r.computeOutput, s.computeOutputUs),
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
