/**
 * InferenceSession: onnxruntime-node's API over ortex's native session, plus runSync(),
 * I/O binding, cancellation and timeouts. Inputs are validated here against the model's
 * metadata before ONNX Runtime is called, so a bad feed fails with a message naming the
 * input, what it expected and what arrived.
 */

import { existsSync, statSync } from 'node:fs';
import { RunWaiter } from './busy-wait.js';
import { OrtexError, fromNative } from './errors.js';
import { KIND_TENSOR, type Slot, type ValueMetadata, checkTensor, encodeTensor, toMetadata, toSlot } from './feeds.js';
import { type TypedArray, dtypeByOnnx } from './dtypes.js';
import { Tensor as OrtexTensor, type TensorData } from './tensor.js';
import { IoBinding } from './io-binding.js';
import { type EncodedValue, type NativeLoadInfo, type NativeProviderAttempt, type NativeRunOptions, type NativeSession, native } from './native.js';
import { type NormalizedSessionOptions, type SessionOptions, normalizeSessionOptions } from './session-options.js';
import { invalidType, isObject, isString } from './validate.js';
import { type OnnxValue, decodeValue, encodeComposite } from './values.js';

export type { ValueMetadata } from './feeds.js';

export interface RunOptions {
  logSeverityLevel?: 0 | 1 | 2 | 3 | 4;
  logVerbosityLevel?: number;
  tag?: string;
  /** Run config entries (AddRunConfigEntry). */
  extra?: Record<string, string | number | boolean>;
  /** Cancels the run (run() only): it rejects with ERR_RUN_CANCELLED. */
  signal?: AbortSignal;
  /** Terminates the run after this long (run() only): it rejects with ERR_RUN_TIMEOUT. */
  timeoutMs?: number;
}

export type FeedsType = Readonly<Record<string, OnnxValue | import('./values.js').TensorLike>>;
export type FetchesType = readonly string[] | Readonly<Record<string, OrtexTensor | null>>;
export type ReturnType = Record<string, OnnxValue>;

/** Maps a native run error (raised on a worker or in runSync) to a typed ortex error. */
function runError(err: unknown, state: { cancelled: boolean; timedOut: boolean; timeoutMs?: number }): Error {
  if (state.timedOut) return new OrtexError('ERR_RUN_TIMEOUT', `The run exceeded its timeout of ${state.timeoutMs} ms and was terminated`, { cause: err });
  if (state.cancelled) return new OrtexError('ERR_RUN_CANCELLED', 'The run was cancelled by its AbortSignal', { cause: err });
  return fromNative(err);
}

function loadError(err: unknown, source: string): Error {
  const e = err as { code?: string; message?: string };
  const msg = e?.message ?? String(err);
  if (e?.code === 'ERR_ORT_NO_SUCHFILE') return new OrtexError('ERR_MODEL_NOT_FOUND', `Model file not found: ${source}`, { cause: err });
  if (e?.code === 'ERR_ORT_INVALID_PROTOBUF' || e?.code === 'ERR_ORT_NO_MODEL' || /protobuf parsing failed/i.test(msg)) {
    return new OrtexError('ERR_MODEL_INVALID', `Could not load ${source}: it is not a valid ONNX model (truncated or another format). ONNX Runtime: ${msg}`, { cause: err });
  }
  // ORT's load messages usually name the file already ("Load model from X failed: ...").
  return fromNative(err, msg.includes(source) ? undefined : `Could not load ${source}`);
}

const warned = new Set<string>();

/** Doubles in each session's scratch; kMaxFastRank in native/sync_reuse.h. */
const SCRATCH_LENGTH = 4096;
/** Bytes of each session's output scratch: kScratchOutputBytes of native/value_convert.h, twice. */
const OUT_SCRATCH_BYTES = 8192;
/**
 * Result slots for run()s in flight at once (Session::setSlots in native/session.cc): each
 * has SLOT_META doubles of descriptors and OUT_SCRATCH_BYTES for small outputs. A run that
 * finds none free gets its results in arrays of its own, as before slots.
 */
