/**
 * Multi-head self-attention written out in MatMul/Reshape/Transpose/Softmax, replaced by ONNX
 * Runtime's one-kernel com.microsoft.Attention:
 *
 *     q, k, v = X·Wq + bq, X·Wk + bk, X·Wv + bv             (each [N,S,H·D], one X)
 *     heads   = Transpose(Reshape(·, [0,0,H,D]))             (keys transposed to [N,H,D,S])
 *     probs   = Softmax(q·kᵀ × scale [+ mask bias])
 *     out     = Reshape(Transpose(probs·v), [0,0,H·D])
 *
 * becomes Attention(X, [Wq|Wk|Wv], [bq|bk|bv], mask) with num_heads H. The mask bias must be
 * the usual `(1 − Cast(mask)) × c`, unsqueezed to [N,1,1,S]; the fused op reads the 0/1 mask
 * itself (as int32) and adds c where it is 0. A mask other than 0/1 would be read differently
 * (any value above 0 keeps the position), which is what attention masks mean.
 *
 * Done before INT8 quantization (quantize-int8.ts then makes the Attention a QAttention): the
 * three projections become one integer GEMM batched over heads, and the attention itself one
 * kernel instead of ten (its Reshapes, Transposes, scale, mask Add and Softmax), which is most
 * of what an INT8 encoder still spends in float. ORT's own AttentionFusion matches only some
 * exporters' spellings, and none of bert_mini's.
 */
import { GraphEditor, attrs, intAttr, intsAttr } from './graph-editor.js';
import { DataType, onnx, opsetVersion, requireOpset, type ModelProto, type NodeProto, type TensorProto } from './onnx-model.js';
import { dimsOf, readFloats, readInt64s, tensors } from './tensor-data.js';
import type { ValueType } from './value-types.js';

/** ORT's Attention adds this to masked scores unless told otherwise. */
export const DEFAULT_MASK_FILTER_VALUE = -10000;
/** How far a constant may be from the value it stands for (1/√D is rounded differently). */
const RELATIVE_TOLERANCE = 1e-4;
/** Softmax's default axis became -1 in opset 13 (before, it was 1 and flattened). */
const SOFTMAX_LAST_AXIS_DEFAULT_OPSET = 13;
/** Unsqueeze takes its axes as an input from opset 13, as an attribute before. */
const UNSQUEEZE_AXES_AS_INPUT_OPSET = 13;

/** One fusion: the Attention node made, its heads, the projections it took in and every node it replaced. */
export interface FusedAttention {
  readonly name: string;
  readonly heads: number;
  /** The query, key and value MatMuls, in that order. */
  readonly projections: readonly string[];
  /** Their weights, in the same order. */
  readonly weights: readonly string[];
  readonly nodes: readonly string[];
}

/** Decides whether a projection MatMul (given with its weight) may be fused. */
export type ProjectionFilter = (matmul: NodeProto, weight: TensorProto) => boolean;

interface Projection {
  matmul: NodeProto;
  weight: TensorProto;
  bias?: { add: NodeProto; tensor: TensorProto };
  /** The projection's output: the bias Add's, or the MatMul's when there is no bias. */
  output: string;
}

interface Match {
  x: string;
  heads: number;
  headSize: number;
  scale: number;
  mask?: { input: string; filterValue: number; chain: NodeProto[] };
  q: Projection;
  k: Projection;
  v: Projection;
  /** Every node replaced, the mask chain (which layers share) left out. */
  nodes: NodeProto[];
  output: string;
}

const isDefault = (n: NodeProto | undefined, opType: string): n is NodeProto => !!n && n.opType === opType && (n.domain ?? '') === '';
const near = (v: number, target: number) => Math.abs(v - target) <= RELATIVE_TOLERANCE * Math.abs(target);
const sameInts = (a: readonly number[], b: readonly number[]) => a.length === b.length && a.every((v, i) => v === b[i]);

