// Load-aware queue delay (latencyTargetUs): the batcher waits for another request only while
// that pays (the pending requests' wait for it costs less than the run it saves), arrivals
// are still coming and the oldest can still be answered within the target. Sparse traffic
// and a closed-loop caller are answered at once; a burst is gathered into one batch. Times
// are the batcher's own (native histograms), so the event loop's jitter on a busy machine
// does not decide the outcome.
import { describe, expect, it } from 'vitest';
import { Tensor, createModel, type ModelOptions, type ModelStats } from '../src/index.js';
import { model } from './helpers.js';

const CTR = model('ctr_mlp');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const x = () => ({ x: new Tensor('float32', new Float32Array(64).fill(0.5), [1, 64]) });

/** Fraction of requests whose enqueue-to-outputs time was within `us`. */
function within(s: ModelStats, us: number): number {
  const b = s.requestUs.buckets.find((k) => k.le >= us)!;
  return b.count / s.requestUs.count;
}

async function bursts(options: ModelOptions, burst: number, everyMs: number, count: number): Promise<ModelStats> {
  const m = await createModel(CTR, { maxBatchSize: 64, intraOpNumThreads: 1, ...options });
  // Warm-up teaches the batcher the compute time per batch size.
  await Promise.all(Array.from({ length: 64 }, () => m.infer(x())));
  await Promise.all(Array.from({ length: 4 }, () => m.infer(x())));
  const base = m.stats();
  const inflight: Promise<unknown>[] = [];
  for (let i = 0; i < count; i++) {
    for (let k = 0; k < burst; k++) inflight.push(m.infer(x()));
    await sleep(everyMs);
  }
  await Promise.all(inflight);
  const s = m.stats();
  await m.close();
  const sub = (a: ModelStats['requestUs'], b: ModelStats['requestUs']) => ({
    sum: a.sum - b.sum, count: a.count - b.count, buckets: a.buckets.map((k, i) => ({ le: k.le, count: k.count - b.buckets[i]!.count })),
  });
  return { ...s, rows: s.rows - base.rows, batches: s.batches - base.batches, requestUs: sub(s.requestUs, base.requestUs) };
}

describe('Model load-aware delay (latencyTargetUs)', () => {
  it('answers sparse requests at once instead of waiting out the target', async () => {
    const s = await bursts({ latencyTargetUs: 20_000 }, 1, 40, 15);
    expect(s.requestUs.count).toBe(15);
    // Nobody else is coming within the target: no waiting, so each is answered in about
    // its compute time (a fixed 20 ms delay would put every one of them past 20 ms).
    expect(within(s, 5_000)).toBeGreaterThanOrEqual(0.9);
    expect(s.adaptiveDelayUs).toBeLessThan(5_000);
  });

  it('does not hold back a caller that sends one request after another (closed loop)', async () => {
    const m = await createModel(CTR, { maxBatchSize: 64, intraOpNumThreads: 1, latencyTargetUs: 20_000 });
    for (let i = 0; i < 300; i++) await m.infer(x());
    const s = m.stats();
    await m.close();
    // Each request's gap to the next is its own round trip: waiting would only delay it.
    expect(within(s, 2_500)).toBeGreaterThanOrEqual(0.95);
  });

  it('batches bursts, every request within the target', async () => {
    // The first request of a burst goes alone (nothing says more are coming); the rest,
    // arriving microseconds apart, share runs: waited for while the wait costs the pending
    // requests less than the run it saves.
    const s = await bursts({ latencyTargetUs: 20_000 }, 32, 3, 40);
    expect(s.rows / s.batches).toBeGreaterThanOrEqual(3);
    expect(within(s, 25_000)).toBe(1);
  });
});
