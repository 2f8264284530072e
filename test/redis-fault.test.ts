// The Redis tier of the response cache killed and restarted under sustained load (issue 7):
// a server whose cached model reads and writes a real redis-server on every request serves
// 32 concurrent clients (HTTP JSON and WebSocket; half the inputs repeated, half fresh);
// redis-server is SIGKILLed mid-load, the load goes on, then a new redis-server comes up on
// the same port. Every request must succeed with the right answer throughout (no 5xx, no
// error frame), the failures must be counted (stats and ortex_cache_redis_errors_total), and
// the cache must reconnect by itself: entries written after the restart are read back from
// Redis, by this server and by a second one sharing it.
import type { ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OrtexWsClient } from '../src/client/ws-client.js';
import { silentLogger } from '../src/server/logger.js';
import type { RequestRecord } from '../src/server/request-record.js';
import { type OrtexServer, createServer } from '../src/server/server.js';
import { Tensor } from '../src/tensor.js';
import { ONE_THREAD, TempRepository, probeConfig } from './fixtures/model-repository.js';
import { parsePrometheusText, sampleValue } from './fixtures/prometheus-text.js';
import { freePort, redisServerPath, sleep, startRedis, stopRedis, waitFor } from './fixtures/redis-server.js';

const HTTP_CLIENTS = 24;
const WS_CLIENTS = 8;
const REPEATED = 32;

type Phase = 'up' | 'down' | 'back';

interface Outcome {
  x: number;
  phase: Phase;
  /** Whether the request started and ended in the same phase. */
  within: boolean;
  ms: number;
  fresh: boolean;
  transport: 'http' | 'websocket';
}

