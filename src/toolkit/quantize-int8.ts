/**
 * Dynamic INT8 quantization of a model graph, in the pattern ONNX Runtime fuses into its
 * integer kernels.
 *
 * Weights (MatMul/Gemm B, Gather tables, Conv kernels that are float initializers) become
 * symmetric int8 with per-channel (or per-tensor) scales. Activations are quantized at run
 * time by DynamicQuantizeLinear. A MatMul becomes
 *
 *     DynamicQuantizeLinear(A) -> MatMulInteger(Aq, Wq, Azp, 0) -> Cast(float) -> Mul(As * Ws)
 *
 * which ORT's MatMulIntegerToFloat and DynamicQuantizeMatMul fusions turn into one
 * DynamicQuantizeMatMul kernel (a following bias Add is fused too). A Gather reads int8 rows
 * and scales them after the lookup, so the table is never dequantized whole. Conv becomes
 * ConvInteger with the same scaling. The rewrite works on a decoded model in place.
 */
import { OrtexError } from '../errors.js';
import { GraphEditor, attrs, floatAttr, intAttr } from './graph-editor.js';
import { quantizeSymmetric, transpose2d } from './int8-weights.js';
import { type FusedAttention, fuseAttention } from './fuse-attention.js';
import { type FusedGelu, fuseGelu } from './fuse-gelu.js';
import { type MergedMatMuls, mergeSiblingMatMuls } from './merge-siblings.js';
import { DataType, opsetVersion, type ModelProto, type NodeProto, type TensorProto } from './onnx-model.js';
import { dimsOf, elementCount, readFloats, tensorBytes, tensors } from './tensor-data.js';
import type { ValueType } from './value-types.js';

/** The op types INT8 quantization can rewrite. */
export const INT8_OP_TYPES = ['MatMul', 'Gemm', 'Gather', 'Conv'] as const;
export type Int8OpType = (typeof INT8_OP_TYPES)[number];

/**
 * The op types rewritten unless told otherwise. Conv is left out: ONNX Runtime has no fused
 * kernel for dynamically quantized ConvInteger on CPU, and cnn_small ran 15x slower with it
 * (bench/RESULTS.md); ask for it with opTypes when only the file size matters.
 */
export const DEFAULT_INT8_OP_TYPES: readonly Int8OpType[] = ['MatMul', 'Gemm', 'Gather'];

/** DynamicQuantizeLinear, the newest op the rewrite emits, arrived in opset 11. */
export const MIN_INT8_OPSET = 11;

export interface Int8Options {
  /** Op types to quantize (default DEFAULT_INT8_OP_TYPES: MatMul, Gemm, Gather). */
  opTypes?: readonly string[];
  /** Op types to leave in float. */
  excludeOpTypes?: readonly string[];
  /** Node names to leave in float (e.g. the few nodes a sensitivity report blames). */
  excludeNodes?: readonly string[];
  /** Quantize only these nodes (the sensitivity report quantizes one at a time). */
  onlyNodes?: readonly string[];
  /** Per-channel weight scales (default true); false gives one scale per weight tensor. */
  perChannel?: boolean;
  /** 7-bit weights (default false), for CPUs without VNNI where 8 bits can saturate. */
  reduceRange?: boolean;
  /**
   * The integer type weights are stored in: 'int8' (default), or 'uint8' holding the same
   * symmetric values offset by a zero point of 128, which ORT multiplies without 16-bit
   * saturation on CPUs that lack VNNI.
   */
  weightType?: 'int8' | 'uint8';
  /** Weights with fewer elements stay float: their bytes do not matter and the rewrite costs time (default 0). */
  minWeightElements?: number;
  /**
   * MatMuls that read the same activation (query, key, value) merged into one before they are
   * quantized (merge-siblings.ts), so the activation is quantized once (default true; only
   * with per-channel scales, which keep the numbers exactly as without the merge).
   */
  mergeSiblings?: boolean;
  /**
   * The erf GELU written out in elementary ops replaced by ORT's com.microsoft.Gelu first
   * (fuse-gelu.ts; default true): in an INT8 model those five passes are a large share of
   * what is left in float.
   */
  fuseGelu?: boolean;
  /**
   * Self-attention written out in MatMul/Reshape/Transpose/Softmax replaced by ORT's
   * com.microsoft.Attention first (fuse-attention.ts; default true, only with per-channel
   * scales), which the rewrite then makes a QAttention: the query, key and value projections
   * become one integer GEMM batched over heads and the attention itself one kernel.
   */
  fuseAttention?: boolean;
}

