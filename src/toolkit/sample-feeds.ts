/**
 * Inputs for comparing models: random ones generated from the model's own input metadata and
 * graph, or samples read from a JSON file.
 *
 * Random values are seeded, so two runs (and two models) see the same inputs:
 * - float inputs: uniform in [-1, 1);
 * - integer inputs used as Gather indices into a constant table (token ids): uniform over the
 *   table's rows, so every id is valid;
 * - integer inputs named like a mask (attention_mask): all ones, the common case;
 * - other integers and bools: 0 or 1.
 * The first dimension, when symbolic, is the batch; other symbolic dimensions need a size
 * from `dims` (e.g. { S: 64 }).
 */
import { readFile } from 'node:fs/promises';
import { dtypeByName, type TensorType } from '../dtypes.js';
import { OrtexError } from '../errors.js';
import type { ValueMetadata } from '../inference-session.js';
import { numberToBfloat16Bits, numberToFloat16Bits } from '../server/float-bits.js';
import { Tensor } from '../tensor.js';
import type { ModelProto } from './onnx-model.js';
import { Prng } from './prng.js';
import { dimsOf } from './tensor-data.js';

export type Feeds = Record<string, Tensor>;

type TensorMeta = Extract<ValueMetadata, { isTensor: true }>;

export interface FeedShape {
  /** Sizes for symbolic dimensions other than the batch, by name. */
  readonly dims?: Readonly<Record<string, number>>;
}

/** Whether every input's first dimension is symbolic or unknown, so samples can be stacked into batches. */
export function hasBatchDimOrDynamic(inputs: readonly ValueMetadata[]): boolean {
  return inputs.every((m) => m.isTensor && m.shape.length > 0 && (typeof m.shape[0] !== 'number' || m.shape[0] === -1));
}

/** Samples per run when the model has a batch dimension. */
const SAMPLES_PER_BATCH = 32;

/** `samples` random samples as feeds: stacked 32 to a batch when the model batches, else one per run. */
export function randomBatches(random: RandomFeeds, samples: number, batched: boolean): Feeds[] {
  const batches: Feeds[] = [];
  for (let left = samples; left > 0; left -= batched ? SAMPLES_PER_BATCH : 1) {
    batches.push(random.next(batched ? Math.min(SAMPLES_PER_BATCH, left) : 1));
  }
  return batches;
}

/** A generator of seeded random feeds with `batch` rows for a model's inputs. */
export class RandomFeeds {
  private readonly prng: Prng;
  private readonly ranges: Map<string, number>;

  constructor(
    private readonly inputs: readonly ValueMetadata[],
    model: ModelProto,
    private readonly shape: FeedShape = {},
    seed = 1,
  ) {
    this.prng = new Prng(seed);
    this.ranges = gatherIndexRanges(model);
    for (const m of inputs) {
      if (!m.isTensor) throw new OrtexError('ERR_INPUT_TYPE', `Input '${m.name}' is a ${m.valueType}; random inputs are made for tensors only: pass samples in a JSON file`);
      if (m.type === 'string') throw new OrtexError('ERR_INPUT_TYPE', `Input '${m.name}' is a string tensor; random strings mean nothing to a model: pass samples in a JSON file`);
      this.dimsFor(m, 1); // fails early on a symbolic size nobody gave
    }
  }

  next(batch: number): Feeds {
    const feeds: Feeds = {};
    for (const m of this.inputs as TensorMeta[]) {
      const dims = this.dimsFor(m, batch);
      feeds[m.name] = new Tensor(m.type, this.values(m, dims.reduce((a, b) => a * b, 1)) as never, dims);
    }
    return feeds;
  }

  private dimsFor(m: TensorMeta, batch: number): number[] {
    return m.shape.map((d, i) => {
      if (typeof d === 'number' && d >= 0) return d;
      if (i === 0) return batch;
      const size = typeof d === 'string' ? this.shape.dims?.[d] : undefined;
      if (size === undefined) {
        const label = typeof d === 'string' ? `'${d}'` : `${i} (unnamed)`;
        throw new OrtexError('ERR_OPTION_INVALID', `Input '${m.name}' has symbolic dimension ${label}: give its size, e.g. --dim ${typeof d === 'string' ? d : 'NAME'}=64`);
      }
      return size;
    });
  }

