/**
 * Session options: the onnxruntime-node set plus ortex's own, validated here and turned
 * into the plain object native/session_options.cc reads. Execution-provider options are
 * translated from camelCase to ONNX Runtime's own keys, so a typo fails here, in JS, with
 * the list of valid names, instead of deep inside a provider library.
 */

import { DEFAULT_SPIN_US } from './busy-wait.js';
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { OrtexTypeError } from './errors.js';
import { inRange, invalidRange, invalidType, isBoolean, isInteger, isObject, isPlainObject, isString } from './validate.js';

export type GraphOptimizationLevel = 'disabled' | 'basic' | 'extended' | 'layout' | 'all';

/** Options of the TensorRT provider. Shapes: `{ input: [1, 3, 224, 224] }` or ORT's 'input:1x3x224x224'. */
export interface TensorRTOptions {
  name: 'tensorrt';
  deviceId?: number;
  fp16?: boolean;
  int8?: boolean;
  engineCacheEnable?: boolean;
  engineCachePath?: string;
  timingCacheEnable?: boolean;
  timingCachePath?: string;
  maxWorkspaceSize?: number;
  profileMinShapes?: ShapeProfile;
  profileOptShapes?: ShapeProfile;
  profileMaxShapes?: ShapeProfile;
  cudaGraph?: boolean;
  /** Raw ONNX Runtime keys (trt_*), passed as they are. */
  extra?: Record<string, string | number | boolean>;
}

export interface CUDAOptions {
  name: 'cuda';
  deviceId?: number;
  gpuMemLimit?: number;
  arenaExtendStrategy?: 'kNextPowerOfTwo' | 'kSameAsRequested';
  cudnnConvAlgoSearch?: 'EXHAUSTIVE' | 'HEURISTIC' | 'DEFAULT';
  doCopyInDefaultStream?: boolean;
  cudaGraph?: boolean;
  /** A cudaStream_t address (e.g. from another native module) for ORT to run on. */
  userComputeStream?: bigint | number;
  extra?: Record<string, string | number | boolean>;
}

export interface CPUOptions {
  name: 'cpu';
  useArena?: boolean;
}

/** Any other provider by ONNX Runtime's name, with its raw option keys. */
export interface GenericProviderOptions {
  name: string;
  extra?: Record<string, string | number | boolean>;
}

export type ShapeProfile = string | Record<string, readonly number[]>;
export type ExecutionProviderConfig = string | TensorRTOptions | CUDAOptions | CPUOptions | GenericProviderOptions;

export interface SessionOptions {
  executionProviders?: readonly ExecutionProviderConfig[];
  /** Fail instead of falling back when a listed provider cannot be enabled. */
  strict?: boolean;
  intraOpNumThreads?: number;
  interOpNumThreads?: number;
  graphOptimizationLevel?: GraphOptimizationLevel;
  executionMode?: 'sequential' | 'parallel';
  enableCpuMemArena?: boolean;
  enableMemPattern?: boolean;
  optimizedModelFilePath?: string;
  enableProfiling?: boolean;
  profileFilePrefix?: string;
  logId?: string;
  logSeverityLevel?: 0 | 1 | 2 | 3 | 4;
  logVerbosityLevel?: number;
  freeDimensionOverrides?: Readonly<Record<string, number>>;
  /** Shared libraries of custom operators (RegisterCustomOpsLibrary_V2). */
  customOpsLibraries?: readonly string[];
  /** Session config entries (AddSessionConfigEntry); nested objects join keys with '.'. */
  extra?: Record<string, unknown>;
  /**
   * How the event loop waits for this session's run() calls. `true`: it keeps polling for
   * as long as a run lasts, the lowest async latency (no sleeping thread to wake) for a busy
   * core meanwhile. Default: it polls for a run's first 50 µs, which covers a small model's
   * whole run, when `intraOpNumThreads` is set and leaves a core free (left unset, ORT uses
   * one thread per core), the execution mode is sequential, no other run is in flight and
   * the session's runs take under 100 µs (busy-wait.ts). `false`: it never polls (sleeps at
   * once).
   */
  busyWait?: boolean;
}