const ASYNC_SLOTS = 4;
const SLOT_META = 256;
const MAX_FAST_RANK = 16;

/** Calls a native method with the first `n` feeds' data as arguments, without a spread for 1–2 inputs. */
function callNative<R>(self: NativeSession | undefined, fn: (...a: unknown[]) => R, data: unknown[], n: number): R {
  switch (n) {
    // With no receiver, a direct call rather than Function.prototype.call: together with the
    // input guess in #writeScratch(), 0.2–0.3 µs less per runSync() (same-process A/B, ctr_mlp).
    case 1: return self === undefined ? fn(data[0]) : fn.call(self, data[0]);
    case 2: return fn.call(self, data[0], data[1]);
    default: return fn.apply(self, data.slice(0, n));
  }
}

/** meta[p, p + rank) as a packed number[]: new Array(rank) would be holey, and pushing onto [] grows it. */
function dimsAt(meta: Float64Array, p: number, rank: number): number[] {
  switch (rank) {
    case 1: return [meta[p]!];
    case 2: return [meta[p]!, meta[p + 1]!];
    case 3: return [meta[p]!, meta[p + 1]!, meta[p + 2]!];
    default: return Array.from(meta.subarray(p, p + rank));
  }
}

/** How many of a session's result slots are free (all of them when no run() is in flight); for tests. */
export let freeResultSlots: (session: InferenceSession) => number;

