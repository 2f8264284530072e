/**
 * Options of createModel(): the dynamic batcher's own (Triton's dynamic_batching fields in
 * camelCase) beside any InferenceSession option, validated here so the native layer only
 * re-checks invariants.
 */

import { dtypeByOnnx } from './dtypes.js';
import { OrtexError, OrtexTypeError } from './errors.js';
import type { Slot } from './feeds.js';
import { type NormalizedSessionOptions, type SessionOptions, normalizeSessionOptions } from './session-options.js';
import { inRange, invalidRange, invalidType, isInteger, isObject } from './validate.js';

/** How requests of different lengths share a batch: padded to the longest along `dims`. */
export interface PaddingOptions {
  /** Dims to pad, by index (>= 1) or by the model's symbolic name for them (e.g. 'S'). */
  dims: ReadonlyArray<number | string>;
  /** The pad element (0 for an attention mask); default 0. */
  value?: number | bigint;
}

export interface BatcherOptions {
  /** Largest batch in rows (the model's first dim). 0: the model has no batch dim; each request runs alone. Default 32. */
  maxBatchSize?: number;
  /** How long the oldest request of a pending batch may wait for more to join it, in µs. Default 0. */
  maxQueueDelayUs?: number;
  /** Batch sizes to form when possible; the largest one goes at once, without waiting. */
  preferredBatchSizes?: readonly number[];
  /** Model instances: sessions each run by its own thread (on a GPU, its own CUDA stream). Default 1. */
  instances?: number;
  /** Requests that may wait; more are refused at once with ERR_QUEUE_FULL. 0 (default): unbounded. */
  maxQueueSize?: number;
  /** Queue timeout applied to requests that give none, in µs; 0 (default): none. */
  defaultTimeoutUs?: number;
  /** Priority levels; 1 is the highest. Default 1. */
  priorityLevels?: number;
  /** Priority of requests that give none. Default: the middle level, rounded up (Math.ceil(levels / 2)). */
  defaultPriority?: number;
  /**
   * Load-aware delay: the batcher waits for more requests only while the oldest can still be
   * answered within this many µs, by the compute time it measures and the arrival rate it
   * sees. maxQueueDelayUs, if set, still caps the wait.
   */
  latencyTargetUs?: number;
  /** Per input: pad ragged requests instead of batching only requests of equal shape. */
  padding?: Readonly<Record<string, PaddingOptions>>;
}

export type ModelOptions = SessionOptions & BatcherOptions;

/** What the native batcher reads (native/batch_model.cc JS_load). */
export interface NativeBatcherOptions {
  maxBatchSize: number;
  maxQueueDelayUs: number;
  preferredBatchSizes: number[];
  instances: number;
  maxQueueSize: number;
  priorityLevels: number;
  latencyTargetUs: number;
  padding: Array<{ dims: number[]; padBytes: Uint8Array } | null>;
}

export interface NormalizedModelOptions {
  session: NormalizedSessionOptions;
  batcher: Omit<NativeBatcherOptions, 'padding'>;
  defaultTimeoutUs: number;
  defaultPriority: number;
  padding: Readonly<Record<string, PaddingOptions>>;
}

const BATCHER_KEYS = new Set([
  'maxBatchSize', 'maxQueueDelayUs', 'preferredBatchSizes', 'instances', 'maxQueueSize', 'defaultTimeoutUs',
  'priorityLevels', 'defaultPriority', 'latencyTargetUs', 'padding',
]);

/** The largest maxBatchSize (kMaxBatchRows in native/batcher.h). */
export const MAX_BATCH_ROWS = 2 ** 24;
/** A generous ceiling for times in µs: about 11.6 days. */
const MAX_US = 1e12;

function int(o: Record<string, unknown>, key: string, dflt: number, min: number, max: number): number {
  const v = o[key];
  if (v === undefined) return dflt;
  if (!isInteger(v) || !inRange(v, min, max)) throw invalidRange(`an integer from ${min} to ${max}`, key, v, 'ERR_OPTION_INVALID');
  return v;
}

