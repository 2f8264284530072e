// Load-aware queue delay (latencyTargetUs): the batcher waits for more requests only while
// the oldest can still be answered within the target and the arrival rate says more will
// come. Sparse traffic is answered at once; bursty traffic is gathered into larger batches
// than a zero-delay batcher forms, with every request still inside the target. Times are the
// batcher's own (native histograms), so the event loop's jitter on a busy machine does not
// decide the outcome.
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

  it('gathers bursty traffic into larger batches than a zero-delay batcher, within the target', async () => {
    const eager = await bursts({ maxQueueDelayUs: 0 }, 4, 2, 60);
    const adaptive = await bursts({ latencyTargetUs: 20_000 }, 4, 2, 60);
    const avg = (s: ModelStats) => s.rows / s.batches;
    expect(avg(eager)).toBeLessThan(8); // each burst (or two) runs on its own
    expect(avg(adaptive)).toBeGreaterThan(2 * avg(eager));
    // Every request inside the target, give or take a bucket of the histogram.
    expect(within(adaptive, 25_000)).toBe(1);
  });
});
