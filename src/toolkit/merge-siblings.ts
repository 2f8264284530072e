/**
 * Sibling MatMuls merged into one: MatMuls that read the same activation A with constant 2-D
 * weights (a transformer's query, key and value projections) become one MatMul over the
 * weights concatenated along N, one Add of the concatenated biases when each had its own,
 * and a Split that gives every original output back under its own name.
 *
 * Done before the INT8 rewrite: the merged MatMul quantizes its activation once instead of
 * once per sibling, and one wider integer GEMM runs where several narrow ones ran. With
 * per-channel weight scales every output column keeps the scale it had, so the quantized
 * model computes exactly what the unmerged one would.
 */
import { GraphEditor, attrs } from './graph-editor.js';
import { DataType, opsetVersion, type ModelProto, type NodeProto, type TensorProto } from './onnx-model.js';
import { dimsOf, readFloats, tensors } from './tensor-data.js';

/** One merge: the MatMul it made and the nodes it replaced. */
export interface MergedMatMuls {
  readonly name: string;
  readonly nodes: readonly string[];
  /** Their weights, in the same order. */
  readonly weights: readonly string[];
}

/** Split takes its sizes as an input from opset 13, as an attribute before. */
const SPLIT_SIZES_AS_INPUT_OPSET = 13;

/** The bias Add a MatMul output feeds, when it is the output's only use and its other input a float [N] constant. */
function biasAdd(g: GraphEditor, output: string, columns: number): { add: NodeProto; bias: TensorProto } | undefined {
  const add = g.soleConsumer(output);
  if (!add || add.opType !== 'Add' || (add.domain ?? '') !== '' || add.input?.length !== 2) return undefined;
  const bias = g.initializer(add.input[0] === output ? add.input[1] : add.input[0]);
  if (!bias || bias.dataType !== DataType.FLOAT) return undefined;
  const dims = dimsOf(bias);
  return dims.length === 1 && dims[0] === columns ? { add, bias } : undefined;
}

function concatColumns(weights: readonly TensorProto[]): { data: Float32Array; columns: number } {
  const rows = dimsOf(weights[0]!)[0]!;
  const widths = weights.map((w) => dimsOf(w)[1]!);
  const columns = widths.reduce((a, b) => a + b, 0);
  const data = new Float32Array(rows * columns);
  let offset = 0;
  weights.forEach((w, k) => {
    const values = readFloats(w);
    const n = widths[k]!;
    for (let r = 0; r < rows; r++) data.set(values.subarray(r * n, (r + 1) * n), r * columns + offset);
    offset += n;
  });
  return { data, columns };
}

/**
 * Merges, in place, every group of two or more MatMuls that share input A, have constant
 * float 2-D weights and that `eligible` accepts (it is given the node and its weight). Returns the merges made.
 */
export function mergeSiblingMatMuls(model: ModelProto, eligible: (node: NodeProto, weight: TensorProto) => boolean): MergedMatMuls[] {
  const g = new GraphEditor(model);
  const groups = new Map<string, NodeProto[]>();
  for (const node of g.nodes) {
    if (node.opType !== 'MatMul' || (node.domain ?? '') !== '') continue;
    const w = g.initializer(node.input?.[1]);
    if (!w || w.dataType !== DataType.FLOAT || dimsOf(w).length !== 2 || !eligible(node, w)) continue;
    const a = node.input![0]!;
    if (g.initializer(a)) continue;
    const list = groups.get(a);
    if (list) list.push(node);
    else groups.set(a, [node]);
  }
  const splitSizesAsInput = opsetVersion(model) >= SPLIT_SIZES_AS_INPUT_OPSET;
  const merged: MergedMatMuls[] = [];
  for (const [a, siblings] of groups) {
    if (siblings.length < 2) continue;
    const weights = siblings.map((n) => g.initializer(n.input![1])!);
    const widths = weights.map((w) => dimsOf(w)[1]!);
    const adds = siblings.map((n, k) => biasAdd(g, n.output![0]!, widths[k]!));
    const withBias = adds.every((x) => x !== undefined);
    const names = siblings.map((n) => n.name || n.output![0]!);
    const base = names.join('+');
    const { data, columns } = concatColumns(weights);
    const weight = g.addInitializer(tensors.float(g.fresh(`${base}.weight`), [dimsOf(weights[0]!)[0]!, columns], data));
    const product = g.fresh(`${base}_output`);
    const nodes = [g.makeNode('MatMul', [a], [product], base)];
    nodes[0]!.input!.push(weight);
    let joined = product;
    if (withBias) {
      const bias = new Float32Array(columns);
      let offset = 0;
      adds.forEach((x, k) => {
        bias.set(readFloats(x!.bias), offset);
        offset += widths[k]!;
      });
      const biasName = g.addInitializer(tensors.float(g.fresh(`${base}.bias`), [columns], bias));
      joined = g.fresh(`${base}_biased`);
      nodes.push(g.makeNode('Add', [product, biasName], [joined], `${base}_bias`));
    }
    const outputs = withBias ? adds.map((x) => x!.add.output![0]!) : siblings.map((n) => n.output![0]!);
    const split = splitSizesAsInput
      ? g.makeNode('Split', [joined, g.addInitializer(tensors.int64(g.fresh(`${base}_split_sizes`), [widths.length], widths))], outputs, `${base}_split`, [attrs.int('axis', -1)])
      : g.makeNode('Split', [joined], outputs, `${base}_split`, [attrs.int('axis', -1), attrs.ints('split', widths)]);
    nodes.push(split);
    // All siblings read only A and constants, so the first one's place has everything defined.
    g.replace(siblings[0]!, nodes);
    for (const n of siblings.slice(1)) g.replace(n, []);
    if (withBias) for (const x of adds) g.replace(x!.add, []);
    merged.push({ name: nodes[0]!.name!, nodes: names, weights: weights.map((w) => w.name!) });
  }
  g.commit();
  return merged;
}
