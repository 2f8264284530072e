/**
 * A model served without the dynamic batcher: for models the batcher cannot stage (string
 * inputs, sub-byte element types, non-tensor values), each request runs on its own through
 * an InferenceSession (concurrent runs share the session, as ONNX Runtime allows). It has
 * the same face as Model (ServedModel), so the server does not tell the two apart:
 *
 * - maxQueueSize bounds the requests in flight (ERR_QUEUE_FULL beyond it);
 * - a request's timeout bounds its run (ERR_RUN_TIMEOUT, 504) since there is no queue;
 *   priorities have nothing to order and are accepted and ignored;
 * - stats() has the batcher's shape: every request is an execution of its own rows; the
 *   queue histogram stays empty.
 *
 * Threading: the event loop only.
 */

import { OrtexError } from '../errors.js';
import { InferenceSession } from '../inference-session.js';
import type { BatcherOptions, ModelOptions } from '../model-options.js';
import { type ModelStats, TimeHistogram } from '../model-stats.js';
import type { InferOptions, Model } from '../model.js';
import type { SessionOptions } from '../session-options.js';
import { Tensor } from '../tensor.js';

/** What the server needs of a loaded model: Model, or UnbatchedModel. */
export type ServedModel = Pick<
  Model,
  'inputNames' | 'outputNames' | 'inputMetadata' | 'outputMetadata' | 'maxBatchSize' | 'pendingRequests' | 'infer' | 'stats' | 'close'
>;

// Typed as a record of every BatcherOptions key, so a new batcher option cannot be missed here.
const BATCHER_KEYS: Record<keyof BatcherOptions, true> = {
  maxBatchSize: true, maxQueueDelayUs: true, preferredBatchSizes: true, instances: true, maxQueueSize: true,
  defaultTimeoutUs: true, priorityLevels: true, defaultPriority: true, latencyTargetUs: true, padding: true,
};

export class UnbatchedModel implements ServedModel {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  readonly inputMetadata: Model['inputMetadata'];
  readonly outputMetadata: Model['outputMetadata'];
  readonly maxBatchSize: number;
  readonly #session: InferenceSession;
  readonly #maxInFlight: number;
  readonly #defaultTimeoutUs: number;
  #inFlight = 0;
  #closing: Promise<void> | undefined;
  #idle: (() => void) | undefined;
  readonly #counts = { requests: 0, completed: 0, rows: 0, queueFull: 0, timeout: 0, cancelled: 0, closed: 0, failed: 0 };
  readonly #batchSizes: number[] = [];
  readonly #compute = new TimeHistogram();

  private constructor(session: InferenceSession, options: ModelOptions) {
    this.#session = session;
    this.inputNames = session.inputNames;
    this.outputNames = session.outputNames;
    this.inputMetadata = session.inputMetadata;
    this.outputMetadata = session.outputMetadata;
    this.maxBatchSize = options.maxBatchSize ?? 0;
    this.#maxInFlight = options.maxQueueSize || Infinity;
    this.#defaultTimeoutUs = options.defaultTimeoutUs ?? 0;
  }

  /** Loads the model with the session part of `options` (the batcher's own are kept for limits). */
  static async create(path: string, options: ModelOptions): Promise<UnbatchedModel> {
    const sessionOptions: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(options)) if (!(k in BATCHER_KEYS)) sessionOptions[k] = v;
    return new UnbatchedModel(await InferenceSession.create(path, sessionOptions as SessionOptions), options);
  }

  get pendingRequests(): number {
    return this.#inFlight;
  }

  async infer(feeds: Readonly<Record<string, unknown>>, options: InferOptions = {}): Promise<Record<string, Tensor>> {
    if (this.#closing) throw new OrtexError('ERR_MODEL_CLOSED', 'The model is closed or closing and accepts no new requests');
    if (this.#inFlight >= this.#maxInFlight) {
      this.#counts.queueFull++;
      throw new OrtexError('ERR_QUEUE_FULL', `The model has ${this.#inFlight} requests in flight, its maxQueueSize`);
    }
    let rows = 1;
    if (this.maxBatchSize > 0) {
      const first = feeds[this.inputNames[0]!] as { dims?: readonly number[] } | undefined;
      rows = first?.dims?.[0] ?? 1;
      if (rows > this.maxBatchSize) {
        throw new OrtexError('ERR_INPUT_SHAPE', `A request of ${rows} rows exceeds the model's maxBatchSize of ${this.maxBatchSize}; split it`);
      }
    }
    const timeoutUs = options.timeoutUs ?? this.#defaultTimeoutUs;
    const runOptions: { signal?: AbortSignal; timeoutMs?: number } = {};
    if (options.signal) runOptions.signal = options.signal;
    if (timeoutUs > 0) runOptions.timeoutMs = Math.max(1, Math.ceil(timeoutUs / 1000));
    this.#inFlight++;
    this.#counts.requests++;
    const t0 = performance.now();
    try {
      const input = feeds as Parameters<InferenceSession['run']>[0];
      // run(feeds, {}) would read {} as fetches: pass options only when there are some.
      const out = await (runOptions.signal || runOptions.timeoutMs ? this.#session.run(input, undefined, runOptions) : this.#session.run(input));
      this.#compute.observe((performance.now() - t0) * 1000);
      this.#counts.completed++;
      this.#counts.rows += rows;
      this.#batchSizes[rows] = (this.#batchSizes[rows] ?? 0) + 1;
      const result: Record<string, Tensor> = {};
      for (const [name, v] of Object.entries(out)) if (v instanceof Tensor) result[name] = v;
      return result;
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (code === 'ERR_RUN_TIMEOUT') this.#counts.timeout++;
      else if (code === 'ERR_RUN_CANCELLED') this.#counts.cancelled++;
      else this.#counts.failed++;
      throw err;
    } finally {
      if (--this.#inFlight === 0) this.#idle?.();
    }
  }

  stats(): ModelStats {
    const c = this.#counts;
    const empty = new TimeHistogram().snapshot();
    const compute = this.#compute.snapshot();
    const batchSizes = Array.from({ length: Math.max(this.#batchSizes.length, this.maxBatchSize + 1) }, (_, i) => this.#batchSizes[i] ?? 0);
    return {
      requests: c.requests, completed: c.completed, batches: c.completed, rows: c.rows, pending: 0, executing: this.#inFlight,
      maxBatchSize: this.maxBatchSize, maxQueueDelayUs: 0, adaptiveDelayUs: 0,
      rejected: { queueFull: c.queueFull, timeout: c.timeout, cancelled: c.cancelled, closed: c.closed, failed: c.failed },
      batchSizes, batchPhasesUs: { input: batchSizes.map(() => 0), infer: batchSizes.map(() => 0), output: batchSizes.map(() => 0) },
      queueUs: empty, computeUs: compute, requestUs: compute, timeoutLatenessUs: empty,
      computeInputUs: empty, computeInferUs: compute, computeOutputUs: empty,
    };
  }

  /** Refuses new requests, waits for those running, then releases the session. */
  close(_options: { drain?: boolean } = {}): Promise<void> {
    this.#closing ??= (async () => {
      if (this.#inFlight > 0) await new Promise<void>((resolve) => { this.#idle = resolve; });
      await this.#session.release();
    })();
    return this.#closing;
  }
}
