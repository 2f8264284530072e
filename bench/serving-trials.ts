/**
 * The serving benchmark's trials, as data (issue 4, "Proof → Benchmark"; issue 5, "Serving").
 * bench/serving.ts runs each one through bench/serving-trial.ts: a fresh server process
 * pinned to one core, wrk pinned to another, a warm-up, then a timed run.
 *
 * A row is one server speaking one protocol. Every model row serves the same ONNX file
 * (models/out/<model>.onnx) with the same session options: sessionOptions(1) of
 * bench/trials.ts for fastify + onnxruntime-node, and intra/inter-op thread count 1 in the
 * ortex model configuration (the bundled one for ctr_mlp, BERT_MINI_CONFIG below).
 */
import { MODELS, type ModelSpec } from './trials.js';

export type ServerKind =
  | 'uws-constant' // bench/uws-constant-server.ts: uWebSockets.js reads the body and answers a constant
  | 'fastify-ort' //  bench/fastify-server.ts: fastify + onnxruntime-node, `await session.run()` per request
  | 'ortex'; //       `ortex serve --repo <a repository the trial builds>`

/** How requests are encoded. 'binary': Triton's binary tensor data both ways (inputs and outputs). */
export type Protocol = 'json' | 'binary';

/**
 * 'http': wrk, one request in flight per connection. 'websocket': bench/native/ws_load.cc
 * (bench/ws-load.ts if it cannot be built) over ortex's streaming endpoint (/v2/stream), one
 * request in flight per connection too, so that concurrency means the same in both; the frames
 * carry the binary layout.
 */
export type Transport = 'http' | 'websocket';

/**
 * Popular items (issue 5, "Cache"): request k carries item id_k, drawn from a Zipf
 * distribution over `items` ids (P(rank r) ∝ 1 / r^exponent); the same id gives the same bytes.
 */
export interface ZipfWorkload {
  readonly items: number;
  readonly exponent: number;
}

export interface ServingRow {
  /** Stable key in the results. */
  readonly id: string;
  readonly server: ServerKind;
  readonly protocol: Protocol;
  /** Default 'http'. */
  readonly transport?: Transport;
  /** Models this row runs for; all of them when absent. */
  readonly models?: readonly string[];
  /** Concurrencies this row runs at; all of CONCURRENCIES when absent. */
  readonly concurrencies?: readonly number[];
  /**
   * The response cache on (`response_cache { enable: true }` in the model's configuration and
   * `ortex serve --cache-bytes`). With `repeatShare`, that share of the requests repeats an
   * earlier input and the rest are new. Runs only when `ortex serve --help` lists --cache-bytes.
   */
  readonly cache?: { readonly bytes: number; readonly repeatShare?: number };
  /** Requests drawn from a Zipf distribution of items instead of cycling through the pool. */
  readonly zipf?: ZipfWorkload;
}

/**
 * A million items, exponent 1: the most popular item is ~7 % of requests, and about a third of
 * the requests of a 5 s run carry an item not seen before. Models whose first input cannot
 * take that many distinct values (bert_mini's token ids) use as many as it can.
 */
const ZIPF: ZipfWorkload = { items: 1_000_000, exponent: 1 };

/** The peer every ratio is taken against. */
export const PEER_ROW = 'fastify';

export const SERVING_ROWS: readonly ServingRow[] = [
  // The ceiling of the set-up: HTTP parsing and wrk, no model. Its body is ctr_mlp's request.
  { id: 'uws-constant', server: 'uws-constant', protocol: 'json', models: ['ctr_mlp'] },
  { id: PEER_ROW, server: 'fastify-ort', protocol: 'json' },
  { id: 'ortex-json', server: 'ortex', protocol: 'json' },
  { id: 'ortex-binary', server: 'ortex', protocol: 'binary' },
  // 90 % of requests draw from the pool of distinct bodies (all cached after the warm-up); the
  // other 10 % carry a first input value never sent before (bench/serving-wrk.lua).
  { id: 'ortex-json-cache', server: 'ortex', protocol: 'json', cache: { bytes: 64 << 20, repeatShare: 0.9 } },
  { id: 'ortex-ws', server: 'ortex', protocol: 'binary', transport: 'websocket' },
  // Popular items with the cache off and on, at one concurrency: the cache's worth on a
  // realistic skew rather than a chosen hit share.
  { id: 'ortex-json-zipf', server: 'ortex', protocol: 'json', zipf: ZIPF, concurrencies: [64] },
  { id: 'ortex-json-zipf-cache', server: 'ortex', protocol: 'json', zipf: ZIPF, cache: { bytes: 64 << 20 }, concurrencies: [64] },
];

