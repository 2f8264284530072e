/**
 * batch_probe: a model that reports, to every row, what batch it ran in.
 * The dynamic batcher's tests use it to see which requests were merged.
 *
 *   x float64 [N,1] -> Identity                          -> y    float64 [N,1]
 *                   -> Shape[0:1] -> Cast double -> Expand -> size float64 [N,1]
 *                   -> ReduceSum axis 0 (keepdims) -> Expand -> sum  float64 [N,1]
 *
 * Give each request a distinct power of two as x and a batched run tells
 * each row its batch size and, through `sum`, exactly which requests were
 * in its batch: float64 adds distinct powers of two without rounding up to
 * 2^53, so the bits of `sum` are the set of requests.
 *
 * Every output keeps the symbolic 'N' of the input, which is how the
 * batcher knows that output dim 0 is the batch dim to split.
 */
import { DataType, GraphBuilder, attr, tensorType } from './builder.js';

export function buildBatchProbe(): Uint8Array {
  const type = tensorType(DataType.DOUBLE, ['N', 1]);
  const g = new GraphBuilder('batch_probe');
  const x = g.input('x', type);
  const shape = g.op('Shape', [x]);

  g.node('Identity', [x], { outputs: ['y'] });

  // Shape's start/end attributes (opset 15) give N as a 1-element int64,
  // which broadcasts against [N,1] like any other [1] tensor.
  const n = g.op('Shape', [x], { start: attr.int(0), end: attr.int(1) });
  const nDouble = g.op('Cast', [n], { to: attr.int(DataType.DOUBLE) });
  g.node('Expand', [nDouble, shape], { outputs: ['size'] });

  // Opset 13 moved ReduceSum's axes from an attribute to an input.
  const batchAxis = g.int64s('batch_axis', [1], [0]);
  const total = g.op('ReduceSum', [x, batchAxis], { keepdims: attr.int(1) });
  g.node('Expand', [total, shape], { outputs: ['sum'] });

  g.output('y', type);
  g.output('size', type);
  g.output('sum', type);
  return g.encode();
}
