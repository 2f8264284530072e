/**
 * The text form of an InspectReport, as `ortex inspect` prints it: one titled section per
 * part of the report, tables from text-table.
 */
import type { InspectReport, ValueSummary } from './inspect.js';
import { formatBytes, textTable } from './text-table.js';

const shapeText = (v: ValueSummary) => (v.shape === null ? '(unknown rank)' : `[${v.shape.join(', ')}]`);

export function formatInspect(r: InspectReport): string {
  const q = r.quantization;
  const sections: string[] = [
    [
      `${r.path}  (${formatBytes(r.fileBytes)})`,
      `  IR version ${r.irVersion}, producer ${r.producer || '(not set)'}, graph ${r.graphName || '(unnamed)'}`,
      `  opsets: ${r.opsets.map((o) => `${o.domain} ${o.version}`).join(', ')}`,
    ].join('\n'),
    titled('Inputs', textTable(['name', 'dtype', 'shape'], r.inputs.map((v) => [v.name, v.dtype, shapeText(v)]))),
    titled('Outputs', textTable(['name', 'dtype', 'shape'], r.outputs.map((v) => [v.name, v.dtype, shapeText(v)]))),
    titled(`Operators (${r.nodeCount} nodes)`, textTable(['op', 'count'], r.operators.map((o) => [o.op, o.count]))),
    titled(
      `Parameters: ${r.parameters.count} in ${r.parameters.initializers} initializers, ${formatBytes(r.parameters.bytes)}`,
      textTable(['dtype', 'elements', 'initializers', 'bytes'], r.parameters.byDtype.map((d) => [d.dtype, d.count, d.initializers, formatBytes(d.bytes)])),
    ),
    titled(
      r.largestInitializers.length < r.parameters.initializers ? `Largest ${r.largestInitializers.length} initializers (--all for every one)` : 'Initializers',
      textTable(['name', 'dtype', 'shape', 'bytes'], r.largestInitializers.map((t) => [t.name, t.dtype, `[${t.shape.join(', ')}]`, formatBytes(t.bytes)])),
    ),
  ];
  if (r.nodes) {
    sections.push(titled('Nodes', textTable(['name', 'op', 'inputs -> outputs'], r.nodes.map((n) => [n.name, n.opType, `${n.inputs.join(', ')} -> ${n.outputs.join(', ')}`]))));
  }
  const quantization = [`  ${q.summary}`];
  for (const b of q.blockers) quantization.push(`  blocker: ${b}`);
  if (q.candidates.length > 0) {
    quantization.push(
      '',
      textTable(
        ['node', 'op', 'weight', 'weight bytes', 'int8', 'why not'],
        q.candidates.map((c) => [c.name || '(unnamed)', c.opType, c.weight || '-', c.weightBytes > 0 ? formatBytes(c.weightBytes) : '-', c.quantizable ? 'yes' : 'no', c.reason ?? '']),
      ),
    );
  }
  sections.push(titled('INT8 quantization (ortex quantize)', quantization.join('\n')));
  return sections.join('\n\n');
}

function titled(title: string, body: string): string {
  return `${title}\n${body}`;
}