export interface QuantizedNode {
  readonly name: string;
  readonly opType: string;
  readonly weight: string;
  readonly weightElements: number;
  readonly bytesBefore: number;
  readonly bytesAfter: number;
}

export interface SkippedNode {
  readonly name: string;
  readonly opType: string;
  readonly reason: string;
}

export interface Int8Rewrite {
  readonly quantized: QuantizedNode[];
  readonly skipped: SkippedNode[];
  /** Sibling MatMuls merged before quantization; `quantized` names the merged node. */
  readonly merged: MergedMatMuls[];
  /** GELUs fused into com.microsoft.Gelu before quantization. */
  readonly gelus: FusedGelu[];
  /** Self-attention blocks fused into com.microsoft.Attention, then quantized as QAttention. */
  readonly attentions: FusedAttention[];
}

/** Checks option values and names, before any work is done. */
export function checkInt8Options(options: Int8Options, model: ModelProto): void {
  for (const op of [...(options.opTypes ?? []), ...(options.excludeOpTypes ?? [])]) {
    if (!(INT8_OP_TYPES as readonly string[]).includes(op)) {
      throw new OrtexError('ERR_QUANTIZE_OP', `Op type '${op}' cannot be quantized to INT8: ortex quantizes ${INT8_OP_TYPES.join(', ')}`);
    }
  }
  const names = new Set((model.graph?.node ?? []).map((n) => n.name));
  for (const name of [...(options.excludeNodes ?? []), ...(options.onlyNodes ?? [])]) {
    if (!names.has(name)) throw new OrtexError('ERR_QUANTIZE_OP', `No node named '${name}' in the model (see \`ortex inspect --nodes\` for the names)`);
  }
  const opset = opsetVersion(model);
  if (opset < MIN_INT8_OPSET) {
    throw new OrtexError(
      'ERR_MODEL_OPSET',
      `INT8 quantization needs ONNX opset ${MIN_INT8_OPSET} or later (DynamicQuantizeLinear); the model imports opset ${opset}. Convert it first with onnx.version_converter.`,
    );
  }
}

/**
 * Rewrites the eligible nodes of `model` in place. `types` gives every value's element type
 * (see inferValueTypes), so activations that are not float32 are left alone.
 */
export function rewriteInt8(model: ModelProto, types: ReadonlyMap<string, ValueType>, options: Int8Options = {}): Int8Rewrite {
  checkInt8Options(options, model);
  const gelus = options.fuseGelu === false ? [] : fuseGelu(model);
  const ops = new Set(options.opTypes ?? DEFAULT_INT8_OP_TYPES);
  for (const op of options.excludeOpTypes ?? []) ops.delete(op as Int8OpType);
  const excluded = new Set(options.excludeNodes ?? []);
  const only = options.onlyNodes ? new Set(options.onlyNodes) : undefined;
  const perChannel = options.perChannel ?? true;
  // Which weight-bearing MatMuls the graph rewrites before quantization may take in.
  const rewritable = (node: NodeProto, weight: TensorProto): boolean => {
    const name = node.name ?? '';
    if (excluded.has(name) || (only && !only.has(name)) || types.get(node.input?.[0] ?? '')?.elemType !== DataType.FLOAT) return false;
    return elementCount(dimsOf(weight)) >= (options.minWeightElements ?? 0);
  };
  const withMatMuls = perChannel && ops.has('MatMul');
  const attentions = withMatMuls && options.fuseAttention !== false ? fuseAttention(model, types, rewritable) : [];
  const merged = withMatMuls && options.mergeSiblings !== false ? mergeSiblingMatMuls(model, rewritable) : [];
  const g = new GraphEditor(model);
  const ctx: Context = {
    g,
    types,
    perChannel,
    reduceRange: options.reduceRange ?? false,
    weightType: options.weightType ?? 'int8',
    // Shared per graph so equal weights used twice (tied embeddings) are quantized once.
    quantizedWeights: new Map(),
  };
  const quantized: QuantizedNode[] = [];
  const skipped: SkippedNode[] = [];

  const fusedAttention = new Set(attentions.map((a) => a.name));
  for (const node of g.nodes) {
    const opType = node.opType ?? '';
    if (fusedAttention.has(node.name ?? '')) {
      const weight = g.initializer(node.input?.[1])!;
      const channels = rewriteAttention(ctx, node, weight);
      const count = elementCount(dimsOf(weight));
      quantized.push({ name: node.name!, opType: 'Attention', weight: weight.name!, weightElements: count, bytesBefore: tensorBytes(weight), bytesAfter: count + 4 * channels });
      continue;
    }
    if (!(INT8_OP_TYPES as readonly string[]).includes(opType) || (node.domain ?? '') !== '') continue;
    const name = node.name ?? '';
    const skip = (reason: string) => skipped.push({ name, opType, reason });
    if (only && !only.has(name)) continue;
    if (!ops.has(opType as Int8OpType)) {
      skip(`op type not selected (--op-types; default ${DEFAULT_INT8_OP_TYPES.join(', ')})`);
      continue;
    }
    if (excluded.has(name)) {
      skip('node excluded');
      continue;
    }
    const weightInput = opType === 'Gather' ? 0 : 1;
    const weight = g.initializer(node.input?.[weightInput]);
    if (!weight) {
      skip(opType === 'Gather' ? 'table is not a constant' : 'weight is not a constant (activation x activation)');
      continue;
    }
    if (weight.dataType !== DataType.FLOAT) {
      skip(`weight is ${DataType[weight.dataType ?? 0]?.toLowerCase()}, not float`);
      continue;
    }
    const count = elementCount(dimsOf(weight));
    if (count < (options.minWeightElements ?? 0)) {
      skip(`weight has ${count} elements, under minWeightElements`);
      continue;
    }
    const result = REWRITERS[opType as Int8OpType](ctx, node, weight);
    if (typeof result === 'string') {
      skip(result);
      continue;
    }
    quantized.push({ name, opType, weight: weight.name!, weightElements: count, bytesBefore: tensorBytes(weight), bytesAfter: count + 4 * result });
  }
  g.commit();
  return { quantized, skipped, merged, gelus, attentions };
}

