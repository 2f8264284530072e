/**
 * The response cache the server calls once per inference request of a model whose config
 * enables it (`response_cache.enable`; models without it do not call it). Three layers, in
 * the order a request meets them:
 *
 *   1. the in-process LRU (lru-cache.ts), checked synchronously: a hit costs no await;
 *   2. single flight (single-flight.ts): a request identical to one in flight waits for it;
 *   3. the optional shared Redis tier (redis-cache.ts), then the computation itself, whose
 *      result fills both tiers. A failed computation is delivered to every waiter and not
 *      cached; except an abort of the first caller's own request (ERR_REQUEST_ABORTED), after
 *      which the callers that joined it run again.
 *
 * Beside the outputs, the in-process tier keeps responses as they were sent
 * (getEncoded/setEncoded, keyed by encodedKey() over a request's bytes as received), so that
 * a server can answer a byte-identical request without parsing it; the two kinds of entry
 * share one byte bound, one TTL and clear().
 *
 * Cached outputs are shared by every request that hits them: treat them as read-only.
 */

import { native } from '../native.js';
import type { Tensor } from '../tensor.js';
import { invalidRange, invalidType, isInteger, isObject, isString } from '../validate.js';
import { type CacheKeyRequest, DEFAULT_KEY_SEED, cacheKey } from './cache-key.js';
import { LruCache } from './lru-cache.js';
import { RedisCache, type RedisCacheOptions } from './redis-cache.js';
import { ENTRY_OVERHEAD_BYTES, compactOutputs, responseBytes } from './response-size.js';
import { SingleFlight } from './single-flight.js';

export type Outputs = Record<string, Tensor>;

export interface ResponseCacheOptions {
  /** Bytes the in-process tier may hold (tensor bytes plus overheads, approximate); 0: no local tier. */
  maxBytes: number;
  /**
   * Lifetime of an entry in ms; 0: no expiry. An entry read from Redis starts a new
   * lifetime in the local tier, so it may be served for up to twice this.
   */
  ttlMs: number;
  /**
   * Seed of every key (default DEFAULT_KEY_SEED). Replicas sharing a Redis must agree on
   * it; a secret seed makes crafted key collisions harder (the hash is not cryptographic).
   */
  keySeed?: string;
  /** The shared tier; absent: in-process only. */
  redis?: Omit<RedisCacheOptions, 'ttlMs'>;
}

/** A response exactly as it was sent, kept for byte-identical requests. Read-only once stored. */
export interface EncodedResponse {
  /** The body as sent. */
  readonly body: Uint8Array;
  /** The Inference-Header-Content-Length it was sent with; undefined for an all-JSON body. */
  readonly headerLength: number | undefined;
  /** Rows of the request it answered (batch rows, for statistics). */
  readonly rows: number;
}

/** What identifies a request by its bytes: the model file that answers it and the message as received. */
export interface EncodedKeyRequest {
  readonly model: string;
  readonly version: string;
  /** Identifies the loaded configuration and file (a reloaded version must not match its old entries). */
  readonly stamp: string;
  /** The Inference-Header-Content-Length the request came with; undefined for an all-JSON body. */
  readonly headerLength: number | undefined;
  readonly body: Uint8Array;
}

/** Keys of encoded responses are hashed under their own seed, a space apart from the outputs' keys. */
const ENCODED_SEED_SUFFIX = '/encoded';

/** How a request was answered. */
export type CacheOutcome = 'hit' | 'miss' | 'shared';

export interface CacheResult {
  outputs: Outputs;
  /** hit: from either tier; miss: computed for this request; shared: joined an identical request in flight. */
  cached: CacheOutcome;
}

