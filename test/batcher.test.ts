// The dynamic batcher under load: every response must equal the unbatched run of the same
// input, none lost, none duplicated, none delivered to the wrong caller; batch composition
// follows the documented rules (seen through the batch_probe model, whose outputs report the
// size and the sum of x over the batch each row ran in).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InferenceSession, Tensor, createModel, type Model } from '../src/index.js';
import { Prng } from '../models/prng.js';
import { model } from './helpers.js';

const CTR = model('ctr_mlp');
const PROBE = model('batch_probe');
const TAGGER = model('token_tagger');
const ONE_THREAD = { intraOpNumThreads: 1, interOpNumThreads: 1 } as const;

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

/** x = 4^id per row: a batch's sum of x decodes, digit by digit in base 4, into its requests and their rows. */
const probeValue = (id: number) => 4 ** id;
function decodeSum(sum: number): Map<number, number> {
  const members = new Map<number, number>();
  for (let id = 0; sum > 0; id++, sum = Math.floor(sum / 4)) if (sum % 4) members.set(id, sum % 4);
  return members;
}
async function probe(m: Model, id: number, rows = 1, opts = {}) {
  const out = await m.infer({ x: new Tensor('float64', new Float64Array(rows).fill(probeValue(id)), [rows, 1]) }, opts);
  return { id, y: out.y!.data as Float64Array, size: (out.size!.data as Float64Array)[0]!, sum: (out.sum!.data as Float64Array)[0]! };
}

describe('Model#infer() under load (ctr_mlp, 4 instances)', () => {
  let batched: Model;
  let reference: InferenceSession;
  beforeAll(async () => {
    batched = await createModel(CTR, { maxBatchSize: 64, maxQueueDelayUs: 200, instances: 4, ...ONE_THREAD });
    reference = await InferenceSession.create(CTR, ONE_THREAD);
  });
  afterAll(async () => {
    await batched.close();
    await reference.release();
  });

  it('answers 20,000 concurrent requests (batch 1 and batch n) each with its own unbatched result', async () => {
    const rng = new Prng(7);
    const N = 20_000;
    const rows = Array.from({ length: N }, (_, i) => (i % 10 === 0 ? 1 + (i % 4) : 1));
    const inputs = rows.map((r) => rng.uniform(r * 64, 1));
    const before = batched.stats();
    const results = await Promise.all(inputs.map((x, i) => batched.infer({ x: new Tensor('float32', x, [rows[i]!, 64]) })));
    let worst = 0;
    for (let i = 0; i < N; i++) {
      const y = results[i]!.y!;
      expect(y.dims).toEqual([rows[i], 1]);
      const want = reference.runSync({ x: new Tensor('float32', inputs[i]!, [rows[i]!, 64]) }).y as Tensor;
      worst = Math.max(worst, maxAbsDiff(y.data as Float32Array, want.data as Float32Array));
    }
    // Batched and single-row GEMMs may round differently in the last bits.
    expect(worst).toBeLessThan(1e-5);
    const after = batched.stats();
    const totalRows = rows.reduce((a, b) => a + b, 0);
    expect(after.completed - before.completed).toBe(N);
    expect(after.rows - before.rows).toBe(totalRows);
    expect(after.pending).toBe(0);
    expect(after.executing).toBe(0);
    // Under this load the batcher formed real batches.
    expect((after.rows - before.rows) / (after.batches - before.batches)).toBeGreaterThan(2);
    expect(batched.pendingRequests).toBe(0);
  });

  it('keeps each caller its own answer when the inputs differ only slightly', async () => {
    const base = new Prng(3).uniform(64, 1);
    const xs = Array.from({ length: 500 }, (_, i) => { const x = base.slice(); x[i % 64] += (i + 1) * 1e-3; return x; });
    const outs = await Promise.all(xs.map((x) => batched.infer({ x: new Tensor('float32', x, [1, 64]) })));
    for (let i = 0; i < xs.length; i++) {
      const want = (reference.runSync({ x: new Tensor('float32', xs[i]!, [1, 64]) }).y as Tensor).data as Float32Array;
      expect(maxAbsDiff(outs[i]!.y!.data as Float32Array, want)).toBeLessThan(1e-6);
    }
  });
});