export function normalizeModelOptions(options: ModelOptions | undefined): NormalizedModelOptions {
  if (options !== undefined && !isObject(options)) throw invalidType('an options object', 'createModel() options', options, 'ERR_OPTION_INVALID');
  const o = (options ?? {}) as Record<string, unknown>;
  const sessionPart: Record<string, unknown> = {};
  for (const key of Object.keys(o)) if (!BATCHER_KEYS.has(key)) sessionPart[key] = o[key];
  const maxBatchSize = int(o, 'maxBatchSize', 32, 0, MAX_BATCH_ROWS);
  const priorityLevels = int(o, 'priorityLevels', 1, 1, 255);
  const preferred = o.preferredBatchSizes ?? [];
  if (!Array.isArray(preferred)) throw invalidType('an array of batch sizes', 'preferredBatchSizes', preferred, 'ERR_OPTION_INVALID');
  for (const p of preferred) {
    if (!isInteger(p) || !inRange(p, 1, Math.max(1, maxBatchSize))) {
      throw invalidRange(`batch sizes from 1 to maxBatchSize (${maxBatchSize})`, 'preferredBatchSizes', p, 'ERR_OPTION_INVALID');
    }
  }
  const padding = o.padding ?? {};
  if (!isObject(padding) || Array.isArray(padding)) throw invalidType('an object of { inputName: { dims, value } }', 'padding', padding, 'ERR_OPTION_INVALID');
  if (Object.keys(padding).length > 0 && maxBatchSize === 0) {
    throw new OrtexTypeError('ERR_OPTION_INVALID', 'padding needs batching: it cannot be used with maxBatchSize: 0');
  }
  return {
    session: normalizeSessionOptions(sessionPart as SessionOptions),
    batcher: {
      maxBatchSize,
      maxQueueDelayUs: int(o, 'maxQueueDelayUs', 0, 0, MAX_US),
      preferredBatchSizes: [...new Set(preferred as number[])].sort((a, b) => a - b),
      instances: int(o, 'instances', 1, 1, 256),
      maxQueueSize: int(o, 'maxQueueSize', 0, 0, 2 ** 31),
      priorityLevels,
      latencyTargetUs: int(o, 'latencyTargetUs', 0, 0, MAX_US),
    },
    defaultTimeoutUs: int(o, 'defaultTimeoutUs', 0, 0, MAX_US),
    defaultPriority: int(o, 'defaultPriority', Math.ceil(priorityLevels / 2), 1, priorityLevels),
    padding: padding as Record<string, PaddingOptions>,
  };
}

/** One element of `value` in the input's element type, as bytes. */
function padBytes(slot: Slot, value: number | bigint): Uint8Array {
  const d = slot.dtype!;
  if (d.name === 'float16' || d.name === 'bfloat16' || d.name.startsWith('float8')) {
    if (value !== 0) throw new OrtexTypeError('ERR_OPTION_INVALID', `padding of input '${slot.name}' (${d.name}): only a pad value of 0 is supported for this type`);
    return new Uint8Array(d.bits / 8);
  }
  const Ctor = d.array!;
  const isBig = d.name === 'int64' || d.name === 'uint64';
  if (isBig ? typeof value !== 'bigint' && !isInteger(value) : typeof value !== 'number') {
    throw invalidType(`a ${d.name} pad value`, `padding of input '${slot.name}'`, value, 'ERR_OPTION_INVALID');
  }
  const one = new (Ctor as new (n: number) => ArrayBufferView & { [i: number]: number | bigint })(1);
  one[0] = isBig ? BigInt(value) : Number(value);
  return new Uint8Array(one.buffer, one.byteOffset, one.byteLength);
}

/**
 * Resolves `padding` against the model's inputs, once they are known: dims by index or by
 * symbolic name, and the pad value as bytes. Indexed like the model's inputs.
 */
export function resolvePadding(padding: Readonly<Record<string, PaddingOptions>>, inputs: readonly Slot[]): NativeBatcherOptions['padding'] {
  const out: NativeBatcherOptions['padding'] = inputs.map(() => null);
  for (const [name, spec] of Object.entries(padding)) {
    const slot = inputs.find((s) => s.name === name);
    if (!slot) throw new OrtexError('ERR_OPTION_INVALID', `padding names input '${name}', which the model does not have; its inputs are: ${inputs.map((s) => s.name).join(', ')}`);
    if (!isObject(spec) || !Array.isArray(spec.dims) || spec.dims.length === 0) {
      throw invalidType('{ dims: (number | string)[], value? }', `padding of input '${name}'`, spec, 'ERR_OPTION_INVALID');
    }
    const dims = spec.dims.map((d) => {
      const i = typeof d === 'string' ? slot.shape.indexOf(d) : d;
      if (!isInteger(i) || i < 1 || i >= slot.shape.length) {
        throw new OrtexError('ERR_OPTION_INVALID', `padding of input '${name}' names dim ${JSON.stringify(d)}, but its shape is [${slot.shape.join(',')}]; name a dim after the first (the batch dim), by index or symbolic name`);
      }
      return i;
    });
    if (!dtypeByOnnx(slot.dtype!.onnx)) throw new OrtexError('ERR_OPTION_INVALID', `padding of input '${name}': unknown element type`);
    out[slot.index] = { dims, padBytes: padBytes(slot, spec.value ?? 0) };
  }
  return out;
}
