/**
 * A graph being rewritten by a tool: indexes of initializers, producers and consumers, fresh
 * names that cannot clash with anything already in the model, and node replacement that keeps
 * the graph in topological order.
 *
 * Rewrites replace one node by a few nodes computing the same outputs from the same inputs
 * (plus new initializers), so putting the replacement where the node was keeps every value
 * defined before its use.
 */
import { DataType, num, onnx, type GraphProto, type Int64, type ModelProto, type NodeProto, type TensorProto } from './onnx-model.js';
import { dimsOf, elementCount, readFloats } from './tensor-data.js';
import type { AttributeProto } from './onnx-model.js';

export class GraphEditor {
  readonly graph: GraphProto;
  readonly initializers = new Map<string, TensorProto>();
  private readonly producers = new Map<string, NodeProto>();
  private readonly consumerLists = new Map<string, NodeProto[]>();
  private readonly taken = new Set<string>();
  private readonly replacements = new Map<NodeProto, NodeProto[]>();
  private readonly graphOutputs: Set<string>;

  constructor(model: ModelProto) {
    this.graph = model.graph!;
    for (const t of this.graph.initializer ?? []) {
      this.initializers.set(t.name!, t);
      this.taken.add(t.name!);
    }
    for (const v of [...(this.graph.input ?? []), ...(this.graph.output ?? [])]) this.taken.add(v.name!);
    this.graphOutputs = new Set((this.graph.output ?? []).map((v) => v.name!));
    for (const node of this.graph.node ?? []) {
      if (node.name) this.taken.add(node.name);
      for (const out of node.output ?? []) {
        this.producers.set(out, node);
        this.taken.add(out);
      }
      // A node with subgraphs (If, Loop, Scan) also uses every outer value its subgraphs read.
      const reads = new Set(node.input ?? []);
      for (const sub of subgraphsOf(node)) outerReads(sub, reads);
      for (const input of reads) {
        if (!input) continue;
        let list = this.consumerLists.get(input);
        if (!list) this.consumerLists.set(input, (list = []));
        list.push(node);
      }
    }
  }

  get nodes(): readonly NodeProto[] {
    return this.graph.node ?? [];
  }

  /** The float or other constant initializer named `name`, if that input is one. */
  initializer(name: string | null | undefined): TensorProto | undefined {
    return name ? this.initializers.get(name) : undefined;
  }

  /** The value of the float initializer `name` when it holds exactly one element. */
  floatScalar(name: string | null | undefined): number | undefined {
    const t = this.initializer(name);
    if (!t || t.dataType !== DataType.FLOAT || elementCount(dimsOf(t)) !== 1) return undefined;
    return readFloats(t)[0];
  }

  producer(name: string): NodeProto | undefined {
    return this.producers.get(name);
  }

  consumers(name: string): readonly NodeProto[] {
    return this.consumerLists.get(name) ?? [];
  }

  /** The one node that reads `name`, when exactly one does and it is not a graph output. */
  soleConsumer(name: string): NodeProto | undefined {
    const uses = this.consumerLists.get(name);
    return uses?.length === 1 && !this.graphOutputs.has(name) ? uses[0] : undefined;
  }

  isGraphOutput(name: string): boolean {
    return this.graphOutputs.has(name);
  }

  /** A value or node name not used anywhere in the model yet. */
  fresh(base: string): string {
    let name = base;
    for (let k = 1; this.taken.has(name); k++) name = `${base}_${k}`;
    this.taken.add(name);
    return name;
  }

  addInitializer(t: TensorProto): string {
    this.graph.initializer!.push(t);
    this.initializers.set(t.name!, t);
    return t.name!;
  }

  /** A new node (not yet placed in the graph; pass it to `replace`). */
  makeNode(
    opType: string,
    inputs: readonly string[],
    outputs: readonly string[],
    name: string,
    attrs: AttributeProto[] = [],
    domain = '',
  ): NodeProto {
    return onnx.NodeProto.create({ opType, input: [...inputs], output: [...outputs], name: this.fresh(name), attribute: attrs, domain });
  }

  /** Schedules `node` to be replaced by `nodes`, in that order, when `commit()` runs. */
  replace(node: NodeProto, nodes: NodeProto[]): void {
    this.replacements.set(node, nodes);
  }

  /** Applies the replacements and drops initializers no node uses any more. */
  commit(): void {
    const nodes: NodeProto[] = [];
    for (const node of this.graph.node ?? []) nodes.push(...(this.replacements.get(node) ?? [node]));
    this.graph.node = nodes;
    this.replacements.clear();
    const used = new Set<string>();
    const visit = (g: GraphProto) => {
      for (const n of g.node ?? []) {
        for (const i of n.input ?? []) used.add(i);
        // Subgraphs (If, Loop, Scan) may use outer-scope initializers by name.
        for (const sub of subgraphsOf(n)) visit(sub);
      }
      for (const o of g.output ?? []) used.add(o.name!);
    };
    visit(this.graph);
    this.graph.initializer = (this.graph.initializer ?? []).filter((t) => used.has(t.name!));
    for (const name of [...this.initializers.keys()]) if (!used.has(name)) this.initializers.delete(name);
  }
}

/** The subgraphs a node carries in its attributes (If's branches, Loop's and Scan's bodies). */
function subgraphsOf(node: NodeProto): GraphProto[] {
  const subs: GraphProto[] = [];
  for (const a of node.attribute ?? []) {
    if (a.g) subs.push(a.g);
    for (const sub of a.graphs ?? []) subs.push(sub);
  }
  return subs;
}

/** Adds to `reads` the values `graph` (and its own subgraphs) reads without defining them. */
function outerReads(graph: GraphProto, reads: Set<string>): void {
  const defined = new Set<string>([...(graph.input ?? []).map((v) => v.name!), ...(graph.initializer ?? []).map((t) => t.name!)]);
  for (const n of graph.node ?? []) for (const o of n.output ?? []) defined.add(o);
  const inner = new Set<string>();
  for (const n of graph.node ?? []) {
    for (const i of n.input ?? []) inner.add(i);
    for (const sub of subgraphsOf(n)) outerReads(sub, inner);
  }
  for (const o of graph.output ?? []) inner.add(o.name!);
  for (const name of inner) if (name && !defined.has(name)) reads.add(name);
}

/** Attribute readers and makers. */
export function intAttr(node: NodeProto, name: string, fallback: number): number {
  const a = node.attribute?.find((x) => x.name === name);
  return a ? num(a.i as Int64) : fallback;
}

export function intsAttr(node: NodeProto, name: string): number[] | undefined {
  const a = node.attribute?.find((x) => x.name === name);
  return a ? (a.ints ?? []).map((v) => num(v as Int64)) : undefined;
}

export function floatAttr(node: NodeProto, name: string, fallback: number): number {
  const a = node.attribute?.find((x) => x.name === name);
  return a?.f ?? fallback;
}

export const attrs = {
  int: (name: string, i: number): AttributeProto => onnx.AttributeProto.create({ name, type: onnx.AttributeProto.AttributeType.INT, i }),
  ints: (name: string, ints: number[]): AttributeProto =>
    onnx.AttributeProto.create({ name, type: onnx.AttributeProto.AttributeType.INTS, ints }),
};