describe('Model batch formation (batch_probe)', () => {
  it('forms exactly the batches a hold makes deterministic: full batches in arrival order', async () => {
    const m = await createModel(PROBE, { maxBatchSize: 4, maxQueueDelayUs: 0, ...ONE_THREAD });
    m.holdUntil(10);
    const got = await Promise.all(Array.from({ length: 10 }, (_, id) => probe(m, id)));
    const batches = got.map((g) => [...decodeSum(g.sum).keys()]);
    for (let id = 0; id < 10; id++) {
      expect(got[id]!.y[0]).toBe(probeValue(id));
      expect(batches[id]).toEqual(id < 4 ? [0, 1, 2, 3] : id < 8 ? [4, 5, 6, 7] : [8, 9]);
    }
    expect(m.stats().batchSizes[4]).toBe(2);
    expect(m.stats().batchSizes[2]).toBe(1);
    await m.close();
  });

  it('counts rows, not requests: a 3-row request fills three places of the batch', async () => {
    const m = await createModel(PROBE, { maxBatchSize: 4, maxQueueDelayUs: 0, ...ONE_THREAD });
    m.holdUntil(3);
    const [a, b, c] = await Promise.all([probe(m, 0, 3), probe(m, 1, 1), probe(m, 2, 3)]);
    expect(a!.size).toBe(4);
    expect(decodeSum(a!.sum)).toEqual(new Map([[0, 3], [1, 1]]));
    expect(b!.size).toBe(4);
    expect(c!.size).toBe(3);
    expect(a!.y).toEqual(new Float64Array(3).fill(1));
    await m.close();
  });

  it('sends a batch at once when it reaches the largest preferred size, without waiting the queue delay', async () => {
    const m = await createModel(PROBE, { maxBatchSize: 8, preferredBatchSizes: [2, 4], maxQueueDelayUs: 2_000_000, ...ONE_THREAD });
    m.holdUntil(4);
    const t0 = performance.now();
    const got = await Promise.all([0, 1, 2, 3].map((id) => probe(m, id)));
    expect(performance.now() - t0).toBeLessThan(1000);
    for (const g of got) expect(g.size).toBe(4);
    await m.close();
  });

  it('prefers a preferred size when the delay expires: 6 waiting with preferred [4] go as 4 then 2', async () => {
    const m = await createModel(PROBE, { maxBatchSize: 8, preferredBatchSizes: [4], maxQueueDelayUs: 0, ...ONE_THREAD });
    m.holdUntil(6);
    const got = await Promise.all([0, 1, 2, 3, 4, 5].map((id) => probe(m, id)));
    expect(got.map((g) => g.size)).toEqual([4, 4, 4, 4, 2, 2]);
    await m.close();
  });

  it('waits up to maxQueueDelayUs for a batch to fill, then sends what it has', async () => {
    const m = await createModel(PROBE, { maxBatchSize: 64, maxQueueDelayUs: 50_000, ...ONE_THREAD });
    const t0 = performance.now();
    const first = probe(m, 0);
    await new Promise((r) => setTimeout(r, 10));
    const second = probe(m, 1);
    const [a, b] = await Promise.all([first, second]);
    const waited = performance.now() - t0;
    expect(a.size).toBe(2); // the second joined the first's pending batch
    expect(decodeSum(b.sum)).toEqual(new Map([[0, 1], [1, 1]]));
    expect(waited).toBeGreaterThanOrEqual(45);
    expect(waited).toBeLessThan(1000);
    await m.close();
  });

  it('changes maxBatchSize and maxQueueDelayUs on a live model without dropping requests', async () => {
    const m = await createModel(PROBE, { maxBatchSize: 2, maxQueueDelayUs: 0, ...ONE_THREAD });
    m.holdUntil(6);
    const first = Promise.all([0, 1, 2, 3, 4, 5].map((id) => probe(m, id)));
    expect((await first).map((g) => g.size)).toEqual([2, 2, 2, 2, 2, 2]);
    m.configure({ maxBatchSize: 6, maxQueueDelayUs: 0 });
    m.holdUntil(6);
    const second = await Promise.all([6, 7, 8, 9, 10, 11].map((id) => probe(m, id)));
    expect(second.map((g) => g.size)).toEqual([6, 6, 6, 6, 6, 6]);
    expect(m.stats().maxBatchSize).toBe(6);
    // While requests flow, reconfigure back and forth: every one is answered.
    const flowing = Array.from({ length: 2000 }, (_, i) => m.infer({ x: new Tensor('float64', new Float64Array([i]), [1, 1]) }));
    for (let i = 0; i < 20; i++) m.configure({ maxBatchSize: 1 + (i % 6), maxQueueDelayUs: i % 3 === 0 ? 100 : 0 });
    const outs = await Promise.all(flowing);
    outs.forEach((o, i) => expect((o.y!.data as Float64Array)[0]).toBe(i));
    await m.close();
  });
});

