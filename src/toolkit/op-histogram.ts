/**
 * Counts of operators in a graph, keyed `domain.OpType` for non-default domains
 * (`com.microsoft.DynamicQuantizeMatMul`) and plain `OpType` for ONNX's own.
 */
import type { GraphProto } from './onnx-model.js';

export function opKey(opType: string, domain: string | null | undefined): string {
  return domain && domain !== 'ai.onnx' ? `${domain}.${opType}` : opType;
}

export function opHistogram(graph: GraphProto): Map<string, number> {
  const counts = new Map<string, number>();
  for (const node of graph.node ?? []) {
    const key = opKey(node.opType ?? '', node.domain);
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return new Map([...counts].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0])));
}

export interface OpCountChange {
  readonly op: string;
  readonly before: number;
  readonly after: number;
}

/** The ops whose count differs between two histograms, largest change first. */
export function opDiff(before: ReadonlyMap<string, number>, after: ReadonlyMap<string, number>): OpCountChange[] {
  const ops = new Set([...before.keys(), ...after.keys()]);
  return [...ops]
    .map((op) => ({ op, before: before.get(op) ?? 0, after: after.get(op) ?? 0 }))
    .filter((c) => c.before !== c.after)
    .sort((a, b) => Math.abs(b.after - b.before) - Math.abs(a.after - a.before) || a.op.localeCompare(b.op));
}
