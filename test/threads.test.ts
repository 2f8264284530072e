// Thread safety: many runs in flight on one session, and sessions in worker_threads beside
// the main thread's (ORT's single OrtEnv and libuv's thread pool are shared by them all).
// The workers are plain JS in test/fixtures/workers/ and import the compiled dist/.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { beforeAll, describe, expect, it } from 'vitest';
import { InferenceSession, Tensor } from '../src/index.js';
// @ts-expect-error: plain JS shared with the worker_threads fixtures
import { randomInputs as workerInputs } from './fixtures/workers/common.mjs';

const MODELS = fileURLToPath(new URL('../models/out/', import.meta.url));
const CTR_MLP = `${MODELS}ctr_mlp.onnx`;
const DIST_INDEX = fileURLToPath(new URL('../dist/src/index.js', import.meta.url));
const fixture = (name: string) => new URL(`./fixtures/workers/${name}`, import.meta.url);

interface CheckedRuns {
  runs: number;
  mismatches: number;
  first: { input: number; got: number[]; want: number[] } | null;
}

/** `count` distinct ctr_mlp inputs (the workers build theirs with the same function and seeds). */
const randomInputs = (seed: number, count: number): Tensor[] => workerInputs(Tensor, seed, count) as Tensor[];

function outputOf(result: Awaited<ReturnType<InferenceSession['run']>>): Float32Array {
  const y = result.y as Tensor;
  expect(y.data).toBeInstanceOf(Float32Array);
  return y.data as Float32Array;
}

/** Bit patterns, so that toEqual compares exactly (NaN and -0 included). */
const bits = (a: Float32Array) => Array.from(new Uint32Array(a.buffer, a.byteOffset, a.length));

/**
 * Keeps run() calls on `session` flowing, `inFlight` at a time, until `until` settles;
 * counts the outputs that differ from `expected`.
 */
async function runAlongside(session: InferenceSession, inputs: Tensor[], expected: Float32Array[], inFlight: number, until: Promise<unknown>): Promise<CheckedRuns> {
  let done = false;
  void until.finally(() => (done = true)).catch(() => {});
  const result: CheckedRuns = { runs: 0, mismatches: 0, first: null };
  let next = 0;
  async function lane(): Promise<void> {
    while (!done) {
      const k = next++ % inputs.length;
      const y = outputOf(await session.run({ x: inputs[k]! }));
      result.runs++;
      if (bits(y).join() !== bits(expected[k]!).join()) {
        result.mismatches++;
        result.first ??= { input: k, got: Array.from(y.slice(0, 4)), want: Array.from(expected[k]!.slice(0, 4)) };
      }
    }
  }
  await Promise.all(Array.from({ length: inFlight }, lane));
  return result;
}

/** Starts a worker fixture and resolves with the message it posts when done. */
function startWorker<T>(name: string, workerData: object): { worker: Worker; done: Promise<T> } {
  const worker = new Worker(fixture(name), { workerData });
  const done = new Promise<T>((resolve, reject) => {
    worker.on('message', (m: { type: string } & T) => {
      if (m.type === 'done') resolve(m);
    });
    worker.once('error', reject);
    worker.once('exit', (code) => reject(new Error(`${name} exited with code ${code} before reporting`)));
  });
  return { worker, done };
}

async function referenceSession(seed: number, count: number) {
  const session = await InferenceSession.create(CTR_MLP, { intraOpNumThreads: 1 });
  const inputs = randomInputs(seed, count);
  const expected = inputs.map((x) => outputOf(session.runSync({ x })));
  return { session, inputs, expected };
}

beforeAll(() => {
  // Workers cannot load TypeScript: they import the package as built by `tsc` (npm ci runs it in prepare).
  if (!existsSync(DIST_INDEX)) {
    throw new Error(`The compiled package is missing: ${DIST_INDEX} does not exist.\nRun \`npx tsc -p tsconfig.json\` (npm ci runs it in prepare), then re-run the tests.`);
  }
});

describe('InferenceSession#run()', () => {
  it('gives each of 200 runs in flight at once on one session the output runSync gives for its input', async () => {
    const { session, inputs, expected } = await referenceSession(1, 200);
    try {
      const pending = inputs.map((x) => session.run({ x }));
      // All 200 were handed to the thread pool before any could complete.
      expect(session.pendingRuns).toBe(200);
      const outputs = (await Promise.all(pending)).map(outputOf);
      expect(session.pendingRuns).toBe(0);
      expect(new Set(expected.map((e) => bits(e).join())).size).toBe(200); // the inputs really are distinct
      outputs.forEach((y, i) => expect(bits(y), `run ${i}`).toEqual(bits(expected[i]!)));
    } finally {
      await session.release();
    }
  });
});

