/**
 * `ortex compare a.onnx b.onnx`: accuracy, size and latency of a candidate model (b: quantized,
 * converted, optimized) against its reference (a), on the same inputs in the same process.
 *
 * @example
 * ```ts
 * const report = await compareModels('bert_mini.onnx', 'bert_mini.int8.onnx', { random: 1000, dims: { S: 64 } });
 * report.outputs[0].top1Agreement; // 0.994
 * report.latency[0].ratio;         // b's p50 over a's at batch 1
 * ```
 */
import { OrtexError } from '../errors.js';
import { InferenceSession } from '../inference-session.js';
import { readModel } from './onnx-model.js';
import type { OutputComparison } from './output-metrics.js';
import { checkSameInputs, compareOutputs, interleavedLatency, type LatencySummary } from './paired-runs.js';
import { RandomFeeds, hasBatchDimOrDynamic, randomBatches, readSampleFile, type Feeds } from './sample-feeds.js';

export interface CompareOptions {
  /** A JSON file of samples (see readSampleFile); otherwise `random` seeded random inputs. */
  inputs?: string;
  /** Number of random samples (default 1000). */
  random?: number;
  seed?: number;
  /** Sizes of symbolic dimensions other than the batch, e.g. { S: 64 }. */
  dims?: Record<string, number>;
  /** Batch sizes to time (default [1, 32]); models without a batch dimension are timed as they are. */
  batchSizes?: number[];
  /** Timed runs per model and batch size (default 200), after `warmup` (default 20). */
  latencyRuns?: number;
  warmup?: number;
  /** Intra-op threads of both sessions (default: ONNX Runtime's, one per core). */
  intraOpNumThreads?: number;
}

export interface ModelSide {
  readonly path: string;
  readonly bytes: number;
}

export interface LatencyRow {
  readonly batch: number;
  readonly a: LatencySummary;
  readonly b: LatencySummary;
  /** b's p50 over a's: under 1 means b is faster. */
  readonly ratio: number;
}

export interface CompareReport {
  readonly a: ModelSide;
  readonly b: ModelSide;
  /** b's bytes over a's. */
  readonly sizeRatio: number;
  readonly samples: number;
  readonly inputs: 'random' | string;
  readonly seed: number;
  readonly intraOpNumThreads: number | 'default';
  readonly outputs: OutputComparison[];
  readonly latency: LatencyRow[];
}

export async function compareModels(a: string, b: string, options: CompareOptions = {}): Promise<CompareReport> {
  checkOptions(options);
  const [modelA, modelB] = [await readModel(a), await readModel(b)];
  const sessionOptions = options.intraOpNumThreads ? { intraOpNumThreads: options.intraOpNumThreads } : {};
  const sa = await InferenceSession.create(a, sessionOptions);
  let sb: InferenceSession | undefined;
  try {
    sb = await InferenceSession.create(b, sessionOptions);
    checkSameInputs(sa, sb);
    const seed = options.seed ?? 1;
    const batched = hasBatchDimOrDynamic(sa.inputMetadata);
    let samples: number;
    let batches: Feeds[];
    let random: RandomFeeds | undefined;
    if (options.inputs) {
      batches = await readSampleFile(options.inputs, sa.inputMetadata);
      samples = batches.length;
    } else {
      random = new RandomFeeds(sa.inputMetadata, modelA.model, { dims: options.dims }, seed);
      samples = options.random ?? 1000;
      batches = randomBatches(random, samples, batched);
    }
    const outputs = compareOutputs(sa, sb, batches);

    const latency: LatencyRow[] = [];
    const timing = random ?? new RandomFeeds(sa.inputMetadata, modelA.model, { dims: options.dims }, seed);
    for (const batch of batched ? (options.batchSizes ?? [1, 32]) : [1]) {
      const feeds = options.inputs && !batched ? batches[0]! : timing.next(batch);
      const [ta, tb] = interleavedLatency([sa, sb], feeds, options.latencyRuns ?? 200, options.warmup ?? 20);
      latency.push({ batch, a: ta!, b: tb!, ratio: tb!.p50Ms / ta!.p50Ms });
    }
    return {
      a: { path: a, bytes: modelA.bytes },
      b: { path: b, bytes: modelB.bytes },
      sizeRatio: modelB.bytes / modelA.bytes,
      samples,
      inputs: options.inputs ?? 'random',
      seed,
      intraOpNumThreads: options.intraOpNumThreads ?? 'default',
      outputs,
      latency,
    };
  } finally {
    await sa.release();
    await sb?.release();
  }
}

function checkOptions(o: CompareOptions): void {
  const positive = (v: unknown, name: string) => {
    if (v !== undefined && !(Number.isInteger(v) && (v as number) > 0)) {
      throw new OrtexError('ERR_OPTION_INVALID', `Expected a positive integer for ${name} but received ${String(v)}`);
    }
  };
  positive(o.random, 'random');
  positive(o.latencyRuns, 'latencyRuns');
  positive(o.intraOpNumThreads, 'intraOpNumThreads');
  for (const b of o.batchSizes ?? []) positive(b, 'batchSizes[]');
  for (const [name, size] of Object.entries(o.dims ?? {})) positive(size, `dims.${name}`);
  if (o.warmup !== undefined && !(Number.isInteger(o.warmup) && o.warmup >= 0)) {
    throw new OrtexError('ERR_OPTION_INVALID', `Expected a non-negative integer for warmup but received ${String(o.warmup)}`);
  }
  if (o.inputs !== undefined && o.random !== undefined) {
    throw new OrtexError('ERR_OPTION_INVALID', 'Give either inputs (a samples file) or random (a sample count), not both');
  }
}

