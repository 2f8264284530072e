// The response cache in the server, over real sockets: a repeated request answered from the
// cache (one inference), JSON and binary clients sharing an entry, requested outputs keying
// separate ones, single flight (a burst of identical requests held in the batcher costs one
// inference), the cache only for models whose configuration enables it, failures not cached,
// a reloaded version not answered from its old file's entries; then the Redis tier against a
// real redis-server: two servers sharing it as replicas, and with it stopped or frozen,
// requests still answered (uncached) and the trouble counted in the metrics.
import type { ChildProcess } from 'node:child_process';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OrtexWsClient } from '../src/client/index.js';
import { silentLogger } from '../src/server/logger.js';
import { Tensor } from '../src/tensor.js';
import { encodeInferRequest, parseInferResponse } from '../src/server/oip-codec.js';
import type { RequestRecord } from '../src/server/request-record.js';
import { type OrtexServer, type ServerOptions, createServer } from '../src/server/server.js';
import { ONE_THREAD, TempRepository, probeConfig } from './fixtures/model-repository.js';
import { parsePrometheusText, sampleValue } from './fixtures/prometheus-text.js';
import { freePort, redisServerPath, sleep, startRedis, stopRedis, waitFor } from './fixtures/redis-server.js';

const CACHED = 'response_cache { enable: true }';

interface Reply {
  status: number;
  json: any;
}

async function infer(s: OrtexServer, model: string, body: unknown): Promise<Reply> {
  const res = await fetch(`http://127.0.0.1:${s.port}/v2/models/${model}/infer`, { method: 'POST', body: JSON.stringify(body) });
  return { status: res.status, json: await res.json() };
}

const x = (v: number, parameters?: object, outputs?: object[]) => ({ parameters, outputs, inputs: [{ name: 'x', datatype: 'FP64', shape: [1, 1], data: [v] }] });
const y = (r: Reply) => r.json.outputs.find((o: { name: string }) => o.name === 'y').data[0] as number;

function modelOf(s: OrtexServer, name: string) {
  const servable = s.repository.acquire(name);
  servable.release();
  return servable.model;
}

async function metrics(s: OrtexServer) {
  return parsePrometheusText(await (await fetch(`http://127.0.0.1:${s.port}/metrics`)).text());
}

/** A server over `repo`, its request records collected in `records`. */
async function start(repo: TempRepository, records: RequestRecord[], options: Partial<ServerOptions> = {}): Promise<OrtexServer> {
  const s = createServer({ repository: repo.root, port: 0, modelOptions: ONE_THREAD, logger: silentLogger, onRequest: (r) => records.push(r), ...options });
  await s.listen();
  return s;
}