describe('InferenceSession in worker_threads', () => {
  it('gives 3 workers, each running 500 runs on its own session, the outputs of runSync while the main thread runs the same model', async () => {
    const { session, inputs, expected } = await referenceSession(2, 32);
    try {
      const workers = [0, 1, 2].map((i) => startWorker<CheckedRuns>('run-checked.mjs', { model: CTR_MLP, runs: 500, inFlight: 16, seed: 10 + i }));
      const all = Promise.all(workers.map((w) => w.done));
      const main = await runAlongside(session, inputs, expected, 16, all);
      const results = await all;
      for (const [i, r] of results.entries()) {
        expect(r, `worker ${i}`).toMatchObject({ runs: 500, mismatches: 0, first: null });
      }
      expect(main.runs).toBeGreaterThan(0);
      expect(main).toMatchObject({ mismatches: 0, first: null });
      // And once the workers are gone.
      const after = await Promise.all(inputs.map((x) => session.run({ x })));
      after.map(outputOf).forEach((y, i) => expect(bits(y), `input ${i}`).toEqual(bits(expected[i]!)));
    } finally {
      await session.release();
    }
  });

  it('keeps main-thread runs correct while 3 workers each create, run and release 100 sessions', async () => {
    const { session, inputs, expected } = await referenceSession(3, 32);
    try {
      const workers = [0, 1, 2].map((i) =>
        startWorker<{ sessions: number; mismatches: number }>('session-churn.mjs', { model: CTR_MLP, sessions: 100, seed: 20 + i }),
      );
      const all = Promise.all(workers.map((w) => w.done));
      const main = await runAlongside(session, inputs, expected, 16, all);
      for (const [i, r] of (await all).entries()) expect(r, `worker ${i}`).toMatchObject({ sessions: 100, mismatches: 0 });
      expect(main.runs).toBeGreaterThan(0);
      expect(main).toMatchObject({ mismatches: 0, first: null });
      // A session created after all that churn still computes the same outputs.
      const fresh = await InferenceSession.create(CTR_MLP, { intraOpNumThreads: 1 });
      inputs.forEach((x, i) => expect(bits(outputOf(fresh.runSync({ x }))), `input ${i}`).toEqual(bits(expected[i]!)));
      await fresh.release();
    } finally {
      await session.release();
    }
  });

  it('runs in a worker_thread of a process whose main thread never loads ortex, which then exits cleanly', async () => {
    // Node unloads the addon with the only env that loaded it; the completion wake-up must be
    // closed before that (it crashed with SIGSEGV when its close callback ran after).
    const { code, signal, stdout, stderr } = await new Promise<{ code: number | null; signal: string | null; stdout: string; stderr: string }>((resolve) => {
      const child = execFile(process.execPath, [fileURLToPath(fixture('only-worker-loads.mjs')), MODELS], { timeout: 30_000 }, (_err, stdout, stderr) =>
        resolve({ code: child.exitCode, signal: child.signalCode, stdout, stderr }),
      );
    });
    expect({ code, signal }, `only-worker-loads.mjs died; its stderr:\n${stderr}`).toEqual({ code: 0, signal: null });
    expect(stdout).toBe('worker ran: finite\nworker exit 0\nworker ran: finite\nworker exit 0\n');
  });

  it('stops runs in flight before the process exits: exit code 0, nothing on stderr, no run left inside ORT', async () => {
    // Without ortex's 'exit' listener, exit() destroyed ORT's statics under the runs still on
    // ortex's threads, and each run failed with an ERROR line from ORT on stderr.
    const { code, signal, stdout, stderr } = await new Promise<{ code: number | null; signal: string | null; stdout: string; stderr: string }>((resolve) => {
      const child = execFile(process.execPath, [fileURLToPath(fixture('exit-mid-run.mjs')), MODELS], { timeout: 30_000 }, (_err, stdout, stderr) =>
        resolve({ code: child.exitCode, signal: child.signalCode, stdout, stderr }),
      );
    });
    expect({ code, signal, stderr }).toEqual({ code: 0, signal: null, stderr: '' });
    const before = Number(/in ORT before exit: (\d+)/.exec(stdout)?.[1]);
    expect(before, stdout).toBeGreaterThan(0); // the runs were inside ORT when exit began
    expect(stdout).not.toContain('settled');
    expect(stdout).toContain('in ORT at exit: 0\n'); // and none was by the time exit() ran
  });

  it('survives a worker terminated while its runs are in flight, and the main thread keeps getting correct outputs', async () => {
    // A failure here is an abort of the whole process (an exception escaping a Node-API
    // callback): run the scenario in a child, so it fails as this test, with its stderr.
    const { code, signal, stdout, stderr } = await new Promise<{ code: number | null; signal: string | null; stdout: string; stderr: string }>((resolve) => {
      const child = execFile(process.execPath, [fileURLToPath(fixture('terminate-host.mjs')), MODELS, '3'], { timeout: 50_000 }, (_err, stdout, stderr) =>
        resolve({ code: child.exitCode, signal: child.signalCode, stdout, stderr }),
      );
    });
    expect({ code, signal }, `terminate-host.mjs died; its stderr:\n${stderr}`).toEqual({ code: 0, signal: null });
    const report = JSON.parse(stdout) as { rounds: number; exitCodes: number[]; during: CheckedRuns; after: CheckedRuns };
    expect(report.exitCodes).toEqual([1, 1, 1, 1, 1, 1]); // terminate() resolves with 1 for a worker it stopped
    expect(report.during.runs).toBeGreaterThan(0);
    expect(report.during).toMatchObject({ mismatches: 0, first: null });
    expect(report.after).toEqual({ runs: 2000, mismatches: 0, first: null });
  });
});
