/**
 * The response cache's families, read at scrape time from ResponseCache#stats() (counts the
 * cache keeps anyway). The Redis families appear only when the cache has a Redis tier.
 */

import type { Registry } from 'prom-client';
import type { ResponseCache, ResponseCacheStats } from '../cache/index.js';
import { type MetricType, collected } from './collected-metric.js';

type NumericField = { [K in keyof ResponseCacheStats]: ResponseCacheStats[K] extends number ? K : never }[keyof ResponseCacheStats];

const LOCAL: ReadonlyArray<readonly [string, NumericField, MetricType, string]> = [
  ['ortex_cache_hits_total', 'hits', 'counter', 'Requests answered from the response cache (either tier)'],
  ['ortex_cache_encoded_hits_total', 'encodedHits', 'counter', 'Of the cache hits, those answered with the response sent to a byte-identical earlier request, without parsing'],
  ['ortex_cache_misses_total', 'misses', 'counter', 'Requests the response cache computed (cache-enabled models only)'],
  ['ortex_cache_shared_total', 'shared', 'counter', 'Requests that joined an identical request in flight (single flight) instead of running'],
  ['ortex_cache_evictions_total', 'evictions', 'counter', 'Entries dropped from the in-process tier to stay within its size'],
  ['ortex_cache_expirations_total', 'expirations', 'counter', 'Entries dropped from the in-process tier because their TTL had passed'],
  ['ortex_cache_bytes', 'bytes', 'gauge', 'Bytes held by the in-process tier (tensor data plus overheads, approximate)'],
  ['ortex_cache_entries', 'entries', 'gauge', 'Entries held by the in-process tier'],
  ['ortex_cache_inflight', 'inflight', 'gauge', 'Distinct computations or Redis reads in flight'],
];

const REDIS: ReadonlyArray<readonly [string, NumericField, MetricType, string]> = [
  ['ortex_cache_redis_hits_total', 'redisHits', 'counter', 'Cache hits found in Redis'],
  ['ortex_cache_redis_errors_total', 'redisErrors', 'counter', 'Redis operations that failed (Redis down or unreachable, a command error, an undecodable value): the request was served uncached'],
  ['ortex_cache_redis_timeouts_total', 'redisTimeouts', 'counter', 'Redis reads not answered in time: the request was served uncached'],
  ['ortex_cache_redis_bypassed_total', 'redisBypassed', 'counter', 'Redis reads skipped while backing off after a timeout: the request was served uncached'],
];

/**
 * Registers the cache families on `registry`.
 * @param redis whether the cache has a Redis tier.
 */
export function registerCacheMetrics(registry: Registry, cache: ResponseCache, redis: boolean): void {
  for (const [name, field, type, help] of redis ? [...LOCAL, ...REDIS] : LOCAL) {
    collected(registry, name, help, type, () => [{ labels: {}, value: cache.stats()[field] }]);
  }
  if (redis) {
    collected(registry, 'ortex_cache_redis_connected', '1 while the Redis client is connected and ready, else 0', 'gauge',
      () => [{ labels: {}, value: cache.stats().redisConnected ? 1 : 0 }]);
  }
}