export class InferenceSession {
  static {
    freeResultSlots = (session) => {
      let n = 0;
      for (let free = session.#freeSlots; free !== 0; free &= free - 1) n++;
      return n;
    };
  }

  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  readonly inputMetadata: readonly ValueMetadata[];
  readonly outputMetadata: readonly ValueMetadata[];
  /** Providers the session actually runs on, in priority order ('cpu' last). */
  readonly executionProviders: readonly string[];
  /** Every provider asked for, the ORT option keys it was given, and why it failed if it did. */
  readonly providerReport: readonly NativeProviderAttempt[];

  readonly #native: NativeSession;
  readonly #inputs: Map<string, Slot>;
  /** The inputs in the model's order. */
  readonly #inputList: readonly Slot[];
  readonly #outputIndex: Map<string, number>;
  readonly #allOutputs: number[];
  readonly #requiredInputs: number;
  /** Shared with the native session for the fast calling convention; null when an input is not a tensor. */
  readonly #scratch: Float64Array | null;
  /**
   * Where runSyncT() copies small outputs, and views of it by ONNX element type (made on
   * first use): a `slice()` of one makes the output's array in JS, which for up to 64 bytes
   * lives on V8's heap, with no backing store to allocate and sweep as a native one has.
   */
  readonly #outBytes = new Uint8Array(OUT_SCRATCH_BYTES * (1 + ASYNC_SLOTS));
  /** Descriptors of the results of run()s in flight, SLOT_META per slot; their bytes follow the runSync() part of #outBytes. */
  readonly #slotMeta = new Float64Array(SLOT_META * ASYNC_SLOTS);
  /** Bit i set: slot i is free. */
  #freeSlots = (1 << ASYNC_SLOTS) - 1;
  readonly #outViews: Array<TypedArray | undefined> = [];
  /** native.runSyncT bound to the session (native.bindRunSync()); null without a scratch. */
  readonly #runSyncT: ((...data: unknown[]) => unknown) | null;
  readonly #data: unknown[] = [];
  /**
   * True while native code reads the scratch (runSyncT, or runT until it returns its
   * promise). User JS can run meanwhile (a getter on a string feed's element); a run() or
   * runSync() of this session made from there takes the general path, so that it does not
   * overwrite the descriptors the outer call is still reading.
   */
  #inFastCall = false;
  /** Scratch fills begun (#writeScratch), so that a fill can tell one made inside it. */
  #fills = 0;
  #dataCount = 0;
  /** How the event loop waits for this session's runs (busy-wait.ts). */
  readonly #waiter: RunWaiter;
  #released = false;

  private constructor(nativeSession: NativeSession, info: NativeLoadInfo, options: NormalizedSessionOptions) {
    this.#waiter = new RunWaiter(options.busyWaitUs);
    this.#native = nativeSession;
    const inputs = info.inputs.map(toSlot);
    const outputs = info.outputs.map(toSlot);
    this.#inputs = new Map(inputs.map((s) => [s.name, s]));
    this.#inputList = inputs;
    this.#outputIndex = new Map(outputs.map((s) => [s.name, s.index]));
    this.#allOutputs = outputs.map((s) => s.index);
    this.#requiredInputs = inputs.filter((s) => !s.optional).length;
    this.#scratch = inputs.every((s) => s.kind === KIND_TENSOR && s.dtype) ? new Float64Array(SCRATCH_LENGTH) : null;
    if (this.#scratch) {
      nativeSession.setScratch(this.#scratch, this.#outBytes.subarray(0, OUT_SCRATCH_BYTES));
      nativeSession.setSlots(this.#slotMeta, this.#outBytes.subarray(OUT_SCRATCH_BYTES), ASYNC_SLOTS);
    }
    this.#runSyncT = this.#scratch ? nativeSession.bindRunSync() : null;
    this.inputNames = Object.freeze(inputs.map((s) => s.name));
    this.outputNames = Object.freeze(outputs.map((s) => s.name));
    this.inputMetadata = Object.freeze(inputs.map(toMetadata));
    this.outputMetadata = Object.freeze(outputs.map(toMetadata));
    this.executionProviders = Object.freeze(info.executionProviders);
    this.providerReport = Object.freeze(info.providerAttempts);
  }

  /**
   * Loads a model from a path or its bytes. Parsing and optimizing happen off the JS thread.
   *
   * @example
   * const session = await InferenceSession.create('model.onnx', { intraOpNumThreads: 1 });
   * const { y } = await session.run({ x: new Tensor('float32', new Float32Array(64), [1, 64]) });
   */
  static async create(model: string | Uint8Array | ArrayBufferLike, options?: SessionOptions): Promise<InferenceSession>;
  static async create(buffer: ArrayBufferLike, byteOffset: number, byteLength?: number, options?: SessionOptions): Promise<InferenceSession>;
  static async create(model: unknown, a?: unknown, b?: unknown, c?: unknown): Promise<InferenceSession> {
    let source: string | Uint8Array;
    let options: unknown = a;
    if (isString(model)) {
      if (!existsSync(model)) throw new OrtexError('ERR_MODEL_NOT_FOUND', `Model file not found: ${model}`);
      if (statSync(model).isDirectory()) throw new OrtexError('ERR_MODEL_NOT_FOUND', `Expected a model file but ${model} is a directory`);
      source = model;
    } else if (model instanceof Uint8Array) {
      source = model;
    } else if (model instanceof ArrayBuffer || (typeof SharedArrayBuffer !== 'undefined' && model instanceof SharedArrayBuffer)) {
      if (typeof a === 'number') {
        const length = typeof b === 'number' ? b : model.byteLength - a;
        source = new Uint8Array(model, a, length);
        options = typeof b === 'number' ? c : b;
      } else {
        source = new Uint8Array(model);
      }
    } else {
      throw invalidType('a model path, Uint8Array or ArrayBuffer', 'InferenceSession.create()', model);
    }
    if (source instanceof Uint8Array && source.byteLength === 0) {
      throw new OrtexError('ERR_MODEL_INVALID', 'Expected ONNX model bytes but received an empty buffer');
    }
    if (options !== undefined && !isObject(options)) throw invalidType('an options object', 'session options', options, 'ERR_OPTION_INVALID');
    const normalized = normalizeSessionOptions(options as SessionOptions | undefined);
    const nativeSession = new native.Session();
    const what = isString(source) ? source : 'the model bytes';
    let info: NativeLoadInfo;
    try {
      info = await nativeSession.load(source, normalized);
    } catch (err) {
      throw loadError(err, what);
    }
    for (const w of info.warnings) {
      if (warned.has(w)) continue;
      warned.add(w);
      process.emitWarning(w, { code: 'ORTEX_EP_FALLBACK' });
    }
    return new InferenceSession(nativeSession, info, normalized);
  }

  #check(): void {
    if (this.#released) throw new OrtexError('ERR_SESSION_RELEASED', 'The session has been released; create a new one');
  }

  #slot(name: string): Slot {
    const slot = this.#inputs.get(name);
    if (slot === undefined) {
      throw new OrtexError('ERR_INPUT_NAME', `Unknown input '${name}'; the model's inputs are: ${this.inputNames.join(', ')}`);
    }
    return slot;
  }

  #encodeFeeds(feeds: unknown, idx: number[], values: EncodedValue[]): void {
    if (!isObject(feeds) || Array.isArray(feeds)) throw invalidType('an object of { inputName: Tensor }', 'feeds', feeds, 'ERR_INPUT_TYPE');
    let required = 0;
    for (const name in feeds) {
      const slot = this.#slot(name);
      const v = (feeds as Record<string, unknown>)[name];
      idx.push(slot.index);
      values.push(slot.kind === KIND_TENSOR && slot.dtype ? encodeTensor(slot, v) : encodeComposite(v, slot.description, `input '${name}'`));
      if (!slot.optional) required++;
    }
    if (required !== this.#requiredInputs) this.#throwMissing(feeds);
  }

  /**
   * Validates tensor feeds and writes their descriptors into the scratch (the fast calling
   * convention of native/session.cc), leaving their data in #data. False when the call does
   * not fit (a rank or a count too large), is nested in a fast call still reading the
   * scratch (#inFastCall), or had the scratch used by a call made from a feed's getter while
   * it read the feeds; the caller then takes the general path.
   */
  #writeScratch(feeds: unknown, outIdx: number[]): boolean {
    if (this.#inFastCall) return false;
    if (!isObject(feeds) || Array.isArray(feeds)) throw invalidType('an object of { inputName: Tensor }', 'feeds', feeds, 'ERR_INPUT_TYPE');
    // Reading a feed can run user JS (a getter on the feeds object or on a tensor), and a
    // run() or runSync() of this session made from there fills the scratch too, over the
    // descriptors written so far: each fill counts itself, and one that sees the count move
    // under it gives up. (That is an increment and a compare; marking the scratch busy in a
    // try/finally instead measured 0.1–0.26 µs a call slower in a same-process A/B.)
    const fill = ++this.#fills;
    const sc = this.#scratch!;
    const data = this.#data;
    const order = this.#inputList;
    let n = 0; // not data.length = 0: truncating an array is a runtime call in V8
    let p = 2;
    for (const name in feeds) {
      // Feeds usually come in the model's order: check that guess before the Map.
      const guess = order[n];
      const slot = guess !== undefined && guess.name === name ? guess : this.#slot(name);
      const v = (feeds as Record<string, unknown>)[name];
      checkTensor(slot, v);
      const dims = v.dims;
      // The last element is not a descriptor's: it names run()'s result slot.
      if (dims.length > MAX_FAST_RANK || p + 3 + dims.length + outIdx.length > sc.length - 1) return false;
      sc[p] = slot.index;
      sc[p + 1] = slot.dtype!.onnx;
      sc[p + 2] = dims.length;
      for (let d = 0; d < dims.length; d++) sc[p + 3 + d] = dims[d]!;
      p += 3 + dims.length;
      data[n++] = v.data;
    }
    if (n !== this.#requiredInputs) this.#throwMissing(feeds);
    if (this.#fills !== fill) return false;
    this.#dataCount = n;
    sc[0] = n;
    sc[1] = outIdx.length;
    for (let i = 0; i < outIdx.length; i++) sc[p + i] = outIdx[i]!;
    return true;
  }

  /** A fast native call (runSyncT, or runT until it returns its promise), marked as in progress. */
  #callFast<R>(self: NativeSession | undefined, fn: (...a: unknown[]) => R): R {
    this.#inFastCall = true;
    try {
      return callNative(self, fn, this.#data, this.#dataCount);
    } finally {
      this.#inFastCall = false;
    }
  }

  #throwMissing(feeds: object): never {
    const missing = [...this.#inputs.values()].filter((s) => !s.optional && !(s.name in feeds)).map((s) => s.name);
    throw new OrtexError('ERR_INPUT_MISSING', `Missing input${missing.length > 1 ? 's' : ''} ${missing.map((m) => `'${m}'`).join(', ')}; the model needs: ${this.inputNames.join(', ')}`);
  }

  /**
   * Builds results from the fast convention: meta [kind, type, rank, dims...] per output,
   * then [byteOffset, length] for kind 2 (bytes in #outBytes). `data` is the outputs' data,
   * or with `single` the one output's data itself.
   */
  #collectFast(meta: Float64Array, data: unknown, outIdx: number[], single: boolean, p0 = 0, base = 0): ReturnType {
    const result: ReturnType = {};
    let p = p0;
    for (let i = 0; i < outIdx.length; i++) {
      const name = this.outputNames[outIdx[i]!]!;
      const kind = meta[p++];
      const own = single ? data : (data as ArrayLike<unknown>)[i];
      if (kind === 0) {
        result[name] = decodeValue(own as EncodedValue);
        continue;
      }
      const onnx = meta[p++]!;
      const dt = dtypeByOnnx(onnx)!;
      const rank = meta[p++]!;
      const dims = dimsAt(meta, p, rank);
      p += rank;
      let values = own as TensorData;
      if (kind === 2) {
        const view = this.#outViews[onnx] ?? this.#outView(onnx, dt.array!);
        const start = (base + meta[p++]!) / view.BYTES_PER_ELEMENT;
        values = view.slice(start, start + meta[p++]!) as TensorData;
      }
      result[name] = OrtexTensor.fromNative(dt.name, values, dims);
    }
    return result;
  }

  #outView(onnx: number, Ctor: new (buffer: ArrayBufferLike) => TypedArray): TypedArray {
    const view = new Ctor(this.#outBytes.buffer);
    this.#outViews[onnx] = view;
    return view;
  }

  #outputIndices(fetches: FetchesType | undefined): number[] {
    if (fetches === undefined) return this.#allOutputs;
    const names = Array.isArray(fetches) ? (fetches as readonly string[]) : Object.keys(fetches);
    return names.map((name) => {
      const i = isString(name) ? this.#outputIndex.get(name) : undefined;
      if (i === undefined) throw new OrtexError('ERR_OUTPUT_NAME', `Unknown output '${String(name)}'; the model's outputs are: ${this.outputNames.join(', ')}`);
      return i;
    });
  }

  #collect(encoded: EncodedValue[], outIdx: number[], fetches: FetchesType | undefined): ReturnType {
    const result: ReturnType = {};
    for (let i = 0; i < encoded.length; i++) {
      const name = this.outputNames[outIdx[i]!]!;
      const value = decodeValue(encoded[i]!);
      const pre = fetches && !Array.isArray(fetches) ? (fetches as Record<string, OrtexTensor | null>)[name] : null;
      if (pre && value && 'data' in value && pre.data && ArrayBuffer.isView(pre.data)) {
        // onnxruntime-node semantics for pre-allocated fetches: the result lands in the caller's tensor.
        (pre.data as unknown as { set(a: ArrayLike<unknown>): void }).set(value.data as ArrayLike<unknown>);
        result[name] = pre;
      } else {
        result[name] = value;
      }
    }
    return result;
  }

  #parseRunOptions(options: RunOptions | undefined): { ro: NativeRunOptions | null; o: RunOptions } {
    if (options === undefined) return { ro: null, o: {} };
    if (!isObject(options)) throw invalidType('a RunOptions object', 'run options', options);
    const { signal, timeoutMs, tag, logSeverityLevel, logVerbosityLevel, extra } = options;
    if (timeoutMs !== undefined && !(typeof timeoutMs === 'number' && timeoutMs > 0)) throw invalidType('a positive number of ms', 'timeoutMs', timeoutMs);
    if (signal !== undefined && !(signal instanceof AbortSignal)) throw invalidType('an AbortSignal', 'signal', signal);
    if (tag === undefined && logSeverityLevel === undefined && logVerbosityLevel === undefined && extra === undefined && !signal && !timeoutMs) {
      return { ro: null, o: options };
    }
    const configEntries = extra ? Object.entries(extra).map(([k, v]) => [k, String(v)]) : undefined;
    return { ro: new native.RunOptions({ tag, logSeverityLevel, logVerbosityLevel, configEntries }), o: options };
  }

