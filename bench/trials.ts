/**
 * The benchmark's trials, as data. bench/run.ts runs each one in a fresh process, R times,
 * interleaving the runners of a group so that drift in the machine hits all of them alike.
 *
 * Every runner of a group loads the same model with the same session options on the same
 * libonnxruntime.so.1 (onnxruntime-node 1.30.0's), so they differ only in the binding.
 */

/** How one call is made. */
export type Runner =
  | 'ortex-sync' //  ortex session.runSync(feeds)
  | 'ortex-io-sync' // ortex I/O binding: inputs and a preallocated output bound once, io.runSync() per call
  | 'ortex-async' // await ortex session.run(feeds): a hop to an ortex run thread and back
  | 'ortex-async-busy' // the same with busyWait: true (the event loop polls while the run is in flight)
  | 'ort-node' //    await onnxruntime-node session.run(feeds)
  | 'raw-c' //       bench/native/raw_run.cc: a C++ loop over OrtApi::Run
  | 'raw-c-js'; //    the same call, made from JS one N-API call at a time (PairedTrial only)

export const RUNNERS: readonly Runner[] = ['raw-c', 'ortex-sync', 'ortex-io-sync', 'ortex-async', 'ortex-async-busy', 'ort-node'];

/** How the values of one input are made: the raw C loop follows the same rules (see raw_run.cc). */
export type Fill = 'uniform' | 'ids' | 'ones';

export interface InputSpec {
  readonly name: string;
  readonly type: 'float32' | 'int64';
  /** 'N' is the batch size, 'S' the sequence length. */
  readonly dims: ReadonlyArray<number | 'N' | 'S'>;
  /** uniform: float in [-1, 1); ids: integer in [0, 1000); ones: all 1. */
  readonly fill: Fill;
}

export interface ModelSpec {
  readonly name: string;
  /** Relative to the repository root. */
  readonly path: string;
  readonly inputs: readonly InputSpec[];
  /** Value of 'S' in the input dims. */
  readonly seqLen?: number;
}

export const MODELS = {
  ctr_mlp: {
    name: 'ctr_mlp',
    path: 'models/out/ctr_mlp.onnx',
    inputs: [{ name: 'x', type: 'float32', dims: ['N', 64], fill: 'uniform' }],
  },
  bert_mini: {
    name: 'bert_mini',
    path: 'models/out/bert_mini.onnx',
    seqLen: 64,
    inputs: [
      { name: 'input_ids', type: 'int64', dims: ['N', 'S'], fill: 'ids' },
      { name: 'attention_mask', type: 'int64', dims: ['N', 'S'], fill: 'ones' },
    ],
  },
  dlrm: {
    name: 'dlrm',
    path: 'models/out/dlrm.onnx',
    inputs: [
      { name: 'dense', type: 'float32', dims: ['N', 13], fill: 'uniform' },
      // 'ids' draws from [0, 1000): DLRM.tableRows rows per embedding table.
      { name: 'sparse', type: 'int64', dims: ['N', 8], fill: 'ids' },
    ],
  },
  cnn_small: {
    name: 'cnn_small',
    path: 'models/out/cnn_small.onnx',
    inputs: [{ name: 'x', type: 'float32', dims: ['N', 3, 224, 224], fill: 'uniform' }],
  },
  slow_matmul: {
    name: 'slow_matmul',
    path: 'models/out/slow_matmul.onnx',
    inputs: [{ name: 'x', type: 'float32', dims: [1, 512], fill: 'uniform' }],
  },
} as const satisfies Record<string, ModelSpec>;

/** One per-call latency measurement: `iterations` timed calls after `warmup` untimed ones. */
export interface LatencyTrial {
  readonly kind: 'latency';
  readonly model: ModelSpec;
  readonly batch: number;
  readonly intraOpThreads: number;
  readonly runner: Runner;
  readonly iterations: number;
  readonly warmup: number;
}

/**
 * Event-loop delay while a slow run is in flight: a setImmediate chain runs beside each
 * `await session.run()` and records the largest gap between consecutive ticks, the gap from
 * the last tick to the promise settling included.
 */
export interface LoopDelayTrial {
  readonly kind: 'loop-delay';
  readonly model: ModelSpec;
  readonly intraOpThreads: number;
  readonly runner: 'ortex-async' | 'ort-node';
  readonly runs: number;
  readonly warmup: number;
}

/**
 * The floor under any async run on this machine: `await` a libuv thread-pool round trip
 * that does almost nothing (crypto.pbkdf2, 1 iteration), next to the same work done
 * synchronously (pbkdf2Sync). The difference is what the hop alone costs, with no ONNX
 * Runtime and no ortex involved.
 */
export interface HopFloorTrial {
  readonly kind: 'hop-floor';
  readonly iterations: number;
  readonly warmup: number;
}

/**
 * `runSync()`, `io.runSync()` and the raw C loop in ONE process (the raw loop through
 * build/Release/ortex_raw_bench.node), each timed in blocks of `block` calls that take turns,
 * in an order that changes every round (bench/trial.ts pairedOrder()). The host's drift, which moves the separate-process figures
 * by more than the 1 µs being measured, then falls on all runners alike within a round, and
 * each round gives a paired difference.
 */
export interface PairedTrial {
  readonly kind: 'paired';
  readonly model: ModelSpec;
  readonly batch: number;
  readonly intraOpThreads: number;
  readonly rounds: number;
  readonly block: number;
  /** Untimed calls of each runner before the first round. */
  readonly warmup: number;
}

/**
 * The runners of a PairedTrial, in the order of its first round. 'raw-c-js' is the floor of
 * any binding: the raw loop's call made from JS, one N-API call and one JS timing per call.
 */