describe('response cache over HTTP', () => {
  let repo: TempRepository;
  let server: OrtexServer;
  const records: RequestRecord[] = [];
  const last = (n: number) => records.slice(-n).map((r) => r.cache);

  beforeAll(async () => {
    repo = await TempRepository.create('ortex-cache-');
    await repo.config('cached', probeConfig('cached', CACHED));
    await repo.version('cached', 1, 'batch_probe');
    await repo.config('plain', probeConfig('plain'));
    await repo.version('plain', 1, 'batch_probe');
    server = await start(repo, records, { cache: { maxBytes: 1 << 20 } });
  });

  afterAll(async () => {
    await server?.close();
    await repo?.dispose();
  });

  it('answers a repeated request from the cache: one inference, the same response', async () => {
    const model = modelOf(server, 'cached');
    const before = model.stats().requests;
    const first = await infer(server, 'cached', x(1.5));
    const second = await infer(server, 'cached', x(1.5));
    expect(first.status).toBe(200);
    expect(second.json).toEqual(first.json);
    expect(y(second)).toBe(1.5);
    expect(model.stats().requests - before).toBe(1);
    expect(last(2)).toEqual(['miss', 'hit']);
    // Triton's statistics extension sees the same.
    const stats = (await (await fetch(`http://127.0.0.1:${server.port}/v2/models/cached/stats`)).json()).model_stats[0].inference_stats;
    expect(stats.cache_hit.count).toBeGreaterThanOrEqual(1);
    expect(stats.cache_miss.count).toBeGreaterThanOrEqual(1);
  });

  it('shares an entry between JSON and binary clients, and keys the requested outputs', async () => {
    const model = modelOf(server, 'cached');
    const before = model.stats().requests;
    expect((await infer(server, 'cached', x(2.5))).status).toBe(200);
    const { body, headerLength } = encodeInferRequest({ inputs: [{ name: 'x', datatype: 'FP64', shape: [1, 1], data: new Float64Array([2.5]), binary: true }], binaryOutputs: true });
    const res = await fetch(`http://127.0.0.1:${server.port}/v2/models/cached/infer`, { method: 'POST', body, headers: { 'inference-header-content-length': String(headerLength) } });
    expect(res.status).toBe(200);
    const binary = parseInferResponse(new Uint8Array(await res.arrayBuffer()), Number(res.headers.get('inference-header-content-length')));
    expect(Array.from(binary.outputs.find((o) => o.name === 'y')!.data as Float64Array)).toEqual([2.5]);
    expect(model.stats().requests - before).toBe(1);
    expect(last(2)).toEqual(['miss', 'hit']);
    // Asking for one output only is another entry.
    const onlyY = await infer(server, 'cached', x(2.5, undefined, [{ name: 'y' }]));
    expect(onlyY.json.outputs.map((o: { name: string }) => o.name)).toEqual(['y']);
    expect(last(1)).toEqual(['miss']);
    expect((await infer(server, 'cached', x(2.5, undefined, [{ name: 'y' }]))).status).toBe(200);
    expect(last(1)).toEqual(['hit']);
  });

  it('answers a byte-identical request with the bytes sent before, and a request that differs in its bytes only from the outputs', async () => {
    const model = modelOf(server, 'cached');
    const before = model.stats().requests;
    const encoded0 = server.cache!.stats().encodedHits;
    const send = async (text: string) => {
      const res = await fetch(`http://127.0.0.1:${server.port}/v2/models/cached/infer`, { method: 'POST', body: text });
      return { status: res.status, text: await res.text() };
    };
    const body = JSON.stringify({ id: 'a', ...x(4.25) });
    const first = await send(body);
    const again = await send(body);
    expect(again).toEqual(first);
    expect(JSON.parse(again.text).id).toBe('a');
    expect(server.cache!.stats().encodedHits - encoded0).toBe(1);
    // The same tensors in other bytes: no stored bytes to send, but the outputs are cached,
    // and the answer carries this request's own id.
    const spaced = await send(JSON.stringify({ id: 'b', ...x(4.25) }, null, 2));
    expect(spaced.status).toBe(200);
    expect(JSON.parse(spaced.text).id).toBe('b');
    expect(JSON.parse(spaced.text).outputs).toEqual(JSON.parse(first.text).outputs);
    expect(server.cache!.stats().encodedHits - encoded0).toBe(1);
    expect(model.stats().requests - before).toBe(1);
    expect(last(3)).toEqual(['miss', 'hit', 'hit']);
    expect(sampleValue(await metrics(server), 'ortex_cache_encoded_hits_total')).toBeGreaterThanOrEqual(1);
    // A binary request repeated: its stored answer keeps its Inference-Header-Content-Length.
    const bin = encodeInferRequest({ inputs: [{ name: 'x', datatype: 'FP64', shape: [1, 1], data: new Float64Array([4.25]), binary: true }], binaryOutputs: true });
    const sendBinary = async () => {
      const res = await fetch(`http://127.0.0.1:${server.port}/v2/models/cached/infer`, { method: 'POST', body: bin.body, headers: { 'inference-header-content-length': String(bin.headerLength) } });
      const bytes = new Uint8Array(await res.arrayBuffer());
      const length = Number(res.headers.get('inference-header-content-length'));
      return { status: res.status, y: Array.from(parseInferResponse(bytes, length).outputs.find((o) => o.name === 'y')!.data as Float64Array) };
    };
    expect(await sendBinary()).toEqual({ status: 200, y: [4.25] });
    expect(await sendBinary()).toEqual({ status: 200, y: [4.25] });
    expect(server.cache!.stats().encodedHits - encoded0).toBe(2);
    // A WebSocket frame carries the same binary body behind its own header: the stored answer
    // serves it, framed with each request's own id (several in flight on one connection).
    const ws = await new OrtexWsClient(`ws://127.0.0.1:${server.port}/v2/stream`).connect();
    try {
      const x425 = { x: new Tensor('float64', new Float64Array([4.25]), [1, 1]) };
      // The client pads its JSON header to align the tensor data: other bytes than the HTTP
      // body, so the first frame stores an answer of its own.
      expect(Array.from((await ws.infer('cached', x425, { binaryOutputs: true })).y!.data as Float64Array)).toEqual([4.25]);
      const answers = await Promise.all([1, 2, 3].map(() => ws.infer('cached', x425, { binaryOutputs: true })));
      for (const a of answers) expect(Array.from(a.y!.data as Float64Array)).toEqual([4.25]);
    } finally {
      await ws.close();
    }
    expect(server.cache!.stats().encodedHits - encoded0).toBe(5);
    expect(model.stats().requests - before).toBe(1);
  });

  it('leaves stored bytes to servers without middleware of their own, which must see every request', async () => {
    const seen: number[] = [];
    const records2: RequestRecord[] = [];
    const s = await start(repo, records2, {
      cache: { maxBytes: 1 << 20 },
      middleware: [(call, next) => {
        seen.push(call.feeds.x!.data[0] as number);
        return next(call);
      }],
    });
    try {
      for (let i = 0; i < 3; i++) expect(y(await infer(s, 'cached', x(9.5)))).toBe(9.5);
      expect(seen).toEqual([9.5, 9.5, 9.5]);
      expect(records2.map((r) => r.cache)).toEqual(['miss', 'hit', 'hit']);
      expect(s.cache!.stats().encodedHits).toBe(0);
    } finally {
      await s.close();
    }
  });

  it('runs a burst of identical requests once (single flight) while it is held in the batcher', async () => {
    const model = modelOf(server, 'cached');
    const before = model.stats().requests;
    const shared0 = server.cache!.stats().shared;
    model.holdUntil(1000);
    const burst = Array.from({ length: 20 }, () => infer(server, 'cached', x(7)));
    try {
      await waitFor('19 requests to join the first', () => server.cache!.stats().shared - shared0 === 19);
      expect(model.stats().pending).toBe(1);
    } finally {
      model.holdUntil(0);
    }
    const replies = await Promise.all(burst);
    expect(replies.map((r) => r.status)).toEqual(new Array(20).fill(200));
    expect(new Set(replies.map((r) => JSON.stringify(r.json))).size).toBe(1);
    expect(model.stats().requests - before).toBe(1);
    const outcomes = last(20);
    expect(outcomes.filter((c) => c === 'miss')).toHaveLength(1);
    expect(outcomes.filter((c) => c === 'shared')).toHaveLength(19);
    expect(sampleValue(await metrics(server), 'ortex_cache_shared_total')).toBeGreaterThanOrEqual(19);
  });

  it('is used only by models whose configuration enables it', async () => {
    const model = modelOf(server, 'plain');
    const before = model.stats().requests;
    for (let i = 0; i < 3; i++) expect(y(await infer(server, 'plain', x(3)))).toBe(3);
    expect(model.stats().requests - before).toBe(3);
    expect(last(3)).toEqual([undefined, undefined, undefined]);
  });

  it('does not cache a failure: a request that timed out in the queue runs again', async () => {
    const model = modelOf(server, 'cached');
    model.holdUntil(1000);
    try {
      expect((await infer(server, 'cached', x(9, { timeout: 20_000 }))).status).toBe(504);
    } finally {
      model.holdUntil(0);
    }
    const again = await infer(server, 'cached', x(9, { timeout: 20_000 }));
    expect(again.status).toBe(200);
    expect(last(1)).toEqual(['miss']);
  });

  it('does not answer a reloaded version from the entries of its old file', async () => {
    const own = await TempRepository.create('ortex-cache-reload-');
    const mine: RequestRecord[] = [];
    await own.config('m', probeConfig('m', CACHED));
    await own.version('m', 1, 'batch_probe');
    const s = await start(own, mine, { modelControlMode: 'explicit', startupModels: ['m'], cache: { maxBytes: 1 << 20 } });
    try {
      await infer(s, 'm', x(4));
      await infer(s, 'm', x(4));
      expect(mine.map((r) => r.cache)).toEqual(['miss', 'hit']);
      await own.version('m', 1, 'batch_probe'); // a new file in place of the old
      await s.repository.load('m');
      await infer(s, 'm', x(4));
      await infer(s, 'm', x(4));
      expect(mine.map((r) => r.cache)).toEqual(['miss', 'hit', 'miss', 'hit']);
    } finally {
      await s.close();
      await own.dispose();
    }
  });

  it('refuses bad cache options', () => {
    expect(() => createServer({ repository: repo.root, cache: { maxBytes: -1 } })).toThrow(/Expected an integer number of bytes >= 0 for cache maxBytes/);
    expect(() => createServer({ repository: repo.root, cache: { maxBytes: 1, redis: { url: 'http://x' } } })).toThrow(/Expected a redis:\/\/ or rediss:\/\/ URL/);
  });
});