  /** A free result slot for a run(), taken; -1 when all are in use. */
  #takeSlot(): number {
    const free = this.#freeSlots;
    if (free === 0) return -1;
    this.#freeSlots = free & (free - 1);
    return 31 - Math.clz32(free & -free);
  }

  /**
   * Runs the model off the JS thread. Inputs are copied before the promise is returned, so
   * the caller may reuse its arrays at once. Large outputs wrap ONNX Runtime's buffers (no
   * copy); small ones come back through one of the session's result slots and are copied
   * out of it, as runSync() does from its scratch.
   */
  async run(feeds: FeedsType, fetches?: FetchesType | RunOptions, options?: RunOptions): Promise<ReturnType> {
    this.#check();
    if (fetches !== undefined && !Array.isArray(fetches) && options === undefined && isRunOptionsLike(fetches, this.#outputIndex)) {
      options = fetches as RunOptions;
      fetches = undefined;
    }
    const outIdx = this.#outputIndices(fetches as FetchesType | undefined);
    const preallocated = fetches !== undefined && !Array.isArray(fetches);
    if (options === undefined && !preallocated && this.#scratch && this.#writeScratch(feeds, outIdx)) {
      const slot = this.#takeSlot();
      this.#scratch[this.#scratch.length - 1] = slot;
      try {
        let r: unknown;
        const t0 = this.#waiter.begin();
        try {
          r = await this.#callFast(this.#native, this.#native.runT);
        } catch (err) {
          throw fromNative(err);
        } finally {
          this.#waiter.end(t0);
        }
        if (slot < 0) {
          const own = r as unknown[];
          return this.#collectFast(own[0] as Float64Array, own.slice(1), outIdx, false);
        }
        // As runSync()'s, with the descriptors and small outputs' bytes in the slot.
        const base = OUT_SCRATCH_BYTES * (1 + slot);
        if (isObject(r) && 'overflow' in r) {
          const all = r.overflow as unknown[];
          return this.#collectFast(all[0] as Float64Array, all.slice(1), outIdx, false, 0, base);
        }
        return this.#collectFast(this.#slotMeta, r, outIdx, outIdx.length === 1, SLOT_META * slot, base);
      } finally {
        if (slot >= 0) this.#freeSlots |= 1 << slot;
      }
    }
    const idx: number[] = [];
    const values: EncodedValue[] = [];
    this.#encodeFeeds(feeds, idx, values);
    const { ro, o } = this.#parseRunOptions(options);
    const state = { cancelled: false, timedOut: false, timeoutMs: o.timeoutMs };
    if (o.signal?.aborted) throw new OrtexError('ERR_RUN_CANCELLED', 'The run was cancelled by its AbortSignal before it started');
    let timer: NodeJS.Timeout | undefined;
    const onAbort = () => {
      state.cancelled = true;
      ro!.terminate();
    };
    let encoded: EncodedValue[];
    const t0 = this.#waiter.begin();
    try {
      const pending = this.#native.run(idx, values, outIdx, ro);
      if (o.timeoutMs) {
        timer = setTimeout(() => {
          state.timedOut = true;
          ro!.terminate();
        }, o.timeoutMs);
      }
      o.signal?.addEventListener('abort', onAbort, { once: true });
      encoded = await pending;
    } catch (err) {
      throw runError(err, state);
    } finally {
      this.#waiter.end(t0);
      if (timer) clearTimeout(timer);
      o.signal?.removeEventListener('abort', onAbort);
    }
    return this.#collect(encoded, outIdx, fetches as FetchesType | undefined);
  }

  /**
   * Runs the model on the calling thread, wrapping the caller's input memory without a copy.
   * For microbenchmarks and code that wants no thread hop; blocks the event loop meanwhile.
   */
  runSync(feeds: FeedsType, fetches?: FetchesType, options?: Omit<RunOptions, 'signal' | 'timeoutMs'>): ReturnType {
    this.#check();
    const outIdx = this.#outputIndices(fetches);
    if (options === undefined && (fetches === undefined || Array.isArray(fetches)) && this.#scratch && this.#writeScratch(feeds, outIdx)) {
      let r: unknown;
      try {
        r = this.#callFast(undefined, this.#runSyncT!);
      } catch (err) {
        throw fromNative(err);
      }
      if (isObject(r) && 'overflow' in r) {
        // More output descriptors than the scratch holds: they came in their own array.
        const all = r.overflow as unknown[];
        return this.#collectFast(all[0] as Float64Array, all.slice(1), outIdx, false);
      }
      return this.#collectFast(this.#scratch, r, outIdx, outIdx.length === 1);
    }
    const idx: number[] = [];
    const values: EncodedValue[] = [];
    this.#encodeFeeds(feeds, idx, values);
    const { ro } = this.#parseRunOptions(options);
    let encoded: EncodedValue[];
    try {
      encoded = this.#native.runSync(idx, values, outIdx, ro);
    } catch (err) {
      throw fromNative(err);
    }
    return this.#collect(encoded, outIdx, fetches);
  }

  /**
   * Binds inputs and outputs once to run many times without per-run allocation.
   * @example
   * const io = session.createIoBinding();
   * io.bindInput('x', x);         // x.data is shared with the model: update it in place
   * io.bindOutput('y', y);        // results land in y.data
   * io.runSync();
   */
  createIoBinding(): IoBinding {
    this.#check();
    return new IoBinding(this.#native, this.#inputs, this.#outputIndex);
  }

  /** Ends profiling and returns the path of the Chrome-trace JSON file ONNX Runtime wrote. */
  endProfiling(): string {
    this.#check();
    return this.#native.endProfiling();
  }

  /** Number of run() calls in flight. */
  get pendingRuns(): number {
    return this.#native.inflight;
  }

  /** Frees the session. Rejects with ERR_SESSION_BUSY while runs are in flight. */
  async release(): Promise<void> {
    if (this.#released) return;
    try {
      this.#native.release();
    } catch (err) {
      throw fromNative(err);
    }
    this.#released = true;
  }
}

/** Distinguishes run(feeds, options) from run(feeds, fetchesObject). */
function isRunOptionsLike(v: unknown, outputs: Map<string, number>): boolean {
  if (!isObject(v)) return false;
  const keys = Object.keys(v);
  return keys.length > 0 && keys.every((k) => !outputs.has(k)) &&
    keys.some((k) => ['logSeverityLevel', 'logVerbosityLevel', 'tag', 'extra', 'signal', 'timeoutMs', 'terminate'].includes(k));
}
