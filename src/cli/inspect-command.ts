/**
 * `ortex inspect model.onnx [--json] [--nodes] [--all]`: prints inspectModel's report, as
 * text or as JSON on stdout. Flag mistakes are usage errors (exit status 2).
 */
import { formatInspect, inspectModel } from '../toolkit/inspect.js';
import { UsageError } from './serve-options.js';
import { parseToolArgs } from './tool-args.js';

export const INSPECT_HELP = `Usage: ortex inspect MODEL.onnx [options]

Inputs and outputs, IR version and opsets, operator counts, parameters by dtype, the largest
initializers, and which MatMul/Gemm/Gather/Conv nodes \`ortex quantize\` would quantize (and why not).

Options:
  --json     the report as JSON
  --nodes    list every node (name, op, inputs -> outputs), to pick names for quantize --exclude
  --all      list every initializer, not only the largest ten
  -h, --help this help`;

export async function runInspect(argv: readonly string[]): Promise<void> {
  const { values, positionals } = parseToolArgs(argv, { json: { type: 'boolean' }, nodes: { type: 'boolean' }, all: { type: 'boolean' } }, 'inspect');
  if (values.help) {
    console.log(INSPECT_HELP);
    return;
  }
  if (positionals.length !== 1) {
    throw new UsageError(`Expected one model file for ortex inspect but received ${positionals.length === 0 ? 'none' : positionals.length} (ortex inspect --help)`);
  }
  const report = await inspectModel(positionals[0]!, { nodes: values.nodes, all: values.all });
  console.log(values.json ? JSON.stringify(report, null, 2) : formatInspect(report));
}
