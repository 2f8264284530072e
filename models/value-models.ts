/**
 * Models whose inputs or outputs are not plain tensors: sequences,
 * optionals and maps. They exercise the non-tensor paths of the value
 * conversion code, which onnxruntime-node does not support at all.
 */
import { DataType, GraphBuilder, attr, mapType, optionalType, sequenceType, tensorType } from './builder.js';

/** ai.onnx.ml opset for ZipMap and DictVectorizer; ORT 1.30 supports up to 5. */
const ML_OPSET = { domain: 'ai.onnx.ml', version: 3 };

/** sequence_construct: a, b float32 [2] -> SequenceConstruct -> seq: sequence(tensor(float)). */
export function buildSequenceConstruct(): Uint8Array {
  const g = new GraphBuilder('sequence_construct');
  g.input('a', tensorType(DataType.FLOAT, [2]));
  g.input('b', tensorType(DataType.FLOAT, [2]));
  g.node('SequenceConstruct', ['a', 'b'], { outputs: ['seq'] });
  g.output('seq', sequenceType(tensorType(DataType.FLOAT, [2])));
  return g.encode();
}

/**
 * sequence_at: s: sequence(tensor(float)), i int64 scalar -> SequenceAt -> y float.
 * The element shape is left open so sequences of any tensors can be fed.
 */
export function buildSequenceAt(): Uint8Array {
  const g = new GraphBuilder('sequence_at');
  g.input('s', sequenceType(tensorType(DataType.FLOAT)));
  g.input('i', tensorType(DataType.INT64, []));
  g.node('SequenceAt', ['s', 'i'], { outputs: ['y'] });
  g.output('y', tensorType(DataType.FLOAT));
  return g.encode();
}

/** optional_has: x: optional(tensor(float)) -> OptionalHasElement -> y bool scalar. */
export function buildOptionalHas(): Uint8Array {
  const g = new GraphBuilder('optional_has');
  g.input('x', optionalType(tensorType(DataType.FLOAT, ['A'])));
  g.node('OptionalHasElement', ['x'], { outputs: ['y'] });
  g.output('y', tensorType(DataType.BOOL, []));
  return g.encode();
}

/**
 * zip_map: x float32 [N,3] -> ZipMap(labels 0,1,2) -> y: sequence(map(int64, float)),
 * the output shape classic scikit-learn classifiers export, one map per row.
 */
export function buildZipMap(): Uint8Array {
  const g = new GraphBuilder('zip_map');
  g.input('x', tensorType(DataType.FLOAT, ['N', 3]));
  g.node('ZipMap', ['x'], {
    outputs: ['y'],
    domain: ML_OPSET.domain,
    attrs: { classlabels_int64s: attr.ints([0, 1, 2]) },
  });
  g.output('y', sequenceType(mapType(DataType.INT64, tensorType(DataType.FLOAT))));
  return g.encode([ML_OPSET]);
}

/**
 * map_vectorize: m: map(int64, float) -> DictVectorizer(vocabulary 1,2,3) -> y float32 [1,3].
 * A map input; keys outside the vocabulary are dropped, missing ones read as 0.
 */
export function buildMapVectorize(): Uint8Array {
  const g = new GraphBuilder('map_vectorize');
  g.input('m', mapType(DataType.INT64, tensorType(DataType.FLOAT)));
  g.node('DictVectorizer', ['m'], {
    outputs: ['y'],
    domain: ML_OPSET.domain,
    attrs: { int64_vocabulary: attr.ints([1, 2, 3]) },
  });
  g.output('y', tensorType(DataType.FLOAT, [1, 3]));
  return g.encode([ML_OPSET]);
}