class Matcher {
  constructor(
    private readonly g: GraphEditor,
    private readonly types: ReadonlyMap<string, ValueType>,
    private readonly opset: number,
  ) {}

  /** The producer of `value` when `value` has no other use and is not a graph output. */
  private onlyFrom(value: string | null | undefined, opType: string): NodeProto | undefined {
    if (!value || !this.g.soleConsumer(value)) return undefined;
    const node = this.g.producer(value);
    return isDefault(node, opType) ? node : undefined;
  }

  /** The node of `opType` that is the only use of `value`. */
  private onlyUse(value: string, opType: string): NodeProto | undefined {
    const node = this.g.soleConsumer(value);
    return isDefault(node, opType) ? node : undefined;
  }

  private ints(name: string | null | undefined): number[] | undefined {
    const t = this.g.initializer(name);
    return t && t.dataType === DataType.INT64 ? readInt64s(t) : undefined;
  }

  private perm(node: NodeProto): number[] {
    return intsAttr(node, 'perm') ?? [];
  }

  /**
   * A Reshape to [0|-1, 0|-1, ...tail] (batch and sequence carried over, at most one -1); with
   * `inferredTail`, [0, 0, -1] too.
   */
  private reshapeTail(node: NodeProto, tailLength: number, inferredTail = false): number[] | undefined {
    const shape = this.ints(node.input?.[1]);
    if (!shape || shape.length !== 2 + tailLength || intAttr(node, 'allowzero', 0) !== 0) return undefined;
    const head = shape.slice(0, 2);
    if (!head.every((d) => d === 0 || d === -1) || head.every((d) => d === -1)) return undefined;
    const tail = shape.slice(2);
    // A -1 in the tail is allowed only where the head carries over both dims (nothing else to infer).
    const inferred = inferredTail && tail.length === 1 && tail[0] === -1 && head.every((d) => d === 0);
    return inferred || tail.every((d) => d > 0) ? tail : undefined;
  }

  /**
   * value = Transpose(Reshape(projection, [0,0,H,D]), perm): the projection, [H, D] and the
   * Reshape and Transpose(s) in between.
   */
  private heads(value: string, perm: readonly number[]): { projection: Projection; hd: number[]; nodes: NodeProto[] } | undefined {
    const nodes: NodeProto[] = [];
    let transpose = this.onlyFrom(value, 'Transpose');
    if (!transpose) return undefined;
    // Keys may come as [0,2,1,3] then [0,1,3,2]: two Transposes making one.
    if (sameInts(perm, [0, 2, 3, 1]) && sameInts(this.perm(transpose), [0, 1, 3, 2])) {
      nodes.push(transpose);
      transpose = this.onlyFrom(transpose.input![0], 'Transpose');
      if (!transpose || !sameInts(this.perm(transpose), [0, 2, 1, 3])) return undefined;
    } else if (!sameInts(this.perm(transpose), perm)) return undefined;
    const reshape = this.onlyFrom(transpose.input![0], 'Reshape');
    const hd = reshape && this.reshapeTail(reshape, 2);
    if (!reshape || !hd) return undefined;
    const projection = this.projection(reshape.input![0]!);
    if (!projection) return undefined;
    nodes.push(transpose, reshape);
    return { projection, hd, nodes };
  }

  /** MatMul(X, W) [+ b] with W a float [Din, Dout] constant and b a float [Dout] constant. */
  private projection(value: string): Projection | undefined {
    const add = this.onlyFrom(value, 'Add');
    let output = value;
    let bias: Projection['bias'];
    let product = value;
    if (add) {
      const [a, b] = add.input as [string, string];
      const tensor = this.g.initializer(a) ?? this.g.initializer(b);
      if (!tensor || tensor.dataType !== DataType.FLOAT || dimsOf(tensor).length !== 1) return undefined;
      product = tensor.name === a ? b : a;
      bias = { add, tensor };
      output = add.output![0]!;
    }
    const matmul = this.onlyFrom(product, 'MatMul');
    const weight = this.g.initializer(matmul?.input?.[1]);
    if (!matmul || !weight || weight.dataType !== DataType.FLOAT || dimsOf(weight).length !== 2) return undefined;
    if (bias && dimsOf(bias.tensor)[0] !== dimsOf(weight)[1]) return undefined;
    return { matmul, weight, bias, output };
  }

