import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type ModelConfig,
  defaultModelConfig,
  parseModelConfig,
  readModelConfig,
  toModelOptions,
  validateModelOptions,
} from '../src/repository/model-config.js';
import { type ModelOptions, normalizeModelOptions } from '../src/model-options.js';
import { normalizeSessionOptions } from '../src/session-options.js';

/** A click-through-rate ranking model's configuration as a Triton user writes it. */
const CTR_PBTXT = `
# Triton model configuration: click-through-rate ranking MLP
name: "ctr"
platform: "onnxruntime_onnx"
max_batch_size: 64
version_policy: { latest: { num_versions: 2 } }
input [
  {
    name: "dense"
    data_type: TYPE_FP32
    dims: [ 13 ]
  },
  {
    name: "sparse"
    data_type: TYPE_INT64
    dims: [ 26 ]
  },
  {
    name: "mask"
    data_type: TYPE_BOOL
    dims: [ -1 ]
    optional: true
  }
]
output [
  {
    name: "probability"
    data_type: TYPE_FP32
    dims: [ 1 ]
    label_filename: "labels.txt"
  }
]
instance_group [
  { count: 2, kind: KIND_CPU },
  { count: 1, kind: KIND_GPU, gpus: [ 0, 1 ] }
]
dynamic_batching {
  preferred_batch_size: [ 16, 32 ]
  max_queue_delay_microseconds: 500
  priority_levels: 2
  default_priority_level: 2
  default_queue_policy {
    timeout_action: REJECT
    default_timeout_microseconds: 100000
    allow_timeout_override: true
    max_queue_size: 1024
  }
  priority_queue_policy {
    key: 1
    value: { timeout_action: DELAY max_queue_size: 256 }
  }
}
optimization {
  graph: { level: 1 }
  execution_accelerators {
    gpu_execution_accelerator : [ {
      name : "tensorrt"
      parameters { key: "precision_mode" value: "FP16" }
      parameters { key: "max_workspace_size_bytes" value: "1073741824" }
      parameters { key: "trt_engine_cache_enable" value: "1" }
      parameters { key: "trt_engine_cache_path" value: "/tmp/trt" }
      parameters { key: "trt_builder_optimization_level" value: "3" }
    } ]
    cpu_execution_accelerator : [ { name : "openvino" } ]
  }
  input_pinned_memory { enable: true }
}
parameters { key: "intra_op_thread_count" value: { string_value: "2" } }
parameters { key: "inter_op_thread_count" value: { string_value: "1" } }
parameters { key: "execution_mode" value: { string_value: "1" } }
parameters { key: "gpu_mem_limit" value: { string_value: "4294967296" } }
response_cache { enable: true }
model_warmup [
  {
    name: "zeros"
    batch_size: 8
    inputs {
      key: "dense"
      value: { data_type: TYPE_FP32 dims: [ 13 ] zero_data: true }
    }
    inputs {
      key: "sparse"
      value: { data_type: TYPE_INT64 dims: [ 26 ] random_data: true }
    }
    count: 2
  }
]
metric_tags { key: "team" value: "ranking" }
`;

/** The same configuration in protobuf's JSON form (64-bit integers as strings, as protobuf writes them). */
const CTR_JSON = {
  name: 'ctr',
  platform: 'onnxruntime_onnx',
  max_batch_size: 64,
  version_policy: { latest: { num_versions: 2 } },
  input: [
    { name: 'dense', data_type: 'TYPE_FP32', dims: ['13'] },
    { name: 'sparse', data_type: 'TYPE_INT64', dims: ['26'] },
    { name: 'mask', data_type: 'TYPE_BOOL', dims: ['-1'], optional: true },
  ],
  output: [{ name: 'probability', data_type: 'TYPE_FP32', dims: [1], label_filename: 'labels.txt' }],
  instance_group: [
    { count: 2, kind: 'KIND_CPU' },
    { count: 1, kind: 'KIND_GPU', gpus: [0, 1] },
  ],
  dynamic_batching: {
    preferred_batch_size: [16, 32],
    max_queue_delay_microseconds: '500',
    priority_levels: '2',
    default_priority_level: 2,
    default_queue_policy: { timeout_action: 'REJECT', default_timeout_microseconds: 100000, allow_timeout_override: true, max_queue_size: 1024 },
    priority_queue_policy: { '1': { timeout_action: 'DELAY', max_queue_size: 256 } },
  },
  optimization: {
    graph: { level: 1 },
    execution_accelerators: {
      gpu_execution_accelerator: [
        {
          name: 'tensorrt',
          parameters: {
            precision_mode: 'FP16',
            max_workspace_size_bytes: '1073741824',
            trt_engine_cache_enable: '1',
            trt_engine_cache_path: '/tmp/trt',
            trt_builder_optimization_level: '3',
          },
        },
      ],
      cpu_execution_accelerator: [{ name: 'openvino' }],
    },
    input_pinned_memory: { enable: true },
  },
  parameters: {
    intra_op_thread_count: { string_value: '2' },
    inter_op_thread_count: { string_value: '1' },
    execution_mode: { string_value: '1' },
    gpu_mem_limit: { string_value: '4294967296' },
  },
  response_cache: { enable: true },
  model_warmup: [
    {
      name: 'zeros',
      batch_size: 8,
      inputs: {
        dense: { data_type: 'TYPE_FP32', dims: [13], zero_data: true },
        sparse: { data_type: 'TYPE_INT64', dims: [26], random_data: true },
      },
      count: 2,
    },
  ],
  metric_tags: { team: 'ranking' },
};