/** What native/session_options.cc reads. */
export interface NormalizedSessionOptions {
  graphOptimizationLevel?: number;
  intraOpNumThreads?: number;
  interOpNumThreads?: number;
  executionMode?: number;
  enableCpuMemArena?: boolean;
  enableMemPattern?: boolean;
  optimizedModelFilePath?: string;
  profileFilePrefix?: string;
  logId?: string;
  logSeverityLevel?: number;
  logVerbosityLevel?: number;
  freeDimensionOverrides: Array<[string, string]>;
  configEntries: Array<[string, string]>;
  customOpsLibraries: string[];
  executionProviders: Array<{ name: string; options: Array<[string, string]> }>;
  strict: boolean;
  /** How long the event loop polls for a run's completion, in µs (Infinity: all of it). */
  busyWaitUs: number;
}

const GRAPH_LEVELS: Record<GraphOptimizationLevel, number> = { disabled: 0, basic: 1, extended: 2, layout: 3, all: 99 };

type Translator = (v: unknown, what: string) => string;
const bool01: Translator = (v, what) => {
  if (!isBoolean(v)) throw invalidType('a boolean', what, v, 'ERR_OPTION_INVALID');
  return v ? '1' : '0';
};
const uint: Translator = (v, what) => {
  if (!isInteger(v) || v < 0) throw invalidRange('a non-negative integer', what, v, 'ERR_OPTION_INVALID');
  return String(v);
};
const str: Translator = (v, what) => {
  if (!isString(v) || v === '') throw invalidType('a non-empty string', what, v, 'ERR_OPTION_INVALID');
  return v;
};
const oneOf = (...allowed: string[]): Translator => (v, what) => {
  if (!isString(v) || !allowed.includes(v)) throw invalidType(`one of ${allowed.join(', ')}`, what, v, 'ERR_OPTION_INVALID');
  return v;
};
const shapes: Translator = (v, what) => {
  if (isString(v)) return v;
  if (!isPlainObject(v)) throw invalidType("{ input: number[] } or 'input:1x3x224x224'", what, v, 'ERR_OPTION_INVALID');
  return Object.entries(v)
    .map(([name, dims]) => {
      if (!Array.isArray(dims) || !dims.every((d) => isInteger(d) && d >= 0))
        throw invalidType('non-negative integer dims', `${what}.${name}`, dims, 'ERR_OPTION_INVALID');
      return `${name}:${dims.join('x')}`;
    })
    .join(',');
};
const pointer: Translator = (v, what) => {
  if (typeof v === 'bigint' && v > 0n) return v.toString();
  if (isInteger(v) && v > 0) return String(v);
  throw invalidType('a non-zero stream address (bigint)', what, v, 'ERR_OPTION_INVALID');
};

/** camelCase option -> [ORT key, translator], per provider. */
const PROVIDER_KEYS: Record<string, Record<string, [string, Translator]>> = {
  tensorrt: {
    deviceId: ['device_id', uint],
    fp16: ['trt_fp16_enable', bool01],
    int8: ['trt_int8_enable', bool01],
    engineCacheEnable: ['trt_engine_cache_enable', bool01],
    engineCachePath: ['trt_engine_cache_path', str],
    timingCacheEnable: ['trt_timing_cache_enable', bool01],
    timingCachePath: ['trt_timing_cache_path', str],
    maxWorkspaceSize: ['trt_max_workspace_size', uint],
    profileMinShapes: ['trt_profile_min_shapes', shapes],
    profileOptShapes: ['trt_profile_opt_shapes', shapes],
    profileMaxShapes: ['trt_profile_max_shapes', shapes],
    cudaGraph: ['trt_cuda_graph_enable', bool01],
  },
  cuda: {
    deviceId: ['device_id', uint],
    gpuMemLimit: ['gpu_mem_limit', uint],
    arenaExtendStrategy: ['arena_extend_strategy', oneOf('kNextPowerOfTwo', 'kSameAsRequested')],
    cudnnConvAlgoSearch: ['cudnn_conv_algo_search', oneOf('EXHAUSTIVE', 'HEURISTIC', 'DEFAULT')],
    doCopyInDefaultStream: ['do_copy_in_default_stream', bool01],
    cudaGraph: ['enable_cuda_graph', bool01],
    userComputeStream: ['user_compute_stream', pointer],
  },
  cpu: {
    useArena: ['use_arena', bool01],
  },
};

const PROVIDER_ALIASES: Record<string, string> = {
  tensorrt: 'tensorrt',
  tensorrtexecutionprovider: 'tensorrt',
  trt: 'tensorrt',
  cuda: 'cuda',
  cudaexecutionprovider: 'cuda',
  cpu: 'cpu',
  cpuexecutionprovider: 'cpu',
};

