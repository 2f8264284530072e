/**
 * Layers shared by several model families, built from plain ONNX ops.
 * Weight names are prefixed so every tensor in a graph has its own seed.
 */
import type { GraphBuilder } from './builder.js';
import { attr } from './builder.js';

/** Small random biases, so a zero input still gives a non-trivial output. */
const BIAS_LIMIT = 0.1;

/** Fully connected layer on a rank-2 input: Gemm(x, W[in,out], b[out]). */
export function dense(g: GraphBuilder, x: string, prefix: string, inDim: number, outDim: number): string {
  const w = g.weight(`${prefix}.weight`, [inDim, outDim], inDim, outDim);
  const b = g.uniform(`${prefix}.bias`, [outDim], BIAS_LIMIT);
  return g.op('Gemm', [x, w, b]);
}

/**
 * Fully connected layer on any rank (e.g. [N,S,in]): MatMul then Add.
 * Gemm only takes rank 2, and the transformer keeps [N,S,hidden].
 */
export function linear(g: GraphBuilder, x: string, prefix: string, inDim: number, outDim: number): string {
  const w = g.weight(`${prefix}.weight`, [inDim, outDim], inDim, outDim);
  const b = g.uniform(`${prefix}.bias`, [outDim], BIAS_LIMIT);
  return g.op('Add', [g.op('MatMul', [x, w]), b]);
}

/** LayerNormalization over the last axis with unit scale and zero shift. */
export function layerNorm(g: GraphBuilder, x: string, prefix: string, dim: number): string {
  const scale = g.filled(`${prefix}.scale`, [dim], 1);
  const shift = g.filled(`${prefix}.shift`, [dim], 0);
  return g.op('LayerNormalization', [x, scale, shift], { axis: attr.int(-1), epsilon: attr.float(1e-5) });
}

/**
 * Exact GELU, x * 0.5 * (1 + erf(x / sqrt 2)), from opset-13 ops: the Gelu
 * op itself needs opset 20, and ORT fuses this pattern into its own Gelu
 * kernel anyway.
 */
export function gelu(g: GraphBuilder, x: string, prefix: string): string {
  const invSqrt2 = g.floats(`${prefix}.inv_sqrt2`, [], new Float32Array([Math.SQRT1_2]));
  const one = g.floats(`${prefix}.one`, [], new Float32Array([1]));
  const half = g.floats(`${prefix}.half`, [], new Float32Array([0.5]));
  const erf = g.op('Erf', [g.op('Mul', [x, invSqrt2])]);
  return g.op('Mul', [g.op('Mul', [x, g.op('Add', [erf, one])]), half]);
}
