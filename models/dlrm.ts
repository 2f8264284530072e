/**
 * dlrm: a small DLRM-style recommender, the sparse/embedding-heavy
 * workload for the benchmarks.
 *
 *   dense float32 [N,13]  -> MLP 13-64-16 ----------------------------.
 *   sparse int64 [N,8]    -> column j looks up table j (1000 x 16) ---+-> Concat [N,144]
 *                                                 -> MLP 144-64-1 -> Sigmoid -> y [N,1]
 *
 * Real DLRM crosses the embeddings with pairwise dot products; plain
 * concatenation keeps the same shape of work (gathers, then GEMMs) with
 * fewer ops.
 */
import { DataType, GraphBuilder, attr, tensorType } from './builder.js';
import { dense } from './layers.js';

export const DLRM = {
  denseFeatures: 13,
  sparseFeatures: 8,
  tableRows: 1000,
  embeddingDim: 16,
} as const;

/** Embedding init range, so looked-up rows sit at the bottom MLP's output scale. */
const EMBEDDING_LIMIT = 0.05;

export function buildDlrm(): Uint8Array {
  const { denseFeatures, sparseFeatures, tableRows, embeddingDim } = DLRM;
  const g = new GraphBuilder('dlrm');
  const denseIn = g.input('dense', tensorType(DataType.FLOAT, ['N', denseFeatures]));
  const sparseIn = g.input('sparse', tensorType(DataType.INT64, ['N', sparseFeatures]));

  const bottom1 = g.op('Relu', [dense(g, denseIn, 'bottom.fc1', denseFeatures, 64)]);
  const bottom = g.op('Relu', [dense(g, bottom1, 'bottom.fc2', 64, embeddingDim)]);

  const embedded: string[] = [];
  for (let j = 0; j < sparseFeatures; j++) {
    const table = g.uniform(`embedding${j}`, [tableRows, embeddingDim], EMBEDDING_LIMIT);
    const column = g.op('Gather', [sparseIn, g.int64s(`column${j}`, [], [j])], { axis: attr.int(1) });
    embedded.push(g.op('Gather', [table, column]));
  }

  const joined = g.op('Concat', [bottom, ...embedded], { axis: attr.int(1) });
  const width = embeddingDim * (sparseFeatures + 1);
  const top1 = g.op('Relu', [dense(g, joined, 'top.fc1', width, 64)]);
  g.node('Sigmoid', [dense(g, top1, 'top.fc2', 64, 1)], { outputs: ['y'] });
  g.output('y', tensorType(DataType.FLOAT, ['N', 1]));
  return g.encode();
}