const CTR_EXPECTED: Omit<ModelConfig, 'configFile'> = {
  name: 'ctr',
  platform: 'onnxruntime_onnx',
  backend: 'onnxruntime',
  defaultModelFilename: 'model.onnx',
  maxBatchSize: 64,
  inputs: [
    { name: 'dense', dataType: 'TYPE_FP32', type: 'float32', dims: [13], optional: false, format: 'FORMAT_NONE' },
    { name: 'sparse', dataType: 'TYPE_INT64', type: 'int64', dims: [26], optional: false, format: 'FORMAT_NONE' },
    { name: 'mask', dataType: 'TYPE_BOOL', type: 'bool', dims: [-1], optional: true, format: 'FORMAT_NONE' },
  ],
  outputs: [{ name: 'probability', dataType: 'TYPE_FP32', type: 'float32', dims: [1], labelFilename: 'labels.txt' }],
  versionPolicy: { kind: 'latest', numVersions: 2 },
  dynamicBatching: {
    maxQueueDelayUs: 500,
    preferredBatchSizes: [16, 32],
    preserveOrdering: false,
    priorityLevels: 2,
    defaultPriorityLevel: 2,
    defaultQueuePolicy: { timeoutAction: 'REJECT', defaultTimeoutUs: 100000, allowTimeoutOverride: true, maxQueueSize: 1024 },
    priorityQueuePolicy: { 1: { timeoutAction: 'DELAY', defaultTimeoutUs: 0, allowTimeoutOverride: false, maxQueueSize: 256 } },
  },
  instanceGroups: [
    { kind: 'KIND_CPU', count: 2, gpus: [] },
    { kind: 'KIND_GPU', count: 1, gpus: [0, 1] },
  ],
  optimization: {
    graphLevel: 1,
    gpuExecutionAccelerators: [
      {
        name: 'tensorrt',
        parameters: {
          precision_mode: 'FP16',
          max_workspace_size_bytes: '1073741824',
          trt_engine_cache_enable: '1',
          trt_engine_cache_path: '/tmp/trt',
          trt_builder_optimization_level: '3',
        },
      },
    ],
    cpuExecutionAccelerators: [{ name: 'openvino', parameters: {} }],
  },
  parameters: { intra_op_thread_count: '2', inter_op_thread_count: '1', execution_mode: '1', gpu_mem_limit: '4294967296' },
  responseCache: { enable: true },
  warmup: [
    {
      name: 'zeros',
      batchSize: 8,
      count: 2,
      inputs: {
        dense: { dataType: 'TYPE_FP32', type: 'float32', dims: [13], data: 'zero' },
        sparse: { dataType: 'TYPE_INT64', type: 'int64', dims: [26], data: 'random' },
      },
    },
  ],
  metricTags: { team: 'ranking' },
};

/** Modelled on the ONNX DenseNet of Triton's quick start. */
const DENSENET_PBTXT = `
name: "densenet_onnx"
platform: "onnxruntime_onnx"
max_batch_size : 0
input [
  {
    name: "data_0"
    data_type: TYPE_FP32
    format: FORMAT_NCHW
    dims: [ 3, 224, 224 ]
    reshape { shape: [ 1, 3, 224, 224 ] }
  }
]
output [
  {
    name: "fc6_1"
    data_type: TYPE_FP32
    dims: [ 1000 ]
    reshape { shape: [ 1, 1000, 1, 1 ] }
    label_filename: "densenet_labels.txt"
  }
]
`;

