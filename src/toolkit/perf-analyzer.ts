/**
 * `ortex bench`: a perf_analyzer for local models. Loads a model (or two), warms it up, then
 * keeps `concurrency` requests in flight for `durationS` seconds, recording every latency, in
 * `repeats` blocks; reports p50/p90/p99/mean latency and throughput over the whole run, and
 * their spread from block to block. With two targets, the blocks alternate a b b a a b ...
 * and each metric gets the ratio b ÷ a and a verdict: a difference only when the two sides'
 * ranges of per-block values do not overlap, else "within noise".
 *
 * Both targets stay loaded for the whole run (reloading would time allocations, not the
 * model), so before each block its target runs unrecorded for a moment: ONNX Runtime's
 * intra-op threads spin for a while after a run, and the other target's spinning threads
 * would otherwise steal the cores from this block's first runs (see paired-runs.ts).
 *
 * @example
 * ```ts
 * const report = await benchModels(
 *   [{ model: 'ctr_mlp.onnx', batch: 1 }, { model: 'ctr_mlp.onnx', batch: 1, session: { intraOpNumThreads: 1 } }],
 *   { durationS: 5 },
 * );
 * report.results[0].latency.p50Ms;      // a's median latency, ms
 * report.comparison?.metrics[0].verdict; // 'faster by 8.1 %', or 'within noise'
 * ```
 */
import { OrtexError } from '../errors.js';
import { InferenceSession, type ValueMetadata } from '../inference-session.js';
import { MAX_BATCH_ROWS } from '../model-options.js';
import { createModel } from '../model.js';
import { describeTarget, resolveTarget, type BenchTarget, type ResolvedTarget } from './bench-settings.js';
import { latencyPercentiles, spread, type LatencyPercentiles, type Spread } from './latency-stats.js';
import { readModel } from './onnx-model.js';
import { RandomFeeds, hasBatchDimOrDynamic, readSampleFile, type Feeds } from './sample-feeds.js';

/** Warm-up before the first block: a number of requests, or a time. */
export type Warmup = { readonly runs: number } | { readonly seconds: number };

export interface BenchOptions {
  /** Measured seconds per target (default 5), split into `repeats` blocks. */
  durationS?: number;
  /** Blocks per target (default 5; at least 4 when comparing two targets). */
  repeats?: number;
  /** Default { seconds: 0.5 }. */
  warmup?: Warmup;
  /** Sizes of symbolic dimensions other than the batch, e.g. { S: 64 }. */
  dims?: Record<string, number>;
  /** A JSON file of samples (see readSampleFile), sent in turn instead of random inputs; their rows are the batch. */
  inputs?: string;
  /** Seed of the random inputs (default 1). */
  seed?: number;
}

export const BENCH_METRICS = ['p50Ms', 'p90Ms', 'p99Ms', 'meanMs', 'inferencesPerS', 'samplesPerS'] as const;
export type BenchMetric = (typeof BENCH_METRICS)[number];

/** One measurement block of one target. */
export interface BenchBlock extends Record<BenchMetric, number> {
  readonly requests: number;
  readonly samples: number;
  readonly seconds: number;
}

/** One target's settings (every default filled in) and what it measured. */
export interface BenchResult extends ResolvedTarget {
  readonly label: 'a' | 'b';
  /** Providers the model really ran on (after any fallback). */
  readonly executionProviders: readonly string[];
  /** The settings in one line. */
  readonly description: string;
  /** Measured requests (inferences) and samples (requests × rows), and the seconds they took. */
  readonly requests: number;
  readonly samples: number;
  readonly seconds: number;
  /** Over every measured request. */
  readonly latency: LatencyPercentiles;
  readonly inferencesPerS: number;
  readonly samplesPerS: number;
  readonly blocks: readonly BenchBlock[];
  /** Each metric's median, min and max over the blocks. */
  readonly spread: Readonly<Record<BenchMetric, Spread>>;
}

export interface MetricVerdict {
  readonly metric: BenchMetric;
  readonly a: number;
  readonly b: number;
  /** b ÷ a. */
  readonly ratio: number;
  /** Whether the two sides' ranges of per-block values do not overlap. */
  readonly significant: boolean;
  /** 'faster by 4.2 %', '3.1x slower', or 'within noise'. */
  readonly verdict: string;
}

export interface BenchReport {
  readonly durationS: number;
  readonly repeats: number;
  readonly warmup: Warmup;
  readonly inputs: 'random' | string;
  readonly seed: number;
  readonly dims: Readonly<Record<string, number>>;
  readonly results: readonly BenchResult[];
  readonly comparison?: {
    readonly metrics: readonly MetricVerdict[];
    /** How often two identical targets would still be called different, per metric: 2 ÷ C(2·repeats, repeats). */
    readonly falseAlarmRate: number;
  };
}

