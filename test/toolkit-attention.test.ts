// The self-attention fusion before INT8 (src/toolkit/fuse-attention.ts): each way a block is
// commonly written becomes one com.microsoft.Attention that computes what the written-out
// graph computes, the INT8 rewrite makes it a QAttention that ORT runs, and a look-alike that
// is not self-attention is left alone.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import onnxProto from 'onnx-proto';
import { afterAll, describe, expect, it } from 'vitest';
import { InferenceSession } from '../src/inference-session.js';
import { fuseAttention } from '../src/toolkit/fuse-attention.js';
import { decodeModel, encodeModel } from '../src/toolkit/onnx-model.js';
import { quantizeModel } from '../src/toolkit/quantize.js';
import { int8Sensitivity } from '../src/toolkit/sensitivity.js';
import { inferValueTypes } from '../src/toolkit/value-types.js';
import { DataType, GraphBuilder, attr, tensorType } from '../models/builder.js';
import { linear } from '../models/layers.js';
import { Prng } from '../models/prng.js';
import { model } from './helpers.js';

const { onnx } = onnxProto;
const tmp = mkdtempSync(join(tmpdir(), 'ortex-attention-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const out = (name: string) => join(tmp, name);
const opsOf = (bytes: Uint8Array) => onnx.ModelProto.decode(bytes).graph!.node.map((n) => n.opType);

const HIDDEN = 32;
const HEADS = 4;
const HEAD_SIZE = HIDDEN / HEADS;

type Variant =
  /** bert_mini's spelling: scores × 1/√D, mask bias -10000, keys transposed to [N,H,D,S] at once. */
  | 'bert'
  /** scores ÷ √D, no mask, keys by two Transposes ([0,2,1,3] then [0,1,3,2]). */
  | 'div-no-mask'
  /** a scale other than 1/√D and a mask value other than -10000: both become attributes. */
  | 'custom-constants'
  /** bert's, with the mask unsqueezed along axes [-2, -3] and the heads merged by Reshape [0, 0, -1]. */
  | 'other-axes'
  /** keys from another input (cross-attention): not self-attention, left alone. */
  | 'cross'
  /** the attention probabilities also read inside an If's branches: left alone. */
  | 'read-in-subgraph'
  /** a mask of shape [1, S] broadcast over the batch, which the fused op refuses: left alone. */
  | 'broadcast-mask';

function attentionBlock(variant: Variant): Uint8Array {
  const g = new GraphBuilder(`attention_${variant}`);
  const x = g.input('x', tensorType(DataType.FLOAT, ['N', 'S', HIDDEN]));
  const memory = variant === 'cross' ? g.input('memory', tensorType(DataType.FLOAT, ['N', 'S', HIDDEN])) : x;
  const masked = variant !== 'div-no-mask';
  const mask = masked ? g.input('mask', tensorType(DataType.INT64, [variant === 'broadcast-mask' ? 1 : 'N', 'S'])) : '';
  const split = g.int64s('split_heads', [4], [0, 0, HEADS, HEAD_SIZE]);
  const heads = (from: string, name: string, perm: number[]) =>
    g.op('Transpose', [g.op('Reshape', [linear(g, from, name, HIDDEN, HIDDEN), split])], { perm: attr.ints(perm) });
  const q = heads(x, 'query', [0, 2, 1, 3]);
  const k = variant === 'div-no-mask'
    ? g.op('Transpose', [heads(x, 'key', [0, 2, 1, 3])], { perm: attr.ints([0, 1, 3, 2]) })
    : heads(memory, 'key', [0, 2, 3, 1]);
  const v = heads(variant === 'cross' ? memory : x, 'value', [0, 2, 1, 3]);
  const product = g.op('MatMul', [q, k]);
  let scores = variant === 'div-no-mask'
    ? g.op('Div', [product, g.floats('sqrt_d', [], new Float32Array([Math.sqrt(HEAD_SIZE)]))])
    : g.op('Mul', [product, g.floats('scale', [], new Float32Array([variant === 'custom-constants' ? 0.3 : 1 / Math.sqrt(HEAD_SIZE)]))]);
  if (masked) {
    const keep = g.op('Cast', [mask], { to: attr.int(DataType.FLOAT) });
    // -2 rather than a huge value, so that a lost mask_filter_value would show in the output.
    const filter = variant === 'custom-constants' ? -2 : -10000;
    const bias = g.op('Mul', [g.op('Sub', [g.floats('one', [], new Float32Array([1])), keep]), g.floats('filter', [], new Float32Array([filter]))]);
    const axes = variant === 'other-axes' ? [-2, -3] : [1, 2];
    scores = g.op('Add', [scores, g.op('Unsqueeze', [bias, g.int64s('mask_axes', [2], axes)])]);
  }
  const probs = g.op('Softmax', [scores], { axis: attr.int(-1) });
  if (variant === 'read-in-subgraph') {
    const branch = (name: string) =>
      onnx.GraphProto.create({ name, node: [{ opType: 'Identity', input: [probs], output: [`${name}_p`] }], output: [{ name: `${name}_p`, type: tensorType(DataType.FLOAT, ['N', HEADS, 'S', 'S']) }] });
    const cond = g.op('Greater', [g.floats('two', [], new Float32Array([2])), g.floats('one_f', [], new Float32Array([1]))]);
    const graphAttr = (name: string) => ({ type: onnx.AttributeProto.AttributeType.GRAPH, g: branch(name) });
    g.node('If', [cond], { outputs: ['p'], attrs: { then_branch: graphAttr('then'), else_branch: graphAttr('else') } });
    g.output('p', tensorType(DataType.FLOAT, ['N', HEADS, 'S', 'S']));
  }
  const context = g.op('Transpose', [g.op('MatMul', [probs, v])], { perm: attr.ints([0, 2, 1, 3]) });
  const merged = g.op('Reshape', [context, g.int64s('merge_heads', [3], [0, 0, variant === 'other-axes' ? -1 : HIDDEN])]);
  // The output projection and a residual, as in an encoder layer.
  g.node('Add', [linear(g, merged, 'output', HIDDEN, HIDDEN), x], { outputs: ['y'] });
  g.output('y', tensorType(DataType.FLOAT, ['N', 'S', HIDDEN]));
  return g.encode();
}

const N = 2;
const S = 5;
function feedsFor(variant: Variant) {
  const prng = new Prng(7);
  const feeds: Record<string, { type: 'float32' | 'int64'; data: Float32Array | BigInt64Array; dims: number[] }> = {
    x: { type: 'float32', data: prng.uniform(N * S * HIDDEN, 2), dims: [N, S, HIDDEN] },
  };
  if (variant === 'cross') feeds.memory = { type: 'float32', data: prng.uniform(N * S * HIDDEN, 2), dims: [N, S, HIDDEN] };
  // The second sequence has its last two positions padded: the mask must matter.
  if (variant !== 'div-no-mask') feeds.mask = { type: 'int64', data: BigInt64Array.from([1, 1, 1, 1, 1, 1, 1, 1, 0, 0], BigInt), dims: [N, S] };
  return feeds;
}

async function outputOf(bytes: Uint8Array | string, feeds: ReturnType<typeof feedsFor>): Promise<Float32Array> {
  const session = await InferenceSession.create(bytes);
  try {
    return (await session.run(feeds)).y!.data as Float32Array;
  } finally {
    await session.release();
  }
}

const maxDiff = (a: Float32Array, b: Float32Array) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i]!)), 0);

