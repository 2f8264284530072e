/**
 * token_tagger: a per-token model with a masked-mean pooled output, for
 * testing how the dynamic batcher pads ragged requests.
 *
 *   input_ids int64 [N,S] -> Gather(embedding 1000 x 8) -----------.
 *   attention_mask int64 [N,S] -> Cast float -> Unsqueeze [N,S,1] -+-> Mul -> tags float32 [N,S,8]
 *
 *   tags -> ReduceSum axis 1 ------------------------------------.
 *   mask -> ReduceSum axis 1 (keepdims) [N,1] -> Max(., 1) -------+-> Div -> pooled float32 [N,8]
 *
 * Each position of `tags` depends only on its own id and mask, and a
 * position whose mask is 0 adds nothing to either sum in `pooled`. So
 * padding a request with extra (id 0, mask 0) positions leaves `pooled`
 * unchanged and `tags` unchanged at the real positions: a batcher that pads
 * to the longest request and cuts `tags` back must match unbatched runs.
 * The Max keeps an all-padding row finite (0 rather than 0/0).
 *
 * Inputs and outputs share the symbolic dims 'N' and 'S', which is how the
 * batcher knows that `tags` dim 1 is the padded input dim.
 */
import { DataType, GraphBuilder, attr, tensorType } from './builder.js';

export const TOKEN_TAGGER = {
  vocab: 1000,
  dim: 8,
} as const;

/**
 * Embedding init range. Unit scale keeps every value well above float32
 * rounding, so tests can compare against sums taken in float64.
 */
const EMBEDDING_LIMIT = 1;

export function buildTokenTagger(): Uint8Array {
  const { vocab, dim } = TOKEN_TAGGER;
  const g = new GraphBuilder('token_tagger');
  const ids = g.input('input_ids', tensorType(DataType.INT64, ['N', 'S']));
  const mask = g.input('attention_mask', tensorType(DataType.INT64, ['N', 'S']));

  const table = g.uniform('embedding', [vocab, dim], EMBEDDING_LIMIT);
  const keep = g.op('Cast', [mask], { to: attr.int(DataType.FLOAT) });
  // Opset 13 moved Unsqueeze's and ReduceSum's axes from attributes to inputs.
  const lastAxis = g.int64s('last_axis', [1], [-1]);
  const seqAxis = g.int64s('seq_axis', [1], [1]);
  const keepPerPosition = g.op('Unsqueeze', [keep, lastAxis]);
  g.node('Mul', [g.op('Gather', [table, ids]), keepPerPosition], { outputs: ['tags'] });

  const summed = g.op('ReduceSum', ['tags', seqAxis], { keepdims: attr.int(0) });
  const count = g.op('ReduceSum', [keep, seqAxis], { keepdims: attr.int(1) });
  const one = g.floats('one', [], new Float32Array([1]));
  g.node('Div', [summed, g.op('Max', [count, one])], { outputs: ['pooled'] });

  g.output('tags', tensorType(DataType.FLOAT, ['N', 'S', dim]));
  g.output('pooled', tensorType(DataType.FLOAT, ['N', dim]));
  return g.encode();
}
