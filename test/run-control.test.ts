import { availableParallelism } from 'node:os';
import { describe, expect, it, vi } from 'vitest';
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

  // Polls are counted where busy-wait.ts schedules them: each is a setImmediate of its
  // function `poll`. The count says whether the event loop polled, not how much time that
  // took, so a loaded machine changes the figures but not the answers.
  const countPolls = async <T>(f: () => Promise<T>): Promise<{ polls: number; result: T }> => {
    const spy = vi.spyOn(globalThis, 'setImmediate');
    try {
      const result = await f();
      return { polls: spy.mock.calls.filter(([fn]) => (fn as { name?: string }).name === 'poll').length, result };
    } finally {
      spy.mockRestore();
    }
  };
  /** Runs `runs` sequential run()s of a warmed session; counts the polls during them. */
  const pollsDuring = async (name: string, options: SessionOptions, feeds: Record<string, Tensor>, runs: number, warm = 20) => {
    const s = await InferenceSession.create(model(name), options);
    for (let i = 0; i < warm; i++) await s.run(feeds);
    const { polls } = await countPolls(async () => {
      for (let i = 0; i < runs; i++) await s.run(feeds);
    });
    await s.release();
    return polls;
  };
  const mlpFeeds = () => ({ x: new Tensor('float32', randomFloats(64, 5), [1, 64]) });

  it('by default polls a short run when its intra-op threads leave a core free; throughout with true; never with false', async () => {
    const runs = 500;
    expect(await pollsDuring('ctr_mlp', { intraOpNumThreads: 1, busyWait: false }, mlpFeeds(), runs)).toBe(0);
    expect(await pollsDuring('ctr_mlp', { intraOpNumThreads: 1, busyWait: true }, mlpFeeds(), runs)).toBeGreaterThanOrEqual(runs);
    // ORT's default thread count is one per core: nothing is left for a polling thread.
    expect(await pollsDuring('ctr_mlp', {}, mlpFeeds(), runs)).toBe(0);
    // So is a thread per core set explicitly, and the parallel execution mode is left out.
    expect(await pollsDuring('ctr_mlp', { intraOpNumThreads: availableParallelism() }, mlpFeeds(), runs)).toBe(0);
    expect(await pollsDuring('ctr_mlp', { intraOpNumThreads: 1, executionMode: 'parallel' }, mlpFeeds(), runs)).toBe(0);
    const byDefault = await pollsDuring('ctr_mlp', { intraOpNumThreads: 1 }, mlpFeeds(), runs);
    if (availableParallelism() >= 2) expect(byDefault).toBeGreaterThan(0);
    else expect(byDefault).toBe(0);
  });

  it('by default stops polling a session whose runs are long, but for one run in 32', async () => {
    // slow_matmul runs for ~150 ms: its first three runs are polled (50 µs each), then only
    // every 32nd; runs 4 to 31 are not.
    const x = new Tensor('float32', randomFloats(512), [1, 512]);
    const s = await InferenceSession.create(model('slow_matmul'), { intraOpNumThreads: 1 });
    for (let i = 0; i < 3; i++) await s.run({ x });
    const { polls } = await countPolls(async () => {
      for (let i = 0; i < 3; i++) await s.run({ x });
    });
    expect(polls).toBe(0);
    await s.release();
  });

  it('does not poll a run that starts while another is in flight, and stops once none is', async () => {
    const s = await InferenceSession.create(model('ctr_mlp'), { intraOpNumThreads: 1 });
    const feeds = mlpFeeds();
    for (let i = 0; i < 20; i++) await s.run(feeds);
    const slow = await InferenceSession.create(model('slow_matmul'), { intraOpNumThreads: 1 });
    const x = new Tensor('float32', randomFloats(512), [1, 512]);
    // While slow_matmul's ~150 ms run is in flight (its own 50 µs poll long over), short runs
    // are not polled. Only the runs that ended before it did count: on a loaded machine a few
    // short runs can take as long as it.
    let settled = false;
    const long = slow.run({ x }).finally(() => {
      settled = true;
    });
    await new Promise((r) => setTimeout(r, 5));
    let counted = 0;
    let polls = 0;
    for (let i = 0; i < 20 && !settled; i++) {
      const one = await countPolls(() => s.run(feeds));
      if (settled) break;
      counted++;
      polls += one.polls;
    }
    await long;
    expect(counted).toBeGreaterThan(0);
    expect(polls).toBe(0);
    // With nothing left in flight the loop idles: no poll in 30 ms.
    const idle = await countPolls(() => new Promise((r) => setTimeout(r, 30)));
    expect(idle.polls).toBe(0);
    await s.release();
    await slow.release();
  });

  it('rejects a non-boolean busyWait', async () => {
    await expect(InferenceSession.create(model('ctr_mlp'), { busyWait: 1 as never })).rejects.toMatchObject({ code: 'ERR_OPTION_INVALID' });
  });
});
