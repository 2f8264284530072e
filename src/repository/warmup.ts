/**
 * Model warm-up, as Triton's `model_warmup` describes it: each sample is a batch of inputs
 * filled with zeros, random values (zeros for strings, as in Triton) or the raw bytes of a
 * file in the model's warmup/ folder, run `count` times (at least once) before the model
 * is marked ready, so the first real request does not pay for ONNX Runtime's lazy
 * initialisation. A failing sample fails the load.
 */

import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { TensorType } from '../dtypes.js';
import { OrtexError, isErrorCode } from '../errors.js';
import { binaryToData } from '../server/oip-binary-data.js';
import { oipDatatype, ortexToOipType } from '../server/oip-datatypes.js';
import { numberToBfloat16Bits, numberToFloat16Bits } from '../server/float-bits.js';
import { Tensor, type TensorData } from '../tensor.js';
import type { ModelConfig, WarmupConfig, WarmupInputConfig } from './model-config-types.js';
import type { ServedModel } from './unbatched-model.js';

function randomData(type: TensorType, count: number): TensorData {
  const r = () => Math.random() * 2 - 1;
  switch (type) {
    case 'float32': return Float32Array.from({ length: count }, r);
    case 'float64': return Float64Array.from({ length: count }, r);
    case 'float16': return Uint16Array.from({ length: count }, () => numberToFloat16Bits(r()));
    case 'bfloat16': return Uint16Array.from({ length: count }, () => numberToBfloat16Bits(r()));
    case 'bool': return Uint8Array.from({ length: count }, () => (Math.random() < 0.5 ? 0 : 1));
    case 'int64': return BigInt64Array.from({ length: count }, () => BigInt(Math.floor(Math.random() * 128)));
    case 'uint64': return BigUint64Array.from({ length: count }, () => BigInt(Math.floor(Math.random() * 128)));
    case 'string': return new Array<string>(count).fill('');
    default: {
      const zeros = zeroData(type, count) as Exclude<TensorData, string[]>;
      for (let i = 0; i < count; i++) (zeros as Uint8Array)[i] = Math.floor(Math.random() * 128);
      return zeros;
    }
  }
}

function zeroData(type: TensorType, count: number): TensorData {
  if (type === 'string') return new Array<string>(count).fill('');
  const info = oipDatatype(ortexToOipType(type) ?? '');
  if (!info?.array) throw new OrtexError('ERR_MODEL_CONFIG', `warm-up data of type ${type} is not supported`);
  return new info.array(count) as TensorData;
}

async function fileData(config: ModelConfig, modelDir: string, input: WarmupInputConfig, count: number, field: string): Promise<TensorData> {
  const path = join(modelDir, 'warmup', input.inputDataFile!);
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (err) {
    throw new OrtexError('ERR_MODEL_CONFIG', `${config.configFile}: Expected a readable file ${path} for ${field} but received ${(err as Error).message}`);
  }
  const info = oipDatatype(ortexToOipType(input.type) ?? '')!;
  try {
    return binaryToData(info, bytes, 0, bytes.byteLength, count, `the warm-up file ${path}`) as TensorData;
  } catch (err) {
    throw new OrtexError('ERR_MODEL_CONFIG', `${config.configFile}: ${(err as Error).message} (${field})`);
  }
}

async function sampleFeeds(config: ModelConfig, modelDir: string, sample: WarmupConfig, index: number): Promise<Record<string, Tensor>> {
  const feeds: Record<string, Tensor> = {};
  for (const [name, input] of Object.entries(sample.inputs)) {
    const field = `model_warmup[${index}].inputs["${name}"]`;
    const dims = input.dims.map((d) => (d === -1 ? 1 : d));
    const shape = config.maxBatchSize > 0 ? [sample.batchSize, ...dims] : dims;
    const count = shape.reduce((a, d) => a * d, 1);
    const data =
      input.data === 'file' ? await fileData(config, modelDir, input, count, `${field}.input_data_file`)
      : input.data === 'random' ? randomData(input.type, count)
      : zeroData(input.type, count);
    feeds[name] = new Tensor(input.type, data, shape);
  }
  return feeds;
}

/**
 * Runs every warm-up sample of the configuration on the model.
 * @throws the failing run's error, its message prefixed with the configuration file and the
 *   sample (code kept), or ERR_MODEL_CONFIG for a warm-up file that cannot be used.
 */
export async function warmUp(config: ModelConfig, modelDir: string, model: ServedModel): Promise<void> {
  for (let i = 0; i < config.warmup.length; i++) {
    const sample = config.warmup[i]!;
    const feeds = await sampleFeeds(config, modelDir, sample, i);
    for (let run = 0; run < Math.max(1, sample.count); run++) {
      try {
        await model.infer(feeds);
      } catch (err) {
        const e = err as { code?: unknown; message?: string };
        throw new OrtexError(
          isErrorCode(e.code) ? e.code : 'ERR_ORT_FAIL',
          `${config.configFile ?? config.name}: warm-up sample '${sample.name}' (model_warmup[${i}]) failed: ${e.message}`,
          { cause: err },
        );
      }
    }
  }
}
