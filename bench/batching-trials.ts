/**
 * The batching benchmark's trials, as data (issue 3, "Benchmark"; issue 5, "Batching").
 * bench/batching.ts runs each one in a fresh process, R times, interleaving the runners of a
 * group so that drift in the machine hits all of them alike.
 *
 * A trial is a closed loop: `concurrency` async clients, each awaiting its request and then
 * sending the next one at once, with a batch-1 input drawn from a pool built before the clock
 * starts. The loop runs `warmupMs` untimed, then `durationMs` timed.
 *
 * Every runner loads the same model with the same session options (sessionOptions(1) of
 * bench/trials.ts), so they differ only in how requests reach ONNX Runtime.
 */
import { MODELS, type ModelSpec } from './trials.js';

/** How one request is made. */
export type BatchingRunnerKind =
  | 'batcher' //   await model.infer(feeds): ortex's dynamic batcher (createModel)
  | 'ortex-run' // await session.run(feeds) of one ortex InferenceSession, batch 1 per request
  | 'ort-node'; // await session.run(feeds) of one onnxruntime-node InferenceSession, batch 1

/** The dynamic batcher's own options; the session options come from sessionOptions(). */
export interface BatcherOptions {
  readonly maxBatchSize: number;
  readonly maxQueueDelayUs: number;
  readonly instances: number;
  /** Load-aware delay: wait only while the oldest request can still be answered within this. */
  readonly latencyTargetUs?: number;
}

export interface BatchingRunner {
  /** Stable key in the results, e.g. 'batcher-i2'. */
  readonly id: string;
  readonly kind: BatchingRunnerKind;
  readonly batcher?: BatcherOptions;
  /** Concurrencies this runner is measured at; all of them when absent. */
  readonly concurrencies?: readonly number[];
}

/**
 * Batch 1 per request: every dim 'N' of the model's inputs is 1. dlrm's widths (bench/trials.ts)
 * are those of DLRM in models/dlrm.ts, written out so a trial process does not load the model
 * generator (and onnx-proto); bench/batching.ts checks that they agree.
 */
export const BATCHING_MODELS = {
  ctr_mlp: MODELS.ctr_mlp,
  dlrm: MODELS.dlrm,
} as const satisfies Record<string, ModelSpec>;

export const CONCURRENCIES: readonly number[] = [1, 8, 64, 256];

/**
 * The batcher with one instance is the headline row. A second instance only pays once the
 * queue is deep enough to keep two sessions busy, and on 2 cores it competes with the JS
 * thread, so it is measured where that question arises and not at low concurrency.
 */
export const BATCHING_RUNNERS: readonly BatchingRunner[] = [
  { id: 'batcher', kind: 'batcher', batcher: { maxBatchSize: 64, maxQueueDelayUs: 100, instances: 1 } },
  { id: 'batcher-i2', kind: 'batcher', batcher: { maxBatchSize: 64, maxQueueDelayUs: 100, instances: 2 }, concurrencies: [64, 256] },
  // Load-aware delay: no fixed wait, so a lone request is not held back at low load.
  { id: 'batcher-adaptive', kind: 'batcher', batcher: { maxBatchSize: 64, maxQueueDelayUs: 0, instances: 1, latencyTargetUs: 1000 } },
  { id: 'ortex-run', kind: 'ortex-run' },
  { id: 'ort-node', kind: 'ort-node' },
];

/** One model at one concurrency; its runners run back to back in every repeat. */
export interface BatchingGroup {
  readonly model: ModelSpec;
  readonly concurrency: number;
  readonly intraOpThreads: number;
  readonly warmupMs: number;
  readonly durationMs: number;
  /** Distinct batch-1 inputs built before the clock starts; requests cycle through them. */
  readonly poolSize: number;
}

export interface BatchingTrial extends BatchingGroup {
  readonly kind: 'closed-loop';
  readonly runner: BatchingRunner;
}

/**
 * 2 models x 4 concurrencies x 3 runners, plus 2 x 2 two-instance rows: 28 processes of about
 * 2.2 s (startup, 0.4 s warm-up, 1.5 s timed) per repeat, so 3 repeats take about 3 minutes.
 */
export const BATCHING_GROUPS: readonly BatchingGroup[] = (['ctr_mlp', 'dlrm'] as const).flatMap((name) =>
  CONCURRENCIES.map((concurrency) => ({
    model: BATCHING_MODELS[name],
    concurrency,
    intraOpThreads: 1,
    warmupMs: 400,
    durationMs: 1_500,
    poolSize: 1_024,
  })),
);

/** The target: at this point, the batcher's samples/s at least `minRatio` x ort-node's, with p99 under `maxP99Us`. */
export const BATCHING_TARGET = { model: 'ctr_mlp', concurrency: 64, minRatio: 4, maxP99Us: 2_000 } as const;

export function runnersAt(concurrency: number): BatchingRunner[] {
  return BATCHING_RUNNERS.filter((r) => !r.concurrencies || r.concurrencies.includes(concurrency));
}

export function batchingTrial(group: BatchingGroup, runner: BatchingRunner): BatchingTrial {
  return { kind: 'closed-loop', runner, ...group };
}

/** A stable label for a group, e.g. "ctr_mlp c64". */
export function batchingLabel(g: { model: ModelSpec; concurrency: number }): string {
  return `${g.model.name} c${g.concurrency}`;
}

/** batching-trial.js exits with this status when its runner does not exist in this build. */
export const EXIT_RUNNER_MISSING = 3;
