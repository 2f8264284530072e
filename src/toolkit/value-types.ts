/**
 * The element type and shape of every value in a model, as ONNX Runtime infers them.
 *
 * ONNX Runtime runs ONNX's type and shape inference when it loads a model but does not save
 * the result; listing every node output as a graph output makes the session report them all
 * through `outputMetadata`. Loading with optimizations off keeps the values the original
 * graph names. This covers every op ORT knows, contrib ops included, which a type table of
 * our own would not.
 */
import { dtypeByName } from '../dtypes.js';
import { InferenceSession } from '../inference-session.js';
import { encodeModel, onnx, type ModelProto } from './onnx-model.js';

export interface ValueType {
  /** ONNX element type (DataType.FLOAT, ...); 0 for non-tensor values. */
  readonly elemType: number;
  /** Dimensions: sizes, symbolic names, or -1 where unknown. */
  readonly shape: readonly (number | string)[];
}

export async function inferValueTypes(model: ModelProto): Promise<Map<string, ValueType>> {
  const graph = model.graph!;
  const listed = new Set((graph.output ?? []).map((o) => o.name!));
  const extra = [];
  for (const node of graph.node ?? []) {
    for (const out of node.output ?? []) {
      if (out && !listed.has(out)) {
        listed.add(out);
        extra.push(onnx.ValueInfoProto.create({ name: out }));
      }
    }
  }
  const probe = onnx.ModelProto.create({ ...model, graph: onnx.GraphProto.create({ ...graph, output: [...(graph.output ?? []), ...extra] }) });
  const session = await InferenceSession.create(encodeModel(probe), { graphOptimizationLevel: 'disabled' });
  try {
    const types = new Map<string, ValueType>();
    for (const meta of [...session.inputMetadata, ...session.outputMetadata]) {
      const elemType = meta.isTensor ? (dtypeByName(meta.type)?.onnx ?? 0) : 0;
      types.set(meta.name, { elemType, shape: meta.isTensor ? meta.shape : [] });
    }
    for (const t of graph.initializer ?? []) types.set(t.name!, { elemType: t.dataType ?? 0, shape: (t.dims ?? []).map(Number) });
    return types;
  } finally {
    await session.release();
  }
}