export interface ResponseCacheStats {
  /** Requests answered from the cache (either tier, outputs or encoded responses). */
  hits: number;
  /** Of the hits, those answered with the stored response of a byte-identical request (getEncoded), unparsed. */
  encodedHits: number;
  /** Requests that ran the computation. */
  misses: number;
  /** Requests that joined an identical request in flight (single flight). */
  shared: number;
  /** Local entries dropped to stay under maxBytes. */
  evictions: number;
  /** Local entries dropped because their TTL had passed. */
  expirations: number;
  /** Bytes held by the local tier (approximate). */
  bytes: number;
  /** Entries held by the local tier. */
  entries: number;
  /** Distinct computations (or Redis reads) in flight now. */
  inflight: number;
  /** Of the hits, those found in Redis. */
  redisHits: number;
  /** Redis operations that failed (the request was served uncached). */
  redisErrors: number;
  /** Redis reads that timed out (the request was served uncached). */
  redisTimeouts: number;
  /** Redis reads skipped while backing off after a timeout. */
  redisBypassed: number;
  /** Whether Redis is connected now (false without a Redis tier). */
  redisConnected: boolean;
}

export interface ResponseCache {
  /** The key of a request under this cache's seed (see cacheKey()). */
  key(request: CacheKeyRequest): bigint;
  /** The cached outputs for `key`, or those of `compute()`, run at most once at a time per key. */
  run(key: bigint, compute: () => Promise<Outputs>): Promise<CacheResult>;
  /** The key of a request's bytes as received, for getEncoded()/setEncoded(). */
  encodedKey(request: EncodedKeyRequest): bigint;
  /** The response stored for a byte-identical request (a hit, counted), or undefined (not counted: run() counts the miss). */
  getEncoded(key: bigint): EncodedResponse | undefined;
  /** Stores a response as sent, in the in-process tier only. */
  setEncoded(key: bigint, response: EncodedResponse): void;
  stats(): ResponseCacheStats;
  /** Drops every local entry (e.g. when a model version is unloaded); Redis entries expire by TTL. */
  clear(): void;
  /** Closes the Redis connection. */
  close(): void;
}

class StoredResponse {
  constructor(readonly response: EncodedResponse) {}
}

class TieredResponseCache implements ResponseCache {
  readonly #seed: string;
  readonly #encodedSeed: string;
  // Outputs are plain objects; encoded responses are told apart by their class.
  readonly #lru: LruCache<bigint, Outputs | StoredResponse>;
  readonly #redis: RedisCache | undefined;
  readonly #flights = new SingleFlight<bigint, CacheResult>();
  #hits = 0;
  #misses = 0;
  #shared = 0;
  #redisHits = 0;
  #encodedHits = 0;

  constructor(options: ResponseCacheOptions) {
    this.#seed = options.keySeed ?? DEFAULT_KEY_SEED;
    this.#encodedSeed = this.#seed + ENCODED_SEED_SUFFIX;
    this.#lru = new LruCache({ maxBytes: options.maxBytes, ttlMs: options.ttlMs });
    this.#redis = options.redis ? new RedisCache({ ...options.redis, ttlMs: options.ttlMs }) : undefined;
  }