let repo: string;
const write = async (model: string, file: string, text: string) => {
  await mkdir(join(repo, model), { recursive: true });
  await writeFile(join(repo, model, file), text);
  return join(repo, model);
};

beforeAll(async () => {
  repo = await mkdtemp(join(tmpdir(), 'ortex-model-config-'));
});
afterAll(async () => {
  await rm(repo, { recursive: true, force: true });
});

function withoutFile(c: ModelConfig): Omit<ModelConfig, 'configFile'> {
  const { configFile: _, ...rest } = c;
  return rest;
}

describe('readModelConfig()', () => {
  it('reads a realistic config.pbtxt', async () => {
    const dir = await write('ctr', 'config.pbtxt', CTR_PBTXT);
    const config = await readModelConfig(dir);
    expect(config.configFile).toBe(join(dir, 'config.pbtxt'));
    expect(withoutFile(config)).toEqual(CTR_EXPECTED);
  });

  it('gives the same ModelConfig for the same configuration in config.json', async () => {
    const pb = await readModelConfig(join(repo, 'ctr'));
    const dir = await write('json/ctr', 'config.json', JSON.stringify(CTR_JSON, null, 2));
    const js = await readModelConfig(dir);
    expect(js.configFile).toBe(join(dir, 'config.json'));
    expect(withoutFile(js)).toEqual(withoutFile(pb));
  });

  it("reads Triton's DenseNet example with format and reshape", async () => {
    const config = await readModelConfig(await write('densenet_onnx', 'config.pbtxt', DENSENET_PBTXT));
    expect(config.maxBatchSize).toBe(0);
    expect(config.dynamicBatching).toBeUndefined();
    expect(config.inputs).toEqual([
      { name: 'data_0', dataType: 'TYPE_FP32', type: 'float32', dims: [3, 224, 224], optional: false, format: 'FORMAT_NCHW', reshape: [1, 3, 224, 224] },
    ]);
    expect(config.outputs[0]).toEqual({
      name: 'fc6_1', dataType: 'TYPE_FP32', type: 'float32', dims: [1000], reshape: [1, 1000, 1, 1], labelFilename: 'densenet_labels.txt',
    });
  });

  it('gives the defaults to a directory without a configuration file', async () => {
    await mkdir(join(repo, 'bare'), { recursive: true });
    const config = await readModelConfig(join(repo, 'bare'));
    expect(config).toEqual(defaultModelConfig('bare'));
    expect(config.configFile).toBeUndefined();
  });

  it('accepts an empty config.pbtxt and a minimal config.json', async () => {
    expect(withoutFile(await readModelConfig(await write('empty', 'config.pbtxt', '# nothing\n')))).toEqual(defaultModelConfig('empty'));
    const config = await readModelConfig(await write('mini', 'config.json', '{"backend": "onnxruntime", "max_batch_size": 4, "dynamic_batching": {}}'));
    expect(config.maxBatchSize).toBe(4);
    expect(config.dynamicBatching).toEqual({
      maxQueueDelayUs: 0, preferredBatchSizes: [], preserveOrdering: false, priorityLevels: 0, defaultPriorityLevel: 0,
      defaultQueuePolicy: { timeoutAction: 'REJECT', defaultTimeoutUs: 0, allowTimeoutOverride: false, maxQueueSize: 0 },
      priorityQueuePolicy: {},
    });
  });

  it('reads the version policies', () => {
    const policy = (text: string) => parseModelConfig(`version_policy: { ${text} }`, { file: 'v/config.pbtxt', modelName: 'v' }).versionPolicy;
    expect(policy('all {}')).toEqual({ kind: 'all' });
    expect(policy('specific { versions: [1, 3] }')).toEqual({ kind: 'specific', versions: [1, 3] });
    expect(policy('latest { num_versions: 3 }')).toEqual({ kind: 'latest', numVersions: 3 });
  });

  it('refuses a directory with both config.json and config.pbtxt', async () => {
    await write('both', 'config.json', '{}');
    const dir = await write('both', 'config.pbtxt', '');
    const err = (await readModelConfig(dir).then(() => ({}), (e: unknown) => e)) as { code?: string; message?: string };
    expect(err.code).toBe('ERR_MODEL_CONFIG');
    expect(err.message).toMatch(/both config\.json and config\.pbtxt/);
  });

  it('refuses a missing model directory with ERR_MODEL_NOT_FOUND', async () => {
    const err = (await readModelConfig(join(repo, 'nope')).then(() => ({}), (e: unknown) => e)) as { code?: string; status?: number };
    expect(err.code).toBe('ERR_MODEL_NOT_FOUND');
    expect(err.status).toBe(404);
  });
});

