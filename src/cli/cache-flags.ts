/**
 * `ortex serve` flags of the response cache:
 *
 *   --cache-bytes N        the in-process tier's size; turns the cache on
 *   --cache-ttl-ms N       entry lifetime (default 0: no expiry)
 *   --redis URL            a Redis shared by replicas; turns the cache on
 *   --redis-timeout-ms N   per-read timeout (default 5); slower reads are served uncached
 *
 * Only models whose configuration has `response_cache { enable: true }` use it.
 */

import type { ServerCacheOptions } from '../server/cache-middleware.js';
import { SERVE_EXTENSIONS } from './serve-extensions.js';
import { UsageError, integer } from './serve-options.js';

SERVE_EXTENSIONS.push({
  flags: {
    'cache-bytes': { type: 'string' },
    'cache-ttl-ms': { type: 'string' },
    redis: { type: 'string' },
    'redis-timeout-ms': { type: 'string' },
  },
  help: [
    '  --cache-bytes N             response cache size in bytes, for models with response_cache.enable (default: no cache)',
    '  --cache-ttl-ms N            response cache entry lifetime (default 0: no expiry)',
    '  --redis URL                 share the response cache through Redis (redis://host:port/db); slow or down: served uncached',
    '  --redis-timeout-ms N        Redis read timeout (default 5)',
  ],
  configure(values, options) {
    const maxBytes = integer(values, 'cache-bytes', 0, Number.MAX_SAFE_INTEGER);
    const ttlMs = integer(values, 'cache-ttl-ms', 0, 2 ** 31 - 1);
    const url = values.redis as string | undefined;
    const timeoutMs = integer(values, 'redis-timeout-ms', 1, 60_000);
    if (maxBytes === undefined && url === undefined) {
      if (ttlMs !== undefined) throw new UsageError('--cache-ttl-ms needs --cache-bytes or --redis');
      if (timeoutMs !== undefined) throw new UsageError('--redis-timeout-ms needs --redis');
      return;
    }
    if (timeoutMs !== undefined && url === undefined) throw new UsageError('--redis-timeout-ms needs --redis');
    if (url !== undefined && !/^rediss?:\/\/./.test(url)) throw new UsageError(`Expected a redis:// or rediss:// URL for --redis but received ${JSON.stringify(url)}`);
    const cache: ServerCacheOptions = { maxBytes: maxBytes ?? 0, ttlMs: ttlMs ?? 0 };
    if (url !== undefined) cache.redis = timeoutMs === undefined ? { url } : { url, timeoutMs };
    options.cache = cache;
  },
});
