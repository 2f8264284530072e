/**
 * From a model configuration to the options of createModel() (ModelOptions of
 * src/model-options.ts): the dynamic batcher's settings and the session options, with
 * Triton's ONNX Runtime backend semantics (its graph levels, thread parameters,
 * execution-accelerator parameters and provider order).
 */

import { OrtexError } from '../errors.js';
import { type ModelOptions, normalizeModelOptions } from '../model-options.js';
import type { CUDAOptions, ExecutionProviderConfig, GenericProviderOptions, GraphOptimizationLevel, TensorRTOptions } from '../session-options.js';
import type { AcceleratorConfig, InstanceGroupConfig, ModelConfig } from './model-config-types.js';

const ACCELERATOR_PATH = 'optimization.execution_accelerators';

function bool(config: ModelConfig, value: string, field: string): boolean {
  if (/^(1|true)$/i.test(value)) return true;
  if (/^(0|false)$/i.test(value)) return false;
  throw new OrtexError('ERR_MODEL_CONFIG', `${config.configFile ?? config.name}: Expected "1", "0", "true" or "false" for ${field} but received "${value}"`);
}

function tensorrt(config: ModelConfig, a: AcceleratorConfig, path: string, deviceId: number): TensorRTOptions {
  const trt: TensorRTOptions = { name: 'tensorrt', deviceId };
  const extra: Record<string, string> = {};
  for (const [key, value] of Object.entries(a.parameters)) {
    const field = `${path}.parameters["${key}"]`;
    switch (key) {
      case 'precision_mode':
        if (value === 'FP16') trt.fp16 = true;
        else if (value === 'INT8') trt.int8 = true;
        else if (value === 'BF16') extra.trt_bf16_enable = '1';
        break;
      case 'max_workspace_size_bytes': trt.maxWorkspaceSize = Number(value); break;
      case 'trt_engine_cache_enable': trt.engineCacheEnable = bool(config, value, field); break;
      case 'trt_engine_cache_path': trt.engineCachePath = value; break;
      case 'trt_timing_cache_enable': trt.timingCacheEnable = bool(config, value, field); break;
      case 'trt_timing_cache_path': trt.timingCachePath = value; break;
      case 'trt_profile_min_shapes': trt.profileMinShapes = value; break;
      case 'trt_profile_opt_shapes': trt.profileOptShapes = value; break;
      case 'trt_profile_max_shapes': trt.profileMaxShapes = value; break;
      case 'trt_cuda_graph_enable': trt.cudaGraph = bool(config, value, field); break;
      case 'int8_calibration_table_name': extra.trt_int8_calibration_table_name = value; break;
      case 'int8_use_native_calibration_table': extra.trt_int8_use_native_calibration_table = bool(config, value, field) ? '1' : '0'; break;
      default: extra[key] = value; // the other trt_* keys are ONNX Runtime's own names
    }
  }
  if (Object.keys(extra).length > 0) trt.extra = extra;
  return trt;
}

const ARENA = ['kNextPowerOfTwo', 'kSameAsRequested'] as const;
const CONV_SEARCH = ['EXHAUSTIVE', 'HEURISTIC', 'DEFAULT'] as const;

/** CUDA options from the model parameters (Triton's older way) overridden by the accelerator's. */
function cuda(config: ModelConfig, a: AcceleratorConfig | undefined, path: string, deviceId: number): CUDAOptions {
  const options: CUDAOptions = { name: 'cuda', deviceId };
  const extra: Record<string, string> = {};
  const legacy = ['gpu_mem_limit', 'arena_extend_strategy', 'cudnn_conv_algo_search', 'do_copy_in_default_stream'];
  const entries: Array<[string, string, string]> = [
    ...legacy.filter((k) => k in config.parameters).map((k): [string, string, string] => [k, config.parameters[k]!, `parameters["${k}"].string_value`]),
    ...Object.entries(a?.parameters ?? {}).map(([k, v]): [string, string, string] => [k, v, `${path}.parameters["${k}"]`]),
  ];
  for (const [key, value, field] of entries) {
    switch (key) {
      case 'gpu_mem_limit': options.gpuMemLimit = Number(value); break;
      case 'arena_extend_strategy':
        options.arenaExtendStrategy = (ARENA as readonly string[]).includes(value) ? (value as CUDAOptions['arenaExtendStrategy']) : ARENA[Number(value) as 0 | 1];
        break;
      case 'cudnn_conv_algo_search':
        options.cudnnConvAlgoSearch = (CONV_SEARCH as readonly string[]).includes(value) ? (value as CUDAOptions['cudnnConvAlgoSearch']) : CONV_SEARCH[Number(value) as 0 | 1 | 2];
        break;
      case 'do_copy_in_default_stream': options.doCopyInDefaultStream = bool(config, value, field); break;
      case 'enable_cuda_graph': options.cudaGraph = bool(config, value, field); break;
      default: extra[key] = value;
    }
  }
  if (Object.keys(extra).length > 0) options.extra = extra;
  return options;
}

/** Whether a group runs on a GPU: KIND_GPU, or KIND_AUTO naming GPUs or with GPU accelerators configured. */
function onGpu(config: ModelConfig, g: InstanceGroupConfig): boolean {
  return g.kind === 'KIND_GPU' || (g.kind === 'KIND_AUTO' && (g.gpus.length > 0 || config.optimization.gpuExecutionAccelerators.length > 0));
}

/**
 * Providers in Triton's order: the GPU accelerators as configured, then CUDA (if not among
 * them) when the model runs on a GPU; then the CPU accelerators; then the CPU provider.
 */