describe('parseModelConfig() errors', () => {
  const pb = (text: string) => () => parseModelConfig(text, { file: 'repo/m/config.pbtxt', modelName: 'm' });
  const js = (value: unknown) => () =>
    parseModelConfig(typeof value === 'string' ? value : JSON.stringify(value), { file: 'repo/m/config.json', modelName: 'm' });
  const cases: Array<[string, () => unknown, RegExp]> = [
    ['an unknown field', pb('max_batch: 8'), /config\.pbtxt: Expected one of the fields name, platform, .* for the configuration but received the unknown field 'max_batch'/],
    ['an unknown nested field', pb('max_batch_size: 4 dynamic_batching { max_delay: 5 }'), /Expected one of the fields preferred_batch_size, .* for dynamic_batching but received the unknown field 'max_delay'/],
    ['an unknown field in a list item', pb('input [ { name: "x" data_type: TYPE_FP32 dim: [1] } ]'), /for input\[0\] but received the unknown field 'dim'/],
    ['camelCase names in JSON', js({ maxBatchSize: 8 }), /config\.json: .* but received the unknown field 'maxBatchSize'/],
    ['a string for an integer in text format', pb('max_batch_size: "8"'), /Expected an integer from 0 to 2147483647 for max_batch_size but received string "8"/],
    ['a negative max_batch_size', js({ max_batch_size: -1 }), /config\.json: Expected an integer from 0 to 2147483647 for max_batch_size but received number -1/],
    ['a field given twice', pb('max_batch_size: 1 max_batch_size: 2'), /for max_batch_size but received array of length 2/],
    ['a message given twice', pb('optimization {} optimization {}'), /Expected a single message \(the field is not repeated\) for optimization but received it 2 times/],
    ['a repeated field that is not an array in JSON', js({ input: { name: 'x' } }), /Expected an array \(a repeated field\) for input but received object/],
    ['malformed JSON', js('{"max_batch_size": }'), /config\.json: Expected a JSON object for the configuration but received malformed JSON/],
    ['a JSON array', js([]), /Expected a message \(an object of fields\) for the configuration but received array/],
    ['a pbtxt syntax error', pb('input {'), /config\.pbtxt:1:8: Expected a field name or '\}' but received the end of the file/],
    ['another platform', pb('platform: "tensorrt_plan"'), /Expected onnxruntime_onnx .* for platform but received string "tensorrt_plan"/],
    ['another backend', js({ backend: 'python' }), /Expected onnxruntime .* for backend but received string "python"/],
    ['a name that is not the directory', pb('name: "other"'), /Expected the model directory's name 'm' for name but received string "other"/],
    ['an unknown data type', pb('input { name: "x" data_type: TYPE_FLOAT dims: [1] }'), /Expected one of TYPE_BOOL, .* for input\[0\]\.data_type but received string "TYPE_FLOAT"/],
    ['a missing data type', pb('output { name: "y" dims: [1] }'), /Expected a data type .* for output\[0\]\.data_type but received undefined/],
    ['a missing name', pb('input { data_type: TYPE_FP32 dims: [1] }'), /Expected a non-empty name for input\[0\]\.name/],
    ['a zero dimension', pb('input { name: "x" data_type: TYPE_FP32 dims: [4, 0] }'), /Expected a dimension >= 1, or -1 for any size for input\[0\]\.dims\[1\] but received number 0/],
    ['duplicate input names', pb('input { name: "x" data_type: TYPE_FP32 } input { name: "x" data_type: TYPE_FP32 }'), /Expected unique input names for input\[1\]\.name but received string "x"/],
    ['a ragged input', pb('input { name: "x" data_type: TYPE_FP32 allow_ragged_batch: true }'), /Expected no allow_ragged_batch .* for input\[0\]\.allow_ragged_batch but received boolean true/],
    ['a preferred size over max_batch_size', pb('max_batch_size: 8 dynamic_batching { preferred_batch_size: [4, 16] }'), /Expected a batch size from 1 to max_batch_size 8 for dynamic_batching\.preferred_batch_size\[1\] but received number 16/],
    ['a default priority out of range', pb('max_batch_size: 8 dynamic_batching { priority_levels: 2 default_priority_level: 3 }'), /Expected a level from 1 to priority_levels 2 for dynamic_batching\.default_priority_level but received number 3/],
    ['a priority queue policy for a missing level', pb('max_batch_size: 8 dynamic_batching { priority_levels: 1 default_priority_level: 1 priority_queue_policy { key: 2 value { } } }'), /for dynamic_batching\.priority_queue_policy but received the key 2/],
    ['a bad timeout action', pb('max_batch_size: 8 dynamic_batching { default_queue_policy { timeout_action: DROP } }'), /Expected one of REJECT, DELAY for dynamic_batching\.default_queue_policy\.timeout_action but received string "DROP"/],
    ['sequence batching', pb('sequence_batching { }  sequence_batching { max_sequence_idle_microseconds: 5 }'), /Expected no sequence_batching \(ortex has no sequence batcher\) for sequence_batching/],
    ['an ensemble', pb('ensemble_scheduling { step { model_name: "a" } }'), /Expected no ensemble_scheduling \(ortex has no ensembles\) for ensemble_scheduling/],
    ['a decoupled model', pb('model_transaction_policy { decoupled: true }'), /Expected no decoupled \(ortex answers each request exactly once\) for model_transaction_policy\.decoupled but received boolean true/],
    ['GPUs on a CPU instance group', pb('instance_group { kind: KIND_CPU gpus: [0] }'), /Expected no gpus for a KIND_CPU instance group for instance_group\[0\]\.gpus/],
    ['a negative instance count', pb('instance_group { count: -1 }'), /Expected an integer from 0 to 2147483647 for instance_group\[0\]\.count but received number -1/],
    ['a bad instance kind', js({ instance_group: [{ kind: 'KIND_TPU' }] }), /Expected one of KIND_AUTO, KIND_GPU, KIND_CPU, KIND_MODEL for instance_group\[0\]\.kind/],
    ['a rate limiter', pb('instance_group { rate_limiter { priority: 2 } }'), /Expected no rate_limiter \(ortex has no rate limiter\) for instance_group\[0\]\.rate_limiter/],
    ['a CPU accelerator on the GPU', pb('optimization { execution_accelerators { gpu_execution_accelerator: [ { name: "openvino" } ] } }'), /Expected tensorrt or cuda \(the GPU accelerators of ONNX Runtime\) for optimization\.execution_accelerators\.gpu_execution_accelerator\[0\]\.name but received string "openvino"/],
    ['a bad TensorRT precision', pb('optimization { execution_accelerators { gpu_execution_accelerator: [ { name: "tensorrt" parameters { key: "precision_mode" value: "FP8" } } ] } }'), /Expected FP32, FP16, BF16 or INT8 for optimization\.execution_accelerators\.gpu_execution_accelerator\[0\]\.parameters\["precision_mode"\] but received string "FP8"/],
    ['an unknown TensorRT parameter', js({ optimization: { execution_accelerators: { gpu_execution_accelerator: [{ name: 'tensorrt', parameters: { fast: '1' } }] } } }), /Expected a TensorRT parameter .* for optimization\.execution_accelerators\.gpu_execution_accelerator\[0\]\.parameters but received the key 'fast'/],
    ['a non-string accelerator parameter', js({ optimization: { execution_accelerators: { gpu_execution_accelerator: [{ name: 'cuda', parameters: { gpu_mem_limit: 5 } }] } } }), /Expected a string for optimization\.execution_accelerators\.gpu_execution_accelerator\[0\]\.parameters\["gpu_mem_limit"\] but received number 5/],
    ['CUDA graphs of the TensorRT backend', pb('optimization { cuda { graphs: true } }'), /Expected no cuda \(supported by Triton for TensorRT models only\) for optimization\.cuda/],
    ['a bad thread count', pb('parameters { key: "intra_op_thread_count" value: { string_value: "two" } }'), /Expected a thread count \(0: ONNX Runtime chooses\) for parameters\["intra_op_thread_count"\]\.string_value but received string "two"/],
    ['a bad execution mode', js({ parameters: { execution_mode: { string_value: 'parallel' } } }), /config\.json: Expected "0" \(sequential\) or "1" \(parallel\) for parameters\["execution_mode"\]\.string_value/],
    ['a parameter that is not a message', js({ parameters: { x: '1' } }), /Expected a message \(an object of fields\) for parameters\["x"\] but received string "1"/],
    ['a map entry without a key', pb('parameters { value { string_value: "1" } }'), /Expected a key for parameters entry key but received undefined/],
    ['a warm-up input without data', pb('model_warmup { name: "w" inputs { key: "x" value { data_type: TYPE_FP32 dims: [1] } } }'), /Expected exactly one of zero_data, random_data, input_data_file for model_warmup\[0\]\.inputs\["x"\] but received none/],
    ['a warm-up of an unknown input', pb('input { name: "x" data_type: TYPE_FP32 dims: [1] } model_warmup { name: "w" inputs { key: "y" value { data_type: TYPE_FP32 dims: [1] zero_data: true } } }'), /Expected an input of the model \(x\) for model_warmup\[0\]\.inputs but received the key 'y'/],
    ['a warm-up batch over max_batch_size', pb('max_batch_size: 4 model_warmup { name: "w" batch_size: 8 }'), /Expected a batch size from 1 to 4 \(max_batch_size 4\) for model_warmup\[0\]\.batch_size but received number 8/],
    ['two version policies', pb('version_policy { all {} latest {} }'), /Expected one of latest, all, specific for version_policy but received latest and all/],
    ['a specific policy without versions', pb('version_policy { specific { } }'), /Expected at least one version for version_policy\.specific\.versions/],
    ['a non-boolean cache switch', pb('response_cache { enable: 1 }'), /Expected true or false for response_cache\.enable but received number 1/],
  ];
  for (const [what, fn, message] of cases) {
    it(`rejects ${what}, naming the file and the field`, () => {
      let err: { code?: string; status?: number; message: string } | undefined;
      try {
        fn();
      } catch (e) {
        err = e as typeof err;
      }
      expect(err?.code).toBe('ERR_MODEL_CONFIG');
      expect(err?.status).toBe(400);
      expect(err?.message).toMatch(/^repo\/m\/config\.(pbtxt|json)(:\d+:\d+)?: Expected /);
      expect(err?.message).toMatch(message);
    });
  }
});

describe('toModelOptions()', () => {
  it("maps the realistic configuration to the batched model's options", () => {
    const config = parseModelConfig(CTR_PBTXT, { file: 'ctr/config.pbtxt', modelName: 'ctr' });
    expect(toModelOptions(config)).toEqual({
      maxBatchSize: 64,
      maxQueueDelayUs: 500,
      preferredBatchSizes: [16, 32],
      instances: 4, // 2 on the CPU + 1 on each of 2 GPUs
      maxQueueSize: 1024,
      defaultTimeoutUs: 100000,
      priorityLevels: 2,
      defaultPriority: 2,
      intraOpNumThreads: 2,
      interOpNumThreads: 1,
      executionMode: 'parallel',
      graphOptimizationLevel: 'extended',
      executionProviders: [
        {
          name: 'tensorrt',
          deviceId: 0,
          fp16: true,
          maxWorkspaceSize: 1073741824,
          engineCacheEnable: true,
          engineCachePath: '/tmp/trt',
          extra: { trt_builder_optimization_level: '3' },
        },
        { name: 'cuda', deviceId: 0, gpuMemLimit: 4294967296 },
        { name: 'openvino' },
        'cpu',
      ],
    });
  });

  it('gives options that the session-option validator accepts', () => {
    const o = toModelOptions(parseModelConfig(CTR_PBTXT, { file: 'ctr/config.pbtxt', modelName: 'ctr' }));
    const n = normalizeSessionOptions({
      executionProviders: o.executionProviders,
      intraOpNumThreads: o.intraOpNumThreads,
      interOpNumThreads: o.interOpNumThreads,
      executionMode: o.executionMode,
      graphOptimizationLevel: o.graphOptimizationLevel,
    });
    expect(n.executionProviders.map((p) => p.name)).toEqual(['tensorrt', 'cuda', 'openvino', 'cpu']);
    expect(n.executionProviders[0]!.options).toContainEqual(['trt_fp16_enable', '1']);
  });

  it("gives createModel's own options, which its validation (normalizeModelOptions) accepts as they are", () => {
    const config = parseModelConfig(CTR_PBTXT, { file: 'ctr/config.pbtxt', modelName: 'ctr' });
    const options: ModelOptions = toModelOptions(config);
    const n = normalizeModelOptions(options);
    expect(n.batcher).toEqual({
      maxBatchSize: 64, maxQueueDelayUs: 500, preferredBatchSizes: [16, 32], instances: 4, maxQueueSize: 1024, priorityLevels: 2, latencyTargetUs: 0,
    });
    expect(n.defaultTimeoutUs).toBe(100000);
    expect(n.defaultPriority).toBe(2);
    expect(n.session.executionProviders.map((p) => p.name)).toEqual(['tensorrt', 'cuda', 'openvino', 'cpu']);
    expect(validateModelOptions(config, options)).toBe(options);
    expect(normalizeModelOptions(toModelOptions(defaultModelConfig('m'))).batcher.maxBatchSize).toBe(0);
  });

  it("refuses, naming the file and the configuration field, a value the format allows but createModel does not", () => {
    const config = parseModelConfig('max_batch_size: 8 instance_group [ { count: 200 }, { count: 100 } ]', { file: 'repo/m/config.pbtxt', modelName: 'm' });
    let err: { code?: string; message: string } | undefined;
    try {
      validateModelOptions(config, toModelOptions(config));
    } catch (e) {
      err = e as typeof err;
    }
    expect(err?.code).toBe('ERR_MODEL_CONFIG');
    expect(err?.message).toBe('repo/m/config.pbtxt: Expected an integer from 1 to 256 for instance_group[].count (summed) (instances) but received number 300');
  });

  it('runs a configuration without instance groups or accelerators on one CPU instance, with Triton defaults', () => {
    expect(toModelOptions(defaultModelConfig('m'))).toEqual({
      maxBatchSize: 0, maxQueueDelayUs: 0, preferredBatchSizes: [], instances: 1, maxQueueSize: 0, defaultTimeoutUs: 0,
      priorityLevels: 1, defaultPriority: 1, intraOpNumThreads: 0, interOpNumThreads: 0, executionMode: 'sequential',
      graphOptimizationLevel: 'all', executionProviders: ['cpu'],
    });
  });

  it("follows Triton's ONNX Runtime backend for graph levels", () => {
    const level = (l: number) => toModelOptions(parseModelConfig(`optimization { graph { level: ${l} } }`, { file: 'f.pbtxt', modelName: 'm' })).graphOptimizationLevel;
    expect([-1, 0, 1, 2, 5].map(level)).toEqual(['basic', 'all', 'extended', 'disabled', 'all']);
  });

  it('maps CUDA parameters, model-level ones first, and a GPU device from the instance group', () => {
    const config = parseModelConfig(
      `instance_group { kind: KIND_GPU gpus: [3] count: 2 }
       parameters { key: "cudnn_conv_algo_search" value { string_value: "1" } }
       parameters { key: "arena_extend_strategy" value { string_value: "1" } }
       optimization { execution_accelerators { gpu_execution_accelerator: [ { name: "cuda" parameters { key: "cudnn_conv_algo_search" value: "DEFAULT" } parameters { key: "use_ep_level_unified_stream" value: "1" } } ] } }`,
      { file: 'f.pbtxt', modelName: 'm' },
    );
    const o = toModelOptions(config);
    expect(o.instances).toBe(2);
    expect(o.executionProviders).toEqual([
      { name: 'cuda', deviceId: 3, cudnnConvAlgoSearch: 'DEFAULT', arenaExtendStrategy: 'kSameAsRequested', extra: { use_ep_level_unified_stream: '1' } },
      'cpu',
    ]);
  });

  it('refuses a TensorRT switch that is not a boolean, naming the file and the field', () => {
    const config = parseModelConfig(
      'optimization { execution_accelerators { gpu_execution_accelerator: [ { name: "tensorrt" parameters { key: "trt_engine_cache_enable" value: "yes" } } ] } }',
      { file: 'repo/m/config.pbtxt', modelName: 'm' },
    );
    expect(() => toModelOptions(config)).toThrow(
      /repo\/m\/config\.pbtxt: Expected "1", "0", "true" or "false" for optimization\.execution_accelerators\.gpu_execution_accelerator\[0\]\.parameters\["trt_engine_cache_enable"\] but received "yes"/,
    );
  });
});