  /** Unsqueeze(Mul(Sub(1, Cast(mask, float)), c), axes [1, 2]): the int mask [N,S] and c. */
  private maskBias(value: string): Match['mask'] {
    const unsqueeze = this.g.producer(value);
    if (!isDefault(unsqueeze, 'Unsqueeze')) return undefined;
    const axes = this.opset >= UNSQUEEZE_AXES_AS_INPUT_OPSET
      ? this.ints(unsqueeze.input?.[1])
      : intsAttr(unsqueeze, 'axes');
    // Axes of the [N,1,1,S] result, in any order or counted from the end.
    if (!axes || !sameInts(axes.map((a) => (a < 0 ? a + 4 : a)).sort(), [1, 2])) return undefined;
    const mul = this.g.producer(unsqueeze.input![0]!);
    if (!isDefault(mul, 'Mul')) return undefined;
    const [m0, m1] = mul.input as [string, string];
    const second = this.g.floatScalar(m1);
    const filterValue = second ?? this.g.floatScalar(m0);
    const sub = this.g.producer(second !== undefined ? m0 : m1);
    if (filterValue === undefined || !isDefault(sub, 'Sub') || this.g.floatScalar(sub.input![0]) !== 1) return undefined;
    const cast = this.g.producer(sub.input![1]!);
    if (!isDefault(cast, 'Cast') || intAttr(cast, 'to', 0) !== DataType.FLOAT) return undefined;
    const input = cast.input![0]!;
    const type = this.types.get(input);
    if (!type || type.shape.length !== 2 || ![DataType.INT64, DataType.INT32, DataType.BOOL, DataType.FLOAT].includes(type.elemType)) return undefined;
    return { input, filterValue, chain: [unsqueeze, mul, sub, cast] };
  }

