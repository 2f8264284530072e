// The dynamic batcher fed by several threads: worker_threads attach to a model the main thread
// created and shared, and their requests queue into the same lock-free queue, batch with the
// main thread's and come back to the thread that sent them. Every answer must be that of the
// unbatched run of its own input (none lost, none delivered to the wrong thread or caller);
// batches must really mix threads; a worker that dies with requests outstanding, an attached
// model's close(), attaching after the owner closed and a process that never closes its model
// must all end cleanly. Workers are plain JS in test/fixtures/workers/ importing the compiled
// dist/; scenarios that would abort the process if they failed run in a child process.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InferenceSession, Tensor, attachModel, createModel, type Model, type ModelStats } from '../src/index.js';
// @ts-expect-error: plain JS shared with the worker_threads fixtures
import { randomInputs as workerInputs } from './fixtures/workers/common.mjs';
// @ts-expect-error: plain JS shared with the worker_threads fixtures
import { probeOnce as probeOnceJs } from './fixtures/workers/probe.mjs';
import { MODELS, codeOf, model } from './helpers.js';

const CTR = model('ctr_mlp');
const PROBE = model('batch_probe');
const ONE_THREAD = { intraOpNumThreads: 1, interOpNumThreads: 1 } as const;
const DIST_INDEX = fileURLToPath(new URL('../dist/src/index.js', import.meta.url));
const fixture = (name: string) => new URL(`./fixtures/workers/${name}`, import.meta.url);

/** ctr_mlp inputs of 1..4 rows; the workers build theirs with the same function and other seeds. */
const randomInputs = (seed: number, count: number): Tensor[] => workerInputs(Tensor, seed, count) as Tensor[];

type ProbeAnswer = { ok: true; threads: Map<number, number> } | { ok: false; why: string };
/** One batch_probe request tagged with its thread and index (see fixtures/workers/probe.mjs). */
const probeOnce = (m: Model, thread: number, index: number): Promise<ProbeAnswer> => probeOnceJs(m, Tensor, thread, index);

interface ProducerReport {
  type: 'done';
  requests: number;
  mismatches: number;
  worst: number;
  first: unknown;
  mixed: number;
  threads: number[];
  pendingAfterClose: number;
}

/**
 * A worker and every message it posts, kept in arrival order so that none is missed between
 * two waits. next() takes the first message that matches (waiting for it if need be) and
 * rejects if the worker fails or exits first.
 */
class WorkerInbox {
  readonly worker: Worker;
  readonly #messages: unknown[] = [];
  #waiters: Array<{ test: (m: any) => boolean; resolve: (m: any) => void; reject: (e: Error) => void }> = [];
  #failure: Error | undefined;

