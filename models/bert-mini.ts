/**
 * bert_mini: a 4-layer BERT-style encoder with a 65-way classifier on the
 * first token, the transformer workload for the benchmarks.
 *
 *   input_ids int64 [N,S], attention_mask int64 [N,S] -> logits float32 [N,65]
 *
 * Attention is spelled out in MatMul/Softmax/Reshape/Transpose rather than
 * a fused contrib op, so the model is plain ONNX that any runtime loads;
 * ORT's optimiser fuses the patterns back into its own kernels at load.
 */
import { DataType, GraphBuilder, attr, tensorType } from './builder.js';
import { dense, gelu, layerNorm, linear } from './layers.js';

export const BERT_MINI = {
  vocab: 30522,
  maxPositions: 512,
  hidden: 256,
  heads: 4,
  ffn: 1024,
  layers: 4,
  classes: 65,
} as const;

/** Embedding init range, close to BERT's N(0, 0.02) in spread. */
const EMBEDDING_LIMIT = 0.05;
/** Added to masked-out scores: exp(-10000) is exactly 0 in float32. */
const MASKED_SCORE = -10000;

/** Constants shared by every layer, created once per graph. */
interface Shared {
  splitHeads: string;
  mergeHeads: string;
  scale: string;
  maskBias: string;
}

export function buildBertMini(): Uint8Array {
  const { vocab, maxPositions, hidden, heads, classes } = BERT_MINI;
  const g = new GraphBuilder('bert_mini');
  const ids = g.input('input_ids', tensorType(DataType.INT64, ['N', 'S']));
  const mask = g.input('attention_mask', tensorType(DataType.INT64, ['N', 'S']));

  // Token embedding plus the first S rows of the position table.
  const wordTable = g.uniform('embeddings.word', [vocab, hidden], EMBEDDING_LIMIT);
  const posTable = g.uniform('embeddings.position', [maxPositions, hidden], EMBEDDING_LIMIT);
  const seqLen = g.op('Shape', [ids], { start: attr.int(1), end: attr.int(2) });
  const zero = g.int64s('zero_1d', [1], [0]);
  const positions = g.op('Slice', [posTable, zero, seqLen, zero]);
  const embedded = g.op('Add', [g.op('Gather', [wordTable, ids]), positions]);
  let h = layerNorm(g, embedded, 'embeddings.norm', hidden);

  // attention_mask (1 keep, 0 pad) becomes an additive bias [N,1,1,S]
  // that broadcasts over heads and query positions.
  const keep = g.op('Cast', [mask], { to: attr.int(DataType.FLOAT) });
  const one = g.floats('one', [], new Float32Array([1]));
  const masked = g.floats('masked_score', [], new Float32Array([MASKED_SCORE]));
  const bias = g.op('Mul', [g.op('Sub', [one, keep]), masked]);
  const shared: Shared = {
    splitHeads: g.int64s('split_heads_shape', [4], [0, 0, heads, hidden / heads]),
    mergeHeads: g.int64s('merge_heads_shape', [3], [0, 0, hidden]),
    scale: g.floats('attention_scale', [], new Float32Array([1 / Math.sqrt(hidden / heads)])),
    maskBias: g.op('Unsqueeze', [bias, g.int64s('mask_axes', [2], [1, 2])]),
  };

  for (let layer = 0; layer < BERT_MINI.layers; layer++) h = encoderLayer(g, h, `layer${layer}`, shared);

  // Classify from the first token through a tanh pooler, as BERT does.
  const first = g.op('Gather', [h, g.int64s('first_token', [], [0])], { axis: attr.int(1) });
  const pooled = g.op('Tanh', [dense(g, first, 'pooler', hidden, hidden)]);
  const logits = dense(g, pooled, 'classifier', hidden, classes);
  g.node('Identity', [logits], { outputs: ['logits'] });
  g.output('logits', tensorType(DataType.FLOAT, ['N', classes]));
  return g.encode();
}

/** One post-norm encoder layer: self-attention, then the feed-forward block. */
function encoderLayer(g: GraphBuilder, x: string, prefix: string, shared: Shared): string {
  const { hidden, ffn } = BERT_MINI;
  // [N,S,hidden] -> [N,heads,S,headDim], or [N,heads,headDim,S] for keys so
  // that one MatMul gives the [N,heads,S,S] scores.
  const heads = (name: string, perm: number[]): string => {
    const projected = linear(g, x, `${prefix}.${name}`, hidden, hidden);
    return g.op('Transpose', [g.op('Reshape', [projected, shared.splitHeads])], { perm: attr.ints(perm) });
  };
  const q = heads('query', [0, 2, 1, 3]);
  const k = heads('key', [0, 2, 3, 1]);
  const v = heads('value', [0, 2, 1, 3]);

  const scores = g.op('Add', [g.op('Mul', [g.op('MatMul', [q, k]), shared.scale]), shared.maskBias]);
  const probs = g.op('Softmax', [scores], { axis: attr.int(-1) });
  const context = g.op('Transpose', [g.op('MatMul', [probs, v])], { perm: attr.ints([0, 2, 1, 3]) });
  const merged = g.op('Reshape', [context, shared.mergeHeads]);
  const attended = linear(g, merged, `${prefix}.attention_output`, hidden, hidden);
  const h = layerNorm(g, g.op('Add', [attended, x]), `${prefix}.attention_norm`, hidden);

  const inner = gelu(g, linear(g, h, `${prefix}.intermediate`, hidden, ffn), `${prefix}.gelu`);
  const out = linear(g, inner, `${prefix}.output`, ffn, hidden);
  return layerNorm(g, g.op('Add', [out, h]), `${prefix}.output_norm`, hidden);
}