/** Measures one target, or two side by side (a first, then b). */
export async function benchModels(targets: readonly BenchTarget[], options: BenchOptions = {}): Promise<BenchReport> {
  if (!Array.isArray(targets) || targets.length < 1 || targets.length > 2) {
    throw new OrtexError('ERR_OPTION_INVALID', 'Expected one or two bench targets');
  }
  const o = checkOptions(options, targets.length);
  const label = (k: number) => (targets.length === 2 ? `${LABELS[k]}: ` : '');
  const resolved = targets.map((t, k) => resolveTarget(t, label(k)));
  if (o.inputs !== undefined) {
    targets.forEach((t, k) => {
      if (t.batch !== undefined) throw new OrtexError('ERR_OPTION_INVALID', `${label(k)}batch does not apply to samples from a file: their first dimension is the batch`);
    });
  }
  // Read first, so a missing or broken file fails before anything is loaded.
  const protos = o.inputs === undefined ? await Promise.all(resolved.map((t) => readModel(t.model))) : [];
  const runners: Runner[] = [];
  try {
    for (const t of resolved) runners.push(await openRunner(t));
    const loads: Load[] = [];
    for (const [k, t] of resolved.entries()) {
      const samples = o.inputs === undefined ? undefined : await readSampleFile(o.inputs, runners[k]!.inputMetadata);
      loads.push(loadFor(t, runners[k]!, label(k), samples ?? new RandomFeeds(runners[k]!.inputMetadata, protos[k]!.model, { dims: o.dims }, o.seed)));
    }
    const warm = 'runs' in o.warmup ? { ms: 0, requests: o.warmup.runs } : { ms: 1000 * o.warmup.seconds, requests: 1 };
    for (const k of resolved.keys()) await drive(runners[k]!, loads[k]!, resolved[k]!.concurrency, warm.ms, warm.requests);

    const blockMs = (1000 * o.durationS) / o.repeats;
    const settleMs = Math.min(SETTLE_MS, blockMs / 10);
    const blocks = resolved.map(() => [] as BenchBlock[]);
    const logs = resolved.map(() => [] as number[][]);
    for (let r = 0; r < o.repeats; r++) {
      const keys = [...resolved.keys()];
      for (const k of r % 2 === 0 ? keys : keys.reverse()) {
        const c = resolved[k]!.concurrency;
        if (resolved.length > 1) await drive(runners[k]!, loads[k]!, c, settleMs, 2 * c);
        const log: number[] = [];
        const tally = await drive(runners[k]!, loads[k]!, c, blockMs, 1, log);
        logs[k]!.push(log);
        blocks[k]!.push(blockOf(tally, log));
      }
    }
    const results = resolved.map((t, k) => resultOf(LABELS[k]!, t, runners[k]!.executionProviders, blocks[k]!, logs[k]!));
    return {
      durationS: o.durationS,
      repeats: o.repeats,
      warmup: o.warmup,
      inputs: o.inputs ?? 'random',
      seed: o.seed,
      dims: o.dims,
      results,
      ...(results.length === 2 ? { comparison: compareResults(results[0]!, results[1]!) } : {}),
    };
  } finally {
    await Promise.allSettled(runners.map((r) => r.close()));
  }
}

const LABELS = ['a', 'b'] as const;
/** Longest unrecorded run before each block when two targets alternate. */
const SETTLE_MS = 20;
/** runSync() loops yield to the event loop this often, so finalizers of zero-copy outputs run. */
const YIELD_MS = 50;
const DEFAULT_WARMUP: Warmup = { seconds: 0.5 };

interface CheckedOptions {
  durationS: number;
  repeats: number;
  warmup: Warmup;
  dims: Record<string, number>;
  inputs: string | undefined;
  seed: number;
}

function checkOptions(o: BenchOptions, targets: number): CheckedOptions {
  const fail = (expected: string, name: string, v: unknown, why = '') =>
    new OrtexError('ERR_OPTION_INVALID', `Expected ${expected} for ${name} but received ${JSON.stringify(v) ?? String(v)}${why}`);
  const durationS = o.durationS ?? 5;
  if (typeof durationS !== 'number' || !(durationS > 0 && durationS <= 86400)) throw fail('a number of seconds above 0', 'durationS', durationS);
  const minRepeats = targets === 2 ? 4 : 2;
  const repeats = o.repeats ?? 5;
  if (!Number.isInteger(repeats) || repeats < minRepeats || repeats > 1000) {
    const why = targets === 2 ? ' (when comparing, fewer than 4 blocks cannot tell a difference from noise)' : '';
    throw fail(`an integer from ${minRepeats} to 1000`, 'repeats', repeats, why);
  }
  const warmup = o.warmup ?? DEFAULT_WARMUP;
  const warmupOk = typeof warmup === 'object' && warmup !== null &&
    ('runs' in warmup ? Number.isInteger(warmup.runs) && warmup.runs >= 0 : warmup.seconds >= 0 && warmup.seconds <= 3600);
  if (!warmupOk) {
    throw fail('{ runs: integer >= 0 } or { seconds: number >= 0 }', 'warmup', warmup);
  }
  for (const [name, size] of Object.entries(o.dims ?? {})) {
    if (!(Number.isInteger(size) && size > 0)) throw fail('a positive integer', `dims.${name}`, size);
  }
  const seed = o.seed ?? 1;
  if (!Number.isInteger(seed)) throw fail('an integer', 'seed', seed);
  return { durationS, repeats, warmup, dims: { ...o.dims }, inputs: o.inputs, seed };
}