describe('response cache with Redis killed and restarted under load', () => {
  let bin: string;
  let port: number;
  let redis: ChildProcess | undefined;
  let repo: TempRepository;
  let a: OrtexServer;
  let b: OrtexServer;
  let ws: OrtexWsClient | undefined;
  const recordsB: RequestRecord[] = [];

  /** No in-process tier: every request that does not join one in flight goes to Redis. */
  const replica = (records?: RequestRecord[]) =>
    createServer({
      repository: repo.root,
      port: 0,
      modelOptions: ONE_THREAD,
      logger: silentLogger,
      ...(records && { onRequest: (r: RequestRecord) => records.push(r) }),
      cache: { maxBytes: 0, ttlMs: 60_000, redis: { url: `redis://127.0.0.1:${port}`, timeoutMs: 200 } },
    });
  const connected = (s: OrtexServer) => s.cache!.stats().redisConnected;
  const metrics = async (s: OrtexServer) => parsePrometheusText(await (await fetch(`http://127.0.0.1:${s.port}/metrics`)).text());

  beforeAll(async () => {
    bin = redisServerPath();
    port = await freePort();
    redis = await startRedis(bin, port);
    repo = await TempRepository.create('ortex-redis-fault-');
    await repo.config('cached', probeConfig('cached', 'response_cache { enable: true }\ndynamic_batching { max_queue_delay_microseconds: 100 }'));
    await repo.version('cached', 1, 'batch_probe');
    a = replica();
    b = replica(recordsB);
    await a.listen();
    await b.listen();
    await waitFor('both servers to connect to Redis', () => connected(a) && connected(b));
  });

  afterAll(async () => {
    await ws?.close();
    await a?.close();
    await b?.close();
    await stopRedis(redis);
    await repo?.dispose();
  });

  it('answers every request while Redis is killed and restarted, counts the failures, and reconnects', async () => {
    let phase: Phase = 'up';
    let stopping = false;
    let fresh = 0;
    const outcomes: Outcome[] = [];
    const failures: string[] = [];
    ws = await new OrtexWsClient(`ws://127.0.0.1:${a.port}/v2/stream`).connect();

    /** batch_probe's y is its input: the answer to x must be x. */
    const viaHttp = async (x: number): Promise<string> => {
      const res = await fetch(`http://127.0.0.1:${a.port}/v2/models/cached/infer`, {
        method: 'POST',
        body: JSON.stringify({ inputs: [{ name: 'x', datatype: 'FP64', shape: [1, 1], data: [x] }], outputs: [{ name: 'y' }] }),
      });
      const text = await res.text();
      if (res.status !== 200) return `HTTP ${res.status}: ${text.slice(0, 200)}`;
      const y = (JSON.parse(text) as { outputs: Array<{ name: string; data: number[] }> }).outputs.find((o) => o.name === 'y')?.data[0];
      return y === x ? '' : `HTTP: expected y ${x} but received ${y}`;
    };
    const viaWs = async (x: number): Promise<string> => {
      const out = await ws!.infer('cached', { x: new Tensor('float64', new Float64Array([x]), [1, 1]) }, { outputs: ['y'] });
      const y = (out.y?.data as Float64Array | undefined)?.[0];
      return y === x ? '' : `WebSocket: expected y ${x} but received ${y}`;
    };

    const client = async (transport: Outcome['transport'], i: number): Promise<void> => {
      let n = 0;
      while (!stopping) {
        const isFresh = n++ % 2 === 1;
        const x = isFresh ? 1000 + fresh++ : ((i * 7 + n) % REPEATED) + 0.5;
        const started = phase;
        const t0 = performance.now();
        let wrong: string;
        try {
          wrong = await (transport === 'http' ? viaHttp(x) : viaWs(x));
        } catch (err) {
          wrong = `${transport}: ${(err as Error).message}`;
        }
        if (wrong) failures.push(`${started}: ${wrong}`);
        else outcomes.push({ x, phase: started, within: started === phase, ms: performance.now() - t0, fresh: isFresh, transport });
      }
    };
    const load = Promise.all([
      ...Array.from({ length: HTTP_CLIENTS }, (_, i) => client('http', i)),
      ...Array.from({ length: WS_CLIENTS }, (_, i) => client('websocket', HTTP_CLIENTS + i)),
    ]);
    const count = (p: Phase) => outcomes.filter((o) => o.phase === p && o.within).length;

    try {
      // Up: repeated inputs come back from Redis.
      await waitFor('Redis hits under load', () => a.cache!.stats().redisHits >= 50 && outcomes.length >= 500, 30_000);
      const before = a.cache!.stats();
      expect(before.redisErrors).toBe(0);

      // Down: SIGKILL, under load.
      await stopRedis(redis);
      redis = undefined;
      phase = 'down';
      await waitFor('the server to see Redis gone', () => !connected(a));
      const gone = a.cache!.stats();
      await waitFor('requests served while Redis is down', () => count('down') >= 500, 30_000);
      await sleep(500);
      expect(sampleValue(await metrics(a), 'ortex_cache_redis_connected')).toBe(0);
      const duringOutage = a.cache!.stats();
      expect(duringOutage.redisErrors).toBeGreaterThan(gone.redisErrors);
      expect(duringOutage.redisHits).toBe(gone.redisHits);

      // Back: a new, empty redis-server on the same port; the servers reconnect by themselves.
      redis = await startRedis(bin, port);
      const restarted = performance.now();
      await waitFor('both servers to reconnect', () => connected(a) && connected(b), 10_000);
      const reconnectMs = performance.now() - restarted;
      phase = 'back';
      const atReconnect = a.cache!.stats();
      await waitFor('Redis hits again after the restart', () => a.cache!.stats().redisHits - atReconnect.redisHits >= 50 && count('back') >= 500, 30_000);
      stopping = true;
      await load;

      const after = a.cache!.stats();
      const m = await metrics(a);
      const ms = (p: Phase) => outcomes.filter((o) => o.phase === p).map((o) => o.ms).sort((x, y) => x - y);
      const p99 = (v: number[]) => v[Math.max(0, Math.ceil(v.length * 0.99) - 1)] ?? NaN;
      console.log(
        `redis-fault: ${outcomes.length} requests answered, ${failures.length} failed; up ${count('up')}, down ${count('down')}, back ${count('back')} ` +
          `(p99 ${p99(ms('up')).toFixed(1)} / ${p99(ms('down')).toFixed(1)} / ${p99(ms('back')).toFixed(1)} ms); redis errors counted ${after.redisErrors}, ` +
          `reconnected ${reconnectMs.toFixed(0)} ms after the restart; Redis hits ${before.redisHits} before, ${after.redisHits - atReconnect.redisHits} after`,
      );

      // Every request answered, and answered right, in every phase.
      expect(failures).toEqual([]);
      expect(count('down')).toBeGreaterThanOrEqual(500);
      expect(outcomes.filter((o) => o.phase === 'down' && o.transport === 'websocket').length).toBeGreaterThan(0);
      expect(sampleValue(m, 'ortex_request_failure_total', { model: 'cached' })).toBe(0);
      expect(sampleValue(m, 'ortex_request_success_total', { model: 'cached' })).toBeGreaterThanOrEqual(outcomes.length);

      // The failures counted: at least one per fresh request served while Redis was gone
      // (its read failed; its write too); the metric says what stats() says.
      const freshDown = outcomes.filter((o) => o.phase === 'down' && o.within && o.fresh).length;
      expect(after.redisErrors - before.redisErrors).toBeGreaterThanOrEqual(freshDown);
      expect(sampleValue(m, 'ortex_cache_redis_errors_total')).toBe(after.redisErrors);
      expect(sampleValue(m, 'ortex_cache_redis_connected')).toBe(1);
      expect(reconnectMs).toBeLessThan(5000);

      // Reconnected: this server writes and reads Redis again ...
      expect(after.redisHits - atReconnect.redisHits).toBeGreaterThanOrEqual(50);
      // ... and a second server sharing it reads what this one wrote after the restart.
      const written = outcomes.filter((o) => o.phase === 'back' && o.fresh).slice(0, 5).map((o) => o.x);
      expect(written).toHaveLength(5);
      const bHits = b.cache!.stats().redisHits;
      for (const x of written) {
        const res = await fetch(`http://127.0.0.1:${b.port}/v2/models/cached/infer`, {
          method: 'POST',
          body: JSON.stringify({ inputs: [{ name: 'x', datatype: 'FP64', shape: [1, 1], data: [x] }], outputs: [{ name: 'y' }] }),
        });
        expect(res.status).toBe(200);
        expect((await res.json()).outputs[0].data).toEqual([x]);
        expect(recordsB.at(-1)!.cache).toBe('hit');
      }
      expect(b.cache!.stats().redisHits - bHits).toBe(5);
    } finally {
      stopping = true;
      await load;
    }
  }, 90_000);
});