  match(softmax: NodeProto): Match | undefined {
    const axis = intAttr(softmax, 'axis', this.opset >= SOFTMAX_LAST_AXIS_DEFAULT_OPSET ? -1 : 1);
    if (axis !== -1 && axis !== 3) return undefined;
    const probs = softmax.output![0]!;
    const context = this.onlyUse(probs, 'MatMul');
    if (!context || context.input![0] !== probs) return undefined;

    // Scores: (q·kᵀ) × scale, or ÷ √D, plus the mask bias.
    let scores = softmax.input![0]!;
    let mask: Match['mask'];
    const maskAdd = this.onlyFrom(scores, 'Add');
    if (maskAdd) {
      const [a, b] = maskAdd.input as [string, string];
      const second = this.maskBias(b);
      mask = second ?? this.maskBias(a);
      if (!mask) return undefined;
      scores = second ? a : b;
    }
    const scaling = this.onlyFrom(scores, 'Mul') ?? this.onlyFrom(scores, 'Div');
    if (!scaling) return undefined;
    const [s0, s1] = scaling.input as [string, string];
    let scale: number;
    let qk: string;
    if (scaling.opType === 'Div') {
      const c = this.g.floatScalar(s1);
      if (c === undefined || c === 0) return undefined;
      scale = 1 / c;
      qk = s0;
    } else {
      const second = this.g.floatScalar(s1);
      const c = second ?? this.g.floatScalar(s0);
      if (c === undefined) return undefined;
      scale = c;
      qk = second !== undefined ? s0 : s1;
    }
    // ORT reads a scale of 0 as "the default 1/√D".
    if (!Number.isFinite(scale) || scale === 0) return undefined;
    const scoresMatMul = this.onlyFrom(qk, 'MatMul');
    if (!scoresMatMul) return undefined;

    const q = this.heads(scoresMatMul.input![0]!, [0, 2, 1, 3]);
    const k = this.heads(scoresMatMul.input![1]!, [0, 2, 3, 1]);
    const v = this.heads(context.input![1]!, [0, 2, 1, 3]);
    if (!q || !k || !v) return undefined;
    const x = q.projection.matmul.input![0]!;
    if (k.projection.matmul.input![0] !== x || v.projection.matmul.input![0] !== x) return undefined;
    if (!sameInts(q.hd, k.hd) || !sameInts(q.hd, v.hd)) return undefined;
    const [heads, headSize] = q.hd as [number, number];
    const hidden = heads * headSize;
    const din = dimsOf(q.projection.weight)[0];
    for (const p of [q, k, v]) {
      const dims = dimsOf(p.projection.weight);
      if (dims[0] !== din || dims[1] !== hidden) return undefined;
    }
    const xShape = this.types.get(x)?.shape;
    if (xShape?.length !== 3) return undefined;
    // The fused op takes a [N, S] mask; one broadcast over the batch ([1, S]) it refuses.
    if (mask) {
      const maskShape = this.types.get(mask.input)!.shape;
      for (let d = 0; d < 2; d++) {
        const [md, xd] = [maskShape[d], xShape[d]];
        if (md === 1 && xd !== 1) return undefined;
        if (typeof md === 'number' && typeof xd === 'number' && md !== -1 && xd !== -1 && md !== xd) return undefined;
      }
    }

    // The heads merged back: Reshape(Transpose(context, [0,2,1,3]), [0,0,H·D]).
    const back = this.onlyUse(context.output![0]!, 'Transpose');
    if (!back || !sameInts(this.perm(back), [0, 2, 1, 3])) return undefined;
    const merge = this.onlyUse(back.output![0]!, 'Reshape');
    // [0,0,H·D], or [0,0,-1], which can only mean H·D here.
    const mergedTail = merge && this.reshapeTail(merge, 1, true);
    if (!merge || !mergedTail || (mergedTail[0] !== hidden && mergedTail[0] !== -1)) return undefined;

    const projections = [q, k, v].flatMap(({ projection: p }) => (p.bias ? [p.matmul, p.bias.add] : [p.matmul]));
    const nodes = [...projections, ...q.nodes, ...k.nodes, ...v.nodes, scoresMatMul, scaling, ...(maskAdd ? [maskAdd] : []), softmax, context, back, merge];
    return { x, heads, headSize, scale, mask, q: q.projection, k: k.projection, v: v.projection, nodes, output: merge.output![0]! };
  }
}

/** The [Din, 3·hidden] weight and [3·hidden] bias of the query, key and value projections side by side. */
function packed(m: Match): { weight: Float32Array; bias: Float32Array; din: number; columns: number } {
  const [din, hidden] = dimsOf(m.q.weight) as [number, number];
  const columns = 3 * hidden;
  const weight = new Float32Array(din * columns);
  const bias = new Float32Array(columns);
  [m.q, m.k, m.v].forEach((p, k) => {
    const w = readFloats(p.weight);
    for (let r = 0; r < din; r++) weight.set(w.subarray(r * hidden, (r + 1) * hidden), r * columns + k * hidden);
    if (p.bias) bias.set(readFloats(p.bias.tensor), k * hidden);
  });
  return { weight, bias, din, columns };
}

/**
 * Replaces, in place, every self-attention block of the pattern above whose three projections
 * `eligible` accepts by com.microsoft.Attention, and adds the com.microsoft opset import when
 * one is made. `types` (see inferValueTypes) confirms the ranks of X and the mask.
 */