/** A loaded target: exactly one of run (run() or the batcher's infer()) and runSync is set. */
interface Runner {
  readonly inputMetadata: readonly ValueMetadata[];
  readonly executionProviders: readonly string[];
  readonly run: ((feeds: Feeds) => Promise<unknown>) | undefined;
  readonly runSync: ((feeds: Feeds) => unknown) | undefined;
  close(): Promise<void>;
}

async function openRunner(t: ResolvedTarget): Promise<Runner> {
  if (t.mode === 'batcher') {
    // Room for every request in flight to join one batch.
    const maxBatchSize = Math.min(MAX_BATCH_ROWS, t.batch * t.concurrency);
    const m = await createModel(t.model, { ...t.session, maxBatchSize, maxQueueDelayUs: t.maxQueueDelayUs });
    return { inputMetadata: m.inputMetadata, executionProviders: m.executionProviders, run: (f) => m.infer(f), runSync: undefined, close: () => m.close() };
  }
  const s = await InferenceSession.create(t.model, t.session);
  return {
    inputMetadata: s.inputMetadata,
    executionProviders: s.executionProviders,
    run: t.mode === 'async' ? (f) => s.run(f) : undefined,
    runSync: t.mode === 'sync' ? (f) => s.runSync(f) : undefined,
    close: () => s.release(),
  };
}

/** The requests a target sends in turn, and the samples (rows) each carries. */
interface Load {
  readonly feeds: readonly Feeds[];
  readonly rows: readonly number[];
}

function loadFor(t: ResolvedTarget, runner: Runner, label: string, source: Feeds[] | RandomFeeds): Load {
  const batched = hasBatchDimOrDynamic(runner.inputMetadata);
  if (Array.isArray(source)) {
    const first = runner.inputMetadata[0]?.name;
    return { feeds: source, rows: source.map((f) => (batched && first !== undefined ? Number(f[first]!.dims[0] ?? 1) : 1)) };
  }
  if (t.batch > 1 && !batched) {
    const fixed = runner.inputMetadata.find((m) => !(m.isTensor && m.shape.length > 0 && (typeof m.shape[0] !== 'number' || m.shape[0] === -1)));
    const shape = fixed?.isTensor ? ` (its shape is [${fixed.shape.join(', ')}])` : '';
    throw new OrtexError('ERR_MODEL_NOT_BATCHABLE', `${label}batch ${t.batch} needs a batch dimension, but input '${fixed?.name}' of ${t.model} has no dynamic first dimension${shape}`);
  }
  return { feeds: [source.next(t.batch)], rows: [batched ? t.batch : 1] };
}

interface Tally {
  readonly requests: number;
  readonly samples: number;
  readonly seconds: number;
}

/**
 * Sends requests for `ms` (and at least `minRequests` of them), `concurrency` in flight, each
 * latency pushed to `log`. Requests started before the deadline are waited for and counted.
 */
async function drive(r: Runner, load: Load, concurrency: number, ms: number, minRequests: number, log?: number[]): Promise<Tally> {
  const { feeds, rows } = load;
  let started = 0;
  let samples = 0;
  let pausedMs = 0;
  const t0 = performance.now();
  const until = t0 + ms;
  const more = () => started < minRequests || performance.now() < until;
  if (r.runSync) {
    let lastYield = t0;
    while (more()) {
      const k = started++ % feeds.length;
      const start = performance.now();
      r.runSync(feeds[k]!);
      const end = performance.now();
      log?.push(end - start);
      samples += rows[k]!;
      if (end - lastYield > YIELD_MS) {
        await new Promise(setImmediate);
        lastYield = performance.now();
        pausedMs += lastYield - end;
      }
    }
  } else {
    const run = r.run!;
    let failed = false;
    const lane = async () => {
      while (!failed && more()) {
        const k = started++ % feeds.length;
        const start = performance.now();
        try {
          await run(feeds[k]!);
        } catch (err) {
          failed = true;
          throw err;
        }
        log?.push(performance.now() - start);
        samples += rows[k]!;
      }
    };
    // Settled, not all: on a failure the other lanes finish their request in flight before the runner closes.
    const lanes = await Promise.allSettled(Array.from({ length: concurrency }, lane));
    const rejected = lanes.find((l): l is PromiseRejectedResult => l.status === 'rejected');
    if (rejected) throw rejected.reason;
  }
  return { requests: started, samples, seconds: (performance.now() - t0 - pausedMs) / 1000 };
}

