// Queue policy of the dynamic batcher: queue full, timeouts at their deadline (not when the
// batcher next wakes), priority order, abort, close with requests pending, bad requests that
// must not take their batch down with them, and every input error typed.
import { describe, expect, it } from 'vitest';
import { Tensor, createModel, httpStatusOf, type Model } from '../src/index.js';
import { codeOf, model } from './helpers.js';

const PROBE = model('batch_probe');
const TAGGER = model('token_tagger');
const ONE_THREAD = { intraOpNumThreads: 1, interOpNumThreads: 1 } as const;

const x = (v: number, rows = 1) => ({ x: new Tensor('float64', new Float64Array(rows).fill(v), [rows, 1]) });
const errorOf = (p: Promise<unknown>) => p.then(() => undefined, (e: { code?: string }) => e);

describe('Model queue policy', () => {
  it('refuses a request past maxQueueSize at once with ERR_QUEUE_FULL (HTTP 429), then serves the queued ones', async () => {
    const m = await createModel(PROBE, { maxBatchSize: 8, maxQueueSize: 4, ...ONE_THREAD });
    m.holdUntil(1000);
    const queued = [0, 1, 2, 3].map((i) => m.infer(x(i)));
    const refused = await errorOf(m.infer(x(4)));
    expect(refused).toMatchObject({ code: 'ERR_QUEUE_FULL' });
    expect(httpStatusOf(refused)).toBe(429);
    expect(m.stats().rejected.queueFull).toBe(1);
    expect(m.stats().pending).toBe(4);
    m.holdUntil(0);
    const outs = await Promise.all(queued);
    outs.forEach((o, i) => expect((o.y!.data as Float64Array)[0]).toBe(i));
    // Room again once the queue drained.
    expect((await m.infer(x(9))).y!.data).toEqual(new Float64Array([9]));
    await m.close();
  });

  it('rejects with ERR_REQUEST_TIMEOUT at the deadline, although the batcher would not wake for seconds', async () => {
    // A 10 s queue delay and a hold: the batcher has no reason to look at the queue before
    // then; Triton's timeouts were only checked when it did (the bug this guards against).
    const m = await createModel(PROBE, { maxBatchSize: 64, maxQueueDelayUs: 10_000_000, ...ONE_THREAD });
    m.holdUntil(1000);
    const timeouts = [5, 10, 20, 30, 40, 50, 60, 80];
    const lateness = await Promise.all(timeouts.map(async (ms, i) => {
      const t0 = performance.now();
      const err = await errorOf(m.infer(x(i), { timeoutUs: ms * 1000 }));
      expect(err).toMatchObject({ code: 'ERR_REQUEST_TIMEOUT' });
      expect(httpStatusOf(err)).toBe(504);
      return performance.now() - t0 - ms;
    }));
    // The batcher ends each request within 2 ms of its deadline (measured where it happens,
    // on the scheduler thread: the bucket below 2.5 ms holds them all)...
    const late = m.stats().timeoutLatenessUs;
    expect(late.count).toBe(timeouts.length);
    expect(late.buckets.find((b) => b.le === 2500)!.count).toBe(timeouts.length);
    expect(late.sum / late.count).toBeLessThan(2000);
    // ...and the caller sees the rejection promptly, never early: the event loop hop on a
    // 2-core machine running other test files beside this one can add a few ms.
    for (const l of lateness) {
      expect(l).toBeGreaterThanOrEqual(-0.05);
      expect(l).toBeLessThan(50);
    }
    expect(m.stats().rejected.timeout).toBe(timeouts.length);
    expect(m.stats().pending).toBe(0);
    await m.close();
  });

  it('applies defaultTimeoutUs to requests that give none, and a request may override it', async () => {
    const m = await createModel(PROBE, { maxBatchSize: 8, defaultTimeoutUs: 10_000, ...ONE_THREAD });
    m.holdUntil(2);
    const a = errorOf(m.infer(x(1)));
    await new Promise((r) => setTimeout(r, 30));
    expect(await a).toMatchObject({ code: 'ERR_REQUEST_TIMEOUT' });
    m.holdUntil(0);
    expect((await m.infer(x(2), { timeoutUs: 0 })).y!.data).toEqual(new Float64Array([2]));
    await m.close();
  });

  it('serves priority levels highest first (1 is the highest), arrival order within a level', async () => {
    const m = await createModel(PROBE, { maxBatchSize: 2, priorityLevels: 3, ...ONE_THREAD });
    m.holdUntil(7);
    const order: number[] = [];
    const plan = [[0, 3], [1, 2], [2, 3], [3, 1], [4, 2], [5, 1], [6, 3]] as const;
    await Promise.all(plan.map(([id, priority]) => m.infer(x(id), { priority }).then(() => order.push(id))));
    // Level 1: 3, 5; level 2: 1, 4; level 3: 0, 2, 6 — in batches of two, highest level first.
    expect(order).toEqual([3, 5, 1, 4, 0, 2, 6]);
    await m.close();
  });

  it('uses defaultPriority for requests without one', async () => {
    const m = await createModel(PROBE, { maxBatchSize: 1, priorityLevels: 3, defaultPriority: 2, ...ONE_THREAD });
    m.holdUntil(3);
    const order: number[] = [];
    await Promise.all([m.infer(x(0), { priority: 3 }), m.infer(x(1)), m.infer(x(2), { priority: 1 })].map((p, i) => p.then(() => order.push(i))));
    expect(order).toEqual([2, 1, 0]);
    await m.close();
  });

  it('cancels a queued request through its AbortSignal (ERR_REQUEST_ABORTED) and runs the rest', async () => {
    const m = await createModel(PROBE, { maxBatchSize: 8, ...ONE_THREAD });
    m.holdUntil(1000);
    const ac = new AbortController();
    const doomed = errorOf(m.infer(x(1), { signal: ac.signal }));
    const kept = m.infer(x(2));
    ac.abort();
    const err = await doomed;
    expect(err).toMatchObject({ code: 'ERR_REQUEST_ABORTED' });
    expect(httpStatusOf(err)).toBe(499);
    m.holdUntil(0);
    const out = await kept;
    expect(out.size!.data).toEqual(new Float64Array([1])); // ran alone: the aborted one never joined it
    await new Promise((r) => setTimeout(r, 10));
    expect(m.stats().rejected.cancelled).toBe(1);
    // An already-aborted signal refuses before queueing.
    expect(await codeOf(() => m.infer(x(3), { signal: AbortSignal.abort() }))).toBe('ERR_REQUEST_ABORTED');
    await m.close();
  });

  it('lets a request that already ran finish when its signal aborts afterwards', async () => {
    const m = await createModel(PROBE, { maxBatchSize: 8, ...ONE_THREAD });
    const ac = new AbortController();
    const out = await m.infer(x(5), { signal: ac.signal });
    ac.abort();
    expect(out.y!.data).toEqual(new Float64Array([5]));
    await m.close();
  });

  it('close() drains: queued requests run, new ones are refused with ERR_MODEL_CLOSED (503)', async () => {
    const m = await createModel(PROBE, { maxBatchSize: 4, maxQueueDelayUs: 5_000_000, ...ONE_THREAD });
    m.holdUntil(1000);
    const queued = [0, 1, 2, 3, 4, 5].map((i) => m.infer(x(i)));
    const closing = m.close();
    const late = await errorOf(m.infer(x(9)));
    expect(late).toMatchObject({ code: 'ERR_MODEL_CLOSED' });
    expect(httpStatusOf(late)).toBe(503);
    const outs = await Promise.all(queued);
    outs.forEach((o, i) => expect((o.y!.data as Float64Array)[0]).toBe(i));
    await closing;
    expect(await codeOf(() => m.infer(x(1)))).toBe('ERR_MODEL_CLOSED');
    expect(await codeOf(() => m.stats())).toBe('ERR_MODEL_CLOSED');
  });

  it('close({ drain: false }) rejects everything queued with ERR_MODEL_CLOSED and leaves nothing hanging', async () => {
    const m = await createModel(PROBE, { maxBatchSize: 4, ...ONE_THREAD });
    m.holdUntil(1000);
    const queued = Array.from({ length: 50 }, (_, i) => errorOf(m.infer(x(i))));
    await m.close({ drain: false });
    for (const e of await Promise.all(queued)) expect(e).toMatchObject({ code: 'ERR_MODEL_CLOSED' });
  });

  it('fails only the bad request of a batch: a token id out of the vocabulary fails alone', async () => {
    const m = await createModel(TAGGER, { maxBatchSize: 8, ...ONE_THREAD });
    m.holdUntil(5);
    const req = (id: bigint) => ({
      input_ids: new Tensor('int64', BigInt64Array.from([id, 1n]), [1, 2]),
      attention_mask: new Tensor('int64', BigInt64Array.from([1n, 1n]), [1, 2]),
    });
    const results = await Promise.all([1n, 2n, 5000n, 3n, 4n].map((id) => errorOf(m.infer(req(id)).then((o) => { throw { ok: o }; }))));
    const bad = results[2] as { code?: string; message?: string };
    expect(bad.code).toMatch(/^ERR_ORT_/);
    expect(bad.message).toMatch(/indices|out of bounds|range/i);
    for (const i of [0, 1, 3, 4]) expect(results[i]).toHaveProperty('ok');
    const s = m.stats();
    expect(s.rejected.failed).toBe(1);
    expect(s.completed).toBe(4);
    await m.close();
  });
});

