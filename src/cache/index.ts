/**
 * The response cache's public surface, for the server and for programs that embed ortex.
 *
 * @example
 * import { createResponseCache } from './cache/index.js';
 * const cache = createResponseCache({ maxBytes: 256 << 20, ttlMs: 60_000 });
 * const { outputs, cached } = await cache.run(cache.key({ model, version, inputs }), () => m.infer(inputs));
 */

export { createResponseCache } from './response-cache.js';
export type { ResponseCache, ResponseCacheOptions, ResponseCacheStats, CacheResult, CacheOutcome, Outputs, EncodedResponse, EncodedKeyRequest } from './response-cache.js';
export { cacheKey, keyToHex, DEFAULT_KEY_SEED } from './cache-key.js';
export type { CacheKeyRequest, RequestedOutput } from './cache-key.js';
export type { RedisCacheOptions } from './redis-cache.js';
