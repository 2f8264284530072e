/**
 * slow_matmul: a deliberately slow model (about 150 ms per run on one
 * core), used to prove that run() leaves the event loop free.
 *
 *   x float32 [1,512] -> Expand [512,512] -> L x (MatMul W, Tanh) -> ReduceMean axis 0 -> y [1,512]
 *
 * A [1,512] x [512,512] product takes microseconds, so the row is first
 * expanded to a square matrix: each layer is then a full 512^3 GEMM and a
 * few dozen layers reach the target. Every layer reuses ONE weight, so the
 * file stays about 1 MB however many layers there are. Tanh keeps the
 * values bounded, and its nonlinearity stops any optimiser from folding
 * the chain of products into one.
 */
import { DataType, GraphBuilder, attr, tensorType } from './builder.js';

export const SLOW_MATMUL_WIDTH = 512;
/** Tuned on an AMD EPYC core with intraOpNumThreads 1: about 150 ms per run. */
export const SLOW_MATMUL_LAYERS = 21;

export function buildSlowMatmul(): Uint8Array {
  const width = SLOW_MATMUL_WIDTH;
  const g = new GraphBuilder('slow_matmul');
  const x = g.input('x', tensorType(DataType.FLOAT, [1, width]));
  const w = g.weight('w', [width, width], width, width);
  const square = g.int64s('square_shape', [2], [width, width]);
  let h = g.op('Expand', [x, square]);
  for (let layer = 0; layer < SLOW_MATMUL_LAYERS; layer++) {
    h = g.op('Tanh', [g.op('MatMul', [h, w])]);
  }
  g.node('ReduceMean', [h], { outputs: ['y'], attrs: { axes: attr.ints([0]), keepdims: attr.int(1) } });
  g.output('y', tensorType(DataType.FLOAT, [1, width]));
  return g.encode();
}