describe('Model#infer() input errors', () => {
  let m: Model;
  const setup = async () => { m ??= await createModel(PROBE, { maxBatchSize: 4, ...ONE_THREAD }); return m; };

  it.each([
    ['a wrong dtype', { x: new Tensor('float32', new Float32Array(1), [1, 1]) }, 'ERR_INPUT_TYPE'],
    ['an unknown input', { x: new Tensor('float64', new Float64Array(1), [1, 1]), z: new Tensor('float64', new Float64Array(1), [1, 1]) }, 'ERR_INPUT_NAME'],
    ['a missing input', {}, 'ERR_INPUT_MISSING'],
    ['a wrong fixed dim', { x: new Tensor('float64', new Float64Array(2), [1, 2]) }, 'ERR_INPUT_SHAPE'],
    ['zero rows', { x: new Tensor('float64', new Float64Array(0), [0, 1]) }, 'ERR_INPUT_SHAPE'],
    ['more rows than maxBatchSize', { x: new Tensor('float64', new Float64Array(5), [5, 1]) }, 'ERR_INPUT_SHAPE'],
    ['a data length that disagrees with the dims', { x: { type: 'float64', data: new Float64Array(3), dims: [2, 1] } }, 'ERR_INPUT_DATA_LENGTH'],
    ['not an object', 42, 'ERR_INPUT_TYPE'],
  ])('rejects %s with a typed 4xx error, and keeps serving', async (_what, feeds, code) => {
    const model = await setup();
    const err = await errorOf(model.infer(feeds as Record<string, Tensor>));
    expect(err).toMatchObject({ code });
    expect(httpStatusOf(err)).toBeGreaterThanOrEqual(400);
    expect(httpStatusOf(err)).toBeLessThan(500);
    expect((await model.infer(x(3))).y!.data).toEqual(new Float64Array([3]));
  });

  it('rejects bad infer() options', async () => {
    const model = await setup();
    expect(await codeOf(() => model.infer(x(1), { priority: 2 }))).toBe('ERR_INVALID_ARG');
    expect(await codeOf(() => model.infer(x(1), { timeoutUs: -1 }))).toBe('ERR_INVALID_ARG');
    expect(await codeOf(() => model.infer(x(1), { signal: {} as AbortSignal }))).toBe('ERR_INVALID_ARG');
    await model.close();
  });
});

