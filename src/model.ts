/**
 * Model: a model behind ortex's dynamic batcher (native/batcher.h). Requests from any number
 * of callers (and worker_threads, through share()/attachModel()) are queued without a lock,
 * gathered into batches along the first dim, run on `instances` sessions each with its own
 * thread, and answered with their own rows of the outputs.
 *
 * Data flow: infer() validates the feeds here, writes their dims into a scratch array shared
 * with the native side and passes the data; the native side copies it into its request (so
 * the caller may reuse its arrays at once) and queues it. Completions come back once per
 * batch through #onComplete, which slices each request's rows out of the batch's outputs as
 * views (no copy) and settles its promise.
 */

import { existsSync, statSync } from 'node:fs';
import type { TensorType } from './dtypes.js';
import { OrtexError, fromNative, isErrorCode } from './errors.js';
import { type SharedDim, type Slot, type ValueMetadata, checkSharedDims, checkTensor, sharedDims, toMetadata, toSlot } from './feeds.js';
import { type ModelOptions, type NormalizedModelOptions, normalizeModelOptions, resolvePadding } from './model-options.js';
import { type ModelStats, decodeStats } from './model-stats.js';
import { type NativeBatchModel, type NativeLoadInfo, native } from './native.js';
import { Tensor, type TensorData } from './tensor.js';
import { invalidRange, invalidType, isInteger, isObject, isString } from './validate.js';

export type { ModelOptions, BatcherOptions, PaddingOptions } from './model-options.js';
export type { ModelStats, Histogram } from './model-stats.js';

export interface InferOptions {
  /** Queue timeout in µs: a request still waiting then is rejected with ERR_REQUEST_TIMEOUT. */
  timeoutUs?: number;
  /** 1 is the highest; default: the model's defaultPriority. */
  priority?: number;
  /** Aborts a request still in the queue (ERR_REQUEST_ABORTED); one already running completes. */
  signal?: AbortSignal;
}

/** What share() returns: plain data that can be posted to a worker_thread for attachModel(). */
export interface SharedModel {
  readonly handle: number;
  readonly options: Omit<NormalizedModelOptions, 'session'>;
}

const STATUS_OK = 0, STATUS_TIMEOUT = 1, STATUS_CANCELLED = 2, STATUS_CLOSED = 3, STATUS_FAILED = 4;

interface Pending {
  resolve: (out: Record<string, Tensor>) => void;
  reject: (err: Error) => void;
  settled: boolean;
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
  timeoutUs: number;
  /** Own sizes of padded dims, when outputs are cut back to them. */
  own: number[] | undefined;
}

/** An output dim that follows a padded input dim (by symbolic name): cut back per request. */
interface Cut {
  readonly outDim: number;
  readonly input: number;
  readonly inputDim: number;
}

type Encoded = [type: number, data: TensorData, dims: number[]];

/**
 * Copies a request's block out of a padded batch output: rows [row0, row0 + rows) and, in
 * each cut dim, the first `own` entries.
 */
function cutBlock(data: TensorData, dims: readonly number[], row0: number, ownDims: readonly number[]): TensorData {
  const rank = dims.length;
  const stride = new Array<number>(rank).fill(1);
  for (let d = rank - 2; d >= 0; d--) stride[d] = stride[d + 1]! * dims[d + 1]!;
  let k = 0; // the last dim where the block is narrower than the batch
  for (let d = rank - 1; d >= 1; d--) if (ownDims[d] !== dims[d]) { k = d; break; }
  const run = ownDims[k]! * stride[k]!;
  let total = 1;
  for (const x of ownDims) total *= x;
  const out = Array.isArray(data) ? new Array<string>(total) : new (data.constructor as new (n: number) => Exclude<TensorData, string[]>)(total);
  const idx = new Array<number>(k).fill(0);
  let outer = 1;
  for (let d = 0; d < k; d++) outer *= ownDims[d]!;
  let w = 0;
  for (let n = 0; n < (k === 0 ? 1 : outer); n++) {
    let at = k === 0 ? row0 * stride[0]! : 0;
    for (let d = 0; d < k; d++) at += (idx[d]! + (d === 0 ? row0 : 0)) * stride[d]!;
    for (let i = 0; i < run; i++) (out as unknown as unknown[])[w++] = (data as unknown as unknown[])[at + i];
    for (let d = k - 1; d >= 0; d--) {
      if (++idx[d]! < ownDims[d]!) break;
      idx[d] = 0;
    }
  }
  return out as TensorData;
}