function normalizeProvider(ep: unknown, i: number): { name: string; options: Array<[string, string]> } {
  const what = `executionProviders[${i}]`;
  const cfg = isString(ep) ? { name: ep } : ep;
  if (!isObject(cfg) || !isString(cfg.name) || cfg.name === '')
    throw invalidType("a provider name or { name, ...options }", what, ep, 'ERR_OPTION_INVALID');
  const name = PROVIDER_ALIASES[cfg.name.toLowerCase()] ?? cfg.name;
  const table = PROVIDER_KEYS[name];
  const options: Array<[string, string]> = [];
  for (const [key, value] of Object.entries(cfg)) {
    if (key === 'name' || value === undefined) continue;
    if (key === 'extra') {
      if (!isPlainObject(value)) throw invalidType('an object of raw ONNX Runtime keys', `${what}.extra`, value, 'ERR_OPTION_INVALID');
      for (const [k, v] of Object.entries(value)) options.push([k, typeof v === 'boolean' ? (v ? '1' : '0') : String(v)]);
      continue;
    }
    const entry = table?.[key];
    if (!entry) {
      const valid = table ? Object.keys(table).concat('extra').join(', ') : 'extra';
      throw new OrtexTypeError('ERR_OPTION_INVALID', `Unknown option '${key}' for execution provider '${name}'; valid options: ${valid}`);
    }
    options.push([entry[0], entry[1](value, `${what}.${key}`)]);
  }
  if (name === 'cuda' && options.some(([k]) => k === 'user_compute_stream')) options.push(['has_user_compute_stream', '1']);
  return { name, options };
}

function flatten(prefix: string, v: unknown, out: Array<[string, string]>): void {
  if (isPlainObject(v)) {
    for (const [k, x] of Object.entries(v)) flatten(prefix ? `${prefix}.${k}` : k, x, out);
  } else {
    out.push([prefix, String(v)]);
  }
}

const KNOWN_OPTIONS = new Set([
  'executionProviders', 'strict', 'intraOpNumThreads', 'interOpNumThreads', 'graphOptimizationLevel', 'executionMode',
  'enableCpuMemArena', 'enableMemPattern', 'optimizedModelFilePath', 'enableProfiling', 'profileFilePrefix', 'logId',
  'logSeverityLevel', 'logVerbosityLevel', 'freeDimensionOverrides', 'customOpsLibraries', 'extra', 'busyWait',
  // accepted for onnxruntime-node compatibility; no effect on CPU tensors
  'preferredOutputLocation', 'enableGraphCapture',
]);

