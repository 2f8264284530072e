import { describe, expect, it } from 'vitest';
import { InferenceSession, Tensor } from '../src/index.js';
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

  it('rejects a non-boolean busyWait', async () => {
    await expect(InferenceSession.create(model('ctr_mlp'), { busyWait: 1 as never })).rejects.toMatchObject({ code: 'ERR_OPTION_INVALID' });
  });
});
