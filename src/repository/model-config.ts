/**
 * Reads the configuration of one model of a Triton-style repository:
 * `<repo>/<model>/config.json` (Triton's field names in protobuf's JSON form) or
 * `<repo>/<model>/config.pbtxt` (protobuf text format, the same fields), so an existing
 * Triton ONNX model repository serves unchanged. Checked as strictly as Triton checks:
 * an unknown field, a value of the wrong kind or range, or a Triton feature ortex does not
 * have is an ERR_MODEL_CONFIG naming the file, the field and what was expected.
 */

import { readFile, stat } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { OrtexError } from '../errors.js';
import { type ConfigFormat, type ConfigSource, Fields, configError, raw, readString } from './config-fields.js';
import {
  readDynamicBatching,
  readInput,
  readInstanceGroup,
  readOptimization,
  readOutput,
  readParameters,
  readVersionPolicy,
  readWarmup,
} from './config-messages.js';
import type { ModelConfig } from './model-config-types.js';
import { parsePbtxt } from './pbtxt.js';

export type * from './model-config-types.js';
export { toModelOptions, validateModelOptions } from './model-options.js';

const INT32_MAX = 0x7fffffff;

/** The configuration of a model whose directory has no configuration file: Triton's defaults. */
export function defaultModelConfig(modelName: string): ModelConfig {
  return {
    name: modelName,
    platform: 'onnxruntime_onnx',
    backend: 'onnxruntime',
    defaultModelFilename: 'model.onnx',
    maxBatchSize: 0,
    inputs: [],
    outputs: [],
    versionPolicy: { kind: 'latest', numVersions: 1 },
    instanceGroups: [],
    optimization: { graphLevel: 0, gpuExecutionAccelerators: [], cpuExecutionAccelerators: [] },
    parameters: {},
    responseCache: { enable: false },
    warmup: [],
    metricTags: {},
  };
}

function uniqueNames(src: ConfigSource, field: string, items: ReadonlyArray<{ name: string }>): void {
  const seen = new Set<string>();
  items.forEach((item, i) => {
    if (seen.has(item.name)) throw configError(src, `unique ${field} names`, `${field}[${i}].name`, item.name);
    seen.add(item.name);
  });
}

function readConfig(f: Fields, modelName: string): ModelConfig {
  const { src } = f;
  const config = defaultModelConfig(modelName);
  config.configFile = src.file;
  const name = f.string('name');
  if (name && name !== modelName) throw configError(src, `the model directory's name '${modelName}'`, 'name', name);
  const platform = f.string('platform');
  if (platform && platform !== 'onnxruntime_onnx') {
    throw configError(src, 'onnxruntime_onnx (ortex serves ONNX models with ONNX Runtime)', 'platform', platform);
  }
  const backend = f.string('backend');
  if (backend && backend !== 'onnxruntime') {
    throw configError(src, 'onnxruntime (ortex serves ONNX models with ONNX Runtime)', 'backend', backend);
  }
  f.unsupported({
    runtime: 'ortex is its own runtime',
    sequence_batching: 'ortex has no sequence batcher',
    ensemble_scheduling: 'ortex has no ensembles',
    batch_input: 'ortex has no batch inputs',
    batch_output: 'ortex has no batch outputs',
    model_repository_agents: 'ortex has no repository agents',
    cc_model_filenames: 'ortex loads default_model_filename on every device',
    model_operations: 'custom operator libraries are not read from the configuration yet',
    model_metrics: "ortex's histogram buckets are fixed",
  });
  f.message('model_transaction_policy', (t) => t.unsupported({ decoupled: 'ortex answers each request exactly once' }));
  config.maxBatchSize = f.int('max_batch_size', 0, INT32_MAX) ?? 0;
  config.inputs = f.messages('input', readInput);
  uniqueNames(src, 'input', config.inputs);
  config.outputs = f.messages('output', readOutput);
  uniqueNames(src, 'output', config.outputs);
  config.versionPolicy = f.message('version_policy', readVersionPolicy) ?? config.versionPolicy;
  const batching = f.message('dynamic_batching', (d) => readDynamicBatching(d, config.maxBatchSize));
  if (batching) config.dynamicBatching = batching;
  config.instanceGroups = f.messages('instance_group', readInstanceGroup);
  config.optimization = f.message('optimization', readOptimization) ?? config.optimization;
  config.parameters = readParameters(f);
  config.responseCache = { enable: f.message('response_cache', (r) => r.bool('enable') ?? false) ?? false };
  const inputNames = new Set(config.inputs.map((i) => i.name));
  config.warmup = f.messages('model_warmup', (w) => readWarmup(w, config.maxBatchSize, inputNames));
  config.metricTags = Object.fromEntries(f.map('metric_tags', (v, path) => readString(src, path, v)));
  config.defaultModelFilename = f.string('default_model_filename') || 'model.onnx';
  f.done();
  return config;
}

/**
 * Parses configuration text.
 * @param source `file` names the text in errors; `format` defaults from the file's extension;
 *   `modelName` is the model directory's name.
 * @throws OrtexError ERR_MODEL_CONFIG naming the file, the field and what was expected.
 * @example
 * parseModelConfig('max_batch_size: 8 dynamic_batching { }', { file: 'ctr/config.pbtxt', modelName: 'ctr' });
 */
export function parseModelConfig(text: string, source: { file: string; modelName: string; format?: ConfigFormat }): ModelConfig {
  const format = source.format ?? (source.file.endsWith('.json') ? 'json' : 'pbtxt');
  const src: ConfigSource = { file: source.file, format };
  let tree: unknown;
  if (format === 'json') {
    try {
      tree = JSON.parse(text);
    } catch (err) {
      throw configError(src, 'a JSON object', 'the configuration', raw(`malformed JSON (${(err as Error).message})`));
    }
  } else {
    tree = parsePbtxt(text, source.file);
  }
  return readConfig(new Fields(src, '', tree), source.modelName);
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}

/**
 * Reads `<modelDir>/config.json` or `<modelDir>/config.pbtxt` (not both); a directory with
 * neither gets Triton's defaults, with inputs and outputs left to the model.
 * @throws OrtexError ERR_MODEL_NOT_FOUND when `modelDir` is not a directory; ERR_MODEL_CONFIG
 *   for both files present, an unreadable file, or any configuration error.
 * @example
 * const config = await readModelConfig('models/ctr');
 * const options = toModelOptions(config);
 */
export async function readModelConfig(modelDir: string): Promise<ModelConfig> {
  const dir = resolve(modelDir);
  const modelName = basename(dir);
  try {
    if (!(await stat(dir)).isDirectory()) throw new Error('not a directory');
  } catch (err) {
    throw new OrtexError('ERR_MODEL_NOT_FOUND', `Expected a model directory at ${dir} but received ${(err as Error).message}`, { cause: err });
  }
  const json = join(dir, 'config.json');
  const pbtxt = join(dir, 'config.pbtxt');
  const [hasJson, hasPbtxt] = await Promise.all([isFile(json), isFile(pbtxt)]);
  if (hasJson && hasPbtxt) {
    throw new OrtexError('ERR_MODEL_CONFIG', `${dir}: Expected one configuration file for model '${modelName}' but received both config.json and config.pbtxt`);
  }
  if (!hasJson && !hasPbtxt) return defaultModelConfig(modelName);
  const file = hasJson ? json : pbtxt;
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new OrtexError('ERR_MODEL_CONFIG', `${file}: Expected a readable file but received ${(err as Error).message}`, { cause: err });
  }
  return parseModelConfig(text, { file, modelName, format: hasJson ? 'json' : 'pbtxt' });
}