describe('response cache over HTTP with Redis', () => {
  let bin: string;
  let port: number;
  let redis: ChildProcess | undefined;
  let repo: TempRepository;
  let a: OrtexServer;
  let b: OrtexServer;
  let probe: Redis | undefined;
  const recordsA: RequestRecord[] = [];
  const recordsB: RequestRecord[] = [];

  /** A replica: no in-process tier, so every request goes to Redis. */
  const replica = (records: RequestRecord[]) => start(repo, records, { cache: { maxBytes: 0, ttlMs: 60_000, redis: { url: `redis://127.0.0.1:${port}`, timeoutMs: 200 } } });
  const connected = (s: OrtexServer) => s.cache!.stats().redisConnected;

  beforeAll(async () => {
    bin = redisServerPath();
    port = await freePort();
    redis = await startRedis(bin, port);
    repo = await TempRepository.create('ortex-cache-redis-');
    await repo.config('cached', probeConfig('cached', CACHED));
    await repo.version('cached', 1, 'batch_probe');
    a = await replica(recordsA);
    b = await replica(recordsB);
    await waitFor('both replicas to connect', () => connected(a) && connected(b));
  });

  afterAll(async () => {
    probe?.disconnect();
    await a?.close();
    await b?.close();
    await stopRedis(redis);
    await repo?.dispose();
  });

  it('shares entries between two servers: one computes, the other answers from Redis', async () => {
    const before = modelOf(b, 'cached').stats().requests;
    const first = await infer(a, 'cached', x(11));
    expect(recordsA.at(-1)!.cache).toBe('miss');
    if (!probe) {
      probe = new Redis(`redis://127.0.0.1:${port}`, { retryStrategy: () => 50 });
      probe.on('error', () => {}); // it reconnects by itself while the test stops Redis
    }
    await waitFor('the entry to reach Redis', async () => (await probe!.keys('ortex:rc:*')).length === 1);
    const second = await infer(b, 'cached', x(11));
    expect(second.json).toEqual(first.json);
    expect(recordsB.at(-1)!.cache).toBe('hit');
    expect(modelOf(b, 'cached').stats().requests - before).toBe(0);
    const m = await metrics(b);
    expect(sampleValue(m, 'ortex_cache_redis_hits_total')).toBe(1);
    expect(sampleValue(m, 'ortex_cache_redis_connected')).toBe(1);
    expect(sampleValue(m, 'ortex_cache_redis_errors_total')).toBe(0);
  });

  it('answers every request, uncached, while Redis is frozen (timeouts) and while it is down (errors), counting both', async () => {
    const model = modelOf(a, 'cached');
    redis!.kill('SIGSTOP');
    try {
      const before = model.stats().requests;
      const t0 = performance.now();
      const r = await infer(a, 'cached', x(11)); // in Redis, but Redis does not answer
      expect(r.status).toBe(200);
      expect(y(r)).toBe(11);
      expect(performance.now() - t0).toBeLessThan(5000);
      expect(recordsA.at(-1)!.cache).toBe('miss');
      expect(model.stats().requests - before).toBe(1);
      expect(sampleValue(await metrics(a), 'ortex_cache_redis_timeouts_total')).toBe(1);
    } finally {
      redis!.kill('SIGCONT');
    }

    await stopRedis(redis);
    redis = undefined;
    await waitFor('the replica to notice', () => !connected(a));
    await sleep(1100); // past the back-off after the timeout, so requests try Redis again
    const before = model.stats().requests;
    for (let i = 0; i < 5; i++) {
      const r = await infer(a, 'cached', x(20 + i));
      expect(r.status).toBe(200);
      expect(y(r)).toBe(20 + i);
    }
    expect(model.stats().requests - before).toBe(5);
    const m = await metrics(a);
    expect(sampleValue(m, 'ortex_cache_redis_errors_total')).toBeGreaterThanOrEqual(5);
    expect(sampleValue(m, 'ortex_cache_redis_connected')).toBe(0);
    expect(sampleValue(m, 'ortex_request_failure_total', { model: 'cached' })).toBe(0);

    // It comes back on the same port, empty: the replicas reconnect by themselves.
    redis = await startRedis(bin, port);
    await waitFor('both replicas to reconnect', () => connected(a) && connected(b));
    await infer(a, 'cached', x(30));
    await waitFor('the entry to reach Redis', async () => (await probe!.keys('ortex:rc:*').catch(() => [])).length === 1);
    await infer(b, 'cached', x(30));
    expect(recordsB.at(-1)!.cache).toBe('hit');
  });
});