/** Validates options and produces the object the native layer reads. */
export function normalizeSessionOptions(options: SessionOptions = {}): NormalizedSessionOptions {
  if (!isObject(options)) throw invalidType('an options object', 'session options', options, 'ERR_OPTION_INVALID');
  for (const key of Object.keys(options)) {
    if (!KNOWN_OPTIONS.has(key)) throw new OrtexTypeError('ERR_OPTION_INVALID', `Unknown session option '${key}'`);
  }
  const o = options as SessionOptions;
  const out: NormalizedSessionOptions = {
    freeDimensionOverrides: [],
    configEntries: [],
    customOpsLibraries: [],
    executionProviders: [],
    strict: false,
    busyWaitUs: 0,
  };
  const threads = (v: unknown, what: string) => {
    if (!isInteger(v) || !inRange(v, 0, 1024)) throw invalidRange('an integer from 0 (ORT default) to 1024', what, v, 'ERR_OPTION_INVALID');
    return v;
  };
  if (o.intraOpNumThreads !== undefined) out.intraOpNumThreads = threads(o.intraOpNumThreads, 'intraOpNumThreads');
  if (o.interOpNumThreads !== undefined) out.interOpNumThreads = threads(o.interOpNumThreads, 'interOpNumThreads');
  if (o.graphOptimizationLevel !== undefined) {
    const level = GRAPH_LEVELS[o.graphOptimizationLevel];
    if (level === undefined) throw invalidType(Object.keys(GRAPH_LEVELS).join(', '), 'graphOptimizationLevel', o.graphOptimizationLevel, 'ERR_OPTION_INVALID');
    out.graphOptimizationLevel = level;
  }
  if (o.executionMode !== undefined) {
    if (o.executionMode !== 'sequential' && o.executionMode !== 'parallel')
      throw invalidType("'sequential' or 'parallel'", 'executionMode', o.executionMode, 'ERR_OPTION_INVALID');
    out.executionMode = o.executionMode === 'parallel' ? 1 : 0;
  }
  for (const key of ['enableCpuMemArena', 'enableMemPattern', 'enableProfiling', 'strict', 'busyWait'] as const) {
    if (o[key] !== undefined && !isBoolean(o[key])) throw invalidType('a boolean', key, o[key], 'ERR_OPTION_INVALID');
  }
  if (o.enableCpuMemArena !== undefined) out.enableCpuMemArena = o.enableCpuMemArena;
  if (o.enableMemPattern !== undefined) out.enableMemPattern = o.enableMemPattern;
  out.strict = o.strict === true;
  out.busyWaitUs = o.busyWait === undefined ? defaultPollUs(out) : o.busyWait ? Infinity : 0;
  for (const key of ['optimizedModelFilePath', 'profileFilePrefix', 'logId'] as const) {
    if (o[key] !== undefined && !isString(o[key])) throw invalidType('a string', key, o[key], 'ERR_OPTION_INVALID');
  }
  if (o.optimizedModelFilePath) out.optimizedModelFilePath = o.optimizedModelFilePath;
  if (o.enableProfiling) out.profileFilePrefix = o.profileFilePrefix || 'onnxruntime_profile_';
  if (o.logId) out.logId = o.logId;
  if (o.logSeverityLevel !== undefined) {
    if (!isInteger(o.logSeverityLevel) || !inRange(o.logSeverityLevel, 0, 4))
      throw invalidRange('an integer 0 (verbose) to 4 (fatal)', 'logSeverityLevel', o.logSeverityLevel, 'ERR_OPTION_INVALID');
    out.logSeverityLevel = o.logSeverityLevel;
  }
  if (o.logVerbosityLevel !== undefined) {
    if (!isInteger(o.logVerbosityLevel) || o.logVerbosityLevel < 0)
      throw invalidRange('a non-negative integer', 'logVerbosityLevel', o.logVerbosityLevel, 'ERR_OPTION_INVALID');
    out.logVerbosityLevel = o.logVerbosityLevel;
  }
  if (o.freeDimensionOverrides !== undefined) {
    if (!isPlainObject(o.freeDimensionOverrides)) throw invalidType('{ [dimName]: number }', 'freeDimensionOverrides', o.freeDimensionOverrides, 'ERR_OPTION_INVALID');
    for (const [name, v] of Object.entries(o.freeDimensionOverrides)) {
      if (!isInteger(v) || v < 0) throw invalidRange('a non-negative integer', `freeDimensionOverrides.${name}`, v, 'ERR_OPTION_INVALID');
      out.freeDimensionOverrides.push([name, String(v)]);
    }
  }
  if (o.customOpsLibraries !== undefined) {
    if (!Array.isArray(o.customOpsLibraries)) throw invalidType('string[]', 'customOpsLibraries', o.customOpsLibraries, 'ERR_OPTION_INVALID');
    for (const lib of o.customOpsLibraries) {
      if (!isString(lib)) throw invalidType('a path', 'customOpsLibraries[]', lib, 'ERR_OPTION_INVALID');
      if (!existsSync(lib)) throw new OrtexTypeError('ERR_OPTION_INVALID', `Custom operator library not found: ${lib}`);
      out.customOpsLibraries.push(lib);
    }
  }
  if (o.extra !== undefined) {
    if (!isPlainObject(o.extra)) throw invalidType('an object', 'extra', o.extra, 'ERR_OPTION_INVALID');
    flatten('', o.extra, out.configEntries);
  }
  if (o.executionProviders !== undefined) {
    if (!Array.isArray(o.executionProviders)) throw invalidType('an array', 'executionProviders', o.executionProviders, 'ERR_OPTION_INVALID');
    o.executionProviders.forEach((ep, i) => out.executionProviders.push(normalizeProvider(ep, i)));
  }
  return out;
}

/**
 * The default bounded poll of run() completions (busy-wait.ts), only when the run's own
 * threads leave the event loop's thread a core: polling with 2 intra-op threads on 2 cores
 * made ctr_mlp's async p50 136 µs instead of ~45 (bench/RESULTS.md). ORT's default thread
 * count (0) is one per core, and the parallel execution mode adds inter-op threads.
 */
function defaultPollUs(o: NormalizedSessionOptions): number {
  const intra = o.intraOpNumThreads ?? 0;
  if (intra === 0 || o.executionMode === 1) return 0;
  return intra + 1 <= availableParallelism() ? DEFAULT_SPIN_US : 0;
}
