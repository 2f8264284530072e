import { availableParallelism } from 'node:os';
import { describe, expect, it } from 'vitest';
import { InferenceSession, type SessionOptions, Tensor } from '../src/index.js';
import { model, randomFloats } from './helpers.js';

const feeds = () => ({ x: new Tensor('float32', randomFloats(512), [1, 512]) });

describe('InferenceSession#run() cancellation', () => {
  it('rejects with ERR_RUN_CANCELLED when its AbortSignal fires mid-run, well before the run would end', async () => {
    const s = await InferenceSession.create(model('slow_matmul'), { intraOpNumThreads: 1 });
    const t0 = performance.now();
    await s.run(feeds());
    const fullMs = performance.now() - t0;
    const ac = new AbortController();
    const started = performance.now();
    setTimeout(() => ac.abort(), 10);
    const err = await s.run(feeds(), { signal: ac.signal }).catch((e) => e);
    const tookMs = performance.now() - started;
    expect(err.code).toBe('ERR_RUN_CANCELLED');
    expect(tookMs).toBeLessThan(fullMs);
    // The session keeps serving afterwards.
    expect(((await s.run(feeds())).y as Tensor).dims).toEqual([1, 512]);
    await s.release();
  });

  it('rejects at once when the signal is already aborted', async () => {
    const s = await InferenceSession.create(model('ctr_mlp'));
    const err = await s.run({ x: new Tensor('float32', randomFloats(64), [1, 64]) }, { signal: AbortSignal.abort() }).catch((e) => e);
    expect(err.code).toBe('ERR_RUN_CANCELLED');
    expect(s.pendingRuns).toBe(0);
  });

  it('rejects with ERR_RUN_TIMEOUT when timeoutMs passes, and HTTP status 504', async () => {
    const s = await InferenceSession.create(model('slow_matmul'), { intraOpNumThreads: 1 });
    const err = await s.run(feeds(), { timeoutMs: 5 }).catch((e) => e);
    expect(err.code).toBe('ERR_RUN_TIMEOUT');
    expect(err.status).toBe(504);
    expect(err.message).toMatch(/5 ms/);
    const ok = await s.run(feeds(), { timeoutMs: 60_000 });
    expect(ok.y).toBeDefined();
    await s.release();
  });

  it('accepts run options onnxruntime-node knows (tag, log levels) in the fetches position', async () => {
    const s = await InferenceSession.create(model('ctr_mlp'));
    const out = await s.run({ x: new Tensor('float32', randomFloats(64), [1, 64]) }, { tag: 'req-1', logSeverityLevel: 3 });
    expect(Object.keys(out)).toEqual(['y']);
    await s.release();
  });
});

describe('busyWait', () => {
  it('gives the same outputs and stops polling once no run is in flight', async () => {
    const s = await InferenceSession.create(model('ctr_mlp'), { busyWait: true, intraOpNumThreads: 1 });
    const data = randomFloats(64 * 4, 3);
    const expected = s.runSync({ x: new Tensor('float32', data, [4, 64]) }).y as Tensor;
    const outs = await Promise.all(Array.from({ length: 16 }, () => s.run({ x: new Tensor('float32', data, [4, 64]) })));
    for (const o of outs) expect((o.y as Tensor).data).toEqual(expected.data);
    // With the poller stopped, the loop idles again: a 30 ms timer fires after ~30 ms and the
    // number of loop turns in that time stays small (a poller left running would spin thousands).
    let turns = 0;
    const count = () => { turns++; };
    const h = setInterval(count, 5);
    await new Promise((r) => setTimeout(r, 30));
    clearInterval(h);
    expect(turns).toBeLessThan(10);
    await s.release();
  });

  // The event loop's utilization over a loop of runs tells whether it polled for their
  // completions (close to 1) or slept in epoll until each came back.
  const utilization = async (options: SessionOptions, batch: number, runs: number) => {
    const s = await InferenceSession.create(model('ctr_mlp'), options);
    const x = new Tensor('float32', randomFloats(64 * batch, 5), [batch, 64]);
    for (let i = 0; i < 20; i++) await s.run({ x });
    const before = performance.eventLoopUtilization();
    for (let i = 0; i < runs; i++) await s.run({ x });
    const u = performance.eventLoopUtilization(before).utilization;
    await s.release();
    return u;
  };

  it('by default polls a short run when its intra-op threads leave a core free, never with false, throughout with true', async () => {
    const t1 = await utilization({ intraOpNumThreads: 1 }, 1, 3000);
    const off = await utilization({ intraOpNumThreads: 1, busyWait: false }, 1, 3000);
    const on = await utilization({ intraOpNumThreads: 1, busyWait: true }, 1, 3000);
    // ORT's default thread count is one per core: nothing is left for a polling thread.
    const coresThreads = await utilization({}, 1, 3000);
    expect(on).toBeGreaterThan(0.9);
    if (availableParallelism() >= 2) {
      expect(t1).toBeGreaterThan(off + 0.2);
      expect(coresThreads).toBeLessThan(t1 - 0.2);
    } else {
      expect(t1).toBeLessThan(on - 0.2);
    }
  });

  it('by default stops polling a session whose runs are not short', async () => {
    // ctr_mlp at batch 128 runs for ~300 µs: polled for 50 µs of each, the loop would be busy
    // ~0.17 more of the time than with polling off.
    const byDefault = await utilization({ intraOpNumThreads: 1 }, 128, 300);
    const off = await utilization({ intraOpNumThreads: 1, busyWait: false }, 128, 300);
    expect(byDefault).toBeLessThan(off + 0.08);
  });

  it('rejects a non-boolean busyWait', async () => {
    await expect(InferenceSession.create(model('ctr_mlp'), { busyWait: 1 as never })).rejects.toMatchObject({ code: 'ERR_OPTION_INVALID' });
  });
});
