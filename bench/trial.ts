/**
 * Runs ONE trial in this process and prints its result as one JSON line on stdout:
 *
 *   node dist/bench/trial.js '<Trial as JSON>'
 *
 * Only the library under test is imported, so an ortex process never maps onnxruntime-node's
 * binding and the reverse. bench/run.ts spawns this once per trial per repeat.
 */
import { pbkdf2, pbkdf2Sync } from 'node:crypto';
import { resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { rawLoopAddon } from './harness.js';
import { makeInputs } from './inputs.js';
import { spread, summarize } from './stats.js';
import {
  type HopFloorTrial,
  type LatencyTrial,
  type LoopDelayTrial,
  PAIRED_RUNNERS,
  type PairedRunner,
  pairedOrder,
  type PairedTrial,
  type Trial,
  ortexOptions,
  sessionOptions,
} from './trials.js';

const ROOT = resolve(fileURLToPath(import.meta.url), '../../..');

type Feeds = Record<string, unknown>;

interface BenchBinding {
  bindInput(name: string, t: unknown): void;
  bindOutput(name: string, t: unknown): void;
  runSync(): unknown;
}

/** What a trial needs of either library's session. */
interface BenchSession {
  run(feeds: Feeds): Promise<unknown>;
  runSync?(feeds: Feeds): unknown;
}

interface Loaded {
  session: BenchSession;
  feeds: Feeds;
  ortVersion: string;
}

async function load(trial: Pick<LatencyTrial, 'model' | 'intraOpThreads' | 'runner'>, batch: number): Promise<Loaded> {
  const modelPath = resolve(ROOT, trial.model.path);
  const options = sessionOptions(trial.intraOpThreads);
  const inputs = makeInputs(trial.model, batch);
  if (trial.runner === 'ort-node') {
    const ort = await import('onnxruntime-node');
    const session = await ort.InferenceSession.create(modelPath, options);
    const feeds: Feeds = {};
    for (const i of inputs) feeds[i.name] = new ort.Tensor(i.type, i.data, i.dims);
    const version = (ort.env.versions as Record<string, string | undefined>).node ?? 'unknown';
    return { session: session as unknown as BenchSession, feeds, ortVersion: version };
  }
  const ortex = await import('../src/index.js');
  const session = await ortex.InferenceSession.create(modelPath, { ...options, ...ortexOptions(trial.runner) });
  const feeds: Feeds = {};
  for (const i of inputs) feeds[i.name] = new ortex.Tensor(i.type, i.data, i.dims);
  return { session: session as unknown as BenchSession, feeds, ortVersion: ortex.env.versions.onnxruntime };
}

/**
 * An I/O binding of the caller's input buffers and preallocated outputs of the shapes a first
 * run reports: each io.runSync() is then RunWithBinding and nothing else allocated per call.
 */
async function bindOnce(session: BenchSession, feeds: Feeds): Promise<BenchBinding> {
  const io = (session as unknown as { createIoBinding(): BenchBinding }).createIoBinding();
  const first = session.runSync!(feeds) as Record<string, { type: string; dims: readonly number[]; data: { length: number } }>;
  const ortex = await import('../src/index.js');
  for (const [name, t] of Object.entries(feeds)) io.bindInput(name, t);
  for (const [name, t] of Object.entries(first)) {
    const Ctor = (t.data as unknown as { constructor: new (n: number) => unknown }).constructor;
    io.bindOutput(name, new ortex.Tensor(t.type as 'float32', new Ctor(t.data.length) as Float32Array, t.dims));
  }
  return io;
}

async function latency(trial: LatencyTrial) {
  const { session, feeds, ortVersion } = await load(trial, trial.batch);
  const samplesUs = new Float64Array(trial.iterations);
  if (trial.runner === 'ortex-sync') {
    const runSync = session.runSync!.bind(session);
    for (let i = 0; i < trial.warmup; i++) runSync(feeds);
    for (let i = 0; i < trial.iterations; i++) {
      const t0 = performance.now();
      runSync(feeds);
      samplesUs[i] = (performance.now() - t0) * 1000;
    }
  } else if (trial.runner === 'ortex-io-sync') {
    const io = await bindOnce(session, feeds);
    for (let i = 0; i < trial.warmup; i++) io.runSync();
    for (let i = 0; i < trial.iterations; i++) {
      const t0 = performance.now();
      io.runSync();
      samplesUs[i] = (performance.now() - t0) * 1000;
    }
  } else if (trial.runner === 'ortex-async' || trial.runner === 'ortex-async-busy' || trial.runner === 'ort-node') {
    for (let i = 0; i < trial.warmup; i++) await session.run(feeds);
    for (let i = 0; i < trial.iterations; i++) {
      const t0 = performance.now();
      await session.run(feeds);
      samplesUs[i] = (performance.now() - t0) * 1000;
    }
  } else {
    throw new RangeError(`Expected a JS runner for trial.ts but received '${trial.runner}'; raw-c runs ortex_raw_run`);
  }
  return { ...summarize(samplesUs, { quantiles: true }), ortVersion };
}

/** One run with a setImmediate chain beside it; returns the largest tick gap and the run's time, in ms. */
async function oneLoopDelay(session: BenchSession, feeds: Feeds): Promise<{ maxGapMs: number; runMs: number }> {
  let last = performance.now();
  let maxGapMs = 0;
  let done = false;
  const tick = () => {
    const now = performance.now();
    if (now - last > maxGapMs) maxGapMs = now - last;
    last = now;
    if (!done) setImmediate(tick);
  };
  setImmediate(tick);
  const t0 = performance.now();
  await session.run(feeds);
  const end = performance.now();
  done = true;
  // The gap still open when the promise settles counts too: a binding that blocks the loop
  // for the whole run and settles straight after would otherwise show no gap at all.
  if (end - last > maxGapMs) maxGapMs = end - last;
  // Let the last scheduled tick drain so runs do not overlap.
  await new Promise<void>((r) => setImmediate(r));
  return { maxGapMs, runMs: end - t0 };
}

async function loopDelay(trial: LoopDelayTrial) {
  const { session, feeds, ortVersion } = await load(trial, 1);
  for (let i = 0; i < trial.warmup; i++) await session.run(feeds);
  const gaps: number[] = [];
  const runs: number[] = [];
  for (let i = 0; i < trial.runs; i++) {
    const r = await oneLoopDelay(session, feeds);
    gaps.push(r.maxGapMs);
    runs.push(r.runMs);
  }
  return { maxGapMs: Math.max(...gaps), medianGapMs: spread(gaps).median, medianRunMs: spread(runs).median, runs: trial.runs, ortVersion };
}

/** A libuv thread-pool round trip around almost no work, and the same work done inline. */
async function hopFloor(trial: HopFloorTrial) {
  const hop = () => new Promise<void>((done, fail) => pbkdf2('a', 'b', 1, 8, 'sha1', (err) => (err ? fail(err) : done())));
  const asyncUs = new Float64Array(trial.iterations);
  const syncUs = new Float64Array(trial.iterations);
  for (let i = 0; i < trial.warmup; i++) {
    await hop();
    pbkdf2Sync('a', 'b', 1, 8, 'sha1');
  }
  for (let i = 0; i < trial.iterations; i++) {
    const t0 = performance.now();
    await hop();
    asyncUs[i] = (performance.now() - t0) * 1000;
  }
  for (let i = 0; i < trial.iterations; i++) {
    const t0 = performance.now();
    pbkdf2Sync('a', 'b', 1, 8, 'sha1');
    syncUs[i] = (performance.now() - t0) * 1000;
  }
  return { async: summarize(asyncUs), sync: summarize(syncUs) };
}

/**
 * runSync(), io.runSync() and the raw C loop of build/Release/ortex_raw_bench.node, on the
 * same model in this one process, in blocks that take turns (PairedTrial). The raw loop runs
 * twice: timed in C over a block, and called from JS once per call through a bound function
 * with no arguments (timed as ortex is).
 * Returns each runner's p50 and p99 per round, and its summary over all rounds.
 */
async function paired(trial: PairedTrial) {
  const { session, feeds, ortVersion } = await load({ ...trial, runner: 'ortex-sync' }, trial.batch);
  const io = await bindOnce(session, feeds);
  const { RawLoop } = rawLoopAddon();
  const raw = new RawLoop(resolve(ROOT, trial.model.path), trial.batch, trial.intraOpThreads, trial.model.seqLen ?? 64);
  const runSync = session.runSync!.bind(session);
  const timeJs = (call: () => unknown, out: Float64Array, offset: number, count: number) => {
    for (let i = 0; i < count; i++) {
      const t0 = performance.now();
      call();
      out[offset + i] = (performance.now() - t0) * 1000;
    }
  };
  const rawCall = raw.bindCall();
  const block: Record<PairedRunner, (out: Float64Array, offset: number, count: number) => void> = {
    'raw-c': (out, offset, count) => raw.time(out, offset, count),
    'raw-c-js': (out, offset, count) => timeJs(rawCall, out, offset, count),
    'ortex-sync': (out, offset, count) => timeJs(() => runSync(feeds), out, offset, count),
    'ortex-io-sync': (out, offset, count) => timeJs(() => io.runSync(), out, offset, count),
  };
  const scratch = new Float64Array(trial.warmup);
  for (const r of PAIRED_RUNNERS) block[r](scratch, 0, trial.warmup);
  const all = Object.fromEntries(PAIRED_RUNNERS.map((r) => [r, new Float64Array(trial.rounds * trial.block)])) as Record<PairedRunner, Float64Array>;
  const rounds = Object.fromEntries(PAIRED_RUNNERS.map((r) => [r, { p50: [] as number[], p99: [] as number[] }]));
  for (let round = 0; round < trial.rounds; round++) {
    for (const r of pairedOrder(round)) {
      const offset = round * trial.block;
      block[r](all[r], offset, trial.block);
      const s = summarize(all[r].subarray(offset, offset + trial.block));
      rounds[r]!.p50.push(s.p50_us);
      rounds[r]!.p99.push(s.p99_us);
    }
  }
  raw.release();
  const pooled = Object.fromEntries(PAIRED_RUNNERS.map((r) => [r, summarize(all[r])]));
  return { rounds, pooled, ortVersion };
}

async function main(): Promise<void> {
  const arg = process.argv[2];
  if (!arg) throw new TypeError("Expected a trial as JSON: node dist/bench/trial.js '{\"kind\":\"latency\",...}'");
  const trial = JSON.parse(arg) as Trial;
  const result =
    trial.kind === 'latency'
      ? await latency(trial)
      : trial.kind === 'loop-delay'
        ? await loopDelay(trial)
        : trial.kind === 'paired'
          ? await paired(trial)
          : await hopFloor(trial);
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
