// The in-process response cache: the byte-bounded LRU, single flight, the binary form of a
// cached response, and the facade in front of a real batched model (ctr_mlp), where
// model.stats().requests proves how many inferences a burst of requests cost.
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Tensor, createModel, type Model } from '../src/index.js';
import { TENSOR_TYPES, dataLength, dtypeByName } from '../src/dtypes.js';
import { LruCache } from '../src/cache/lru-cache.js';
import { SingleFlight } from '../src/cache/single-flight.js';
import { decodeResponse, encodeResponse } from '../src/cache/response-codec.js';
import { ENTRY_OVERHEAD_BYTES, TENSOR_OVERHEAD_BYTES, compactOutputs, responseBytes } from '../src/cache/response-size.js';
import { createResponseCache } from '../src/cache/response-cache.js';
import { codeOf, model, randomFloats } from './helpers.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const tick = () => new Promise((resolve) => setImmediate(resolve));

describe('LruCache', () => {
  it('evicts the least recently used entries to stay within maxBytes', () => {
    const lru = new LruCache<string, number>({ maxBytes: 100, ttlMs: 0 });
    lru.set('a', 1, 40);
    lru.set('b', 2, 40);
    expect(lru.get('a')).toBe(1); // a is now the most recent: b goes first
    lru.set('c', 3, 40);
    expect(lru.has('b')).toBe(false);
    expect(lru.get('a')).toBe(1);
    expect(lru.get('c')).toBe(3);
    expect(lru.stats()).toMatchObject({ evictions: 1, bytes: 80, entries: 2 });
    lru.set('d', 4, 100); // evicts both
    expect(lru.stats()).toMatchObject({ evictions: 3, bytes: 100, entries: 1 });
  });

  it('stores nothing larger than maxBytes, and accounts for a replaced entry', () => {
    const lru = new LruCache<string, number>({ maxBytes: 100, ttlMs: 0 });
    lru.set('a', 1, 60);
    expect(lru.set('big', 2, 101)).toBe(false);
    expect(lru.stats()).toMatchObject({ bytes: 60, entries: 1, evictions: 0 });
    lru.set('a', 3, 30);
    expect(lru.stats()).toMatchObject({ bytes: 30, entries: 1 });
    expect(lru.get('a')).toBe(3);
  });

  it('expires entries after ttlMs, counting them as misses and expirations', () => {
    let now = 1000;
    const lru = new LruCache<string, number>({ maxBytes: 1000, ttlMs: 50, now: () => now });
    lru.set('a', 1, 10);
    now += 49;
    expect(lru.get('a')).toBe(1);
    now += 1;
    expect(lru.get('a')).toBeUndefined();
    expect(lru.stats()).toMatchObject({ hits: 1, misses: 1, expirations: 1, evictions: 0, bytes: 0, entries: 0 });
  });

  it('counts an expired entry met by the eviction scan as an expiration, not an eviction', () => {
    let now = 0;
    const lru = new LruCache<string, number>({ maxBytes: 100, ttlMs: 10, now: () => now });
    lru.set('old', 1, 60);
    now = 20;
    lru.set('new', 2, 60);
    expect(lru.stats()).toMatchObject({ expirations: 1, evictions: 0, entries: 1 });
  });

  it('behaves as an exact LRU with a byte bound and a TTL, whatever the mix of operations (against a reference model)', () => {
    type Op = { op: 'get' | 'set' | 'delete' | 'clear' | 'tick'; key: number; bytes: number; ms: number };
    const op: fc.Arbitrary<Op> = fc.record({
      op: fc.oneof({ arbitrary: fc.constantFrom('get' as const, 'set' as const), weight: 20 }, { arbitrary: fc.constantFrom('delete' as const, 'tick' as const), weight: 3 }, { arbitrary: fc.constant('clear' as const), weight: 1 }),
      key: fc.integer({ min: 0, max: 24 }),
      // Mostly 1 byte, so that dozens of entries fit; now and then one that evicts several.
      bytes: fc.oneof({ arbitrary: fc.constant(1), weight: 4 }, { arbitrary: fc.integer({ min: 2, max: 16 }), weight: 1 }),
      // Steps that land exactly on an expiry as often as around it.
      ms: fc.constantFrom(5, 10, 20),
    });
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 40 }), fc.constantFrom(0, 20), fc.array(op, { minLength: 1, maxLength: 300, size: 'max' }), (maxBytes, ttlMs, script) => {
        let now = 0;
        const lru = new LruCache<number, string>({ maxBytes, ttlMs, now: () => now });
        // The reference: entries from least to most recently used.
        let model: Array<{ key: number; value: string; bytes: number; expiresAt: number }> = [];
        const stats = { hits: 0, misses: 0, evictions: 0, expirations: 0 };
        const live = (e: { expiresAt: number }) => ttlMs === 0 || now < e.expiresAt;
        script.forEach(({ op: kind, key, bytes, ms }, t) => {
          const at = model.findIndex((e) => e.key === key);
          if (kind === 'get') {
            let expected: string | undefined;
            if (at >= 0 && live(model[at]!)) {
              const [e] = model.splice(at, 1);
              model.push(e!);
              expected = e!.value;
              stats.hits++;
            } else {
              if (at >= 0) {
                model.splice(at, 1);
                stats.expirations++;
              }
              stats.misses++;
            }
            expect(lru.get(key)).toBe(expected);
          } else if (kind === 'set') {
            if (at >= 0) model.splice(at, 1);
            const value = `v${t}`;
            const stored = bytes <= maxBytes;
            if (stored) {
              model.push({ key, value, bytes, expiresAt: ttlMs > 0 ? now + ttlMs : Infinity });
              while (model.reduce((n, e) => n + e.bytes, 0) > maxBytes) {
                const [gone] = model.splice(0, 1);
                if (live(gone!)) stats.evictions++;
                else stats.expirations++;
              }
            }
            expect(lru.set(key, value, bytes)).toBe(stored);
          } else if (kind === 'delete') {
            if (at >= 0) model.splice(at, 1);
            expect(lru.delete(key)).toBe(at >= 0);
          } else if (kind === 'clear') {
            model = [];
            lru.clear();
          } else {
            now += ms;
          }
          const bytesHeld = model.reduce((n, e) => n + e.bytes, 0);
          expect(lru.stats()).toEqual({ ...stats, bytes: bytesHeld, entries: model.length });
          for (let k = 0; k <= 24; k++) expect(lru.has(k)).toBe(model.some((e) => e.key === k && live(e)));
        });
      }),
      { seed: 7, numRuns: 400 },
    );
  });

  it('refuses options out of range', async () => {
    expect(await codeOf(() => new LruCache({ maxBytes: -1, ttlMs: 0 }))).toBe('ERR_OPTION_INVALID');
    expect(await codeOf(() => new LruCache({ maxBytes: 10, ttlMs: 1.5 }))).toBe('ERR_OPTION_INVALID');
  });
});