/** bert_mini as ortex serves it. Batching barely changes its cost per sample (~5.6 ms at batch 1 to 32 here), so batches stay small. */
export const BERT_MINI_CONFIG = `name: "bert_mini"
platform: "onnxruntime_onnx"
max_batch_size: 8
input [
  { name: "input_ids" data_type: TYPE_INT64 dims: [ 64 ] },
  { name: "attention_mask" data_type: TYPE_INT64 dims: [ 64 ] }
]
output [ { name: "logits" data_type: TYPE_FP32 dims: [ 65 ] } ]
dynamic_batching {
  max_queue_delay_microseconds: 0
  default_queue_policy { max_queue_size: 4096 }
}
instance_group [ { count: 1 kind: KIND_CPU } ]
parameters { key: "intra_op_thread_count" value: { string_value: "1" } }
parameters { key: "inter_op_thread_count" value: { string_value: "1" } }
`;

/** Where each model's ortex configuration comes from: a file of the repository, or text. */
export const ORTEX_CONFIGS: Readonly<Record<string, { file: string } | { text: string }>> = {
  ctr_mlp: { file: 'models/repository/ctr_mlp/config.pbtxt' },
  bert_mini: { text: BERT_MINI_CONFIG },
};

/** One model at one concurrency; its rows run back to back in every repeat. */
export interface ServingGroup {
  readonly model: ModelSpec;
  readonly concurrency: number;
  /** Whole seconds: wrk takes no fractions. */
  readonly warmupS: number;
  readonly durationS: number;
  /** wrk's --timeout: a request unanswered this long counts as a timeout (and has no latency sample). */
  readonly timeoutS: number;
  /** Distinct batch-1 request bodies wrk cycles through. */
  readonly poolSize: number;
}

/** Which cores the server and wrk are pinned to (taskset -c). */
export interface Pinning {
  readonly server: string;
  readonly load: string;
}

export interface ServingTrial extends ServingGroup {
  readonly kind: 'serving';
  readonly row: ServingRow;
  readonly pin: Pinning;
}

export const CONCURRENCIES: readonly number[] = [1, 16, 64, 256];

/** Timing and payload of every group; --quick shortens the timing (QUICK). */
const GROUP_SETTINGS = { warmupS: 1, durationS: 5, timeoutS: 2, poolSize: 256 } as const;

/**
 * ctr_mlp: 4 concurrencies x 5 rows; bert_mini: 4 x 4. About 8 s a trial (server start,
 * 1 s warm-up, 5 s timed, drain and stop), so one repeat of the 36 takes about 5 minutes.
 */
export const SERVING_GROUPS: readonly ServingGroup[] = [MODELS.ctr_mlp, MODELS.bert_mini].flatMap((model) =>
  CONCURRENCIES.map((concurrency) => ({ model, concurrency, ...GROUP_SETTINGS })),
);

/** --quick: the same trials, shorter. */
export const QUICK = { warmupS: 1, durationS: 2 } as const;

/** The targets, each checked at one model and concurrency against fastify + onnxruntime-node. */
export const SERVING_TARGETS = [
  { model: 'ctr_mlp', concurrency: 64, row: 'ortex-json', minRatio: 2.5, lowerP99: true, noTimeouts: false },
  { model: 'ctr_mlp', concurrency: 64, row: 'ortex-binary', minRatio: 2.5, lowerP99: true, noTimeouts: false },
  { model: 'bert_mini', concurrency: 64, row: 'ortex-json', minRatio: 1, lowerP99: true, noTimeouts: true },
  { model: 'bert_mini', concurrency: 64, row: 'ortex-binary', minRatio: 1, lowerP99: true, noTimeouts: true },
] as const;

/** The cache target (the issue names no model): the cache row at least `minRatio` x ortex JSON without the cache. */
export const CACHE_TARGETS = (['ctr_mlp', 'bert_mini'] as const).map((model) => ({ model, concurrency: 64, row: 'ortex-json-cache', base: 'ortex-json', minRatio: 2 }));

/** Comparisons reported beside the targets: `row` against `base` at the same model and concurrency. */
export const SERVING_COMPARISONS = [
  { row: 'ortex-ws', base: 'ortex-binary', what: 'WebSocket streaming vs HTTP, both binary tensor data' },
  { row: 'ortex-json-zipf-cache', base: 'ortex-json-zipf', what: 'Zipf-distributed popular items, response cache on vs off' },
] as const;

export function rowsFor(model: string, concurrency: number, available: (row: ServingRow) => boolean): ServingRow[] {
  return SERVING_ROWS.filter((r) => (!r.models || r.models.includes(model)) && (!r.concurrencies || r.concurrencies.includes(concurrency)) && available(r));
}

export function servingTrial(group: ServingGroup, row: ServingRow, pin: Pinning): ServingTrial {
  return { kind: 'serving', row, pin, ...group };
}

/** A stable label for a group, e.g. "ctr_mlp c64". */
export function servingLabel(g: { model: ModelSpec; concurrency: number }): string {
  return `${g.model.name} c${g.concurrency}`;
}
