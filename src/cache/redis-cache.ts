/**
 * The Redis tier of the response cache, shared by replicas (ioredis client). Redis must
 * never turn into an error for a client: every operation here resolves, and anything that
 * goes wrong is counted and answered as a miss, so the request is computed and served
 * uncached.
 *
 * - Down (refused, reset, reconnecting): commands fail at once (no offline queue) and count
 *   as `errors`; the client reconnects in the background with a capped backoff.
 * - Slow: a get() not answered within `timeoutMs` counts as a `timeout`, and for
 *   `retryAfterMs` after it Redis is skipped altogether (`bypassed`), so a stalled server
 *   costs one timeout per interval instead of one per request, and commands do not pile up
 *   behind it. The first operation after the interval probes it again.
 *
 * Values are the compact binary form of response-codec.ts; a value that fails to decode
 * counts as an error and a miss. Entries expire in Redis after the cache's TTL; bound the
 * server's memory with its own `maxmemory` and an `allkeys-lru` policy.
 *
 * All methods run on the JS thread.
 */

import { Redis } from 'ioredis';
import type { Tensor } from '../tensor.js';
import { keyToHex } from './cache-key.js';
import { decodeResponse, encodeResponse } from './response-codec.js';
import { invalidRange, invalidType, isInteger, isString } from '../validate.js';

export interface RedisCacheOptions {
  /** e.g. `redis://127.0.0.1:6379/0` (user, password and database number as usual). */
  url: string;
  /** Per-operation timeout in ms (default 5). */
  timeoutMs?: number;
  /** Prepended to every key (default `ortex:rc:`). */
  keyPrefix?: string;
  /** Lifetime of an entry in ms; 0: no expiry (default 0). */
  ttlMs?: number;
  /** How long Redis is skipped after a timeout, in ms (default 1000). */
  retryAfterMs?: number;
  /**
   * Called with connection and command errors, e.g. to log them (commands are counted
   * anyway). While Redis is down, a connection error comes at each reconnect attempt (at most
   * one a second).
   */
  onError?: (err: Error) => void;
}

export interface RedisCacheStats {
  hits: number;
  misses: number;
  /** Operations that failed: Redis down or unreachable, a command error, an undecodable value. */
  errors: number;
  /** Reads not answered within timeoutMs (served uncached). */
  timeouts: number;
  /** Reads skipped while backing off after a timeout (served uncached). */
  bypassed: number;
  /** Whether the client is connected and ready now. */
  connected: boolean;
}

const TIMED_OUT = Symbol('timed out');

function intOption(v: unknown, what: string, min: number, fallback: number): number {
  if (v === undefined) return fallback;
  if (!isInteger(v) || v < min) throw invalidRange(`an integer >= ${min}`, what, v, 'ERR_OPTION_INVALID');
  return v;
}

/**
 * @example
 * const redis = new RedisCache({ url: 'redis://127.0.0.1:6379', timeoutMs: 5, ttlMs: 60_000 });
 * const hit = await redis.get(key);     // undefined on a miss, an error or a timeout
 * if (!hit) redis.set(key, await model.infer(feeds));
 */
export class RedisCache {
  readonly timeoutMs: number;
  readonly keyPrefix: string;
  readonly ttlMs: number;
  readonly retryAfterMs: number;
  readonly #client: Redis;
  readonly #onError: ((err: Error) => void) | undefined;
  #skipUntil = 0;
  #hits = 0;
  #misses = 0;
  #errors = 0;
  #timeouts = 0;
  #bypassed = 0;

  constructor(options: RedisCacheOptions) {
    if (!isString(options?.url) || !/^rediss?:\/\//.test(options.url)) throw invalidType('a redis:// or rediss:// URL', 'redis url', options?.url, 'ERR_OPTION_INVALID');
    this.timeoutMs = intOption(options.timeoutMs, 'redis timeoutMs', 1, 5);
    this.ttlMs = intOption(options.ttlMs, 'redis ttlMs', 0, 0);
    this.retryAfterMs = intOption(options.retryAfterMs, 'redis retryAfterMs', 0, 1000);
    if (options.keyPrefix !== undefined && !isString(options.keyPrefix)) throw invalidType('a string', 'redis keyPrefix', options.keyPrefix, 'ERR_OPTION_INVALID');
    this.keyPrefix = options.keyPrefix ?? 'ortex:rc:';
    this.#onError = options.onError;
    this.#client = new Redis(options.url, {
      // Fail at once while disconnected instead of queueing: the request goes on uncached.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      // Reconnect forever in the background, backing off to at most 1 s between attempts.
      retryStrategy: (times) => Math.min(50 * times, 1000),
      connectTimeout: 2000,
    });
    // Without a listener, ioredis would report every failed reconnect as an unhandled 'error'.
    this.#client.on('error', (err: Error) => this.#onError?.(err));
  }

  /** The cached response, or undefined on a miss, an error or a timeout. Never rejects. */
  async get(key: bigint): Promise<Record<string, Tensor> | undefined> {
    if (performance.now() < this.#skipUntil) {
      this.#bypassed++;
      return undefined;
    }
    let timer: NodeJS.Timeout | undefined;
    try {
      const op = this.#client.getBuffer(this.keyPrefix + keyToHex(key));
      const timeout = new Promise<typeof TIMED_OUT>((resolve) => {
        timer = setTimeout(resolve, this.timeoutMs, TIMED_OUT);
      });
      // race() subscribes to `op`, so its late rejection after a timeout is handled.
      const reply = await Promise.race([op, timeout]);
      if (reply === TIMED_OUT) {
        this.#timeouts++;
        this.#skipUntil = performance.now() + this.retryAfterMs;
        return undefined;
      }
      if (reply === null) {
        this.#misses++;
        return undefined;
      }
      const outputs = decodeResponse(reply);
      this.#hits++;
      return outputs;
    } catch (err) {
      this.#failed(err);
      return undefined;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Stores a response in the background; failures are counted, never thrown. */
  set(key: bigint, outputs: Readonly<Record<string, Tensor>>): void {
    if (performance.now() < this.#skipUntil) return;
    let value: Buffer;
    try {
      value = encodeResponse(outputs);
    } catch {
      return; // beyond what the format holds (a dim >= 2^32): served, just not shared
    }
    const k = this.keyPrefix + keyToHex(key);
    const op = this.ttlMs > 0 ? this.#client.set(k, value, 'PX', this.ttlMs) : this.#client.set(k, value);
    op.catch((err: unknown) => this.#failed(err));
  }

  stats(): RedisCacheStats {
    return {
      hits: this.#hits,
      misses: this.#misses,
      errors: this.#errors,
      timeouts: this.#timeouts,
      bypassed: this.#bypassed,
      connected: this.#client.status === 'ready',
    };
  }

  /** Closes the connection at once (commands still waiting resolve as errors). */
  close(): void {
    this.#client.disconnect(false);
  }

  #failed(err: unknown): void {
    this.#errors++;
    this.#onError?.(err instanceof Error ? err : new Error(String(err)));
  }
}