describe('fuseAttention(): self-attention written out becomes com.microsoft.Attention', () => {
  for (const variant of ['bert', 'div-no-mask', 'custom-constants', 'other-axes'] as const) {
    it(`fuses the ${variant} spelling into one Attention that computes the same output`, async () => {
      const original = attentionBlock(variant);
      const m = decodeModel(original);
      const fused = fuseAttention(m, await inferValueTypes(m));
      expect(fused).toHaveLength(1);
      expect(fused[0]!.heads).toBe(HEADS);
      expect(fused[0]!.projections).toHaveLength(3);
      const bytes = encodeModel(m);
      const ops = opsOf(bytes);
      expect(ops.filter((op) => op === 'Attention')).toHaveLength(1);
      // Only the output projection and the residual are left of the float graph.
      for (const gone of ['Softmax', 'Transpose', 'Reshape', 'Unsqueeze', 'Sub']) expect(ops).not.toContain(gone);
      const feeds = feedsFor(variant);
      expect(maxDiff(await outputOf(original, feeds), await outputOf(bytes, feeds))).toBeLessThan(1e-5);
    });
  }

  for (const variant of ['cross', 'read-in-subgraph', 'broadcast-mask'] as const) {
    it(`leaves the ${variant} look-alike alone, still loadable`, async () => {
      const m = decodeModel(attentionBlock(variant));
      expect(fuseAttention(m, await inferValueTypes(m))).toEqual([]);
      const bytes = encodeModel(m);
      expect(opsOf(bytes)).toContain('Softmax');
      await (await InferenceSession.create(bytes)).release();
    });
  }

  it('fuses nothing when a projection is not eligible (excluded from quantization)', async () => {
    const m = decodeModel(attentionBlock('bert'));
    const fused = fuseAttention(m, await inferValueTypes(m), (node) => node.name !== 'MatMul_node_1');
    expect(fused).toEqual([]);
  });
});