describe('createModel() options and models', () => {
  it.each([
    [{ maxBatchSize: -1 }], [{ maxBatchSize: 1.5 }], [{ instances: 0 }], [{ preferredBatchSizes: [0] }],
    [{ preferredBatchSizes: [9], maxBatchSize: 8 }], [{ priorityLevels: 2, defaultPriority: 3 }], [{ maxQueueDelayUs: 'x' }],
    [{ padding: { x: { dims: [1] } }, maxBatchSize: 0 }], [{ nonsense: true }],
  ])('refuses %j with ERR_OPTION_INVALID', async (opts) => {
    expect(await codeOf(() => createModel(PROBE, opts as object))).toBe('ERR_OPTION_INVALID');
  });

  it('refuses padding that names an unknown input or dim', async () => {
    expect(await codeOf(() => createModel(TAGGER, { padding: { nope: { dims: [1] } } }))).toBe('ERR_OPTION_INVALID');
    expect(await codeOf(() => createModel(TAGGER, { padding: { input_ids: { dims: ['T'] } } }))).toBe('ERR_OPTION_INVALID');
    expect(await codeOf(() => createModel(TAGGER, { padding: { input_ids: { dims: [0] } } }))).toBe('ERR_OPTION_INVALID');
  });

  it('refuses a model without a dynamic batch dim unless maxBatchSize is 0, then runs each request alone', async () => {
    const fixed = model('slow_matmul'); // x float32 [1, 512]
    const err = await errorOf(createModel(fixed));
    expect(err).toMatchObject({ code: 'ERR_MODEL_NOT_BATCHABLE' });
    expect((err as Error).message).toMatch(/maxBatchSize: 0/);
    const m = await createModel(model('add_float32'), { maxBatchSize: 0, ...ONE_THREAD }); // x, y [2,3] -> z
    const a = new Tensor('float32', Float32Array.from([1, 2, 3, 4, 5, 6]), [2, 3]);
    const outs = await Promise.all([1, 2, 3].map(() => m.infer({ x: a, y: a })));
    for (const o of outs) {
      expect(o.z!.dims).toEqual([2, 3]);
      expect(Array.from(o.z!.data as Float32Array)).toEqual([2, 4, 6, 8, 10, 12]);
    }
    expect(m.stats().batchSizes[1]).toBe(3);
    await m.close();
  });

  it('reports a missing or corrupt model file with a typed error', async () => {
    expect(await codeOf(() => createModel('/nonexistent/model.onnx'))).toBe('ERR_MODEL_NOT_FOUND');
    expect(await codeOf(() => createModel(new Uint8Array([1, 2, 3, 4, 5])))).toBe('ERR_MODEL_INVALID');
  });
});

