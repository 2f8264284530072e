/**
 * ctr_mlp: a click-through-rate style MLP, the small dense model the
 * batcher and server tests drive.
 *
 *   x float32 [N,64] -> Gemm 256, Relu -> Gemm 256, Relu -> Gemm 1 -> Sigmoid -> y [N,1]
 */
import { DataType, GraphBuilder, tensorType } from './builder.js';
import { dense } from './layers.js';

export const CTR_MLP_FEATURES = 64;

export function buildCtrMlp(): Uint8Array {
  const g = new GraphBuilder('ctr_mlp');
  const x = g.input('x', tensorType(DataType.FLOAT, ['N', CTR_MLP_FEATURES]));
  const h1 = g.op('Relu', [dense(g, x, 'fc1', CTR_MLP_FEATURES, 256)]);
  const h2 = g.op('Relu', [dense(g, h1, 'fc2', 256, 256)]);
  const logit = dense(g, h2, 'fc3', 256, 1);
  g.node('Sigmoid', [logit], { outputs: ['y'] });
  g.output('y', tensorType(DataType.FLOAT, ['N', 1]));
  return g.encode();
}
