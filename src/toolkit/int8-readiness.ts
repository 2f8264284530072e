/**
 * What stands between a model and `ortex quantize`: which MatMul/Gemm/Gather/Conv nodes the
 * INT8 rewrite would quantize, which it would leave in float and why, and what blocks the
 * model as a whole.
 *
 * The answer comes from running the real rewrite (rewriteInt8) on a throwaway decode of the
 * model, so it cannot drift from what `ortex quantize` does. The rewrite mutates the model it
 * is given, hence the caller passes a fresh one.
 */
import { DataType, opsetVersion, type ModelProto, type NodeProto } from './onnx-model.js';
import { INT8_OP_TYPES, MIN_INT8_OPSET, rewriteInt8 } from './quantize-int8.js';
import { elementTypeName, tensorBytes } from './tensor-data.js';
import { inferValueTypes } from './value-types.js';

export interface Int8Candidate {
  /** The node's name ('' when the model leaves it unnamed). */
  readonly name: string;
  readonly opType: string;
  /** The weight (B, table or kernel) initializer, or '' when that input is not a constant. */
  readonly weight: string;
  /** Bytes of that weight as stored, 0 when it is not a constant. */
  readonly weightBytes: number;
  readonly quantizable: boolean;
  /** Why the node stays in float; absent when it is quantizable. */
  readonly reason?: string;
}

export interface Int8Readiness {
  /** Model-wide reasons `ortex quantize` cannot run or will fall short (empty when none). */
  readonly blockers: string[];
  /** Nodes of the op types INT8 quantization rewrites, in graph order. */
  readonly candidates: Int8Candidate[];
  readonly quantizableNodes: number;
  /** Bytes of the distinct weights the quantizable nodes use (a tied weight counts once). */
  readonly quantizableBytes: number;
  /** quantizableBytes as a percentage of all parameter bytes. */
  readonly coveredPercent: number;
  /** "N of M candidate nodes quantizable, covering X% of parameter bytes". */
  readonly summary: string;
}

/** Float types that are not float32: weights in these are past the point INT8 starts from. */
const OTHER_FLOAT_TYPES = new Set<number>([DataType.FLOAT16, DataType.BFLOAT16, DataType.DOUBLE]);

/**
 * @param original the model as read (not modified)
 * @param scratch a second decode of the same model, which the trial rewrite consumes
 * @param parameterBytes bytes of all initializers, for the coverage percentage
 * @param externalBytes bytes of initializer data stored outside the model file
 */
export async function int8Readiness(original: ModelProto, scratch: ModelProto, parameterBytes: number, externalBytes: number): Promise<Int8Readiness> {
  const graph = original.graph!;
  const initializers = new Map((graph.initializer ?? []).map((t) => [t.name!, t]));
  const candidateNodes = (graph.node ?? []).filter((n) => (INT8_OP_TYPES as readonly string[]).includes(n.opType ?? '') && (n.domain ?? '') === '');
  const weightOf = (node: NodeProto) => initializers.get(node.input?.[node.opType === 'Gather' ? 0 : 1] ?? '');

  const blockers: string[] = [];
  const outcomes = new Map<number, string | null>();
  const opset = opsetVersion(original);
  if (opset < MIN_INT8_OPSET) {
    const reason = `the model imports ONNX opset ${opset}; INT8 quantization needs ${MIN_INT8_OPSET} or later`;
    blockers.push(`${reason} (DynamicQuantizeLinear): convert it with onnx.version_converter first`);
    candidateNodes.forEach((_, i) => outcomes.set(i, reason));
  } else {
    const trial = await trialRewrite(scratch, candidateNodes.length).catch((err: Error) => err);
    if (trial instanceof Error) {
      const reason = 'ONNX Runtime cannot load the model to infer value types';
      blockers.push(`${reason}: ${trial.message}`);
      candidateNodes.forEach((_, i) => outcomes.set(i, reason));
    } else {
      for (const [i, outcome] of trial) outcomes.set(i, outcome);
    }
  }

  const candidates = candidateNodes.map((node, i): Int8Candidate => {
    const weight = weightOf(node);
    // A candidate the rewrite did not report on is not claimed as quantizable.
    const reason: string | null = outcomes.has(i) ? (outcomes.get(i) as string | null) : 'not examined by the INT8 rewrite';
    return {
      name: node.name ?? '',
      opType: node.opType!,
      weight: weight?.name ?? '',
      weightBytes: weight ? tensorBytes(weight) : 0,
      quantizable: reason === null,
      ...(reason === null ? {} : { reason }),
    };
  });

  // Counted over every initializer, not only candidate weights: an FP16 model usually feeds
  // its MatMuls through Casts, so no candidate has the float16 tensor as its direct weight.
  const otherFloat = new Map<string, { count: number; bytes: number }>();
  for (const t of graph.initializer ?? []) {
    if (!OTHER_FLOAT_TYPES.has(t.dataType ?? 0)) continue;
    const type = elementTypeName(t.dataType!);
    const entry = otherFloat.get(type) ?? { count: 0, bytes: 0 };
    entry.count++;
    entry.bytes += tensorBytes(t);
    otherFloat.set(type, entry);
  }
  for (const [type, { count, bytes }] of otherFloat) {
    blockers.push(
      `${count} initializer${count === 1 ? ' is' : 's are'} stored as ${type} (${bytes} bytes), not float32: INT8 quantization reads float32 weights, so quantize the float32 model instead`,
    );
  }
  if (externalBytes > 0) {
    blockers.push(
      `${externalBytes} bytes of weights are stored as external data: ortex quantize reads them but writes a single file, which protobuf limits to 2 GiB`,
    );
  }

  const quantizedWeights = new Map<string, number>();
  for (const c of candidates) if (c.quantizable && c.weight) quantizedWeights.set(c.weight, c.weightBytes);
  const quantizableBytes = [...quantizedWeights.values()].reduce((a, b) => a + b, 0);
  const quantizableNodes = candidates.filter((c) => c.quantizable).length;
  const coveredPercent = parameterBytes > 0 ? (100 * quantizableBytes) / parameterBytes : 0;
  const summary = `${quantizableNodes} of ${candidates.length} candidate nodes quantizable, covering ${coveredPercent.toFixed(1)}% of parameter bytes`;
  return { blockers, candidates, quantizableNodes, quantizableBytes, coveredPercent, summary };
}

/**
 * Runs the INT8 rewrite on `scratch` and returns, per candidate index (graph order), null when
 * it was quantized or the reason it was not. Candidates are renamed first so that results map
 * back to nodes even when names are missing or repeated.
 */
async function trialRewrite(scratch: ModelProto, expected: number): Promise<Map<number, string | null>> {
  const types = await inferValueTypes(scratch);
  let index = 0;
  for (const node of scratch.graph!.node ?? []) {
    if ((INT8_OP_TYPES as readonly string[]).includes(node.opType ?? '') && (node.domain ?? '') === '') node.name = `\u0000candidate${index++}`;
  }
  if (index !== expected) throw new Error(`the model changed between reads (${index} candidate nodes, expected ${expected})`);
  // Node by node: merged siblings and fused attentions would be reported under names of their own.
  const { quantized, skipped } = rewriteInt8(scratch, types, { mergeSiblings: false, fuseGelu: false, fuseAttention: false });
  const indexOf = (name: string) => Number(name.slice('\u0000candidate'.length));
  const outcomes = new Map<number, string | null>();
  for (const q of quantized) outcomes.set(indexOf(q.name), null);
  for (const s of skipped) outcomes.set(indexOf(s.name), s.reason);
  return outcomes;
}