describe('SingleFlight', () => {
  it('runs one call per key at a time and delivers a failure to every caller, then forgets it', async () => {
    const flights = new SingleFlight<string, number>();
    let calls = 0;
    const fail = () => { calls++; return sleep(5).then(() => { throw new Error('boom'); }); };
    const a = flights.run('k', fail);
    const b = flights.run('k', fail);
    expect([a.joined, b.joined]).toEqual([false, true]);
    await expect(a.promise).rejects.toThrow('boom');
    await expect(b.promise).rejects.toThrow('boom');
    await tick();
    expect(flights.size).toBe(0);
    const c = flights.run('k', async () => { calls++; return 7; });
    expect(c.joined).toBe(false);
    expect(await c.promise).toBe(7);
    expect(calls).toBe(2);
  });

  it('turns a synchronous throw into a rejection', async () => {
    const flights = new SingleFlight<string, number>();
    const f = flights.run('k', () => { throw new Error('sync'); });
    await expect(f.promise).rejects.toThrow('sync');
  });
});

describe('response codec', () => {
  function sample(type: (typeof TENSOR_TYPES)[number], dims: number[]): Tensor {
    const d = dtypeByName(type)!;
    let size = 1;
    for (const x of dims) size *= x;
    if (d.array === null) return new Tensor('string', Array.from({ length: size }, (_, i) => `s${i}é${'x'.repeat(i)}`), dims);
    const n = dataLength(d, size);
    const bytes = new Uint8Array(n * d.array.BYTES_PER_ELEMENT).map((_, i) => (i * 37 + 11) & 0xff);
    return new Tensor(type, new d.array(bytes.buffer) as never, dims);
  }

  it('round-trips every tensor type as a small header and the raw bytes', () => {
    const outputs: Record<string, Tensor> = {};
    for (const type of TENSOR_TYPES) outputs[`out_${type}`] = sample(type, [2, 3]);
    outputs.scalar = new Tensor('float32', new Float32Array([1.5]), []);
    outputs.empty = new Tensor('float32', new Float32Array(0), [0, 4]);
    const buf = encodeResponse(outputs);
    let dataBytes = 0;
    for (const t of Object.values(outputs)) dataBytes += Array.isArray(t.data) ? 0 : t.data.byteLength;
    expect(buf.length).toBeLessThan(dataBytes + 2000); // not JSON of numbers
    const back = decodeResponse(buf);
    expect(Object.keys(back)).toEqual(Object.keys(outputs));
    for (const [name, t] of Object.entries(outputs)) {
      expect(back[name]!.type).toBe(t.type);
      expect(back[name]!.dims).toEqual(t.dims);
      expect(back[name]!.data).toEqual(t.data);
    }
  });

  it('encodes a view over a larger buffer as just its bytes', () => {
    const big = new Float32Array([9, 1, 2, 9]);
    const back = decodeResponse(encodeResponse({ y: new Tensor('float32', big.subarray(1, 3), [2, 1]) }));
    expect(Array.from(back.y!.data as Float32Array)).toEqual([1, 2]);
  });

  it('refuses a value that is not one it wrote, truncated or with trailing bytes', () => {
    const buf = encodeResponse({ y: new Tensor('float32', new Float32Array([1, 2]), [2]) });
    expect(() => decodeResponse(Buffer.from('hello world'))).toThrow(RangeError);
    expect(() => decodeResponse(buf.subarray(0, buf.length - 1))).toThrow(RangeError);
    expect(() => decodeResponse(Buffer.concat([buf, Buffer.from([0])]))).toThrow(RangeError);
  });
});