/** The zero point that centres symmetric values in an unsigned byte. */
const UINT8_ZERO_POINT = 128;

interface Context {
  readonly g: GraphEditor;
  readonly types: ReadonlyMap<string, ValueType>;
  readonly perChannel: boolean;
  readonly reduceRange: boolean;
  readonly weightType: 'int8' | 'uint8';
  readonly quantizedWeights: Map<string, { q: string; scale: string; zeroPoint: string; channels: number }>;
}

/** Rewrites a node and returns its number of weight scales, or says why it cannot. */
type Rewriter = (ctx: Context, node: NodeProto, weight: TensorProto) => string | number;

const REWRITERS: Record<Int8OpType, Rewriter> = {
  MatMul: rewriteMatMul,
  Gemm: rewriteGemm,
  Gather: rewriteGather,
  Conv: rewriteConv,
};

function isFloatActivation(ctx: Context, name: string | undefined | null): boolean {
  return !!name && ctx.types.get(name)?.elemType === DataType.FLOAT && !ctx.g.initializer(name);
}

/**
 * The int8 weight, its scales (shaped to broadcast over the op's output) and a scalar zero
 * point, added as initializers once per (weight, layout).
 */
function weightInitializers(
  ctx: Context,
  weight: TensorProto,
  key: string,
  values: Float32Array,
  dims: readonly number[],
  axis: number,
  scaleDims: (channels: number) => number[],
): { q: string; scale: string; zeroPoint: string; channels: number } {
  const cacheKey = `${weight.name}/${key}`;
  const cached = ctx.quantizedWeights.get(cacheKey);
  if (cached) return cached;
  const { data, scales } = quantizeSymmetric(values, dims, ctx.perChannel ? axis : null, ctx.reduceRange);
  const g = ctx.g;
  const base = weight.name!;
  const scale = g.addInitializer(tensors.float(g.fresh(`${base}_scale`), ctx.perChannel ? scaleDims(scales.length) : [], scales));
  let q: string;
  let zeroPoint: string;
  if (ctx.weightType === 'uint8') {
    q = g.addInitializer(tensors.uint8(g.fresh(`${base}_quantized`), dims, Uint8Array.from(data, (v) => v + UINT8_ZERO_POINT)));
    zeroPoint = g.addInitializer(tensors.uint8(g.fresh(`${base}_zero_point`), [], new Uint8Array([UINT8_ZERO_POINT])));
  } else {
    q = g.addInitializer(tensors.int8(g.fresh(`${base}_quantized`), dims, data));
    zeroPoint = g.addInitializer(tensors.int8(g.fresh(`${base}_zero_point`), [], new Int8Array(1)));
  }
  const entry = { q, scale, zeroPoint, channels: scales.length };
  ctx.quantizedWeights.set(cacheKey, entry);
  return entry;
}