export class Model {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  readonly inputMetadata: readonly ValueMetadata[];
  readonly outputMetadata: readonly ValueMetadata[];
  /** Providers the instances run on, in priority order ('cpu' last); empty when attached. */
  readonly executionProviders: readonly string[];

  readonly #native: NativeBatchModel;
  readonly #owner: boolean;
  readonly #options: Omit<NormalizedModelOptions, 'session'>;
  readonly #inputs: readonly Slot[];
  /** Input dims named alike, checked to agree (feeds.ts sharedDims). */
  readonly #shared: readonly SharedDim[];
  readonly #outputTypes: TensorType[] = [];
  readonly #cuts: ReadonlyArray<readonly Cut[]>;
  readonly #padded: ReadonlyArray<readonly number[]>; // per input: padded dim indices
  readonly #scratch: Float64Array;
  readonly #data: unknown[];
  readonly #pending: Array<Pending | undefined> = [];
  #outstanding = 0;
  #closing: Promise<void> | undefined;
  #closed: (() => void) | undefined;
  #idle: (() => void) | undefined;

  /** @internal Use createModel() or attachModel(). */
  constructor(nativeModel: NativeBatchModel, info: Pick<NativeLoadInfo, 'inputs' | 'outputs' | 'executionProviders'>, options: Omit<NormalizedModelOptions, 'session'>, owner: boolean) {
    this.#native = nativeModel;
    this.#owner = owner;
    this.#options = options;
    const inputs = info.inputs.map(toSlot);
    const outputs = info.outputs.map(toSlot);
    this.#inputs = inputs;
    this.#shared = sharedDims(inputs);
    for (const o of outputs) this.#outputTypes.push(o.dtype!.name);
    const padded = inputs.map(() => [] as number[]);
    const padding = resolvePadding(options.padding, inputs);
    padding.forEach((p, i) => { if (p) padded[i] = p.dims; });
    this.#padded = padded;
    // An output dim whose symbolic name is that of a padded input dim is cut back per request.
    this.#cuts = outputs.map((o) => {
      const cuts: Cut[] = [];
      o.shape.forEach((name, outDim) => {
        if (outDim === 0 || typeof name !== 'string') return;
        inputs.forEach((s, input) => {
          for (const inputDim of padded[input]!) if (s.shape[inputDim] === name && !cuts.some((c) => c.outDim === outDim)) cuts.push({ outDim, input, inputDim });
        });
      });
      return cuts;
    });
    let scratchLength = 3;
    for (const s of inputs) scratchLength += s.shape.length;
    this.#scratch = new Float64Array(scratchLength);
    this.#data = new Array(inputs.length);
    nativeModel.setScratch(this.#scratch);
    this.inputNames = Object.freeze(inputs.map((s) => s.name));
    this.outputNames = Object.freeze(outputs.map((s) => s.name));
    this.inputMetadata = Object.freeze(inputs.map(toMetadata));
    this.outputMetadata = Object.freeze(outputs.map(toMetadata));
    this.executionProviders = Object.freeze([...info.executionProviders]);
  }

  /** The largest batch the batcher forms now, in rows (0: no batching). */
  get maxBatchSize(): number {
    return this.#options.batcher.maxBatchSize === 0 ? 0 : this.stats().maxBatchSize;
  }

  /** This env's requests not yet answered. */
  get pendingRequests(): number {
    return this.#outstanding;
  }

  /**
   * Queues one request and resolves with its outputs, like session.run() but batched with
   * other requests. Each feed carries the request's rows in its first dim (1 or more; all
   * inputs the same); with maxBatchSize 0, feeds are the model's full inputs.
   *
   * @example
   * const model = await createModel('ctr.onnx', { maxBatchSize: 64, maxQueueDelayUs: 200 });
   * const { y } = await model.infer({ x: new Tensor('float32', features, [1, 64]) }, { timeoutUs: 5000 });
   */
  infer(feeds: Readonly<Record<string, unknown>>, options?: InferOptions): Promise<Record<string, Tensor>> {
    try {
      return this.#infer(feeds, options);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  #infer(feeds: Readonly<Record<string, unknown>>, options: InferOptions | undefined): Promise<Record<string, Tensor>> {
    if (this.#closing) throw new OrtexError('ERR_MODEL_CLOSED', 'The model is closed or closing and accepts no new requests');
    if (!isObject(feeds) || Array.isArray(feeds)) throw invalidType('an object of { inputName: Tensor }', 'feeds', feeds, 'ERR_INPUT_TYPE');
    const o = this.#options;
    let timeoutUs = o.defaultTimeoutUs;
    let priority = o.defaultPriority;
    let signal: AbortSignal | undefined;
    if (options !== undefined) {
      if (!isObject(options)) throw invalidType('an options object', 'infer() options', options);
      if (options.timeoutUs !== undefined) {
        if (!isInteger(options.timeoutUs) || options.timeoutUs < 0 || options.timeoutUs > 1e12) throw invalidRange('an integer number of µs >= 0', 'timeoutUs', options.timeoutUs);
        timeoutUs = options.timeoutUs;
      }
      if (options.priority !== undefined) {
        if (!isInteger(options.priority) || options.priority < 1 || options.priority > o.batcher.priorityLevels) {
          throw invalidRange(`an integer from 1 to ${o.batcher.priorityLevels} (priorityLevels)`, 'priority', options.priority);
        }
        priority = options.priority;
      }
      if (options.signal !== undefined) {
        if (!(options.signal instanceof AbortSignal)) throw invalidType('an AbortSignal', 'signal', options.signal);
        signal = options.signal;
        if (signal.aborted) return Promise.reject(new OrtexError('ERR_REQUEST_ABORTED', 'The request was aborted before it was queued'));
      }
    }
    const sc = this.#scratch;
    sc[0] = priority - 1;
    sc[1] = timeoutUs;
    const batched = o.batcher.maxBatchSize > 0;
    const inputs = this.#inputs;
    let rows = -1;
    let p = 3;
    let given = 0;
    for (const name in feeds) given++;
    for (let i = 0; i < inputs.length; i++) {
      const slot = inputs[i]!;
      const v = feeds[slot.name];
      if (v === undefined) {
        throw new OrtexError('ERR_INPUT_MISSING', `Missing input '${slot.name}'; the model's inputs are: ${this.inputNames.join(', ')}`);
      }
      checkTensor(slot, v);
      const dims = v.dims;
      if (batched) {
        if (dims.length === 0) throw new OrtexError('ERR_INPUT_SHAPE', `Input '${slot.name}' needs a first (batch) dim`);
        if (rows === -1) rows = dims[0]!;
        else if (dims[0] !== rows) {
          throw new OrtexError('ERR_INPUT_SHAPE', `Every input of a request must have the same number of rows (first dim): '${inputs[0]!.name}' has ${rows}, '${slot.name}' has ${dims[0]}`);
        }
      }
      for (let d = 0; d < dims.length; d++) sc[p + d] = dims[d]!;
      p += dims.length;
      this.#data[i] = v.data;
    }
    if (this.#shared.length > 0) checkSharedDims(inputs, this.#shared, (i) => (feeds[inputs[i]!.name] as Tensor).dims);
    if (given !== inputs.length) {
      for (const name in feeds) {
        if (!inputs.some((s) => s.name === name)) throw new OrtexError('ERR_INPUT_NAME', `Unknown input '${name}'; the model's inputs are: ${this.inputNames.join(', ')}`);
      }
    }
    if (batched) {
      if (rows < 1) throw new OrtexError('ERR_INPUT_SHAPE', `A request needs at least one row (first dim) but '${inputs[0]!.name}' has ${rows}`);
      if (rows > o.batcher.maxBatchSize) {
        throw new OrtexError('ERR_INPUT_SHAPE', `A request of ${rows} rows exceeds the model's maxBatchSize of ${o.batcher.maxBatchSize}; split it`);
      }
    }
    sc[2] = batched ? rows : 1;
    let slotId: number;
    try {
      const d = this.#data;
      const n = this.#native;
      slotId = d.length === 1 ? n.enqueue(d[0]) : d.length === 2 ? n.enqueue(d[0], d[1]) : n.enqueue(...d);
    } catch (err) {
      throw fromNative(err);
    }
    this.#outstanding++;
    let own: number[] | undefined;
    if (this.#cuts.some((c) => c.length > 0)) {
      own = [];
      for (let i = 0; i < inputs.length; i++) for (const d of this.#padded[i]!) own.push((feeds[inputs[i]!.name] as Tensor).dims[d]!);
    }
    return new Promise<Record<string, Tensor>>((resolve, reject) => {
      const pending: Pending = { resolve, reject, settled: false, signal, onAbort: undefined, timeoutUs, own };
      if (signal) {
        pending.onAbort = () => {
          if (!pending.settled && this.#native.cancel(slotId)) {
            pending.settled = true;
            reject(new OrtexError('ERR_REQUEST_ABORTED', 'The request was aborted by its AbortSignal while queued'));
          }
        };
        signal.addEventListener('abort', pending.onAbort, { once: true });
      }
      this.#pending[slotId] = pending;
    });
  }

  /** @internal The native side's completion callback: once per batch (per env). */
  onComplete(meta: Float64Array, outputs: Encoded[] | null, errors: Array<[string, string] | undefined> | null, closed: boolean): void {
    if (closed) {
      this.#closed?.();
      return;
    }
    const n = meta[0]!;
    const batched = this.#options.batcher.maxBatchSize > 0;
    for (let i = 0; i < n; i++) {
      const slotId = meta[1 + 4 * i]!;
      const status = meta[2 + 4 * i]!;
      const p = this.#pending[slotId];
      this.#pending[slotId] = undefined;
      this.#outstanding--;
      if (!p || p.settled) continue;
      p.settled = true;
      if (p.onAbort) p.signal!.removeEventListener('abort', p.onAbort);
      if (status === STATUS_OK && outputs) {
        p.resolve(this.#result(outputs, batched, meta[3 + 4 * i]!, meta[4 + 4 * i]!, p.own));
      } else if (status === STATUS_TIMEOUT) {
        p.reject(new OrtexError('ERR_REQUEST_TIMEOUT', `The request waited in the queue past its timeout of ${p.timeoutUs} µs`));
      } else if (status === STATUS_CLOSED) {
        p.reject(new OrtexError('ERR_MODEL_CLOSED', 'The model was closed before the request ran'));
      } else if (status === STATUS_FAILED) {
        const [code, message] = errors?.[i] ?? ['ERR_ORT_FAIL', 'The batch failed'];
        p.reject(fromNative({ code: isErrorCode(code) ? code : 'ERR_ORT_FAIL', message }));
      } else if (status !== STATUS_CANCELLED) {
        p.reject(new OrtexError('ERR_ORT_FAIL', `Unexpected request status ${status}`));
      }
    }
    if (this.#outstanding === 0) this.#idle?.();
  }

  #result(outputs: Encoded[], batched: boolean, row0: number, rows: number, own: number[] | undefined): Record<string, Tensor> {
    const out: Record<string, Tensor> = {};
    for (let k = 0; k < outputs.length; k++) {
      const [, data, dims] = outputs[k]!;
      const type = this.#outputTypes[k]!;
      const name = this.outputNames[k]!;
      if (!batched) {
        out[name] = Tensor.fromNative(type, data, dims);
        continue;
      }
      const myDims = dims.slice();
      myDims[0] = rows;
      const cuts = this.#cuts[k]!;
      let cut = false;
      if (own && cuts.length > 0) {
        for (const c of cuts) {
          const size = own[this.#ownIndex(c)]!;
          if (size !== myDims[c.outDim]) {
            myDims[c.outDim] = size;
            cut = true;
          }
        }
      }
      const perRow = dims[0]! > 0 ? data.length / dims[0]! : 0;
      const view = cut
        ? cutBlock(data, dims, row0, myDims)
        : Array.isArray(data) ? data.slice(row0 * perRow, (row0 + rows) * perRow) : (data as Float32Array).subarray(row0 * perRow, (row0 + rows) * perRow);
      out[name] = Tensor.fromNative(type, view as TensorData, myDims);
    }
    return out;
  }

  #ownIndex(c: Cut): number {
    let at = 0;
    for (let i = 0; i < c.input; i++) at += this.#padded[i]!.length;
    return at + this.#padded[c.input]!.indexOf(c.inputDim);
  }

  /** Counters and histograms of the batcher (shared by every env attached to it). */
  stats(): ModelStats {
    return decodeStats(this.#native.stats());
  }

  /** Changes batch formation on the live model; requests in flight are not disturbed. */
  configure(options: { maxBatchSize?: number; maxQueueDelayUs?: number }): void {
    if (!isObject(options)) throw invalidType('an options object', 'configure()', options, 'ERR_OPTION_INVALID');
    const { maxBatchSize, maxQueueDelayUs } = options;
    if (maxBatchSize !== undefined) {
      if (this.#options.batcher.maxBatchSize === 0) throw new OrtexError('ERR_OPTION_INVALID', 'maxBatchSize cannot be changed on a model created with maxBatchSize: 0 (no batch dim)');
      if (!isInteger(maxBatchSize) || maxBatchSize < 1 || maxBatchSize > 2 ** 24) throw invalidRange('an integer from 1 to 2^24', 'maxBatchSize', maxBatchSize, 'ERR_OPTION_INVALID');
    }
    if (maxQueueDelayUs !== undefined && (!isInteger(maxQueueDelayUs) || maxQueueDelayUs < 0 || maxQueueDelayUs > 1e12)) {
      throw invalidRange('an integer number of µs >= 0', 'maxQueueDelayUs', maxQueueDelayUs, 'ERR_OPTION_INVALID');
    }
    this.#native.configure(maxBatchSize ?? -1, maxQueueDelayUs ?? -1);
    if (maxBatchSize !== undefined) this.#options.batcher.maxBatchSize = maxBatchSize;
    if (maxQueueDelayUs !== undefined) this.#options.batcher.maxQueueDelayUs = maxQueueDelayUs;
  }

  /**
   * Test hook: forms no batch until `n` requests are queued, then sends those without
   * waiting for the queue delay (one shot). Makes batch composition deterministic.
   */
  holdUntil(n: number): void {
    if (!isInteger(n) || n < 0) throw invalidRange('an integer >= 0', 'holdUntil()', n);
    this.#native.hold(n);
  }

  /** A handle a worker_thread passes to attachModel() to queue into this same batcher. */
  share(): SharedModel {
    return { handle: this.#native.share(), options: structuredClone(this.#options) };
  }

  /**
   * Stops intake at once (infer() rejects with ERR_MODEL_CLOSED) and resolves when every
   * queued request has been answered: run (drain, the default) or rejected with
   * ERR_MODEL_CLOSED (drain: false). Releases the sessions. In a worker that attached, it
   * waits for this worker's own requests and detaches.
   */
  close(options: { drain?: boolean } = {}): Promise<void> {
    if (this.#closing) return this.#closing;
    const drain = options.drain ?? true;
    if (this.#owner) {
      this.#closing = new Promise<void>((resolve) => {
        this.#closed = () => {
          this.#native.join();
          resolve();
        };
      });
      try {
        this.#native.close(drain);
      } catch (err) {
        this.#closing = Promise.reject(fromNative(err));
      }
    } else {
      this.#closing = (this.#outstanding === 0 ? Promise.resolve() : new Promise<void>((resolve) => { this.#idle = resolve; })).then(() => this.#native.join());
    }
    return this.#closing;
  }
}

/** A native model whose completions reach the Model bound to it later. */
function newNative(): { nativeModel: NativeBatchModel; bind: (m: Model) => void } {
  let model: Model | undefined;
  const nativeModel = new native.BatchModel((meta, outputs, errors, closed) => model?.onComplete(meta, outputs as Encoded[] | null, errors, closed));
  return { nativeModel, bind: (m) => { model = m; } };
}

/**
 * Loads a model behind a dynamic batcher. Options are any InferenceSession option plus the
 * batcher's (see BatcherOptions).
 *
 * @example
 * const model = await createModel('models/out/ctr_mlp.onnx', { maxBatchSize: 64, maxQueueDelayUs: 200, instances: 2 });
 * const { y } = await model.infer({ x: new Tensor('float32', new Float32Array(64), [1, 64]) });
 * await model.close();
 */
export async function createModel(model: string | Uint8Array, options?: ModelOptions): Promise<Model> {
  if (isString(model)) {
    if (!existsSync(model)) throw new OrtexError('ERR_MODEL_NOT_FOUND', `Model file not found: ${model}`);
    if (statSync(model).isDirectory()) throw new OrtexError('ERR_MODEL_NOT_FOUND', `Expected a model file but ${model} is a directory`);
  } else if (!(model instanceof Uint8Array)) {
    throw invalidType('a model path or a Uint8Array of model bytes', 'createModel()', model);
  } else if (model.byteLength === 0) {
    throw new OrtexError('ERR_MODEL_INVALID', 'Expected ONNX model bytes but received an empty buffer');
  }
  const normalized = normalizeModelOptions(options);
  const { session, ...rest } = normalized;
  const { nativeModel, bind } = newNative();
  const what = isString(model) ? model : 'the model bytes';
  let info: NativeLoadInfo;
  try {
    info = await nativeModel.load(model, session, rest.batcher.instances);
  } catch (err) {
    const e = err as { code?: string; message?: string };
    if (e?.code === 'ERR_ORT_NO_SUCHFILE') throw new OrtexError('ERR_MODEL_NOT_FOUND', `Model file not found: ${what}`, { cause: err });
    if (e?.code === 'ERR_ORT_INVALID_PROTOBUF' || e?.code === 'ERR_ORT_NO_MODEL' || /protobuf parsing failed/i.test(e?.message ?? '')) {
      throw new OrtexError('ERR_MODEL_INVALID', `Could not load ${what}: it is not a valid ONNX model. ONNX Runtime: ${e?.message}`, { cause: err });
    }
    throw fromNative(err, e?.message?.includes(what) ? undefined : `Could not load ${what}`);
  }
  let m: Model;
  try {
    // Padding names inputs and dims that only the loaded model's metadata resolves.
    const padding = resolvePadding(rest.padding, info.inputs.map(toSlot));
    nativeModel.start({ ...rest.batcher, padding });
    m = new Model(nativeModel, info, rest, true);
  } catch (err) {
    nativeModel.discard();
    throw fromNative(err);
  }
  for (const w of info.warnings) process.emitWarning(w, { code: 'ORTEX_EP_FALLBACK' });
  bind(m);
  return m;
}

/**
 * Joins, from a worker_thread, a model another thread created and shared: requests queue
 * into the same batcher, so they batch with everyone else's.
 *
 * @example
 * // main: worker.postMessage(model.share());   worker: const model = attachModel(msg);
 */
export function attachModel(shared: SharedModel): Model {
  if (!isObject(shared) || !isInteger(shared.handle) || !isObject(shared.options)) throw invalidType('what Model#share() returned', 'attachModel()', shared);
  const { nativeModel, bind } = newNative();
  let info: NativeLoadInfo;
  try {
    info = nativeModel.attach(shared.handle);
  } catch (err) {
    throw fromNative(err);
  }
  const m = new Model(nativeModel, info, structuredClone(shared.options), false);
  bind(m);
  return m;
}
