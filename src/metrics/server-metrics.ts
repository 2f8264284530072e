/**
 * A server's Prometheus metrics: one prom-client Registry holding the request, model, cache
 * and GPU families, every one of them read at scrape time, plus the process-wide default
 * metrics. The only per-request work is RequestMetrics#observe() (an onRequest observer).
 *
 *   requests   ortex_request_{success,failure}_total, ortex_request_duration_seconds, ...   request-metrics.ts
 *   models     ortex_inference_count_total, ortex_queue_duration_seconds, ortex_batch_size, ... model-metrics.ts
 *   cache      ortex_cache_*                                                            cache-metrics.ts
 *   GPU        ortex_gpu_*                       (only where nvidia-smi is installed)    gpu-probe.ts
 *   process    process_*, nodejs_*               (prom-client's default metrics)         process-metrics.ts
 */

import { Registry } from 'prom-client';
import type { ResponseCache } from '../cache/index.js';
import type { ModelRepository } from '../repository/repository.js';
import type { Logger } from '../server/logger.js';
import type { RequestRecord } from '../server/request-record.js';
import { invalidRange, invalidType, isBoolean, isInteger, isObject, isString } from '../validate.js';
import { registerCacheMetrics } from './cache-metrics.js';
import { GpuProbe, type GpuProbeOptions } from './gpu-probe.js';
import { ModelMetrics } from './model-metrics.js';
import { processRegistry } from './process-metrics.js';
import { RequestMetrics } from './request-metrics.js';

export interface MetricsOptions {
  /** Serve GET /metrics on a listener of its own too, on this port (0: a free one; see server.metricsPort). */
  port?: number;
  /** That listener's address. Default: the server's host. */
  host?: string;
  /** Process CPU, memory, event loop and GC (prom-client's default metrics). Default true. */
  processMetrics?: boolean;
  /** GPU utilization and memory through nvidia-smi, where it is installed. Default true. */
  gpu?: boolean | GpuProbeOptions;
}

export interface ServerMetricsSources {
  readonly repository: ModelRepository;
  readonly cache?: ResponseCache | undefined;
  /** Whether the cache has a Redis tier. */
  readonly redis?: boolean;
  readonly logger: Logger;
}

export interface ServerMetrics {
  /** The server's own families (not the process-wide ones); more may be registered on it. */
  readonly registry: Registry;
  /** The Content-Type of text(). */
  readonly contentType: string;
  /** Whether GPU metrics are collected (nvidia-smi was found). */
  readonly gpu: boolean;
  /** A RequestObserver: counts a finished request. */
  observe(record: RequestRecord): void;
  /** The Prometheus text exposition of every family. */
  text(): Promise<string>;
  /** Stops the GPU probe. */
  close(): void;
}

/** Checks MetricsOptions, saying what was expected (ERR_OPTION_INVALID). */
export function checkMetricsOptions(o: unknown): asserts o is MetricsOptions | boolean | undefined {
  if (o === undefined || typeof o === 'boolean') return;
  if (!isObject(o)) throw invalidType('true, false or { port?, host?, processMetrics?, gpu? }', 'the metrics option', o, 'ERR_OPTION_INVALID');
  const m = o as MetricsOptions;
  if (m.port !== undefined && (!isInteger(m.port) || m.port < 0 || m.port > 65535)) throw invalidRange('an integer from 0 to 65535', 'metrics.port', m.port, 'ERR_OPTION_INVALID');
  if (m.host !== undefined && (!isString(m.host) || m.host === '')) throw invalidType('a host name or address', 'metrics.host', m.host, 'ERR_OPTION_INVALID');
  if (m.processMetrics !== undefined && !isBoolean(m.processMetrics)) throw invalidType('a boolean', 'metrics.processMetrics', m.processMetrics, 'ERR_OPTION_INVALID');
  if (m.gpu !== undefined && !isBoolean(m.gpu) && !isObject(m.gpu)) throw invalidType('a boolean or { command?, intervalMs? }', 'metrics.gpu', m.gpu, 'ERR_OPTION_INVALID');
  if (isObject(m.gpu)) {
    const { command, intervalMs } = m.gpu;
    if (command !== undefined && (!isString(command) || command === '')) throw invalidType('a command name or path', 'metrics.gpu.command', command, 'ERR_OPTION_INVALID');
    if (intervalMs !== undefined && (!isInteger(intervalMs) || intervalMs < 100)) throw invalidRange('an integer number of ms >= 100', 'metrics.gpu.intervalMs', intervalMs, 'ERR_OPTION_INVALID');
  }
}

/**
 * @example
 * const metrics = createServerMetrics({ repository, cache, logger }, { gpu: false });
 * createServer({ ..., onRequest: (r) => metrics.observe(r) });
 * const text = await metrics.text();
 */
export function createServerMetrics(sources: ServerMetricsSources, options: MetricsOptions = {}): ServerMetrics {
  checkMetricsOptions(options);
  const registry = new Registry();
  const requests = new RequestMetrics(sources.repository);
  const models = new ModelMetrics(sources.repository);
  requests.register(registry);
  models.register(registry);
  if (sources.cache) registerCacheMetrics(registry, sources.cache, sources.redis ?? false);
  const gpu = options.gpu === false ? undefined : GpuProbe.start(options.gpu === true || options.gpu === undefined ? {} : options.gpu, sources.logger);
  gpu?.register(registry);
  const withProcess = options.processMetrics ?? true;
  if (withProcess) processRegistry();

  return {
    registry,
    contentType: Registry.PROMETHEUS_CONTENT_TYPE,
    gpu: gpu !== undefined,
    observe: (record) => requests.observe(record),
    async text() {
      models.begin();
      let own: string;
      try {
        own = await registry.metrics();
      } finally {
        models.end();
      }
      return withProcess ? own + (await processRegistry().metrics()) : own;
    },
    close() {
      gpu?.stop();
    },
  };
}