/**
 * DynamicQuantizeLinear on `activation`, then `integerOp`, Cast to float and the combined
 * scale, writing `output`. Returns the nodes in order.
 */
function integerThenScale(
  ctx: Context,
  node: NodeProto,
  activation: string,
  integerOp: 'MatMulInteger' | 'ConvInteger',
  w: { q: string; scale: string; zeroPoint: string },
  output: string,
  integerAttrs: NodeProto['attribute'] = [],
): NodeProto[] {
  const g = ctx.g;
  const base = node.name || node.output![0]!;
  const aq = g.fresh(`${activation}_quantized`);
  const aScale = g.fresh(`${activation}_scale`);
  const aZero = g.fresh(`${activation}_zero_point`);
  const int32 = g.fresh(`${base}_int32`);
  const asFloat = g.fresh(`${base}_int32_float`);
  const scale = g.fresh(`${base}_output_scale`);
  return [
    g.makeNode('DynamicQuantizeLinear', [activation], [aq, aScale, aZero], `${base}_quantize_input`),
    g.makeNode(integerOp, [aq, w.q, aZero, w.zeroPoint], [int32], `${base}_integer`, [...(integerAttrs ?? [])]),
    g.makeNode('Cast', [int32], [asFloat], `${base}_cast`, [attrs.int('to', DataType.FLOAT)]),
    g.makeNode('Mul', [aScale, w.scale], [scale], `${base}_scale`),
    g.makeNode('Mul', [asFloat, scale], [output], `${base}_rescale`),
  ];
}

function rewriteMatMul(ctx: Context, node: NodeProto, weight: TensorProto): string | number {
  const dims = dimsOf(weight);
  if (dims.length !== 2) return `weight has rank ${dims.length}; MatMulInteger takes a 2-D constant`;
  const a = node.input![0]!;
  if (!isFloatActivation(ctx, a)) return 'input A is not a float32 activation';
  const w = weightInitializers(ctx, weight, 'MatMul/0', readFloats(weight), dims, 1, (n) => [n]);
  ctx.g.replace(node, integerThenScale(ctx, node, a, 'MatMulInteger', w, node.output![0]!));
  return w.channels;
}

/**
 * com.microsoft.Attention (made by fuse-attention.ts) as DynamicQuantizeLinear(X) then
 * QAttention, with the packed [Din, 3·hidden] weight int8 per output column; the bias, mask
 * and attributes carry over.
 */
function rewriteAttention(ctx: Context, node: NodeProto, weight: TensorProto): number {
  const g = ctx.g;
  const [x, , bias, mask] = node.input as string[];
  const w = weightInitializers(ctx, weight, 'Attention/0', readFloats(weight), dimsOf(weight), 1, (n) => [n]);
  const base = node.name || node.output![0]!;
  const xq = g.fresh(`${x}_quantized`);
  const xScale = g.fresh(`${x}_scale`);
  const xZero = g.fresh(`${x}_zero_point`);
  g.replace(node, [
    g.makeNode('DynamicQuantizeLinear', [x!], [xq, xScale, xZero], `${base}_quantize_input`),
    g.makeNode('QAttention', [xq, w.q, bias!, xScale, w.scale, mask ?? '', xZero, w.zeroPoint], [...node.output!], `${base}_quantized`, [...(node.attribute ?? [])], 'com.microsoft'),
  ]);
  return w.channels;
}

function rewriteGemm(ctx: Context, node: NodeProto, weight: TensorProto): string | number {
  if (intAttr(node, 'transA', 0) !== 0) return 'transA=1 is not supported';
  const a = node.input![0]!;
  if (!isFloatActivation(ctx, a)) return 'input A is not a float32 activation';
  const g = ctx.g;
  const transB = intAttr(node, 'transB', 0);
  const alpha = floatAttr(node, 'alpha', 1);
  const beta = floatAttr(node, 'beta', 1);
  const c = node.input![2];
  const bias = c ? g.initializer(c) : undefined;
  if (c && (!bias || bias.dataType !== DataType.FLOAT)) return 'bias C is not a float constant';

  let dims = dimsOf(weight);
  let values = readFloats(weight);
  if (transB) {
    values = transpose2d(values, dims[0]!, dims[1]!);
    dims = [dims[1]!, dims[0]!];
  }
  // alpha scales the product: fold it into the weights before they are quantized.
  if (alpha !== 1) values = values.map((v) => v * alpha);
  const w = weightInitializers(ctx, weight, `Gemm/${transB}/${alpha}`, values, dims, 1, (n) => [n]);
  const output = node.output![0]!;
  const base = node.name || output;
  if (!bias) {
    g.replace(node, integerThenScale(ctx, node, a, 'MatMulInteger', w, output));
    return w.channels;
  }
  let biasName = bias.name!;
  if (beta !== 1) biasName = g.addInitializer(tensors.float(g.fresh(`${bias.name}_times_beta`), dimsOf(bias), readFloats(bias).map((v) => v * beta)));
  const product = g.fresh(`${base}_product`);
  g.replace(node, [...integerThenScale(ctx, node, a, 'MatMulInteger', w, product), g.makeNode('Add', [product, biasName], [output], `${base}_bias`)]);
  return w.channels;
}

