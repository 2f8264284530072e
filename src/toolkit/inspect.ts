/**
 * `ortex inspect`: what a model file holds and what stands in the way of quantizing it, as
 * plain JSON-serializable data (formatInspect renders it as text).
 *
 * @example
 * ```ts
 * const report = await inspectModel('models/out/bert_mini.onnx', { nodes: true });
 * report.inputs;               // [{ name: 'input_ids', dtype: 'int64', shape: ['N', 'S'] }, ...]
 * report.parameters.count;     // 11186779
 * report.quantization.summary; // '27 of 36 candidate nodes quantizable, covering 98.7% of parameter bytes'
 * ```
 */
import { stat } from 'node:fs/promises';
import { int8Readiness, type Int8Readiness } from './int8-readiness.js';
import { num, readModel, type Int64, type ModelProto, type ValueInfoProto } from './onnx-model.js';
import { opHistogram } from './op-histogram.js';
import { dimsOf, elementCount, elementTypeName, tensorBytes } from './tensor-data.js';

export { formatInspect } from './inspect-format.js';

export interface InspectOptions {
  /** List every node (name, op type, inputs, outputs), for `ortex quantize --exclude`. */
  nodes?: boolean;
  /** List every initializer rather than the largest ten. */
  all?: boolean;
}

export interface ValueSummary {
  readonly name: string;
  /** 'float', 'int64', ... for tensors; 'sequence(tensor(float))' and the like otherwise. */
  readonly dtype: string;
  /** Sizes and symbolic names ('N'), '?' for a dimension with neither; null when the rank is unknown. */
  readonly shape: (number | string)[] | null;
}

export interface InitializerSummary {
  readonly name: string;
  readonly dtype: string;
  readonly shape: number[];
  readonly elements: number;
  readonly bytes: number;
}

export interface NodeSummary {
  readonly name: string;
  /** `domain.OpType` outside the default ONNX domain. */
  readonly opType: string;
  readonly inputs: string[];
  readonly outputs: string[];
}

export interface InspectReport {
  readonly path: string;
  /** Model file plus external data, in bytes. */
  readonly fileBytes: number;
  readonly irVersion: number;
  /** producer_name and producer_version, e.g. 'pytorch 2.3.0' ('' when unset). */
  readonly producer: string;
  readonly graphName: string;
  readonly opsets: { domain: string; version: number }[];
  readonly inputs: ValueSummary[];
  readonly outputs: ValueSummary[];
  readonly nodeCount: number;
  /** Operator counts, most frequent first. */
  readonly operators: { op: string; count: number }[];
  readonly parameters: {
    /** Elements over all initializers. */
    readonly count: number;
    readonly bytes: number;
    readonly initializers: number;
    readonly byDtype: { dtype: string; count: number; bytes: number; initializers: number }[];
  };
  /** The largest initializers by bytes: ten, or all with `all`. */
  readonly largestInitializers: InitializerSummary[];
  /** Present with `nodes`. */
  readonly nodes?: NodeSummary[];
  readonly quantization: Int8Readiness;
}

/**
 * Reads `path` and reports on it. Loads the model in ONNX Runtime once (without optimizations)
 * to learn every value's type for the quantization analysis.
 *
 * @throws OrtexError ERR_MODEL_NOT_FOUND, ERR_MODEL_NOT_ONNX
 */
export async function inspectModel(path: string, options: InspectOptions = {}): Promise<InspectReport> {
  const loaded = await readModel(path);
  const { model } = loaded;
  const graph = model.graph!;
  const externalBytes = loaded.bytes - (await stat(path)).size;

  const initializers = (graph.initializer ?? []).map(
    (t): InitializerSummary => ({ name: t.name ?? '', dtype: elementTypeName(t.dataType ?? 0), shape: dimsOf(t), elements: elementCount(dimsOf(t)), bytes: tensorBytes(t) }),
  );
  const byDtype = new Map<string, { dtype: string; count: number; bytes: number; initializers: number }>();
  for (const t of initializers) {
    const entry = byDtype.get(t.dtype) ?? { dtype: t.dtype, count: 0, bytes: 0, initializers: 0 };
    entry.count += t.elements;
    entry.bytes += t.bytes;
    entry.initializers++;
    byDtype.set(t.dtype, entry);
  }
  const parameterBytes = initializers.reduce((a, t) => a + t.bytes, 0);
  const largest = [...initializers].sort((a, b) => b.bytes - a.bytes || a.name.localeCompare(b.name));

  // Before IR version 4 every initializer was also listed as a graph input; those are weights, not feeds.
  const initializerNames = new Set(initializers.map((t) => t.name));
  const scratch = (await readModel(path)).model;

  return {
    path,
    fileBytes: loaded.bytes,
    irVersion: num(model.irVersion as Int64),
    producer: [model.producerName, model.producerVersion].filter(Boolean).join(' '),
    graphName: graph.name ?? '',
    opsets: model.opsetImport.map((o) => ({ domain: o.domain || 'ai.onnx', version: num(o.version as Int64) })),
    inputs: (graph.input ?? []).filter((v) => !initializerNames.has(v.name ?? '')).map(valueSummary),
    outputs: (graph.output ?? []).map(valueSummary),
    nodeCount: graph.node?.length ?? 0,
    operators: [...opHistogram(graph)].map(([op, count]) => ({ op, count })),
    parameters: {
      count: initializers.reduce((a, t) => a + t.elements, 0),
      bytes: parameterBytes,
      initializers: initializers.length,
      byDtype: [...byDtype.values()].sort((a, b) => b.bytes - a.bytes),
    },
    largestInitializers: options.all ? largest : largest.slice(0, 10),
    ...(options.nodes ? { nodes: nodeList(model) } : {}),
    quantization: await int8Readiness(model, scratch, parameterBytes, externalBytes),
  };
}

function nodeList(model: ModelProto): NodeSummary[] {
  return (model.graph!.node ?? []).map((n) => ({
    name: n.name ?? '',
    opType: n.domain && n.domain !== 'ai.onnx' ? `${n.domain}.${n.opType}` : (n.opType ?? ''),
    inputs: [...(n.input ?? [])],
    outputs: [...(n.output ?? [])],
  }));
}

function valueSummary(v: ValueInfoProto): ValueSummary {
  const tensor = v.type?.tensorType;
  if (!tensor) return { name: v.name ?? '', dtype: typeString(v.type), shape: null };
  const dims = tensor.shape?.dim;
  return {
    name: v.name ?? '',
    dtype: elementTypeName(tensor.elemType ?? 0),
    // `value` says which of the oneof was set: an unset dim_value still reads as 0.
    shape: dims ? dims.map((d) => {
      const which = (d as { value?: string }).value;
      return which === 'dimParam' && d.dimParam ? d.dimParam : which === 'dimValue' ? num(d.dimValue as Int64) : '?';
    }) : null,
  };
}

/** ONNX's own spelling of a type: tensor(float), sequence(tensor(int64)), map(string,tensor(float)). */
function typeString(t: ValueInfoProto['type']): string {
  if (!t) return 'unknown';
  if (t.tensorType) return `tensor(${elementTypeName(t.tensorType.elemType ?? 0)})`;
  if (t.sequenceType) return `sequence(${typeString(t.sequenceType.elemType)})`;
  if (t.mapType) return `map(${elementTypeName(t.mapType.keyType ?? 0)},${typeString(t.mapType.valueType)})`;
  if (t.optionalType) return `optional(${typeString(t.optionalType.elemType)})`;
  if (t.sparseTensorType) return `sparse_tensor(${elementTypeName(t.sparseTensorType.elemType ?? 0)})`;
  return 'unknown';
}
