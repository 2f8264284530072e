/**
 * Readers of the sub-messages of a Triton model configuration (model_config.proto), one
 * function per message, each turning the wire form into the camelCase form of
 * model-config-types.ts and checking what Triton checks.
 */

import type { TensorType } from '../dtypes.js';
import { Fields, configError, raw, readInt, readString } from './config-fields.js';
import type {
  AcceleratorConfig,
  ConfigDataType,
  DynamicBatchingConfig,
  InstanceGroupConfig,
  ModelInputConfig,
  ModelOutputConfig,
  OptimizationConfig,
  QueuePolicyConfig,
  VersionPolicyConfig,
  WarmupConfig,
  WarmupInputConfig,
} from './model-config-types.js';

const INT32_MAX = 0x7fffffff;
const UINT32_MAX = 0xffffffff;

const DATA_TYPES: Record<ConfigDataType, TensorType> = {
  TYPE_BOOL: 'bool', TYPE_UINT8: 'uint8', TYPE_UINT16: 'uint16', TYPE_UINT32: 'uint32', TYPE_UINT64: 'uint64',
  TYPE_INT8: 'int8', TYPE_INT16: 'int16', TYPE_INT32: 'int32', TYPE_INT64: 'int64', TYPE_FP16: 'float16',
  TYPE_FP32: 'float32', TYPE_FP64: 'float64', TYPE_STRING: 'string', TYPE_BF16: 'bfloat16',
};
const DATA_TYPE_NAMES = Object.keys(DATA_TYPES) as ConfigDataType[];

/** The ortex tensor type of a Triton data type name. */
export function configDataTypeToTensorType(t: ConfigDataType): TensorType {
  return DATA_TYPES[t];
}

function dataType(f: Fields): { dataType: ConfigDataType; type: TensorType } {
  const t = f.enumOf('data_type', DATA_TYPE_NAMES);
  if (t === undefined) throw configError(f.src, `a data type (${DATA_TYPE_NAMES.join(', ')})`, f.at('data_type'), undefined);
  return { dataType: t, type: DATA_TYPES[t] };
}

/** dims: each >= 1, or -1 for any size (as Triton requires). */
function dims(f: Fields, key = 'dims'): number[] {
  return f.list(key, (v, path) => {
    const d = readInt(f.src, path, v, -1);
    if (d === 0) throw configError(f.src, 'a dimension >= 1, or -1 for any size', path, v);
    return d;
  });
}

function reshape(f: Fields): number[] | undefined {
  return f.message('reshape', (r) => r.list('shape', (v, path) => readInt(r.src, path, v, -1)));
}

function requiredName(f: Fields): string {
  const name = f.string('name');
  if (!name) throw configError(f.src, 'a non-empty name', f.at('name'), name);
  return name;
}

const TENSORRT_ONLY = 'supported by Triton for TensorRT models only';

export function readInput(f: Fields): ModelInputConfig {
  const input: ModelInputConfig = {
    name: requiredName(f),
    ...dataType(f),
    dims: dims(f),
    optional: f.bool('optional') ?? false,
    format: f.enumOf('format', ['FORMAT_NONE', 'FORMAT_NHWC', 'FORMAT_NCHW'] as const) ?? 'FORMAT_NONE',
  };
  const r = reshape(f);
  if (r) input.reshape = r;
  f.unsupported({
    is_shape_tensor: TENSORRT_ONLY,
    is_non_linear_format_io: TENSORRT_ONLY,
    allow_ragged_batch: "ortex's batcher batches only tensors of equal shape",
  });
  return input;
}

export function readOutput(f: Fields): ModelOutputConfig {
  const output: ModelOutputConfig = { name: requiredName(f), ...dataType(f), dims: dims(f) };
  const r = reshape(f);
  if (r) output.reshape = r;
  const label = f.string('label_filename');
  if (label) output.labelFilename = label;
  f.unsupported({ is_shape_tensor: TENSORRT_ONLY, is_non_linear_format_io: TENSORRT_ONLY });
  return output;
}

export function readVersionPolicy(f: Fields): VersionPolicyConfig {
  const chosen = ['latest', 'all', 'specific'].filter((k) => f.has(k));
  if (chosen.length > 1) throw configError(f.src, 'one of latest, all, specific', f.path, raw(chosen.join(' and ')));
  const latest = f.message('latest', (l) => l.int('num_versions', 0, UINT32_MAX) ?? 0);
  const all = f.message('all', () => true);
  const specific = f.message('specific', (s) => s.list('versions', (v, path) => readInt(s.src, path, v, 0)));
  if (all) return { kind: 'all' };
  if (specific) {
    if (specific.length === 0) throw configError(f.src, 'at least one version', f.at('specific.versions'), specific);
    return { kind: 'specific', versions: specific };
  }
  return { kind: 'latest', numVersions: Math.max(1, latest ?? 1) };
}