function rewriteGather(ctx: Context, node: NodeProto, table: TensorProto): string | number {
  const dims = dimsOf(table);
  if (intAttr(node, 'axis', 0) !== 0) return 'Gather along an axis other than 0';
  if (dims.length !== 2) return `table has rank ${dims.length}; an embedding table is 2-D`;
  const g = ctx.g;
  const ids = node.input![1]!;
  const output = node.output![0]!;
  const base = node.name || output;
  // Per channel means per row here: each embedding vector keeps its own scale, gathered with it.
  // Tables are never multiplied as integers, so they stay int8 whatever weightType says.
  const w = weightInitializers({ ...ctx, weightType: 'int8' }, table, 'Gather/0', readFloats(table), dims, 0, (n) => [n, 1]);
  const rows = g.fresh(`${base}_rows_int8`);
  if (!ctx.perChannel) {
    g.replace(node, [
      g.makeNode('Gather', [w.q, ids], [rows], `${base}_gather_int8`, [attrs.int('axis', 0)]),
      g.makeNode('DequantizeLinear', [rows, w.scale, w.zeroPoint], [output], `${base}_dequantize`),
    ]);
    return w.channels;
  }
  const rowsFloat = g.fresh(`${base}_rows_float`);
  const rowScales = g.fresh(`${base}_row_scales`);
  g.replace(node, [
    g.makeNode('Gather', [w.q, ids], [rows], `${base}_gather_int8`, [attrs.int('axis', 0)]),
    g.makeNode('Gather', [w.scale, ids], [rowScales], `${base}_gather_scales`, [attrs.int('axis', 0)]),
    g.makeNode('Cast', [rows], [rowsFloat], `${base}_cast`, [attrs.int('to', DataType.FLOAT)]),
    g.makeNode('Mul', [rowsFloat, rowScales], [output], `${base}_rescale`),
  ]);
  return w.channels;
}

function rewriteConv(ctx: Context, node: NodeProto, weight: TensorProto): string | number {
  const dims = dimsOf(weight);
  if (dims.length < 3) return `kernel has rank ${dims.length}`;
  const x = node.input![0]!;
  if (!isFloatActivation(ctx, x)) return 'input X is not a float32 activation';
  const g = ctx.g;
  const b = node.input![2];
  const bias = b ? g.initializer(b) : undefined;
  if (b && (!bias || bias.dataType !== DataType.FLOAT)) return 'bias B is not a float constant';
  const spatial = dims.length - 2;
  // Scales and bias broadcast over [N, M, spatial...] as [M, 1, ...].
  const channelDims = (m: number) => [m, ...Array<number>(spatial).fill(1)];
  const w = weightInitializers(ctx, weight, 'Conv/0', readFloats(weight), dims, 0, channelDims);
  const output = node.output![0]!;
  const base = node.name || output;
  const convAttrs = (node.attribute ?? []).filter((a) => ['auto_pad', 'dilations', 'group', 'kernel_shape', 'pads', 'strides'].includes(a.name!));
  if (!bias) {
    g.replace(node, integerThenScale(ctx, node, x, 'ConvInteger', w, output, convAttrs));
    return w.channels;
  }
  const biasShaped = g.addInitializer(tensors.float(g.fresh(`${bias.name}_channels`), channelDims(dimsOf(bias)[0]!), readFloats(bias)));
  const product = g.fresh(`${base}_product`);
  g.replace(node, [...integerThenScale(ctx, node, x, 'ConvInteger', w, product, convAttrs), g.makeNode('Add', [product, biasShaped], [output], `${base}_bias`)]);
  return w.channels;
}