describe('Model with ragged inputs (token_tagger, 20,000 requests of lengths 1-12, 4 instances)', () => {
  const rng = new Prng(11);
  const requests = Array.from({ length: 20_000 }, () => {
    const len = 1 + Math.floor(rng.next() * 12);
    const ids = BigInt64Array.from({ length: len }, () => BigInt(Math.floor(rng.next() * 1000)));
    return { len, ids, mask: new BigInt64Array(len).fill(1n) };
  });
  let reference: InferenceSession;
  beforeAll(async () => { reference = await InferenceSession.create(TAGGER, ONE_THREAD); });
  afterAll(() => reference.release());

  const feeds = (r: (typeof requests)[number]) => ({
    input_ids: new Tensor('int64', r.ids, [1, r.len]),
    attention_mask: new Tensor('int64', r.mask, [1, r.len]),
  });

  async function checkAll(m: Model) {
    const outs = await Promise.all(requests.map((r) => m.infer(feeds(r))));
    for (let i = 0; i < requests.length; i++) {
      const want = reference.runSync(feeds(requests[i]!));
      const got = outs[i]!;
      expect(got.tags!.dims).toEqual([1, requests[i]!.len, 8]);
      expect(maxAbsDiff(got.tags!.data as Float32Array, (want.tags as Tensor).data as Float32Array)).toBe(0);
      expect(maxAbsDiff(got.pooled!.data as Float32Array, (want.pooled as Tensor).data as Float32Array)).toBeLessThan(1e-6);
    }
  }

  it('groups requests by shape when no padding is configured', async () => {
    const m = await createModel(TAGGER, { maxBatchSize: 32, maxQueueDelayUs: 500, instances: 4, ...ONE_THREAD });
    await checkAll(m);
    const s = m.stats();
    expect(s.completed).toBe(requests.length);
    expect(s.rows / s.batches).toBeGreaterThan(1.5);
    await m.close();
  });

  it('pads to the longest request (mask padded with zeros) and cuts each response back to its own length', async () => {
    const m = await createModel(TAGGER, {
      maxBatchSize: 32, maxQueueDelayUs: 500, instances: 4, ...ONE_THREAD,
      padding: { input_ids: { dims: ['S'], value: 0 }, attention_mask: { dims: [1], value: 0 } },
    });
    await checkAll(m);
    const s = m.stats();
    // Padding lets requests of any length share a batch: fewer, larger batches than grouping.
    expect(s.rows / s.batches).toBeGreaterThan(4);
    await m.close();
  });

  it('cuts multi-row padded requests back too', async () => {
    const m = await createModel(TAGGER, { maxBatchSize: 8, ...ONE_THREAD, padding: { input_ids: { dims: ['S'] }, attention_mask: { dims: ['S'] } } });
    m.holdUntil(2);
    const a = { ids: BigInt64Array.from([1n, 2n, 3n, 4n, 5n, 6n]), mask: new BigInt64Array(6).fill(1n), dims: [2, 3] };
    const b = { ids: BigInt64Array.from([7n, 8n, 9n, 10n, 11n]), mask: new BigInt64Array(5).fill(1n), dims: [1, 5] };
    const run = (r: typeof a) => ({ input_ids: new Tensor('int64', r.ids, r.dims), attention_mask: new Tensor('int64', r.mask, r.dims) });
    const [ga, gb] = await Promise.all([m.infer(run(a)), m.infer(run(b))]);
    expect(ga!.tags!.dims).toEqual([2, 3, 8]);
    expect(gb!.tags!.dims).toEqual([1, 5, 8]);
    expect(Array.from(ga!.tags!.data as Float32Array)).toEqual(Array.from((reference.runSync(run(a)).tags as Tensor).data as Float32Array));
    expect(Array.from(gb!.tags!.data as Float32Array)).toEqual(Array.from((reference.runSync(run(b)).tags as Tensor).data as Float32Array));
    await m.close();
  });
});