describe('quantizeModel() --int8 with the attention fused', () => {
  for (const variant of ['bert', 'div-no-mask', 'custom-constants'] as const) {
    it(`makes the ${variant} block a QAttention that ORT runs, close to float32`, async () => {
      const path = out(`${variant}.onnx`);
      writeFileSync(path, attentionBlock(variant));
      const report = await quantizeModel(path, out(`${variant}.int8.onnx`), { int8: { reduceRange: true } });
      expect(report.int8!.attentions).toHaveLength(1);
      expect(report.int8!.quantized.map((q) => q.opType).sort()).toEqual(['Attention', 'MatMul']);
      expect(report.int8!.fusion!.fused['com.microsoft.QAttention']).toBe(1);
      expect(report.int8!.fusion!.unfused).toEqual({});
      const feeds = feedsFor(variant);
      const [a, b] = [await outputOf(path, feeds), await outputOf(out(`${variant}.int8.onnx`), feeds)];
      const scale = a.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
      expect(maxDiff(a, b) / scale).toBeLessThan(0.05);
    });
  }

  it('keeps the block apart with fuseAttention: false, and then merges the projections instead', async () => {
    const path = out('bert.onnx');
    writeFileSync(path, attentionBlock('bert'));
    const report = await quantizeModel(path, out('bert.unfused.int8.onnx'), { int8: { fuseAttention: false }, checkFusion: false });
    expect(report.int8!.attentions).toEqual([]);
    expect(report.int8!.merged).toHaveLength(1);
    expect(opsOf(readFileSync(out('bert.unfused.int8.onnx')))).toContain('Softmax');
  });

  it('on bert_mini: one QAttention per layer, outputs identical to the unfused INT8 model', async () => {
    const fusedReport = await quantizeModel(model('bert_mini'), out('bert_mini.int8.onnx'), { int8: { reduceRange: true } });
    await quantizeModel(model('bert_mini'), out('bert_mini.plain.int8.onnx'), { int8: { reduceRange: true, fuseAttention: false }, checkFusion: false });
    expect(fusedReport.int8!.attentions.map((a) => a.heads)).toEqual([4, 4, 4, 4]);
    expect(fusedReport.int8!.fusion!.fused['com.microsoft.QAttention']).toBe(4);
    const S_BERT = 16;
    const ids = BigInt64Array.from({ length: 2 * S_BERT }, (_, i) => BigInt((i * 7919) % 30522));
    const mask = BigInt64Array.from({ length: 2 * S_BERT }, (_, i) => (i >= 2 * S_BERT - 3 ? 0n : 1n));
    const feeds = { input_ids: { type: 'int64', data: ids, dims: [2, S_BERT] }, attention_mask: { type: 'int64', data: mask, dims: [2, S_BERT] } } as const;
    const logits = async (path: string) => {
      const s = await InferenceSession.create(path);
      try {
        return (await s.run(feeds)).logits!.data as Float32Array;
      } finally {
        await s.release();
      }
    };
    // The same per-column int8 weights and the same activation quantization, in one kernel.
    expect(maxDiff(await logits(out('bert_mini.int8.onnx')), await logits(out('bert_mini.plain.int8.onnx')))).toBeLessThan(1e-4);
  });

  it('the sensitivity report measures each projection of a fused attention under its own name', async () => {
    const path = out('bert_sens.onnx');
    writeFileSync(path, attentionBlock('bert'));
    const report = await int8Sensitivity(path, { samples: 8, dims: { S: 4 } });
    const names = report.nodes.map((n) => n.name).sort();
    expect(names).toEqual(['MatMul_node_0', 'MatMul_node_1', 'MatMul_node_2', 'MatMul_node_5']);
    expect(report.nodes.every((n) => n.opType === 'MatMul')).toBe(true);
  });
});
