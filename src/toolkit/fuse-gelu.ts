/**
 * The exact (erf) GELU written out in elementary ops, replaced by ONNX Runtime's one-kernel
 * com.microsoft.Gelu:
 *
 *     y = x * (1 + Erf(x * 0.70710678)) * 0.5        (or x / 1.41421356 inside the Erf,
 *                                                      and 0.5 applied to x first)
 *
 * ORT's own GeluFusion matches only some of the ways exporters write this (bert_mini's
 * Mul-by-1/√2 form stays five kernels after its optimizer), and each of those kernels is a
 * pass over the FFN's widest activation. The fused op computes the same function.
 */
import { GraphEditor } from './graph-editor.js';
import { requireOpset, type ModelProto, type NodeProto } from './onnx-model.js';

/** How far a constant may be from the value it stands for (exporters round 1/√2 differently). */
const TOLERANCE = 1e-4;

/** A fused GELU: the com.microsoft.Gelu node's name and the nodes it replaced. */
export interface FusedGelu {
  readonly name: string;
  readonly nodes: readonly string[];
}

const near = (v: number | undefined, target: number) => v !== undefined && Math.abs(v - target) < TOLERANCE;

/** The node of `opType` (default domain) that is the only use of `value`, and the other input it takes. */
function onlyUse(g: GraphEditor, value: string, opType: string): { node: NodeProto; other: string } | undefined {
  const node = g.soleConsumer(value);
  if (!node || node.opType !== opType || (node.domain ?? '') !== '' || node.input?.length !== 2) return undefined;
  return { node, other: node.input[0] === value ? node.input[1]! : node.input[0]! };
}

/** Matches the GELU ending at the Erf `erf`; returns x, the nodes to remove and the output. */
function matchGelu(g: GraphEditor, erf: NodeProto): { x: string; nodes: NodeProto[]; output: string } | undefined {
  const scaled = g.producer(erf.input![0]!);
  if (!scaled || (scaled.domain ?? '') !== '' || scaled.input?.length !== 2 || !g.soleConsumer(scaled.output![0]!)) return undefined;
  const [p, q] = scaled.input as [string, string];
  let x: string | undefined;
  if (scaled.opType === 'Div' && near(g.floatScalar(q), Math.SQRT2)) x = p;
  else if (scaled.opType === 'Mul' && near(g.floatScalar(q), Math.SQRT1_2)) x = p;
  else if (scaled.opType === 'Mul' && near(g.floatScalar(p), Math.SQRT1_2)) x = q;
  if (x === undefined) return undefined;
  const plusOne = onlyUse(g, erf.output![0]!, 'Add');
  if (!plusOne || !near(g.floatScalar(plusOne.other), 1)) return undefined;
  const times = onlyUse(g, plusOne.node.output![0]!, 'Mul');
  if (!times) return undefined;
  // x * (1 + erf), then * 0.5
  if (times.other === x) {
    const half = onlyUse(g, times.node.output![0]!, 'Mul');
    if (!half || !near(g.floatScalar(half.other), 0.5)) return undefined;
    return { x, nodes: [scaled, erf, plusOne.node, times.node, half.node], output: half.node.output![0]! };
  }
  // (x * 0.5) * (1 + erf)
  const halfX = g.producer(times.other);
  if (!halfX || halfX.opType !== 'Mul' || (halfX.domain ?? '') !== '' || !g.soleConsumer(times.other)) return undefined;
  const [h0, h1] = halfX.input as [string, string];
  if (!((h0 === x && near(g.floatScalar(h1), 0.5)) || (h1 === x && near(g.floatScalar(h0), 0.5)))) return undefined;
  return { x, nodes: [scaled, erf, plusOne.node, halfX, times.node], output: times.node.output![0]! };
}

/**
 * Replaces, in place, every erf GELU written out in elementary ops by com.microsoft.Gelu
 * (adding the com.microsoft opset import when one is made). Returns the fusions made.
 */
export function fuseGelu(model: ModelProto): FusedGelu[] {
  const g = new GraphEditor(model);
  const fused: FusedGelu[] = [];
  const claimed = new Set<NodeProto>();
  // Node order does not change until commit(): positions are read once.
  const position = new Map(g.nodes.map((n, i) => [n, i]));
  for (const erf of g.nodes) {
    if (erf.opType !== 'Erf' || (erf.domain ?? '') !== '') continue;
    const m = matchGelu(g, erf);
    if (!m || m.nodes.some((n) => claimed.has(n))) continue;
    for (const n of m.nodes) claimed.add(n);
    const base = erf.name || m.output;
    const gelu = g.makeNode('Gelu', [m.x], [m.output], `${base}_gelu`, [], 'com.microsoft');
    // The Gelu goes where the last node was: x and everything before it are defined there.
    const last = m.nodes.reduce((a, b) => (position.get(a)! > position.get(b)! ? a : b));
    for (const n of m.nodes) g.replace(n, n === last ? [gelu] : []);
    fused.push({ name: gelu.name!, nodes: m.nodes.map((n) => n.name || n.output![0]!) });
  }
  g.commit();
  if (fused.length > 0) requireOpset(model, 'com.microsoft', 1);
  return fused;
}