describe('responseBytes() and compactOutputs()', () => {
  it('counts tensor bytes plus fixed overheads', () => {
    const y = new Tensor('float32', new Float32Array(100), [100]);
    expect(responseBytes({ y })).toBe(ENTRY_OVERHEAD_BYTES + TENSOR_OVERHEAD_BYTES + 2 + 8 + 400);
  });

  it('copies a view into a larger buffer, and keeps a tensor that owns its buffer', () => {
    const batch = new Float32Array(64);
    const view = new Tensor('float32', batch.subarray(3, 4), [1, 1]);
    const own = new Tensor('float32', new Float32Array(4), [4]);
    const c = compactOutputs({ view, own });
    expect((c.view!.data as Float32Array).buffer.byteLength).toBe(4);
    expect(c.own).toBe(own);
  });
});

describe('createResponseCache() in front of a batched model', () => {
  let m: Model;
  const feeds = (seed: number) => ({ x: new Tensor('float32', randomFloats(64, seed), [1, 64]) });

  beforeAll(async () => {
    m = await createModel(model('ctr_mlp'), { maxBatchSize: 64, maxQueueDelayUs: 1000, intraOpNumThreads: 1, interOpNumThreads: 1 });
  });
  afterAll(async () => {
    await m?.close();
  });

  it('answers a burst of 100 identical requests with one inference', async () => {
    const cache = createResponseCache({ maxBytes: 1 << 20, ttlMs: 0 });
    const f = feeds(1);
    const key = cache.key({ model: 'ctr_mlp', version: 1, inputs: f });
    const before = m.stats().requests;
    const results = await Promise.all(Array.from({ length: 100 }, () => cache.run(key, () => m.infer(f))));
    expect(m.stats().requests - before).toBe(1);
    expect(results.filter((r) => r.cached === 'miss')).toHaveLength(1);
    expect(results.filter((r) => r.cached === 'shared')).toHaveLength(99);
    const y = Array.from(results[0]!.outputs.y!.data as Float32Array);
    for (const r of results) expect(Array.from(r.outputs.y!.data as Float32Array)).toEqual(y);
    const again = await cache.run(key, () => m.infer(f));
    expect(again.cached).toBe('hit');
    expect(Array.from(again.outputs.y!.data as Float32Array)).toEqual(y);
    expect(m.stats().requests - before).toBe(1);
    expect(cache.stats()).toMatchObject({ hits: 1, misses: 1, shared: 99, entries: 1, inflight: 0 });
  });

  it('joins requests that arrive over many event-loop turns while the first is still queued', async () => {
    const cache = createResponseCache({ maxBytes: 1 << 20, ttlMs: 0 });
    const popular = feeds(2);
    const other = feeds(3);
    const key = cache.key({ model: 'ctr_mlp', version: 1, inputs: popular });
    const before = m.stats().requests;
    m.holdUntil(2); // the first request waits in the queue until a second, different one arrives
    const first = cache.run(key, () => m.infer(popular));
    const joiners: Array<Promise<unknown>> = [];
    for (let turn = 0; turn < 10; turn++) {
      await tick();
      for (let i = 0; i < 10; i++) joiners.push(cache.run(key, () => m.infer(popular)));
    }
    expect(cache.stats().inflight).toBe(1);
    const otherKey = cache.key({ model: 'ctr_mlp', version: 1, inputs: other });
    const second = cache.run(otherKey, () => m.infer(other));
    const [a, b] = await Promise.all([first, second, ...joiners]) as Array<{ cached: string }>;
    expect([a!.cached, b!.cached]).toEqual(['miss', 'miss']);
    expect(m.stats().requests - before).toBe(2);
    expect(cache.stats()).toMatchObject({ misses: 2, shared: 100 });
  });

  it('caches a compact copy of a batched output, not a view holding the whole batch', async () => {
    const cache = createResponseCache({ maxBytes: 1 << 20, ttlMs: 0 });
    const all = Array.from({ length: 8 }, (_, i) => feeds(100 + i));
    m.holdUntil(8); // one batch of 8: each output is a view into the batch's buffer
    const first = await Promise.all(all.map((f) => cache.run(cache.key({ model: 'm', version: 1, inputs: f }), () => m.infer(f))));
    expect(first.every((r) => r.cached === 'miss')).toBe(true);
    for (const f of all) {
      const r = await cache.run(cache.key({ model: 'm', version: 1, inputs: f }), () => m.infer(f));
      expect(r.cached).toBe('hit');
      expect((r.outputs.y!.data as Float32Array).buffer.byteLength).toBe(4);
    }
    expect(cache.stats().bytes).toBe(8 * responseBytes(compactOutputs(first[0]!.outputs)));
  });

  it('does not cache a failure: every waiter gets it and the next request runs again', async () => {
    const cache = createResponseCache({ maxBytes: 1 << 20, ttlMs: 0 });
    const bad = { x: new Tensor('float32', new Float32Array(63), [1, 63]) }; // the model wants [N, 64]
    const key = cache.key({ model: 'ctr_mlp', version: 1, inputs: bad });
    let calls = 0;
    const compute = () => { calls++; return m.infer(bad); };
    const settled = await Promise.allSettled(Array.from({ length: 10 }, () => cache.run(key, compute)));
    expect(calls).toBe(1);
    for (const s of settled) {
      expect(s.status).toBe('rejected');
      expect(((s as PromiseRejectedResult).reason as { code: string }).code).toBe('ERR_INPUT_SHAPE');
    }
    await expect(cache.run(key, compute)).rejects.toMatchObject({ code: 'ERR_INPUT_SHAPE' });
    expect(calls).toBe(2);
    expect(cache.stats()).toMatchObject({ misses: 2, shared: 9, hits: 0, entries: 0 });
  });

  it('reruns for the callers that joined when the first caller aborts its own request', async () => {
    const cache = createResponseCache({ maxBytes: 1 << 20, ttlMs: 0 });
    const f = feeds(9);
    const key = cache.key({ model: 'ctr_mlp', version: 1, inputs: f });
    const before = m.stats().requests;
    const aborted = cache.run(key, () => m.infer(f, { signal: AbortSignal.abort() }));
    const joined = Array.from({ length: 9 }, () => cache.run(key, () => m.infer(f)));
    await expect(aborted).rejects.toMatchObject({ code: 'ERR_REQUEST_ABORTED' });
    const results = await Promise.all(joined);
    expect(results.map((r) => r.cached).sort()).toEqual(['miss', ...new Array(8).fill('shared')]);
    expect(m.stats().requests - before).toBe(1); // the aborted one never reached the queue
    expect(cache.stats()).toMatchObject({ misses: 2, entries: 1 });
  });

  it('expires entries after ttlMs', async () => {
    const cache = createResponseCache({ maxBytes: 1 << 20, ttlMs: 40 });
    const f = feeds(4);
    const key = cache.key({ model: 'ctr_mlp', version: 1, inputs: f });
    expect((await cache.run(key, () => m.infer(f))).cached).toBe('miss');
    expect((await cache.run(key, () => m.infer(f))).cached).toBe('hit');
    await sleep(60);
    expect((await cache.run(key, () => m.infer(f))).cached).toBe('miss');
    expect(cache.stats()).toMatchObject({ hits: 1, misses: 2, expirations: 1 });
  });

  it('evicts by bytes: room for two responses holds the two most recent', async () => {
    const one = responseBytes({ y: new Tensor('float32', new Float32Array(1), [1, 1]) });
    const cache = createResponseCache({ maxBytes: 2 * one, ttlMs: 0 });
    const keys = [5, 6, 7].map((s) => ({ f: feeds(s), key: cache.key({ model: 'ctr_mlp', version: 1, inputs: feeds(s) }) }));
    for (const { f, key } of keys) await cache.run(key, () => m.infer(f));
    expect(cache.stats()).toMatchObject({ entries: 2, bytes: 2 * one, evictions: 1 });
    expect((await cache.run(keys[0]!.key, () => m.infer(keys[0]!.f))).cached).toBe('miss');
    expect((await cache.run(keys[2]!.key, () => m.infer(keys[2]!.f))).cached).toBe('hit');
  });

  it('keeps encoded responses beside outputs: keyed by every byte, the file stamp and the header length, under one byte bound', async () => {
    const body = new TextEncoder().encode('{"inputs":[]}');
    const one = ENTRY_OVERHEAD_BYTES + 100;
    const cache = createResponseCache({ maxBytes: 2 * one, ttlMs: 0 });
    const base = { model: 'ctr_mlp', version: '1', stamp: 's1', headerLength: undefined, body };
    const key = cache.encodedKey(base);
    const others = [
      { ...base, stamp: 's2' },
      { ...base, version: '2' },
      { ...base, headerLength: body.byteLength },
      { ...base, body: new TextEncoder().encode('{"inputs":[] }') },
    ].map((r) => cache.encodedKey(r));
    expect(new Set([key, ...others]).size).toBe(5);
    expect(cache.encodedKey({ ...base, body: body.slice() })).toBe(key);
    expect(cache.getEncoded(key)).toBeUndefined();
    cache.setEncoded(key, { body: new Uint8Array(100), headerLength: undefined, rows: 1 });
    expect(cache.getEncoded(key)).toMatchObject({ rows: 1, headerLength: undefined });
    expect(cache.stats()).toMatchObject({ hits: 1, encodedHits: 1, misses: 0, entries: 1, bytes: one });
    // Outputs and encoded responses evict one another: room for two entries holds the two newest.
    cache.setEncoded(others[0]!, { body: new Uint8Array(100), headerLength: undefined, rows: 1 });
    cache.setEncoded(others[1]!, { body: new Uint8Array(100), headerLength: undefined, rows: 1 });
    expect(cache.getEncoded(key)).toBeUndefined();
    expect(cache.stats()).toMatchObject({ entries: 2, evictions: 1 });
    cache.clear();
    expect(cache.getEncoded(others[1]!)).toBeUndefined();
    expect(await codeOf(() => cache.encodedKey({ ...base, body: 'x' as unknown as Uint8Array }))).toBe('ERR_INVALID_ARG');
  });

  it('with maxBytes 0 caches nothing but still runs identical requests once', async () => {
    const cache = createResponseCache({ maxBytes: 0, ttlMs: 0 });
    const f = feeds(8);
    const key = cache.key({ model: 'ctr_mlp', version: 1, inputs: f });
    const before = m.stats().requests;
    await Promise.all(Array.from({ length: 20 }, () => cache.run(key, () => m.infer(f))));
    expect(m.stats().requests - before).toBe(1);
    expect((await cache.run(key, () => m.infer(f))).cached).toBe('miss');
    expect(cache.stats()).toMatchObject({ entries: 0, misses: 2, shared: 19 });
  });

  it('refuses bad options and a key that is not from key()', async () => {
    expect(await codeOf(() => createResponseCache({ maxBytes: -1, ttlMs: 0 }))).toBe('ERR_OPTION_INVALID');
    expect(await codeOf(() => createResponseCache({ maxBytes: 1, ttlMs: 0, redis: { url: 'http://x' } }))).toBe('ERR_OPTION_INVALID');
    const cache = createResponseCache({ maxBytes: 1, ttlMs: 0 });
    expect(await codeOf(() => cache.run('k' as unknown as bigint, async () => ({})))).toBe('ERR_INVALID_ARG');
  });
});