  key(request: CacheKeyRequest): bigint {
    return cacheKey(request, this.#seed);
  }

  run(key: bigint, compute: () => Promise<Outputs>): Promise<CacheResult> {
    if (typeof key !== 'bigint') return Promise.reject(invalidType('a bigint key from key()', 'cache run() key', key));
    if (typeof compute !== 'function') return Promise.reject(invalidType('a function', 'cache run() compute', compute));
    const local = this.#lru.get(key);
    if (local !== undefined && !(local instanceof StoredResponse)) {
      this.#hits++;
      return Promise.resolve({ outputs: local, cached: 'hit' });
    }
    const { promise, joined } = this.#flights.run(key, () => this.#fill(key, compute));
    if (!joined) return promise;
    this.#shared++;
    return promise.then(
      (r) => ({ outputs: r.outputs, cached: 'shared' }),
      // The first caller's abort (its client went away) says nothing about the inputs: the
      // callers that joined it run again, one of them computing for the rest.
      (err: unknown) => ((err as { code?: unknown } | null)?.code === 'ERR_REQUEST_ABORTED' ? this.run(key, compute) : Promise.reject(err)),
    );
  }

  encodedKey(request: EncodedKeyRequest): bigint {
    if (!isObject(request) || !(request.body instanceof Uint8Array)) throw invalidType('{ model, version, stamp, headerLength, body: Uint8Array }', 'encodedKey()', request);
    const { model, version, stamp, headerLength } = request;
    if (!isString(model) || !isString(version) || !isString(stamp)) throw invalidType('strings', 'encodedKey() model, version and stamp', request);
    const header = `${model.length}:${model}${version.length}:${version}${stamp.length}:${stamp}|${headerLength ?? 'json'}`;
    return native.hashParts(this.#encodedSeed, header, request.body);
  }

  getEncoded(key: bigint): EncodedResponse | undefined {
    const found = this.#lru.get(key);
    if (!(found instanceof StoredResponse)) return undefined;
    this.#hits++;
    this.#encodedHits++;
    return found.response;
  }

  setEncoded(key: bigint, response: EncodedResponse): void {
    this.#lru.set(key, new StoredResponse(response), ENTRY_OVERHEAD_BYTES + response.body.byteLength);
  }

  async #fill(key: bigint, compute: () => Promise<Outputs>): Promise<CacheResult> {
    if (this.#redis) {
      const found = await this.#redis.get(key);
      if (found !== undefined) {
        this.#hits++;
        this.#redisHits++;
        this.#lru.set(key, found, responseBytes(found));
        return { outputs: found, cached: 'hit' };
      }
    }
    this.#misses++;
    const outputs = await compute();
    const compact = compactOutputs(outputs);
    this.#lru.set(key, compact, responseBytes(compact));
    this.#redis?.set(key, compact);
    return { outputs, cached: 'miss' };
  }

  stats(): ResponseCacheStats {
    const l = this.#lru.stats();
    const r = this.#redis?.stats();
    return {
      hits: this.#hits,
      encodedHits: this.#encodedHits,
      misses: this.#misses,
      shared: this.#shared,
      evictions: l.evictions,
      expirations: l.expirations,
      bytes: l.bytes,
      entries: l.entries,
      inflight: this.#flights.size,
      redisHits: this.#redisHits,
      redisErrors: r?.errors ?? 0,
      redisTimeouts: r?.timeouts ?? 0,
      redisBypassed: r?.bypassed ?? 0,
      redisConnected: r?.connected ?? false,
    };
  }

  clear(): void {
    this.#lru.clear();
  }

  close(): void {
    this.#redis?.close();
  }
}

/**
 * Creates the response cache: an in-process LRU bounded in bytes, single flight, and
 * optionally a Redis tier shared by replicas. Redis trouble never fails a request: it is
 * served uncached and counted (redisErrors, redisTimeouts).
 *
 * @example
 * const cache = createResponseCache({ maxBytes: 256 << 20, ttlMs: 60_000, redis: { url: 'redis://127.0.0.1:6379', timeoutMs: 5 } });
 * const key = cache.key({ model: 'ctr', version: 1, inputs: feeds, outputs: [{ name: 'y', binary: true }] });
 * const { outputs, cached } = await cache.run(key, () => model.infer(feeds));   // cached: 'hit' | 'miss' | 'shared'
 */
export function createResponseCache(options: ResponseCacheOptions): ResponseCache {
  if (!isObject(options)) throw invalidType('an options object', 'createResponseCache()', options, 'ERR_OPTION_INVALID');
  const { maxBytes, ttlMs, keySeed, redis } = options;
  if (!isInteger(maxBytes) || maxBytes < 0) throw invalidRange('an integer number of bytes >= 0', 'cache maxBytes', maxBytes, 'ERR_OPTION_INVALID');
  if (!isInteger(ttlMs) || ttlMs < 0) throw invalidRange('an integer number of ms >= 0', 'cache ttlMs', ttlMs, 'ERR_OPTION_INVALID');
  if (keySeed !== undefined && !isString(keySeed)) throw invalidType('a string', 'cache keySeed', keySeed, 'ERR_OPTION_INVALID');
  if (redis !== undefined && !isObject(redis)) throw invalidType('{ url, timeoutMs?, keyPrefix? }', 'cache redis', redis, 'ERR_OPTION_INVALID');
  return new TieredResponseCache(options);
}