function readQueuePolicy(f: Fields): QueuePolicyConfig {
  return {
    timeoutAction: f.enumOf('timeout_action', ['REJECT', 'DELAY'] as const) ?? 'REJECT',
    defaultTimeoutUs: f.int('default_timeout_microseconds', 0) ?? 0,
    allowTimeoutOverride: f.bool('allow_timeout_override') ?? false,
    maxQueueSize: f.int('max_queue_size', 0, UINT32_MAX) ?? 0,
  };
}

const DEFAULT_QUEUE_POLICY: QueuePolicyConfig = { timeoutAction: 'REJECT', defaultTimeoutUs: 0, allowTimeoutOverride: false, maxQueueSize: 0 };

export function readDynamicBatching(f: Fields, maxBatchSize: number): DynamicBatchingConfig {
  const preferredBatchSizes = f.list('preferred_batch_size', (v, path) => {
    const n = readInt(f.src, path, v, 1, INT32_MAX);
    if (n > maxBatchSize) throw configError(f.src, `a batch size from 1 to max_batch_size ${maxBatchSize}`, path, v);
    return n;
  });
  const priorityLevels = f.int('priority_levels', 0) ?? 0;
  const defaultPriorityLevel = f.int('default_priority_level', 0) ?? 0;
  if (priorityLevels > 0 ? defaultPriorityLevel < 1 || defaultPriorityLevel > priorityLevels : defaultPriorityLevel !== 0) {
    const expected = priorityLevels > 0 ? `a level from 1 to priority_levels ${priorityLevels}` : '0 (priority_levels is 0)';
    throw configError(f.src, expected, f.at('default_priority_level'), defaultPriorityLevel);
  }
  const priorityQueuePolicy: Record<number, QueuePolicyConfig> = {};
  for (const [key, v] of f.map('priority_queue_policy', (v, path) => {
    const q = new Fields(f.src, path, v);
    const policy = readQueuePolicy(q);
    q.done();
    return policy;
  })) {
    const level = Number(key);
    if (!Number.isInteger(level) || level < 1 || level > priorityLevels) {
      throw configError(f.src, `priority levels from 1 to priority_levels ${priorityLevels} as keys`, f.at('priority_queue_policy'), raw(`the key ${key}`));
    }
    priorityQueuePolicy[level] = v;
  }
  return {
    maxQueueDelayUs: f.int('max_queue_delay_microseconds', 0) ?? 0,
    preferredBatchSizes,
    preserveOrdering: f.bool('preserve_ordering') ?? false,
    priorityLevels,
    defaultPriorityLevel,
    defaultQueuePolicy: f.message('default_queue_policy', readQueuePolicy) ?? { ...DEFAULT_QUEUE_POLICY },
    priorityQueuePolicy,
  };
}

export function readInstanceGroup(f: Fields): InstanceGroupConfig {
  const name = f.string('name');
  const kind = f.enumOf('kind', ['KIND_AUTO', 'KIND_GPU', 'KIND_CPU', 'KIND_MODEL'] as const) ?? 'KIND_AUTO';
  const count = f.int('count', 0, INT32_MAX) || 1; // proto3: 0 is unset, and Triton's default is 1
  const gpus = f.list('gpus', (v, path) => readInt(f.src, path, v, 0, INT32_MAX));
  if (gpus.length > 0 && (kind === 'KIND_CPU' || kind === 'KIND_MODEL')) {
    throw configError(f.src, `no gpus for a ${kind} instance group`, f.at('gpus'), gpus);
  }
  f.unsupported({
    rate_limiter: 'ortex has no rate limiter',
    secondary_devices: 'ortex has no secondary devices',
    profile: TENSORRT_ONLY,
    passive: 'every ortex instance takes requests',
    host_policy: 'ortex has no host policies',
  });
  const group: InstanceGroupConfig = { kind, count, gpus };
  if (name) group.name = name;
  return group;
}

const TENSORRT_PARAMETERS = new Set(['precision_mode', 'max_workspace_size_bytes', 'int8_calibration_table_name', 'int8_use_native_calibration_table']);
const ACCELERATORS = { gpu: ['tensorrt', 'cuda'], cpu: ['openvino'] } as const;

function readAccelerator(f: Fields, where: 'gpu' | 'cpu'): AcceleratorConfig {
  const name = f.string('name');
  const allowed: readonly string[] = ACCELERATORS[where];
  if (!name || !allowed.includes(name)) {
    throw configError(f.src, `${allowed.join(' or ')} (the ${where.toUpperCase()} accelerators of ONNX Runtime)`, f.at('name'), name);
  }
  const parameters = Object.fromEntries(f.map('parameters', (v, path) => readString(f.src, path, v)));
  if (name === 'tensorrt') {
    for (const [key, value] of Object.entries(parameters)) {
      const path = `${f.at('parameters')}["${key}"]`;
      if (!TENSORRT_PARAMETERS.has(key) && !key.startsWith('trt_')) {
        throw configError(f.src, `a TensorRT parameter (${[...TENSORRT_PARAMETERS].join(', ')} or a trt_* key)`, f.at('parameters'), raw(`the key '${key}'`));
      }
      if (key === 'precision_mode' && !['FP32', 'FP16', 'BF16', 'INT8'].includes(value)) {
        throw configError(f.src, 'FP32, FP16, BF16 or INT8', path, value);
      }
      if (key === 'max_workspace_size_bytes' && !/^\d+$/.test(value)) throw configError(f.src, 'a byte count', path, value);
    }
  }
  return { name, parameters };
}