export function fuseAttention(model: ModelProto, types: ReadonlyMap<string, ValueType>, eligible: ProjectionFilter = () => true): FusedAttention[] {
  const g = new GraphEditor(model);
  const matcher = new Matcher(g, types, opsetVersion(model));
  const fused: FusedAttention[] = [];
  const removed = new Set<NodeProto>();
  // Per mask input: the int32 mask the fused layers read, and the bias chains they replaced.
  const masks = new Map<string, { index: string; chains: Set<NodeProto[]> }>();
  for (const softmax of g.nodes) {
    if (!isDefault(softmax, 'Softmax')) continue;
    const m = matcher.match(softmax);
    if (!m || m.nodes.some((n) => removed.has(n))) continue;
    if (![m.q, m.k, m.v].every((p) => eligible(p.matmul, p.weight))) continue;
    for (const n of m.nodes) removed.add(n);

    const base = m.q.matmul.name || m.output;
    const { weight, bias, din, columns } = packed(m);
    const weightName = g.addInitializer(tensors.float(g.fresh(`${base}.attention.qkv_weight`), [din, columns], weight));
    const biasName = g.addInitializer(tensors.float(g.fresh(`${base}.attention.qkv_bias`), [columns], bias));
    const inputs = [m.x, weightName, biasName];
    if (m.mask) {
      let mask = masks.get(m.mask.input);
      if (!mask) masks.set(m.mask.input, (mask = { index: g.fresh(`${m.mask.input}_int32`), chains: new Set() }));
      mask.chains.add(m.mask.chain);
      inputs.push(mask.index);
    }
    const attributes = [attrs.int('num_heads', m.heads)];
    if (!near(m.scale, 1 / Math.sqrt(m.headSize))) attributes.push(onnx.AttributeProto.create({ name: 'scale', type: onnx.AttributeProto.AttributeType.FLOAT, f: m.scale }));
    if (m.mask && m.mask.filterValue !== DEFAULT_MASK_FILTER_VALUE) {
      attributes.push(onnx.AttributeProto.create({ name: 'mask_filter_value', type: onnx.AttributeProto.AttributeType.FLOAT, f: m.mask.filterValue }));
    }
    const attention = g.makeNode('Attention', inputs, [m.output], `${base}_attention`, attributes, 'com.microsoft');
    // The final Reshape is the block's last node: X and the int32 mask are defined before it.
    const last = m.nodes[m.nodes.length - 1]!;
    for (const n of m.nodes) g.replace(n, n === last ? [attention] : []);
    fused.push({
      name: attention.name!,
      heads: m.heads,
      projections: [m.q, m.k, m.v].map((p) => p.matmul.name || p.output),
      weights: [m.q, m.k, m.v].map((p) => p.weight.name!),
      nodes: m.nodes.map((n) => n.name || n.output![0]!),
    });
  }
  // Each mask bias chain (every layer may share one) goes once nothing else reads it. The int32
  // mask is made where the first chain cast the mask to float, ahead of every fused layer.
  const position = new Map(g.nodes.map((n, i) => [n, i]));
  for (const [input, { index, chains }] of masks) {
    const casts: NodeProto[] = [];
    for (const chain of chains) {
      for (const node of chain) {
        if (removed.has(node)) continue;
        const unused = (node.output ?? []).every((o) => !g.isGraphOutput(o) && g.consumers(o).every((c) => removed.has(c)));
        if (!unused) break;
        removed.add(node);
      }
      casts.push(chain[chain.length - 1]!);
    }
    const first = casts.reduce((a, b) => (position.get(a)! <= position.get(b)! ? a : b));
    const toInt32 = g.makeNode('Cast', [input], [index], `${input}_to_int32`, [attrs.int('to', DataType.INT32)]);
    for (const chain of chains) for (const node of chain) if (removed.has(node) && node !== first) g.replace(node, []);
    g.replace(first, [...(removed.has(first) ? [] : [first]), toInt32]);
  }
  g.commit();
  if (fused.length > 0) requireOpset(model, 'com.microsoft', 1);
  return fused;
}
