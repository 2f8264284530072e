/**
 * Float16 conversion of a model graph: weights and compute in float16, with casts at the
 * borders of what stays in float32.
 *
 * Each node that carries float values runs in float16 unless it is blocked: its op type is in
 * the block list (ops without float16 kernels, or numerically sensitive ones a user names),
 * its name is, it belongs to another domain (ai.onnx.ml), it holds a subgraph, or one of its
 * weights would overflow float16. Values crossing between a float16 and a float32 node get
 * one shared Cast. With `keepIoTypes` the graph's float inputs and outputs stay float32, so
 * callers feed and read the same types as before.
 */
import { OrtexError } from '../errors.js';
import { float32ToFloat16Bits, checkFloat16Range } from './float16-array.js';
import { GraphEditor, attrs } from './graph-editor.js';
import { DataType, type ModelProto, type NodeProto, type TensorProto } from './onnx-model.js';
import { dimsOf, readFloats, tensors } from './tensor-data.js';
import type { ValueType } from './value-types.js';

/**
 * Ops kept in float32 by default: no float16 definition or kernel (ai.onnx.ml ops are kept
 * anyway), a dtype attribute of their own, or float32-only inputs.
 */
export const DEFAULT_FP16_BLOCK_OPS: readonly string[] = [
  'RandomUniform', 'RandomNormal', 'RandomUniformLike', 'RandomNormalLike', 'Multinomial', 'EyeLike',
  'Range', 'CumSum', 'NonMaxSuppression', 'TopK', 'RoiAlign', 'Resize', 'Upsample',
  'QuantizeLinear', 'DequantizeLinear', 'DynamicQuantizeLinear',
];

export interface Fp16Options {
  /** Keep float graph inputs and outputs float32, with casts inside (default true). */
  keepIoTypes?: boolean;
  /** Op types kept in float32 (default DEFAULT_FP16_BLOCK_OPS); add e.g. 'Softmax' for sensitive ops. */
  blockOps?: readonly string[];
  /** Node names kept in float32. */
  blockNodes?: readonly string[];
}

export interface BlockedNode {
  readonly name: string;
  readonly opType: string;
  readonly reason: string;
}

export interface Fp16Rewrite {
  readonly float16Nodes: number;
  readonly blocked: BlockedNode[];
  readonly convertedInitializers: number;
  readonly castsInserted: number;
  /** Weight values too small for float16, now 0. */
  readonly flushedToZero: number;
}

const FLOAT = DataType.FLOAT;
const FLOAT16 = DataType.FLOAT16;

