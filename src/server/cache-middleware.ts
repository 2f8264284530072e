/**
 * The response cache in the server: an InferMiddleware that answers the models whose
 * configuration enables it (`response_cache { enable: true }`, Triton's field) from
 * src/cache's ResponseCache, and passes every other model's calls straight through.
 *
 * The key (cache.key()) covers the model, the version that serves the request (not the one
 * asked for: '' means the latest), each input's name, type, dims and bytes, and the names of
 * the outputs asked for. What is cached is the model's output tensors, not the encoded
 * response, so a JSON client and a binary client asking the same thing share an entry.
 *
 * A version reloaded from changed files (poll mode) empties the in-process tier on its first
 * request, so no answer of the old file is served from it. Redis entries of the old file
 * live on until their TTL: replicas sharing a Redis must treat a version number as naming one
 * model file, as Triton does.
 *
 * Threading: the event loop only.
 */

import { type ResponseCache, createResponseCache } from '../cache/index.js';
import type { Servable } from '../repository/servable.js';
import { invalidType, isObject } from '../validate.js';
import type { InferMiddleware } from './infer-pipeline.js';
import type { Logger } from './logger.js';

export interface ServerCacheOptions {
  /** Bytes the in-process tier may hold (approximate); 0: none (single flight and Redis still apply). */
  maxBytes: number;
  /** Lifetime of an entry, in ms; 0 (the default): no expiry. */
  ttlMs?: number;
  /** A Redis shared by replicas. When it is slow or down, requests are served uncached (and counted). */
  redis?: {
    /** e.g. redis://127.0.0.1:6379/0 */
    url: string;
    /** Per-read timeout, in ms. Default 5. */
    timeoutMs?: number;
  };
}

/** A cache and the middleware that consults it. */
export interface ServerCache {
  readonly cache: ResponseCache;
  readonly middleware: InferMiddleware;
  /** Whether it has a Redis tier. */
  readonly redis: boolean;
}

/** Redis errors come once per request while it is down: log one in this many ms, with the count of the rest. */
const REDIS_LOG_INTERVAL_MS = 10_000;

function redisErrorLog(logger: Logger): (err: Error) => void {
  let last = -Infinity;
  let suppressed = 0;
  return (err) => {
    const now = performance.now();
    if (now - last < REDIS_LOG_INTERVAL_MS) {
      suppressed++;
      return;
    }
    logger.warn({ err, suppressed }, 'Redis cache error: requests are served uncached until it answers (see ortex_cache_redis_errors_total)');
    last = now;
    suppressed = 0;
  };
}

/**
 * The middleware over `cache`. Sets RequestRecord#cache to 'hit', 'shared' or 'miss' for the
 * requests it answers; leaves it undefined for models without the cache.
 *
 * @example
 * const cache = createResponseCache({ maxBytes: 64 << 20, ttlMs: 0 });
 * createServer({ repository, middleware: [cacheMiddleware(cache)] });
 */
export function cacheMiddleware(cache: ResponseCache): InferMiddleware {
  // Hits are answered together at the end of the event-loop turn (setImmediate), not one by
  // one as each request is parsed: writing each answer at once makes every client send its
  // next request at once, so each turn of the loop handles a request or two and the server
  // spends itself on wake-ups and small reads. Measured on one pinned core, ctr_mlp, 64
  // connections, all hits: ~21,000 req/s answered at once, ~34,000 answered per turn.
  const dueHits: Array<() => void> = [];
  const answerHits = () => {
    for (const answer of dueHits.splice(0)) answer();
  };
  const atEndOfTurn = <T>(value: T): Promise<T> =>
    new Promise((resolve) => {
      if (dueHits.push(() => resolve(value)) === 1) setImmediate(answerHits);
    });
  const seen = new WeakSet<Servable>();
  const current = new Map<string, Servable>();
  const firstSight = (s: Servable): void => {
    seen.add(s);
    const id = `${s.name}\0${s.versionText}`;
    const before = current.get(id);
    current.set(id, s);
    if (before !== undefined && before.stamp !== s.stamp) cache.clear();
  };
  return (call, next) => {
    const s = call.servable;
    if (!s.config.responseCache.enable) return next(call);
    if (!seen.has(s)) firstSight(s);
    const asked = call.request.outputs;
    const key = cache.key({
      model: s.name,
      version: s.versionText,
      inputs: call.feeds,
      ...(asked !== undefined && { outputs: asked.map((o) => ({ name: o.name })) }),
    });
    return cache.run(key, () => next(call)).then((result) => {
      call.record.cache = result.cached;
      return result.cached === 'hit' ? atEndOfTurn(result.outputs) : result.outputs;
    });
  };
}

/**
 * Makes the server's cache from its `cache` option.
 * @throws ERR_OPTION_INVALID for bad sizes, TTLs or Redis settings.
 */
export function createServerCache(options: ServerCacheOptions, logger: Logger): ServerCache {
  if (!isObject(options)) throw invalidType('{ maxBytes, ttlMs?, redis? }', 'the cache option', options, 'ERR_OPTION_INVALID');
  const redis = options.redis;
  if (redis !== undefined && !isObject(redis)) throw invalidType('{ url, timeoutMs? }', 'cache.redis', redis, 'ERR_OPTION_INVALID');
  const cache = createResponseCache({
    maxBytes: options.maxBytes,
    ttlMs: options.ttlMs ?? 0,
    ...(redis !== undefined && { redis: { ...redis, onError: redisErrorLog(logger) } }),
  });
  return { cache, middleware: cacheMiddleware(cache), redis: redis !== undefined };
}
