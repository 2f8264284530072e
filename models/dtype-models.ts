/**
 * Tiny per-dtype models for the tensor conversion tests: one Identity
 * model per ONNX element type, plus Add models for arithmetic checks.
 */
import { DataType, GraphBuilder, attr, tensorType } from './builder.js';

/** Element types the tensor tests cover, by the names onnxruntime-common uses. */
export const IDENTITY_DTYPES = {
  float32: DataType.FLOAT,
  float64: DataType.DOUBLE,
  float16: DataType.FLOAT16,
  bfloat16: DataType.BFLOAT16,
  int8: DataType.INT8,
  int16: DataType.INT16,
  int32: DataType.INT32,
  int64: DataType.INT64,
  uint8: DataType.UINT8,
  uint16: DataType.UINT16,
  uint32: DataType.UINT32,
  uint64: DataType.UINT64,
  bool: DataType.BOOL,
  string: DataType.STRING,
} as const;

export type IdentityDtype = keyof typeof IDENTITY_DTYPES;

/** identity_<dtype>: x [A,B] -> Identity -> y [A,B]; both dims dynamic so any rank-2 shape fits. */
export function buildIdentity(dtype: IdentityDtype): Uint8Array {
  const type = tensorType(IDENTITY_DTYPES[dtype], ['A', 'B']);
  const g = new GraphBuilder(`identity_${dtype}`);
  g.input('x', type);
  g.node('Identity', ['x'], { outputs: ['y'] });
  g.output('y', type);
  return g.encode();
}

/** add_float32: x, y float32 [2,3] -> Add -> z [2,3]. */
export function buildAddFloat32(): Uint8Array {
  const type = tensorType(DataType.FLOAT, [2, 3]);
  const g = new GraphBuilder('add_float32');
  g.input('x', type);
  g.input('y', type);
  g.node('Add', ['x', 'y'], { outputs: ['z'] });
  g.output('z', type);
  return g.encode();
}

/**
 * add_bfloat16: x, y bfloat16 [2,3] -> z bfloat16 [2,3].
 * ORT's CPU provider has no bfloat16 Add kernel (session creation fails
 * with "Could not find an implementation for Add"), so the sum is taken
 * in float32 between Casts; the graph's inputs and outputs stay bfloat16.
 */
export function buildAddBfloat16(): Uint8Array {
  const type = tensorType(DataType.BFLOAT16, [2, 3]);
  const g = new GraphBuilder('add_bfloat16');
  g.input('x', type);
  g.input('y', type);
  const toFloat = { to: attr.int(DataType.FLOAT) };
  const sum = g.op('Add', [g.op('Cast', ['x'], toFloat), g.op('Cast', ['y'], toFloat)]);
  g.node('Cast', [sum], { outputs: ['z'], attrs: { to: attr.int(DataType.BFLOAT16) } });
  g.output('z', type);
  return g.encode();
}
