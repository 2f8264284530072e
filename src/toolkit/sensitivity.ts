/**
 * The INT8 sensitivity report: for each node INT8 quantization would rewrite, the error that
 * node alone introduces in the model's outputs, measured by quantizing only that node and
 * running sample inputs through it and through the float model.
 *
 * Quantization error is rarely spread evenly: a few nodes (a SwiGLU down-projection fed by
 * outlier activations, an output layer with tiny logit margins) can ruin accuracy that the
 * rest keeps. Sorted by error, with nodes far above the median flagged, the report shows
 * which to pass to `--exclude`.
 *
 * @example
 * ```ts
 * const report = await int8Sensitivity('model.onnx', { samples: 64, dims: { S: 64 } });
 * report.nodes.filter((n) => n.outlier).map((n) => n.name); // ['mlp.down_proj']
 * ```
 */
import { InferenceSession } from '../inference-session.js';
import { decodeModel, encodeModel, readModel, type ModelProto } from './onnx-model.js';
import type { OutputComparison } from './output-metrics.js';
import { compareOutputs } from './paired-runs.js';
import { checkInt8Options, rewriteInt8, type Int8Options } from './quantize-int8.js';
import { RandomFeeds, hasBatchDimOrDynamic, randomBatches, readSampleFile, type Feeds } from './sample-feeds.js';
import { inferValueTypes } from './value-types.js';

export interface SensitivityOptions extends Int8Options {
  /** Random samples to run (default 64), or a JSON samples file in `inputs`. */
  samples?: number;
  inputs?: string;
  seed?: number;
  dims?: Record<string, number>;
  intraOpNumThreads?: number;
}

export interface NodeSensitivity {
  readonly name: string;
  readonly opType: string;
  readonly weight: string;
  /** Output error with only this node quantized (the first output's, or the worst over outputs). */
  readonly maxAbsError: number;
  readonly meanAbsError: number;
  readonly maxRelError: number;
  readonly top1Agreement: number | null;
  /** Error over 10x the median node's: a candidate for `--exclude`. */
  readonly outlier: boolean;
}

export interface SensitivityReport {
  readonly samples: number;
  /** The whole model quantized with the same options. */
  readonly whole: OutputComparison[];
  /** Worst first. */
  readonly nodes: NodeSensitivity[];
}

/** A node is an outlier when its error is this many times the median node's. */
const OUTLIER_FACTOR = 10;

export async function int8Sensitivity(path: string, options: SensitivityOptions = {}): Promise<SensitivityReport> {
  const { model } = await readModel(path);
  checkInt8Options(options, model);
  const original = encodeModel(model);
  const types = await inferValueTypes(model);
  const sessionOptions = options.intraOpNumThreads ? { intraOpNumThreads: options.intraOpNumThreads } : {};
  const reference = await InferenceSession.create(original, sessionOptions);
  try {
    const batches = await sampleBatches(reference, model, options);
    const run = async (int8: Int8Options): Promise<{ rewritten: ReturnType<typeof rewriteInt8>; outputs: OutputComparison[] }> => {
      const copy = decodeModel(original);
      const rewritten = rewriteInt8(copy, types, int8);
      const session = await InferenceSession.create(encodeModel(copy), sessionOptions);
      try {
        return { rewritten, outputs: compareOutputs(reference, session, batches) };
      } finally {
        await session.release();
      }
    };

    const whole = await run(options);
    const nodes: Omit<NodeSensitivity, 'outlier'>[] = [];
    // A merged MatMul stands for its siblings, a fused attention for its three projections:
    // each is measured alone, under its own name, which is the name --exclude takes.
    const single = whole.rewritten.quantized.flatMap((q) => {
      const merged = whole.rewritten.merged.find((m) => m.name === q.name);
      if (merged) return merged.nodes.map((name, k) => ({ ...q, name, weight: merged.weights[k]! }));
      const attention = whole.rewritten.attentions.find((a) => a.name === q.name);
      if (attention) return attention.projections.map((name, k) => ({ ...q, name, opType: 'MatMul', weight: attention.weights[k]! }));
      return [q];
    });
    for (const q of single) {
      const { outputs } = await run({ ...options, onlyNodes: [q.name], excludeNodes: [] });
      const worst = outputs.reduce((a, b) => (b.maxRelError > a.maxRelError ? b : a));
      nodes.push({
        name: q.name,
        opType: q.opType,
        weight: q.weight,
        maxAbsError: worst.maxAbsError,
        meanAbsError: worst.meanAbsError,
        maxRelError: worst.maxRelError,
        top1Agreement: worst.top1Agreement,
      });
    }
    const errors = nodes.map((n) => n.meanAbsError).sort((a, b) => a - b);
    const median = errors[Math.floor(errors.length / 2)] ?? 0;
    return {
      samples: batches.reduce((a, f) => a + Number(Object.values(f)[0]!.dims[0] ?? 1), 0),
      whole: whole.outputs,
      nodes: nodes
        .map((n) => ({ ...n, outlier: nodes.length > 2 && n.meanAbsError > OUTLIER_FACTOR * median }))
        .sort((a, b) => b.meanAbsError - a.meanAbsError),
    };
  } finally {
    await reference.release();
  }
}

async function sampleBatches(reference: InferenceSession, model: ModelProto, options: SensitivityOptions): Promise<Feeds[]> {
  if (options.inputs) return readSampleFile(options.inputs, reference.inputMetadata);
  const random = new RandomFeeds(reference.inputMetadata, model, { dims: options.dims }, options.seed ?? 1);
  return randomBatches(random, options.samples ?? 64, hasBatchDimOrDynamic(reference.inputMetadata));
}