function blockOf(t: Tally, log: readonly number[]): BenchBlock {
  const l = latencyPercentiles(log);
  return {
    requests: t.requests,
    samples: t.samples,
    seconds: t.seconds,
    p50Ms: l.p50Ms,
    p90Ms: l.p90Ms,
    p99Ms: l.p99Ms,
    meanMs: l.meanMs,
    inferencesPerS: t.requests / t.seconds,
    samplesPerS: t.samples / t.seconds,
  };
}

function resultOf(label: 'a' | 'b', t: ResolvedTarget, executionProviders: readonly string[], blocks: BenchBlock[], logs: number[][]): BenchResult {
  const all = new Float64Array(logs.reduce((n, l) => n + l.length, 0));
  let at = 0;
  for (const l of logs) {
    all.set(l, at);
    at += l.length;
  }
  const requests = blocks.reduce((n, b) => n + b.requests, 0);
  const samples = blocks.reduce((n, b) => n + b.samples, 0);
  const seconds = blocks.reduce((n, b) => n + b.seconds, 0);
  const spreads = {} as Record<BenchMetric, Spread>;
  for (const m of BENCH_METRICS) spreads[m] = spread(blocks.map((b) => b[m]));
  return {
    label,
    ...t,
    executionProviders: [...executionProviders],
    description: describeTarget(t, executionProviders),
    requests,
    samples,
    seconds,
    latency: latencyPercentiles(all),
    inferencesPerS: requests / seconds,
    samplesPerS: samples / seconds,
    blocks,
    spread: spreads,
  };
}

/** A metric's value over the whole run and its value in each block. */
export interface MetricSample {
  readonly value: number;
  readonly blocks: readonly number[];
}

const THROUGHPUT: ReadonlySet<BenchMetric> = new Set(['inferencesPerS', 'samplesPerS']);

/**
 * b against a on one metric: the ratio b ÷ a of the whole-run values, and a verdict. A
 * difference is called only when every block of one side beats every block of the other (the
 * per-block ranges do not overlap): for two identical setups measured in R blocks each, that
 * happens by chance with probability 2 ÷ C(2R, R), 0.8 % for R = 5.
 */
export function judgeMetric(metric: BenchMetric, a: MetricSample, b: MetricSample): MetricVerdict {
  const ratio = b.value / a.value;
  const significant = a.blocks.length > 0 && b.blocks.length > 0 && (Math.max(...a.blocks) < Math.min(...b.blocks) || Math.max(...b.blocks) < Math.min(...a.blocks));
  let verdict = 'within noise';
  if (significant && Number.isFinite(ratio) && ratio > 0) {
    const faster = THROUGHPUT.has(metric) ? ratio > 1 : ratio < 1;
    const factor = Math.max(ratio, 1 / ratio);
    verdict = factor >= 2 ? `${factor.toFixed(1)}x ${faster ? 'faster' : 'slower'}` : `${faster ? 'faster' : 'slower'} by ${(100 * Math.abs(ratio - 1)).toFixed(1)} %`;
  }
  return { metric, a: a.value, b: b.value, ratio, significant, verdict };
}

/** 2 ÷ C(2n, n): the chance that n blocks of one side all beat n blocks of an identical other. */
export function falseAlarmRate(repeats: number): number {
  let c = 1;
  for (let i = 1; i <= repeats; i++) c = (c * (repeats + i)) / i;
  return 2 / c;
}

/** A metric over the whole run: a rate of the result, or a percentile of its latency. */
export function metricValue(r: BenchResult, m: BenchMetric): number {
  return m === 'inferencesPerS' || m === 'samplesPerS' ? r[m] : r.latency[m];
}

function compareResults(a: BenchResult, b: BenchResult): NonNullable<BenchReport['comparison']> {
  const sample = (r: BenchResult, m: BenchMetric): MetricSample => ({
    value: metricValue(r, m),
    blocks: r.blocks.map((x) => x[m]),
  });
  return {
    metrics: BENCH_METRICS.map((m) => judgeMetric(m, sample(a, m), sample(b, m))),
    falseAlarmRate: falseAlarmRate(Math.min(a.blocks.length, b.blocks.length)),
  };
}