export function readOptimization(f: Fields): OptimizationConfig {
  const graphLevel = f.message('graph', (g) => g.int('level', -INT32_MAX - 1, INT32_MAX) ?? 0) ?? 0;
  const accelerators = f.message('execution_accelerators', (e) => ({
    gpu: e.messages('gpu_execution_accelerator', (a) => readAccelerator(a, 'gpu')),
    cpu: e.messages('cpu_execution_accelerator', (a) => readAccelerator(a, 'cpu')),
  }));
  f.enumOf('priority', ['PRIORITY_DEFAULT', 'PRIORITY_MAX', 'PRIORITY_MIN'] as const); // TensorRT models only; no effect
  f.message('input_pinned_memory', (p) => p.bool('enable')); // no effect: ortex's inputs are already host memory
  f.message('output_pinned_memory', (p) => p.bool('enable'));
  f.unsupported({ cuda: TENSORRT_ONLY, gather_kernel_buffer_threshold: TENSORRT_ONLY, eager_batching: TENSORRT_ONLY });
  return {
    graphLevel,
    gpuExecutionAccelerators: accelerators?.gpu ?? [],
    cpuExecutionAccelerators: accelerators?.cpu ?? [],
  };
}

function readWarmupInput(f: Fields): WarmupInputConfig {
  const sources = ['zero_data', 'random_data', 'input_data_file'].filter((k) => f.has(k));
  if (sources.length !== 1) {
    throw configError(f.src, 'exactly one of zero_data, random_data, input_data_file', f.path, raw(sources.length ? sources.join(' and ') : 'none'));
  }
  f.bool('zero_data');
  f.bool('random_data');
  const file = f.string('input_data_file');
  const input: WarmupInputConfig = {
    ...dataType(f),
    dims: dims(f),
    data: file !== undefined ? 'file' : f.has('random_data') ? 'random' : 'zero',
  };
  if (file !== undefined) input.inputDataFile = file;
  return input;
}

export function readWarmup(f: Fields, maxBatchSize: number, inputNames: ReadonlySet<string>): WarmupConfig {
  const name = requiredName(f);
  const limit = Math.max(1, maxBatchSize);
  const batchSize = f.int('batch_size', 1, UINT32_MAX) ?? 1;
  if (batchSize > limit) {
    throw configError(f.src, `a batch size from 1 to ${limit} (max_batch_size ${maxBatchSize})`, f.at('batch_size'), batchSize);
  }
  const inputs: Record<string, WarmupInputConfig> = {};
  for (const [key, input] of f.map('inputs', (v, path) => {
    const w = new Fields(f.src, path, v);
    const out = readWarmupInput(w);
    w.done();
    return out;
  })) {
    if (inputNames.size > 0 && !inputNames.has(key)) {
      throw configError(f.src, `an input of the model (${[...inputNames].join(', ')})`, f.at('inputs'), raw(`the key '${key}'`));
    }
    inputs[key] = input;
  }
  return { name, batchSize, count: f.int('count', 0, UINT32_MAX) ?? 0, inputs };
}

/** Model parameters whose values Triton's ONNX Runtime backend parses, with what they must look like. */
const PARAMETER_FORMS: Record<string, [RegExp, string]> = {
  intra_op_thread_count: [/^\d+$/, 'a thread count (0: ONNX Runtime chooses)'],
  inter_op_thread_count: [/^\d+$/, 'a thread count (0: ONNX Runtime chooses)'],
  execution_mode: [/^[01]$/, '"0" (sequential) or "1" (parallel)'],
  enable_mem_arena: [/^(0|1|true|false)$/i, '"1", "0", "true" or "false"'],
  enable_mem_pattern: [/^(0|1|true|false)$/i, '"1", "0", "true" or "false"'],
  share_session_between_instances: [/^(0|1|true|false)$/i, '"1", "0", "true" or "false"'],
  do_copy_in_default_stream: [/^(0|1|true|false)$/i, '"1", "0", "true" or "false"'],
  cudnn_conv_algo_search: [/^[012]$/, '"0" (EXHAUSTIVE), "1" (HEURISTIC) or "2" (DEFAULT)'],
  arena_extend_strategy: [/^[01]$/, '"0" (kNextPowerOfTwo) or "1" (kSameAsRequested)'],
  gpu_mem_limit: [/^\d+$/, 'a byte count'],
};

/** `parameters { key value { string_value } }`: free-form, as in Triton, but known keys are checked. */
export function readParameters(f: Fields): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of f.map('parameters', (v, path) => {
    const p = new Fields(f.src, path, v);
    const s = p.string('string_value') ?? '';
    p.done();
    return s;
  })) {
    const form = PARAMETER_FORMS[key];
    if (form && !form[0].test(value)) throw configError(f.src, form[1], `${f.at('parameters')}["${key}"].string_value`, value);
    out[key] = value;
  }
  return out;
}