export const PAIRED_RUNNERS = ['raw-c', 'raw-c-js', 'ortex-sync', 'ortex-io-sync'] as const satisfies readonly Runner[];
export type PairedRunner = (typeof PAIRED_RUNNERS)[number];

/**
 * The runners' order in a round: the rows of a Williams Latin square, taken in turn. Over
 * any PAIRED_RUNNERS.length rounds in a row each runner comes at each place once and follows
 * every other runner once, so none always inherits the same predecessor's cache or GC debt.
 * (For an even number of runners, as here: row 0 is 0, 1, n−1, 2, n−2, ...; row r adds r.)
 */
export function pairedOrder(round: number): PairedRunner[] {
  const n = PAIRED_RUNNERS.length;
  const base: number[] = [0];
  for (let k = 1; base.length < n; k++) {
    base.push(k);
    if (base.length < n) base.push(n - k);
  }
  return base.map((j) => PAIRED_RUNNERS[(j + round) % n]!);
}

export type Trial = LatencyTrial | LoopDelayTrial | HopFloorTrial | PairedTrial;

/** The runners of one group run back to back in every repeat. */
export interface LatencyGroup {
  readonly model: ModelSpec;
  readonly batch: number;
  readonly intraOpThreads: number;
  readonly iterations: number;
  readonly warmup: number;
}

/**
 * Iterations are sized for about a quarter second to one second of calls per process, which
 * keeps the whole `npm run bench` (5 repeats) under five minutes on a 2-core machine.
 * bert_mini at batch 32 takes about a second per call here, so it is left out; with 60
 * calls per process its p99 is the slowest call of the process.
 */
export const LATENCY_GROUPS: readonly LatencyGroup[] = [
  { model: MODELS.ctr_mlp, batch: 1, intraOpThreads: 1, iterations: 10_000, warmup: 1_000 },
  { model: MODELS.ctr_mlp, batch: 1, intraOpThreads: 2, iterations: 10_000, warmup: 1_000 },
  { model: MODELS.ctr_mlp, batch: 32, intraOpThreads: 1, iterations: 2_000, warmup: 200 },
  { model: MODELS.ctr_mlp, batch: 32, intraOpThreads: 2, iterations: 2_000, warmup: 200 },
  { model: MODELS.bert_mini, batch: 1, intraOpThreads: 1, iterations: 60, warmup: 5 },
  { model: MODELS.bert_mini, batch: 1, intraOpThreads: 2, iterations: 60, warmup: 5 },
];

/**
 * `--full` (what `npm run bench:full` runs): every model of issue 5 at batch 1 and 32 with 1 and
 * 2 intra-op threads, the headline groups first. About 10 minutes on this machine.
 */
export const FULL_LATENCY_GROUPS: readonly LatencyGroup[] = [
  ...LATENCY_GROUPS,
  { model: MODELS.bert_mini, batch: 32, intraOpThreads: 1, iterations: 10, warmup: 2 },
  { model: MODELS.bert_mini, batch: 32, intraOpThreads: 2, iterations: 10, warmup: 2 },
  ...[1, 2].flatMap((intraOpThreads) => [
    { model: MODELS.dlrm, batch: 1, intraOpThreads, iterations: 5_000, warmup: 500 },
    { model: MODELS.dlrm, batch: 32, intraOpThreads, iterations: 1_000, warmup: 100 },
    { model: MODELS.cnn_small, batch: 1, intraOpThreads, iterations: 300, warmup: 30 },
    { model: MODELS.cnn_small, batch: 32, intraOpThreads, iterations: 20, warmup: 3 },
  ]),
];

/** About 2–3 s per process: 40 rounds of 500 calls for each of the four runners. */
export const PAIRED_TRIALS: readonly PairedTrial[] = [1, 2].map((intraOpThreads) => ({
  kind: 'paired',
  model: MODELS.ctr_mlp,
  batch: 1,
  intraOpThreads,
  rounds: 40,
  block: 500,
  warmup: 2_000,
}));

export const HOP_FLOOR_TRIAL: HopFloorTrial = { kind: 'hop-floor', iterations: 10_000, warmup: 1_000 };

export const LOOP_DELAY_TRIALS: readonly LoopDelayTrial[] = [
  { kind: 'loop-delay', model: MODELS.slow_matmul, intraOpThreads: 1, runner: 'ortex-async', runs: 8, warmup: 2 },
  { kind: 'loop-delay', model: MODELS.slow_matmul, intraOpThreads: 1, runner: 'ort-node', runs: 8, warmup: 2 },
];

export function latencyTrial(group: LatencyGroup, runner: Runner): LatencyTrial {
  return { kind: 'latency', runner, ...group };
}

/** A stable label for a group, e.g. "ctr_mlp b1 t2". */
export function groupLabel(g: { model: ModelSpec; batch?: number; intraOpThreads: number }): string {
  return `${g.model.name}${g.batch === undefined ? '' : ` b${g.batch}`} t${g.intraOpThreads}`;
}

/** The options every JS runner passes; raw_run.cc sets the same four on its session. */
export function sessionOptions(intraOpThreads: number) {
  return {
    intraOpNumThreads: intraOpThreads,
    interOpNumThreads: 1,
    graphOptimizationLevel: 'all',
    executionMode: 'sequential',
  } as const;
}

/** ortex's own latency option, outside onnxruntime-node's set. */
export function ortexOptions(runner: Runner): { busyWait?: boolean } {
  return runner === 'ortex-async-busy' ? { busyWait: true } : {};
}