  private values(m: TensorMeta, count: number): ArrayLike<unknown> {
    const p = this.prng;
    switch (m.type) {
      case 'float32':
      case 'float64':
        const values = m.type === 'float32' ? new Float32Array(count) : new Float64Array(count);
        for (let k = 0; k < count; k++) values[k] = p.next() * 2 - 1;
        return values;
      case 'float16':
        return Uint16Array.from({ length: count }, () => numberToFloat16Bits(p.next() * 2 - 1));
      case 'bfloat16':
        return Uint16Array.from({ length: count }, () => numberToBfloat16Bits(p.next() * 2 - 1));
      default: {
        const info = dtypeByName(m.type)!;
        const rows = this.ranges.get(m.name);
        const draw = rows !== undefined ? () => p.int(rows) : /mask/i.test(m.name) ? () => 1 : () => p.int(2);
        const array = info.array as unknown as { from(v: ArrayLike<unknown>): ArrayLike<unknown> };
        const bigint = info.array === BigInt64Array || info.array === BigUint64Array;
        return array.from(Array.from({ length: count }, () => (bigint ? BigInt(draw()) : draw())));
      }
    }
  }
}

/** Graph inputs used directly as indices of a Gather over a constant table: name -> rows. */
function gatherIndexRanges(model: ModelProto): Map<string, number> {
  const graph = model.graph!;
  const tables = new Map((graph.initializer ?? []).map((t) => [t.name!, t]));
  const ranges = new Map<string, number>();
  for (const node of graph.node ?? []) {
    if (node.opType !== 'Gather' || (node.domain ?? '') !== '') continue;
    const table = tables.get(node.input?.[0] ?? '');
    const ids = node.input?.[1];
    const axis = node.attribute?.find((a) => a.name === 'axis');
    if (!table || !ids || (axis && Number(axis.i) !== 0)) continue;
    const rows = dimsOf(table)[0]!;
    ranges.set(ids, Math.min(ranges.get(ids) ?? rows, rows));
  }
  return ranges;
}

/**
 * Samples from a JSON file: an array of feeds, each input given as `{ "dims": [...], "data": [...] }`
 * (int64 values as numbers or strings; `type` optional, taken from the model).
 */
export async function readSampleFile(path: string, inputs: readonly ValueMetadata[]): Promise<Feeds[]> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readFile(path, 'utf8'));
  } catch (err) {
    throw new OrtexError('ERR_OPTION_INVALID', `Cannot read samples from ${path}: ${(err as Error).message}`);
  }
  const samples = Array.isArray(parsed) ? parsed : (parsed as { samples?: unknown })?.samples;
  if (!Array.isArray(samples) || samples.length === 0) {
    throw new OrtexError('ERR_OPTION_INVALID', `${path} must hold a non-empty JSON array of samples (or { "samples": [...] })`);
  }
  return samples.map((sample, k) => {
    const feeds: Feeds = {};
    for (const m of inputs) {
      const v = (sample as Record<string, { dims?: number[]; data?: unknown[]; type?: string }>)?.[m.name];
      if (!v || !Array.isArray(v.dims) || !Array.isArray(v.data)) {
        throw new OrtexError('ERR_INPUT_MISSING', `Sample ${k} in ${path} has no input '${m.name}' as { "dims": [...], "data": [...] }`);
      }
      const type = (v.type ?? (m.isTensor ? m.type : 'float32')) as TensorType;
      const info = dtypeByName(type);
      if (!info?.array) throw new OrtexError('ERR_INPUT_TYPE', `Sample ${k} input '${m.name}': type ${type} cannot be read from JSON`);
      const bigint = info.array === BigInt64Array || info.array === BigUint64Array;
      const data = (info.array as unknown as { from(v: unknown[]): unknown }).from(bigint ? v.data.map((x) => BigInt(x as number)) : v.data);
      feeds[m.name] = new Tensor(type, data as never, v.dims);
    }
    return feeds;
  });
}
