/**
 * Runs ONE closed-loop trial in this process and prints its result as one JSON line on stdout:
 *
 *   node dist/bench/batching-trial.js '<BatchingTrial as JSON>'
 *
 * Only the library under test is imported. bench/batching.ts spawns this once per trial per
 * repeat. Exit status 3 means the runner does not exist in this build (the batcher before
 * createModel is exported), which the driver reports as a missing row, not as a failure.
 */
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeInputs } from './inputs.js';
import { type LatencySummary, Samples, summarize } from './stats.js';
import { type BatcherOptions, type BatchingTrial, EXIT_RUNNER_MISSING } from './batching-trials.js';
import { sessionOptions } from './trials.js';
import { trialMain } from './harness.js';

const ROOT = resolve(fileURLToPath(import.meta.url), '../../..');

type Feeds = Record<string, unknown>;
type Outputs = Record<string, { readonly dims: readonly number[] } | undefined>;

/** The batcher's statistics, as createModel's model.stats() returns them. */
export interface BatcherStats {
  requests: number;
  batches: number;
  /** Index = batch size, value = how many batches of that size were run. */
  batchSizes: number[];
  pending: number;
  queueUs: { sum: number; count: number };
  computeUs: { sum: number; count: number };
  rejected: Record<string, number>;
}

/** The part of createModel()'s result this benchmark uses. */
interface BatchedModel {
  infer(feeds: Feeds): Promise<Outputs>;
  stats(): BatcherStats;
  close(): Promise<void>;
}
type CreateModel = (path: string, options: BatcherOptions & ReturnType<typeof sessionOptions>) => Promise<BatchedModel>;

/** What the closed loop needs of any runner. */
interface Target {
  request(feeds: Feeds): Promise<Outputs>;
  stats?(): BatcherStats;
  close(): Promise<void>;
  ortVersion: string;
}

class RunnerMissing extends Error {}

/** One Feeds object per pool entry, each a batch-1 slice with its own buffer. */
function feedPool(trial: BatchingTrial, makeTensor: (type: string, data: Float32Array | BigInt64Array, dims: number[]) => unknown): Feeds[] {
  const inputs = makeInputs(trial.model, trial.poolSize);
  const pool: Feeds[] = [];
  for (let i = 0; i < trial.poolSize; i++) {
    const feeds: Feeds = {};
    for (const input of inputs) {
      const row = input.data.length / trial.poolSize;
      const dims = [1, ...input.dims.slice(1)];
      feeds[input.name] = makeTensor(input.type, input.data.slice(i * row, (i + 1) * row), dims);
    }
    pool.push(feeds);
  }
  return pool;
}

async function load(trial: BatchingTrial): Promise<{ target: Target; pool: Feeds[] }> {
  const modelPath = resolve(ROOT, trial.model.path);
  const options = sessionOptions(trial.intraOpThreads);
  if (trial.runner.kind === 'ort-node') {
    const ort = await import('onnxruntime-node');
    const session = await ort.InferenceSession.create(modelPath, options);
    const pool = feedPool(trial, (type, data, dims) => new ort.Tensor(type as 'float32', data as Float32Array, dims));
    const target: Target = {
      request: (feeds) => session.run(feeds as Record<string, InstanceType<typeof ort.Tensor>>) as Promise<Outputs>,
      close: () => session.release(),
      ortVersion: (ort.env.versions as Record<string, string | undefined>).node ?? 'unknown',
    };
    return { target, pool };
  }
  const ortex = await import('../src/index.js');
  const pool = feedPool(trial, (type, data, dims) => new ortex.Tensor(type as 'float32', data as Float32Array, dims));
  const ortVersion = ortex.env.versions.onnxruntime;
  if (trial.runner.kind === 'ortex-run') {
    const session = await ortex.InferenceSession.create(modelPath, options);
    const target: Target = {
      request: (feeds) => session.run(feeds as Parameters<typeof session.run>[0]) as Promise<Outputs>,
      close: () => session.release(),
      ortVersion,
    };
    return { target, pool };
  }
  // Looked up at run time so this harness builds and runs before the batcher lands.
  const createModel = (ortex as unknown as { createModel?: CreateModel }).createModel;
  if (typeof createModel !== 'function') throw new RunnerMissing("ortex does not export createModel() yet: the 'batcher' runner cannot run");
  if (!trial.runner.batcher) throw new TypeError(`Expected batcher options for runner '${trial.runner.id}' but received none`);
  const model = await createModel(modelPath, { ...trial.runner.batcher, ...options });
  const target: Target = {
    request: (feeds) => model.infer(feeds),
    stats: () => model.stats(),
    close: () => model.close(),
    ortVersion,
  };
  return { target, pool };
}