function providers(config: ModelConfig, groups: InstanceGroupConfig[]): ExecutionProviderConfig[] {
  const out: ExecutionProviderConfig[] = [];
  const gpuGroup = groups.find((g) => onGpu(config, g));
  if (gpuGroup) {
    const deviceId = gpuGroup.gpus[0] ?? 0;
    config.optimization.gpuExecutionAccelerators.forEach((a, i) => {
      const path = `${ACCELERATOR_PATH}.gpu_execution_accelerator[${i}]`;
      out.push(a.name === 'tensorrt' ? tensorrt(config, a, path, deviceId) : cuda(config, a, path, deviceId));
    });
    if (!out.some((p) => typeof p === 'object' && p.name === 'cuda')) out.push(cuda(config, undefined, '', deviceId));
  }
  for (const a of config.optimization.cpuExecutionAccelerators) {
    const p: GenericProviderOptions = { name: a.name };
    if (Object.keys(a.parameters).length > 0) p.extra = { ...a.parameters };
    out.push(p);
  }
  out.push('cpu');
  return out;
}

function graphLevel(level: number): GraphOptimizationLevel {
  // Triton's ONNX Runtime backend reads these three values so; anything else is ORT_ENABLE_ALL.
  if (level === -1) return 'basic';
  if (level === 1) return 'extended';
  if (level === 2) return 'disabled';
  return 'all';
}

/**
 * The options of createModel() for a configuration. Every batcher field and the thread,
 * mode, graph-level and provider fields are always set; createModel() validates the result
 * like any caller's options.
 *
 * Without `dynamic_batching` the queue settings are 0 and there are no preferred sizes: the
 * batcher then waits for nobody, though it may still run requests that are already queued
 * together (Triton would run them one by one). Not carried over, for want of fields:
 * `timeout_action: DELAY`, `allow_timeout_override`, per-priority queue policies,
 * `preserve_ordering`, the enable_mem_arena / enable_mem_pattern parameters, and instance
 * groups on different GPUs (the first GPU group's first GPU is used).
 * @example
 * const options = toModelOptions(await readModelConfig('models/ctr'));
 * // { maxBatchSize: 64, maxQueueDelayUs: 500, preferredBatchSizes: [16, 32], instances: 2, ... }
 */
export function toModelOptions(config: ModelConfig): ModelOptions {
  const groups: InstanceGroupConfig[] = config.instanceGroups.length > 0 ? config.instanceGroups : [{ kind: 'KIND_AUTO', count: 1, gpus: [] }];
  const instances = groups.reduce((n, g) => n + g.count * (onGpu(config, g) ? Math.max(1, g.gpus.length) : 1), 0);
  const batching = config.dynamicBatching;
  const queue = batching?.defaultQueuePolicy;
  const p = config.parameters;
  return {
    maxBatchSize: config.maxBatchSize,
    maxQueueDelayUs: batching?.maxQueueDelayUs ?? 0,
    preferredBatchSizes: [...(batching?.preferredBatchSizes ?? [])],
    instances,
    maxQueueSize: queue?.maxQueueSize ?? 0,
    defaultTimeoutUs: queue?.defaultTimeoutUs ?? 0,
    priorityLevels: Math.max(1, batching?.priorityLevels ?? 0),
    defaultPriority: Math.max(1, batching?.defaultPriorityLevel ?? 0),
    intraOpNumThreads: Number(p.intra_op_thread_count ?? 0),
    interOpNumThreads: Number(p.inter_op_thread_count ?? 0),
    executionMode: p.execution_mode === '1' ? 'parallel' : 'sequential',
    graphOptimizationLevel: graphLevel(config.optimization.graphLevel),
    executionProviders: providers(config, groups),
  };
}

/** Where each option of toModelOptions() comes from in the configuration, for messages. */
const CONFIG_FIELDS: Record<string, string> = {
  maxBatchSize: 'max_batch_size',
  maxQueueDelayUs: 'dynamic_batching.max_queue_delay_microseconds',
  preferredBatchSizes: 'dynamic_batching.preferred_batch_size',
  instances: 'instance_group[].count (summed)',
  maxQueueSize: 'dynamic_batching.default_queue_policy.max_queue_size',
  defaultTimeoutUs: 'dynamic_batching.default_queue_policy.default_timeout_microseconds',
  priorityLevels: 'dynamic_batching.priority_levels',
  defaultPriority: 'dynamic_batching.default_priority_level',
  intraOpNumThreads: 'parameters["intra_op_thread_count"]',
  interOpNumThreads: 'parameters["inter_op_thread_count"]',
};

/**
 * Runs options made from a configuration through createModel()'s own validation, so a value
 * the configuration format allows but ortex does not (e.g. 300 instances) is refused before
 * anything loads, as an ERR_MODEL_CONFIG naming the file and the configuration field.
 * @example
 * const options = validateModelOptions(config, toModelOptions(config));
 */
export function validateModelOptions(config: ModelConfig, options: ModelOptions): ModelOptions {
  try {
    normalizeModelOptions(options);
  } catch (err) {
    let message = (err as Error).message;
    for (const [key, field] of Object.entries(CONFIG_FIELDS)) {
      message = message.replace(` for ${key} but`, ` for ${field} (${key}) but`);
    }
    throw new OrtexError('ERR_MODEL_CONFIG', `${config.configFile ?? config.name}: ${message}`, { cause: err });
  }
  return options;
}