describe('Model#stats()', () => {
  it('counts requests, batches, rows and times, with Prometheus-style cumulative buckets', async () => {
    const m = await createModel(PROBE, { maxBatchSize: 4, ...ONE_THREAD });
    m.holdUntil(6);
    await Promise.all([0, 1, 2, 3, 4, 5].map((i) => m.infer(x(i))));
    const s = m.stats();
    expect(s).toMatchObject({ requests: 6, completed: 6, batches: 2, rows: 6, pending: 0, executing: 0, maxBatchSize: 4 });
    expect(s.batchSizes[4]).toBe(1);
    expect(s.batchSizes[2]).toBe(1);
    expect(s.queueUs.count).toBe(6);
    expect(s.computeUs.count).toBe(2);
    expect(s.requestUs.count).toBe(6);
    // Each execution is timed by phase, overall and per batch size.
    for (const h of [s.computeInputUs, s.computeInferUs, s.computeOutputUs]) expect(h.count).toBe(2);
    expect(s.batchPhasesUs.infer[4]).toBeGreaterThan(0);
    expect(s.batchPhasesUs.infer[2]).toBeGreaterThan(0);
    expect(s.batchPhasesUs.infer[3]).toBe(0);
    expect(s.computeInferUs.sum).toBeCloseTo(s.batchPhasesUs.infer.reduce((a, b) => a + b, 0), 3);
    for (const h of [s.queueUs, s.computeUs, s.requestUs]) {
      expect(h.buckets.at(-1)).toEqual({ le: Infinity, count: h.count });
      for (let i = 1; i < h.buckets.length; i++) expect(h.buckets[i]!.count).toBeGreaterThanOrEqual(h.buckets[i - 1]!.count);
      expect(h.sum).toBeGreaterThan(0);
    }
    await m.close();
  });
});
