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
 * In front of it, runInfer() consults the encoded responses (EncodedResponses below): a request
 * whose bytes equal those of an earlier one to the same model file is answered with the bytes
 * sent then, before it is parsed. Clients that repeat a request send the same bytes, and on a
 * model as cheap as a small MLP, parsing the body and encoding the answer are most of a
 * request's cost. A request that differs in any byte (whitespace, key order, an `id`) misses
 * there and meets the outputs' cache as before.
 *
 * A version reloaded from changed files (poll mode) empties the in-process tier on its first
 * request, so no answer of the old file is served from it; encoded responses are keyed by the
 * servable's stamp as well, since they are consulted before that first request is seen. Redis entries of the old file
 * live on until their TTL: replicas sharing a Redis must treat a version number as naming one
 * model file, as Triton does.
 *
 * Threading: the event loop only.
 */

import { Buffer } from 'node:buffer';
import { type ResponseCache, createResponseCache } from '../cache/index.js';
import type { Servable } from '../repository/servable.js';
import type { Tensor } from '../tensor.js';
import { invalidType, isObject } from '../validate.js';
import type { InferMiddleware } from './infer-pipeline.js';
import type { Logger } from './logger.js';
import type { EncodedMessage } from './oip-types.js';
import type { RequestRecord } from './request-record.js';

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

/**
 * Responses as sent, for byte-identical requests (runInfer() consults them before parsing).
 * Threading: the event loop only.
 */
export interface EncodedResponses {
  /** The key of a request to `servable`, or undefined when its model does not cache. */
  key(servable: Servable, body: Uint8Array, headerLength: number | undefined): bigint | undefined;
  /**
   * Answers with the stored response for `key`: fills the record as for a cache hit, calls
   * `reply` with it at the end of this event-loop turn and returns true; false when there is none.
   */
  answer(key: bigint, record: RequestRecord, reply: (err: null, message: EncodedMessage) => void): boolean;
  /**
   * Keeps a response sent to the request of `key`, which carried `rows` batch rows; returns
   * the message as kept (a JSON body as bytes), to be sent as it is.
   */
  store(key: bigint, message: EncodedMessage, rows: number): EncodedMessage;
}

/** A cache and the middleware that consults it. */
export interface ServerCache {
  readonly cache: ResponseCache;
  readonly middleware: InferMiddleware;
  /** Absent when the in-process tier holds nothing (maxBytes 0): there would be nowhere to keep the bytes. */
  readonly encoded?: EncodedResponses;
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

/** Calls `f` at the end of the current event-loop turn. */
type EndOfTurn = (f: () => void) => void;

/**
 * Hits are answered together at the end of the event-loop turn (setImmediate), not one by
 * one as each request is parsed: writing each answer at once makes every client send its
 * next request at once, so each turn of the loop handles a request or two and the server
 * spends itself on wake-ups and small reads. Measured on one pinned core, ctr_mlp, 64
 * connections, all hits: ~21,000 req/s answered at once, ~34,000 answered per turn.
 */
function endOfTurn(): EndOfTurn {
  const due: Array<() => void> = [];
  const answerAll = () => {
    // Each answer goes out even if one before it throws (a bug in a reply); the first such
    // error is raised once all are done, as an uncaught exception.
    let failed = false;
    let failure: unknown;
    for (const answer of due.splice(0)) {
      try {
        answer();
      } catch (err) {
        if (!failed) [failed, failure] = [true, err];
      }
    }
    if (failed) throw failure;
  };
  return (f) => {
    if (due.push(f) === 1) setImmediate(answerAll);
  };
}

/** The encoded responses of `cache` (see EncodedResponses). */
export function encodedResponses(cache: ResponseCache, atEndOfTurn: EndOfTurn = endOfTurn()): EncodedResponses {
  return {
    key: (s, body, headerLength) =>
      s.config.responseCache.enable ? cache.encodedKey({ model: s.name, version: s.versionText, stamp: s.stamp, headerLength, body }) : undefined,
    answer: (key, record, reply) => {
      const found = cache.getEncoded(key);
      if (found === undefined) return false;
      record.cache = 'hit';
      record.rows = found.rows;
      record.inputMs = record.inferEndMs = record.outputMs = performance.now();
      const message: EncodedMessage = found.headerLength === undefined ? { body: found.body } : { body: found.body, headerLength: found.headerLength };
      atEndOfTurn(() => reply(null, message));
      return true;
    },
    store: (key, message, rows) => {
      // Kept as bytes: a JSON answer would otherwise be encoded to UTF-8 again on every hit.
      const body = typeof message.body === 'string' ? Buffer.from(message.body, 'utf8') : message.body;
      cache.setEncoded(key, { body, headerLength: message.headerLength, rows });
      return message.headerLength === undefined ? { body } : { body, headerLength: message.headerLength };
    },
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
export function cacheMiddleware(cache: ResponseCache, atEndOfTurn: EndOfTurn = endOfTurn()): InferMiddleware {
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
      if (result.cached !== 'hit') return result.outputs;
      return new Promise<Record<string, Tensor>>((resolve) => atEndOfTurn(() => resolve(result.outputs)));
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
  const atEndOfTurn = endOfTurn();
  return {
    cache,
    middleware: cacheMiddleware(cache, atEndOfTurn),
    ...(options.maxBytes > 0 && { encoded: encodedResponses(cache, atEndOfTurn) }),
    redis: redis !== undefined,
  };
}