  constructor(name: string, workerData: object) {
    this.worker = new Worker(fixture(name), { workerData });
    this.worker.on('message', (m: unknown) => {
      const i = this.#waiters.findIndex((w) => w.test(m));
      if (i < 0) {
        this.#messages.push(m);
        return;
      }
      const [w] = this.#waiters.splice(i, 1);
      w!.resolve(m);
    });
    const fail = (err: Error) => {
      this.#failure ??= err;
      for (const w of this.#waiters.splice(0)) w.reject(err);
    };
    this.worker.once('error', fail);
    this.worker.once('exit', (code) => fail(new Error(`${name} exited with code ${code}`)));
  }

  next<T = any>(test: (m: any) => boolean): Promise<T> {
    const i = this.#messages.findIndex(test);
    if (i >= 0) return Promise.resolve(this.#messages.splice(i, 1)[0] as T);
    if (this.#failure) return Promise.reject(this.#failure);
    return new Promise<T>((resolve, reject) => this.#waiters.push({ test, resolve, reject }));
  }

  /** True if a message matching `test` has arrived and not been taken. */
  has(test: (m: any) => boolean): boolean {
    return this.#messages.some(test);
  }

  /** For attached-remote.mjs: sends { op, ...args } and resolves with its reply. */
  ask<T = any>(op: string, args: object = {}): Promise<T> {
    const reply = this.next<T>((m) => m?.op === op);
    this.worker.postMessage({ op, ...args });
    return reply;
  }
}

/** Counters that must add up once everything sent has been answered: the difference `after - before`. */
function delta(before: ModelStats, after: ModelStats) {
  const rejected = (s: ModelStats) => Object.values(s.rejected).reduce((a, b) => a + b, 0);
  return {
    requests: after.requests - before.requests,
    completed: after.completed - before.completed,
    rejected: rejected(after) - rejected(before),
    pending: after.pending,
    executing: after.executing,
  };
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Infinity;
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface ChildResult {
  code: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
  ms: number;
}
function runChild(script: string, args: string[], timeoutMs: number): Promise<ChildResult> {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const child = execFile(process.execPath, [fileURLToPath(fixture(script)), ...args], { timeout: timeoutMs, killSignal: 'SIGKILL' }, (_err, stdout, stderr) =>
      resolve({ code: child.exitCode, signal: child.signalCode, stdout, stderr, ms: performance.now() - t0 }),
    );
  });
}

beforeAll(() => {
  // Workers cannot load TypeScript: they import the package as built by `tsc` (npm ci runs it in prepare).
  if (!existsSync(DIST_INDEX)) {
    throw new Error(`The compiled package is missing: ${DIST_INDEX} does not exist.\nRun \`npx tsc -p tsconfig.json\` (npm ci runs it in prepare), then re-run the tests.`);
  }
});

describe('Model#share() and attachModel() with worker_threads as producers', () => {
  let reference: InferenceSession;
  beforeAll(async () => { reference = await InferenceSession.create(CTR, ONE_THREAD); });
  afterAll(() => reference.release());

  it('answers 3 workers and the main thread, 3,000 requests each sent at once, each with the unbatched result of its own input', async () => {
    const N = 3000;
    const m = await createModel(CTR, { maxBatchSize: 64, maxQueueDelayUs: 500, instances: 2, ...ONE_THREAD });
    try {
      const shared = m.share();
      const workers = [1, 2, 3].map((t) => new WorkerInbox('attached-producer.mjs', { shared, kind: 'ctr', model: CTR, count: N, seed: 40 + t, thread: t }));
      await Promise.all(workers.map((w) => w.next((msg) => msg.type === 'ready')));
      const inputs = randomInputs(40, N);
      const expected = inputs.map((x) => (reference.runSync({ x }).y as Tensor).data as Float32Array);
      const before = m.stats();

      const reports = workers.map((w) => w.next<ProducerReport>((msg) => msg.type === 'done'));
      for (const w of workers) w.worker.postMessage('go');
      const outs = await Promise.all(inputs.map((x) => m.infer({ x })));
      let worst = 0;
      outs.forEach(({ y }, i) => {
        expect(y!.dims, `main request ${i}`).toEqual(inputs[i]!.dims.slice(0, 1).concat([1]));
        worst = Math.max(worst, maxAbsDiff(y!.data as Float32Array, expected[i]!));
      });
      // Batched and single-row GEMMs may round differently in the last bits.
      expect(worst).toBeLessThan(1e-5);
      for (const [i, r] of (await Promise.all(reports)).entries()) {
        expect(r, `worker ${i + 1}`).toMatchObject({ requests: N, mismatches: 0, first: null, pendingAfterClose: 0 });
        expect(r.worst).toBeLessThan(1e-5);
      }
      // Every request of every thread was run once and answered: nothing lost, nothing stuck.
      const d = delta(before, m.stats());
      expect(d).toEqual({ requests: 4 * N, completed: 4 * N, rejected: 0, pending: 0, executing: 0 });
      // The workers' close() detached them only: the owner still serves.
      const x = inputs[0]!;
      expect(maxAbsDiff(((await m.infer({ x })).y!.data as Float32Array), expected[0]!)).toBeLessThan(1e-5);
    } finally {
      await m.close();
    }
  });

  it('puts the requests of four threads in one batch when a hold gathers them, and answers each thread its own row', async () => {
    const m = await createModel(PROBE, { maxBatchSize: 8, ...ONE_THREAD });
    try {
      const shared = m.share();
      const workers = [1, 2, 3].map((thread) => new WorkerInbox('attached-remote.mjs', { shared, thread }));
      for (const w of workers) expect(await w.ask('attach')).toMatchObject({ ok: true });
      m.holdUntil(4);
      const [mine, ...theirs] = await Promise.all([probeOnce(m, 0, 0), ...workers.map((w) => w.ask('infer'))]);
      for (const t of theirs) expect(t).toMatchObject({ ok: true });
      expect(mine.ok, mine.ok ? '' : mine.why).toBe(true);
      // One batch of four rows, one from each thread.
      expect(mine.ok && mine.threads).toEqual(new Map([[0, 1], [1, 1], [2, 1], [3, 1]]));
      const s = m.stats();
      expect(s.batches).toBe(1);
      expect(s.batchSizes[4]).toBe(1);
      await Promise.all(workers.map((w) => w.ask('close')));
    } finally {
      await m.close();
    }
  });

  it('mixes threads in batches under load (batch_probe, 4 threads x 3,000 requests), every answer its own row', async () => {
    const N = 3000;
    const m = await createModel(PROBE, { maxBatchSize: 16, maxQueueDelayUs: 1000, instances: 2, ...ONE_THREAD });
    try {
      const shared = m.share();
      const workers = [1, 2, 3].map((thread) => new WorkerInbox('attached-producer.mjs', { shared, kind: 'probe', count: N, thread }));
      await Promise.all(workers.map((w) => w.next((msg) => msg.type === 'ready')));
      const before = m.stats();
      const reports = workers.map((w) => w.next<ProducerReport>((msg) => msg.type === 'done'));
      for (const w of workers) w.worker.postMessage('go');
      const mine = await Promise.all(Array.from({ length: N }, (_, i) => probeOnce(m, 0, i)));
      const wrong = mine.filter((a) => !a.ok);
      expect(wrong, wrong.map((a) => (a.ok ? '' : a.why)).slice(0, 3).join('\n')).toEqual([]);
      const mixedHere = mine.filter((a) => a.ok && a.threads.size > 1).length;
      const theirs = await Promise.all(reports);
      for (const [i, r] of theirs.entries()) expect(r, `worker ${i + 1}`).toMatchObject({ requests: N, mismatches: 0, first: null, pendingAfterClose: 0 });
      // Batches held rows of several threads: the threads share one queue, not one each.
      // Typically a third of all answers come from mixed batches; on a machine too busy to
      // run the threads side by side, at least the batches where one thread's burst meets
      // the next one's.
      expect(mixedHere + theirs.reduce((a, r) => a + r.mixed, 0)).toBeGreaterThan(0);
      expect(delta(before, m.stats())).toEqual({ requests: 4 * N, completed: 4 * N, rejected: 0, pending: 0, executing: 0 });
    } finally {
      await m.close();
    }
  });

  it("close() of an attached model waits for that worker's own requests, and the owner keeps serving", async () => {
    const K = 5;
    const m = await createModel(PROBE, { maxBatchSize: 8, ...ONE_THREAD });
    try {
      const w = new WorkerInbox('attached-remote.mjs', { shared: m.share(), thread: 1 });
      expect(await w.ask('attach')).toMatchObject({ ok: true });
      // The worker's K requests stay queued until the main thread's makes K + 1.
      m.holdUntil(K + 1);
      const report = w.ask<{ events: string[]; codeAfter: string | null; pendingAfterClose: number }>('infer-then-close', { count: K });
      await w.next((msg) => msg.op === 'queued');
      await sleep(50);
      // close() was called in the worker right after queueing: it must still be waiting.
      expect(w.has((msg) => msg.op === 'infer-then-close')).toBe(false);
      expect(m.stats().pending).toBe(K);
      const mine = await probeOnce(m, 0, 0);
      expect(mine.ok && mine.threads).toEqual(new Map([[0, 1], [1, K]]));
      const r = await report;
      expect(r.events).toEqual([...Array<string>(K).fill('answer'), 'closed']);
      expect(r.codeAfter).toBe('ERR_MODEL_CLOSED');
      expect(r.pendingAfterClose).toBe(0);
      // Detaching the worker closed nothing of the owner's.
      const again = await probeOnce(m, 0, 1);
      expect(again.ok && again.threads).toEqual(new Map([[0, 1]]));
    } finally {
      await m.close();
    }
  });

  it('refuses attachModel() once the owner has closed, with ERR_MODEL_CLOSED, and so does an attached worker\'s infer()', async () => {
    const m = await createModel(PROBE, { maxBatchSize: 8, ...ONE_THREAD });
    const shared = m.share();
    expect(m.share().handle).toBe(shared.handle); // one handle per model, however often shared
    const early = new WorkerInbox('attached-remote.mjs', { shared, thread: 1 });
    expect(await early.ask('attach')).toMatchObject({ ok: true });
    expect(await early.ask('infer')).toMatchObject({ ok: true });
    await m.close();
    // Attached before the close: its requests are refused now, and its own close() still works.
    expect(await early.ask('infer')).toEqual({ op: 'infer', ok: false, code: 'ERR_MODEL_CLOSED' });
    expect(await early.ask('close')).toEqual({ op: 'close' });
    // Attaching after the close, in a worker and on this thread.
    const late = new WorkerInbox('attached-remote.mjs', { shared, thread: 2 });
    expect(await late.ask('attach')).toEqual({ op: 'attach', ok: false, code: 'ERR_MODEL_CLOSED' });
    await late.worker.terminate();
    expect(await codeOf(() => attachModel(shared))).toBe('ERR_MODEL_CLOSED');
  });

  it('survives workers terminated while their requests are queued, running and being answered, and answers the main thread correctly throughout', async () => {
    // A failure here is an abort of the whole process (a freed client or TSFN used by a
    // batcher thread): run the scenario in a child, so it fails as this test, with its stderr.
    const { code, signal, stdout, stderr } = await runChild('model-terminate-host.mjs', [MODELS, '3'], 50_000);
    expect({ code, signal }, `model-terminate-host.mjs died; its stderr:\n${stderr}`).toEqual({ code: 0, signal: null });
    const report = JSON.parse(stdout) as {
      exitCodes: number[];
      during: { runs: number; mismatches: number; errors: number };
      after: { runs: number; mismatches: number; errors: number };
      stats: { requests: number; completed: number; rejected: number; pending: number; executing: number };
    };
    expect(report.exitCodes).toEqual([1, 1, 1, 1, 1, 1]); // terminate() resolves with 1 for a worker it stopped
    expect(report.during.runs).toBeGreaterThan(0);
    expect(report.during).toMatchObject({ mismatches: 0, errors: 0 });
    expect(report.after).toMatchObject({ runs: 2000, mismatches: 0, errors: 0 });
    // The dead workers' requests were run (or ended) too: every admitted request is accounted for.
    expect(report.stats).toMatchObject({ pending: 0, executing: 0, rejected: 0 });
    expect(report.stats.completed).toBe(report.stats.requests);
  });

  it.each(['answered', 'in-flight', 'process-exit', 'worker'])('lets a process that never closed its model exit at once with code 0 (%s)', async (mode) => {
    const { code, signal, stdout, stderr, ms } = await runChild('model-exit-host.mjs', [MODELS, mode], 20_000);
    expect({ code, signal }, `model-exit-host.mjs ${mode}; its stderr:\n${stderr}`).toEqual({ code: 0, signal: null });
    const report = JSON.parse(stdout) as { mode: string; answered: number };
    expect(report.mode).toBe(mode);
    // process-exit leaves once request 200 is answered (two instances: a few later ones may be too).
    // process-exit leaves once request 200 is answered; with two instances batches finish out
    // of order, so fewer than 200 may have been counted by then.
    if (mode === 'process-exit') expect(report.answered).toBeGreaterThan(0);
    else expect(report.answered).toBe(1000);
    // Node's start-up and the model load take well under a second even on a busy machine; a
    // batcher thread holding the process open would take the 20 s timeout.
    expect(ms).toBeLessThan(5000);
  });
});

describe('a Model dropped without close()', () => {
  it('is collected, and its scheduler and instance threads stop', async () => {
    const script = fileURLToPath(new URL('./fixtures/model-gc.mjs', import.meta.url));
    const out = await new Promise<string>((resolve, reject) => {
      execFile(process.execPath, ['--expose-gc', script, MODELS], { timeout: 30_000 }, (err, stdout, stderr) => (err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(stdout)));
    });
    const { before, withModels, afterGc } = JSON.parse(out.trim().split('\n').pop()!) as { before: number; withModels: number; afterGc: number };
    expect(withModels - before).toBe(15); // 5 models x (1 scheduler + 2 instances)
    // All but at most one model's three threads (the last may still be on the stack).
    expect(afterGc - before).toBeLessThanOrEqual(3);
  });
});