export function rewriteFp16(model: ModelProto, types: ReadonlyMap<string, ValueType>, options: Fp16Options = {}): Fp16Rewrite {
  const g = new GraphEditor(model);
  const keepIo = options.keepIoTypes ?? true;
  const blockOps = new Set(options.blockOps ?? DEFAULT_FP16_BLOCK_OPS);
  const blockNodes = new Set(options.blockNodes ?? []);
  const names = new Set(g.nodes.map((n) => n.name));
  for (const name of blockNodes) {
    if (!names.has(name)) throw new OrtexError('ERR_QUANTIZE_OP', `No node named '${name}' in the model (see \`ortex inspect --nodes\` for the names)`);
  }
  const isFloat = (v: string | null | undefined) => !!v && types.get(v)?.elemType === FLOAT;

  // Weights are checked once; a weight out of float16 range keeps its consumers in float32.
  const rangeOf = new Map<string, ReturnType<typeof checkFloat16Range>>();
  const range = (t: TensorProto) => {
    let r = rangeOf.get(t.name!);
    if (!r) rangeOf.set(t.name!, (r = checkFloat16Range(readFloats(t))));
    return r;
  };

  const blocked: BlockedNode[] = [];
  const precision = new Map<NodeProto, number>();
  for (const node of g.nodes) {
    const ins = (node.input ?? []).filter(Boolean);
    if (![...ins, ...(node.output ?? [])].some(isFloat)) continue; // no float values: nothing to convert
    const reason = blockReason(node, blockOps, blockNodes, ins.map((i) => g.initializer(i)).filter((t): t is TensorProto => t?.dataType === FLOAT), range);
    if (reason) blocked.push({ name: node.name ?? '', opType: node.opType ?? '', reason });
    precision.set(node, reason ? FLOAT : FLOAT16);
  }

  // The element type each float value has in the new graph, filled in topological order.
  const valueType = new Map<string, number>();
  for (const input of model.graph!.input ?? []) {
    if (!isFloat(input.name) || g.initializer(input.name)) continue;
    if (!keepIo) input.type!.tensorType!.elemType = FLOAT16;
    valueType.set(input.name!, keepIo ? FLOAT : FLOAT16);
  }

  const converted = new Map<string, string>(); // `${value}->${type}` -> name of the converted value
  let castsInserted = 0;
  let convertedInitializers = 0;
  let flushedToZero = 0;
  const convert = (value: string, to: number, before: NodeProto[]): string => {
    const key = `${value}->${to}`;
    const done = converted.get(key);
    if (done) return done;
    const init = g.initializer(value);
    let name: string;
    if (init && to === FLOAT16) {
      name = g.addInitializer(tensors.float16(g.fresh(`${value}_fp16`), dimsOf(init), float32ToFloat16Bits(readFloats(init))));
      convertedInitializers++;
      flushedToZero += range(init).underflow;
    } else {
      name = g.fresh(`${value}_${to === FLOAT16 ? 'fp16' : 'fp32'}`);
      before.push(g.makeNode('Cast', [value], [name], `${value}_cast_${to === FLOAT16 ? 'fp16' : 'fp32'}`, [attrs.int('to', to)]));
      castsInserted++;
    }
    converted.set(key, name);
    return name;
  };
  // Initializers and float32 graph inputs are float32 until converted.
  const typeOf = (v: string) => valueType.get(v) ?? FLOAT;

  let float16Nodes = 0;
  for (const node of g.nodes) {
    const want = precision.get(node);
    if (want === undefined) continue;
    const before: NodeProto[] = [];
    const after: NodeProto[] = [];
    node.input = (node.input ?? []).map((i) => (isFloat(i) && typeOf(i) !== want ? convert(i, want, before) : i));
    if (want === FLOAT16) {
      float16Nodes++;
      retypeAttributes(node);
      node.output = (node.output ?? []).map((o) => {
        if (!isFloat(o)) return o;
        if (keepIo && g.isGraphOutput(o)) {
          // The node writes a float16 twin; a Cast gives the graph output its float32 name back.
          const twin = g.fresh(`${o}_fp16`);
          after.push(g.makeNode('Cast', [twin], [o], `${o}_cast_fp32`, [attrs.int('to', FLOAT)]));
          castsInserted++;
          valueType.set(twin, FLOAT16);
          valueType.set(o, FLOAT);
          converted.set(`${o}->${FLOAT16}`, twin);
          return twin;
        }
        valueType.set(o, FLOAT16);
        return o;
      });
    } else {
      for (const o of node.output ?? []) if (isFloat(o)) valueType.set(o, FLOAT);
    }
    if (before.length > 0 || after.length > 0) g.replace(node, [...before, node, ...after]);
  }

  // Graph outputs produced in float16 without keepIoTypes change type; value_info would now
  // contradict the new types, and ORT infers them anyway.
  for (const output of model.graph!.output ?? []) {
    if (valueType.get(output.name!) === FLOAT16) output.type!.tensorType!.elemType = FLOAT16;
  }
  model.graph!.valueInfo = [];
  g.commit();
  return { float16Nodes, blocked, convertedInitializers, castsInserted, flushedToZero };
}

function blockReason(
  node: NodeProto,
  blockOps: ReadonlySet<string>,
  blockNodes: ReadonlySet<string>,
  floatWeights: readonly TensorProto[],
  range: (t: TensorProto) => { overflow: number; maxAbs: number },
): string | undefined {
  const domain = node.domain ?? '';
  if (domain !== '' && domain !== 'ai.onnx') return `op in domain ${domain}`;
  if (blockOps.has(node.opType ?? '')) return 'op type blocked';
  if (blockNodes.has(node.name ?? '')) return 'node blocked';
  if ((node.attribute ?? []).some((a) => a.g || (a.graphs?.length ?? 0) > 0)) return 'holds a subgraph';
  for (const w of floatWeights) {
    const r = range(w);
    if (r.overflow > 0) return `weight ${w.name} has ${r.overflow} values beyond float16's ±65504 (max |v| ${r.maxAbs.toExponential(3)})`;
  }
  return undefined;
}

/** A float16 node's own float32 constants and cast targets become float16. */
function retypeAttributes(node: NodeProto): void {
  for (const a of node.attribute ?? []) {
    if (node.opType === 'Cast' && a.name === 'to' && Number(a.i) === FLOAT) a.i = FLOAT16;
    if ((node.opType === 'Constant' || node.opType === 'ConstantOfShape') && a.t && a.t.dataType === FLOAT) {
      a.t = tensors.float16(a.t.name ?? '', dimsOf(a.t), float32ToFloat16Bits(readFloats(a.t)));
    }
  }
}
