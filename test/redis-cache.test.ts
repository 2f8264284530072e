// The Redis tier of the response cache against a real redis-server, started here on a free
// port: two caches sharing it act as two replicas; then the server is stopped (requests are
// still answered, uncached, and counted as errors), brought back (the client reconnects by
// itself), and frozen with SIGSTOP (reads time out, are counted, and requests are served).
import type { ChildProcess } from 'node:child_process';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Tensor, createModel, type Model } from '../src/index.js';
import { type ResponseCache, createResponseCache } from '../src/cache/response-cache.js';
import { cacheKey, keyToHex } from '../src/cache/cache-key.js';
import { model, randomFloats } from './helpers.js';
import { freePort, redisServerPath, sleep, startRedis, stopRedis, waitFor } from './fixtures/redis-server.js';

describe('RedisCache against a real redis-server', () => {
  let bin: string;
  let port: number;
  let redis: ChildProcess | undefined;
  let m: Model;
  let probe: Redis | undefined;
  const caches: ResponseCache[] = [];
  const feeds = (seed: number) => ({ x: new Tensor('float32', randomFloats(64, seed), [1, 64]) });

  /** A replica's cache; maxBytes 0 sends every request to Redis (no local tier). */
  function replica(options: { maxBytes?: number; timeoutMs?: number; retryAfterMs?: number } = {}): ResponseCache {
    const cache = createResponseCache({
      maxBytes: options.maxBytes ?? 0,
      ttlMs: 60_000,
      redis: { url: `redis://127.0.0.1:${port}`, timeoutMs: options.timeoutMs ?? 200, keyPrefix: 'test:', retryAfterMs: options.retryAfterMs ?? 0 },
    });
    caches.push(cache);
    return cache;
  }

  const request = (seed: number) => ({ model: 'ctr_mlp', version: 1, inputs: feeds(seed) });

  async function infer(cache: ResponseCache, seed: number) {
    const r = request(seed);
    return cache.run(cache.key(r), () => m.infer(r.inputs));
  }

  /** Waits until Redis holds the entry of `seed` (writes are fire-and-forget). */
  async function inRedis(seed: number): Promise<void> {
    probe ??= new Redis(`redis://127.0.0.1:${port}`, { retryStrategy: () => 50 });
    const key = `test:${keyToHex(cacheKey(request(seed)))}`;
    await waitFor(`Redis to hold ${key}`, async () => (await probe!.exists(key)) === 1);
  }

  beforeAll(async () => {
    bin = redisServerPath();
    port = await freePort();
    redis = await startRedis(bin, port);
    m = await createModel(model('ctr_mlp'), { maxBatchSize: 16, maxQueueDelayUs: 200, intraOpNumThreads: 1, interOpNumThreads: 1 });
  });

  afterAll(async () => {
    for (const c of caches) c.close();
    probe?.disconnect();
    await stopRedis(redis);
    await m?.close();
  });

  it('shares entries between two replicas: one computes, the other hits', async () => {
    const a = replica({ maxBytes: 1 << 20 });
    const b = replica({ maxBytes: 1 << 20 });
    await waitFor('both replicas to connect', () => a.stats().redisConnected && b.stats().redisConnected);
    const before = m.stats().requests;
    const first = await infer(a, 1);
    expect(first.cached).toBe('miss');
    await inRedis(1);
    const second = await infer(b, 1);
    expect(second.cached).toBe('hit');
    expect(Array.from(second.outputs.y!.data as Float32Array)).toEqual(Array.from(first.outputs.y!.data as Float32Array));
    expect(second.outputs.y!.dims).toEqual([1, 1]);
    expect(b.stats().redisHits).toBe(1);
    // b now has it locally too; a has it locally from computing it.
    expect((await infer(b, 1)).cached).toBe('hit');
    expect((await infer(a, 1)).cached).toBe('hit');
    expect(m.stats().requests - before).toBe(1);
    expect(a.stats()).toMatchObject({ redisErrors: 0, redisTimeouts: 0 });
  });

  it('runs a burst on one replica once, and the other replica then reads it from Redis', async () => {
    const a = replica();
    const b = replica();
    await waitFor('both replicas to connect', () => a.stats().redisConnected && b.stats().redisConnected);
    const before = m.stats().requests;
    const burst = await Promise.all(Array.from({ length: 50 }, () => infer(a, 2)));
    expect(m.stats().requests - before).toBe(1);
    expect(burst.filter((r) => r.cached === 'shared')).toHaveLength(49);
    await inRedis(2);
    expect((await infer(b, 2)).cached).toBe('hit');
    expect(m.stats().requests - before).toBe(1);
  });

  it('serves requests uncached while Redis is down, counting errors, and reconnects when it returns', async () => {
    const a = replica();
    const b = replica();
    await waitFor('both replicas to connect', () => a.stats().redisConnected && b.stats().redisConnected);
    await stopRedis(redis);
    redis = undefined;
    await waitFor('the client to notice', () => !a.stats().redisConnected);
    const before = m.stats().requests;
    for (let i = 0; i < 5; i++) {
      const r = await infer(a, 3);
      expect(r.cached).toBe('miss');
      expect(r.outputs.y!.dims).toEqual([1, 1]);
    }
    expect(m.stats().requests - before).toBe(5);
    expect(a.stats().redisErrors).toBeGreaterThanOrEqual(5);
    expect(a.stats().redisHits).toBe(0);

    redis = await startRedis(bin, port); // same port, empty
    await waitFor('both replicas to reconnect', () => a.stats().redisConnected && b.stats().redisConnected);
    expect((await infer(a, 4)).cached).toBe('miss');
    await inRedis(4);
    expect((await infer(b, 4)).cached).toBe('hit');
  });

  it('counts timeouts when Redis stalls (SIGSTOP), serves requests meanwhile, and uses it again after', async () => {
    const a = replica({ timeoutMs: 25, retryAfterMs: 1000 });
    const b = replica({ timeoutMs: 25, retryAfterMs: 1000 });
    await waitFor('both replicas to connect', () => a.stats().redisConnected && b.stats().redisConnected);
    expect((await infer(a, 5)).cached).toBe('miss');
    await inRedis(5);
    expect((await infer(b, 5)).cached).toBe('hit');

    redis!.kill('SIGSTOP');
    try {
      const t0 = performance.now();
      const stalled = await infer(a, 5); // in Redis, but Redis does not answer
      const waited = performance.now() - t0;
      expect(stalled.cached).toBe('miss');
      expect(stalled.outputs.y!.dims).toEqual([1, 1]);
      expect(waited).toBeGreaterThanOrEqual(20);
      expect(a.stats().redisTimeouts).toBe(1);
      // Backing off: the next requests skip Redis instead of each waiting out the timeout.
      for (let i = 0; i < 5; i++) expect((await infer(a, 6 + i)).cached).toBe('miss');
      expect(a.stats().redisTimeouts).toBe(1);
      expect(a.stats().redisBypassed).toBe(5);
    } finally {
      redis!.kill('SIGCONT');
    }
    await sleep(1050); // past retryAfterMs
    await waitFor('Redis to answer again', async () => (await infer(a, 5)).cached === 'hit');
    expect(a.stats().redisErrors).toBe(0);
  });
});
