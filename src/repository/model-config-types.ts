/**
 * A model's configuration as ortex holds it: Triton's ModelConfig (model_config.proto)
 * with camelCase names, units in the names, defaults filled in, and only the parts ortex
 * serves. Read by model-config.ts from config.json or config.pbtxt.
 */

import type { TensorType } from '../dtypes.js';

/** Triton's tensor data types (model_config.proto DataType), TYPE_INVALID excluded. */
export type ConfigDataType =
  | 'TYPE_BOOL' | 'TYPE_UINT8' | 'TYPE_UINT16' | 'TYPE_UINT32' | 'TYPE_UINT64' | 'TYPE_INT8' | 'TYPE_INT16'
  | 'TYPE_INT32' | 'TYPE_INT64' | 'TYPE_FP16' | 'TYPE_FP32' | 'TYPE_FP64' | 'TYPE_STRING' | 'TYPE_BF16';

export interface ModelInputConfig {
  name: string;
  dataType: ConfigDataType;
  /** The ortex tensor type of `dataType`. */
  type: TensorType;
  /** Without the batch dimension when maxBatchSize > 0; -1 for a dimension of any size. */
  dims: number[];
  /** The model can run without this input. */
  optional: boolean;
  format: 'FORMAT_NONE' | 'FORMAT_NHWC' | 'FORMAT_NCHW';
  /** The shape the model itself takes, when it differs from `dims`. */
  reshape?: number[];
}

export interface ModelOutputConfig {
  name: string;
  dataType: ConfigDataType;
  type: TensorType;
  dims: number[];
  reshape?: number[];
  labelFilename?: string;
}

export interface QueuePolicyConfig {
  timeoutAction: 'REJECT' | 'DELAY';
  /** 0: no timeout. */
  defaultTimeoutUs: number;
  allowTimeoutOverride: boolean;
  /** 0: unbounded. */
  maxQueueSize: number;
}

export interface DynamicBatchingConfig {
  maxQueueDelayUs: number;
  preferredBatchSizes: number[];
  preserveOrdering: boolean;
  /** 0: priorities off. Level 1 is the highest. */
  priorityLevels: number;
  /** 0 when priorities are off, else in [1, priorityLevels]. */
  defaultPriorityLevel: number;
  defaultQueuePolicy: QueuePolicyConfig;
  /** Queue policies of particular priority levels, by level. */
  priorityQueuePolicy: Record<number, QueuePolicyConfig>;
}

export interface InstanceGroupConfig {
  name?: string;
  /** KIND_AUTO (the default) runs on a GPU when one is available. */
  kind: 'KIND_AUTO' | 'KIND_GPU' | 'KIND_CPU' | 'KIND_MODEL';
  /** Instances per listed GPU, or in all for CPU. */
  count: number;
  /** GPU device ids; empty means every GPU (or none on a CPU-only machine). */
  gpus: number[];
}

/** An execution accelerator of optimization.execution_accelerators. */
export interface AcceleratorConfig {
  /** 'tensorrt' or 'cuda' for GPU, 'openvino' for CPU. */
  name: string;
  parameters: Record<string, string>;
}

export interface OptimizationConfig {
  /**
   * optimization.graph.level as Triton's ONNX Runtime backend reads it: -1 basic, 1 extended,
   * 2 disabled, anything else (0 by default) all optimizations.
   */
  graphLevel: number;
  gpuExecutionAccelerators: AcceleratorConfig[];
  cpuExecutionAccelerators: AcceleratorConfig[];
}

export interface WarmupInputConfig {
  dataType: ConfigDataType;
  type: TensorType;
  /** Without the batch dimension. */
  dims: number[];
  /** Zeros, random values (zeros for strings, as Triton does), or the bytes of a file. */
  data: 'zero' | 'random' | 'file';
  /** With data 'file': a file in the model's warmup/ folder. */
  inputDataFile?: string;
}

export interface WarmupConfig {
  name: string;
  batchSize: number;
  /** Runs of this sample; 0 and 1 both mean once. */
  count: number;
  inputs: Record<string, WarmupInputConfig>;
}

export type VersionPolicyConfig =
  | { kind: 'latest'; numVersions: number }
  | { kind: 'all' }
  | { kind: 'specific'; versions: number[] };

export interface ModelConfig {
  /** The model's directory name (a `name` in the file must equal it). */
  name: string;
  platform: 'onnxruntime_onnx';
  backend: 'onnxruntime';
  /** The file read, or undefined when the directory has none (all defaults). */
  configFile?: string;
  /** The model file in each version directory. Default 'model.onnx'. */
  defaultModelFilename: string;
  /** 0: the model takes no batch dimension and requests are never batched. */
  maxBatchSize: number;
  /** Empty when the configuration lists none (then the model's own are used). */
  inputs: ModelInputConfig[];
  outputs: ModelOutputConfig[];
  versionPolicy: VersionPolicyConfig;
  /** Present when dynamic batching is on. */
  dynamicBatching?: DynamicBatchingConfig;
  /** Empty: one instance, KIND_AUTO. */
  instanceGroups: InstanceGroupConfig[];
  optimization: OptimizationConfig;
  /** Model parameters (Triton's `parameters { key value { string_value } }`). */
  parameters: Record<string, string>;
  responseCache: { enable: boolean };
  warmup: WarmupConfig[];
  metricTags: Record<string, string>;
}