/** The batcher's statistics over the timed window: the end snapshot minus the start one. */
function statsDelta(a: BatcherStats, b: BatcherStats) {
  const sizes: number[] = [];
  for (let k = 0; k < b.batchSizes.length; k++) sizes.push((b.batchSizes[k] ?? 0) - (a.batchSizes[k] ?? 0));
  while (sizes.length > 0 && sizes[sizes.length - 1] === 0) sizes.pop();
  const rejected: Record<string, number> = {};
  for (const [reason, n] of Object.entries(b.rejected)) rejected[reason] = n - (a.rejected[reason] ?? 0);
  let batches = 0;
  let requests = 0;
  sizes.forEach((count, size) => {
    batches += count;
    requests += count * size;
  });
  const queueN = b.queueUs.count - a.queueUs.count;
  const computeN = b.computeUs.count - a.computeUs.count;
  return {
    /** Requests run in batches formed inside the window, and those batches (from the histogram). */
    requests,
    batches,
    avgBatchSize: batches > 0 ? requests / batches : NaN,
    batchSizes: sizes,
    meanQueueUs: queueN > 0 ? (b.queueUs.sum - a.queueUs.sum) / queueN : NaN,
    meanComputeUs: computeN > 0 ? (b.computeUs.sum - a.computeUs.sum) / computeN : NaN,
    rejected,
    pendingAtEnd: b.pending,
  };
}

export type BatcherWindowStats = ReturnType<typeof statsDelta>;

export interface ClosedLoopResult {
  /** Requests completed in the timed window, each of one sample. */
  completed: number;
  samplesPerSec: number;
  latency: LatencySummary | null;
  errors: number;
  firstError?: string;
  /** Responses whose output did not have batch dim 1 (a batcher slicing bug would show here). */
  wrongShape: number;
  /** CPU time of the whole process over the window, in cores (user + system). */
  cpuCores: number;
  windowMs: number;
  batcher?: BatcherWindowStats;
  ortVersion: string;
}

/**
 * The closed loop. A request is counted, and its latency kept, when it completes inside the
 * timed window [warm-up end, warm-up end + duration]; throughput is those completions over the
 * window. After the window the clients stop issuing and the requests in flight drain untimed.
 */
async function closedLoop(trial: BatchingTrial): Promise<ClosedLoopResult> {
  const { target, pool } = await load(trial);
  const samples = new Samples();
  let next = 0;
  let errors = 0;
  let wrongShape = 0;
  let firstError: string | undefined;
  let timing = false;
  let stop = false;

  const t0 = process.hrtime.bigint();
  const windowStart = t0 + BigInt(trial.warmupMs) * 1_000_000n;
  const windowEnd = windowStart + BigInt(trial.durationMs) * 1_000_000n;
  let statsAtStart: BatcherStats | undefined;
  let statsAtEnd: BatcherStats | undefined;
  let cpuAtStart: NodeJS.CpuUsage | undefined;
  let cpu: NodeJS.CpuUsage | undefined;

  const client = async () => {
    while (!stop) {
      const feeds = pool[next]!;
      next = next + 1 === pool.length ? 0 : next + 1;
      const start = process.hrtime.bigint();
      let ok = true;
      let out: Outputs | undefined;
      try {
        out = await target.request(feeds);
      } catch (err) {
        ok = false;
        firstError ??= err instanceof Error ? `${(err as { code?: string }).code ?? err.name}: ${err.message}` : String(err);
      }
      const end = process.hrtime.bigint();
      if (!timing && end >= windowStart && end < windowEnd) {
        // The first completion inside the window opens it for everyone.
        timing = true;
        statsAtStart = target.stats?.();
        cpuAtStart = process.cpuUsage();
      }
      if (end >= windowEnd) {
        if (!stop) {
          // The first completion past the window closes it; the drain that follows is not measured.
          stop = true;
          cpu = process.cpuUsage(cpuAtStart);
          statsAtEnd = target.stats?.();
        }
        break;
      }
      if (!timing) continue;
      if (!ok) errors++;
      else if (out?.y?.dims[0] !== 1) wrongShape++;
      else samples.push(Number(end - start) / 1000);
    }
  };

  const clients: Promise<void>[] = [];
  for (let c = 0; c < trial.concurrency; c++) clients.push(client());
  await Promise.all(clients);
  const windowMs = trial.durationMs;
  await target.close();

  const completed = samples.length + wrongShape;
  return {
    completed,
    samplesPerSec: completed / (windowMs / 1000),
    latency: samples.length > 0 ? summarize(samples.view()) : null,
    errors,
    ...(firstError !== undefined ? { firstError } : {}),
    wrongShape,
    cpuCores: cpu && cpuAtStart ? (cpu.user + cpu.system) / 1000 / windowMs : NaN,
    windowMs,
    ...(statsAtStart && statsAtEnd ? { batcher: statsDelta(statsAtStart, statsAtEnd) } : {}),
    ortVersion: target.ortVersion,
  };
}

trialMain<BatchingTrial>('closed-loop', closedLoop, (err) => (err instanceof RunnerMissing ? EXIT_RUNNER_MISSING : 1));
