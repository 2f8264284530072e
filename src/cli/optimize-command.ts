/**
 * `ortex optimize model.onnx -o out.onnx [--level basic|extended|all] [--format onnx|ort] [--json]`:
 * runs optimizeModel and prints what changed. Flag mistakes are usage errors (exit status 2).
 */
import { DEFAULT_OPTIMIZATION_LEVEL, MODEL_FORMATS, type ModelFormat, type OptimizeReport, optimizeModel } from '../toolkit/optimize.js';
import { OPTIMIZATION_LEVELS, type OptimizationLevel } from '../toolkit/ort-optimize.js';
import { formatBytes, textTable } from '../toolkit/text-table.js';
import { UsageError } from './serve-options.js';
import { parseToolArgs } from './tool-args.js';

export const OPTIMIZE_HELP = `Usage: ortex optimize MODEL.onnx -o OUT.onnx [options]

Applies ONNX Runtime's graph optimizations (constant folding, operator fusions) once and saves
the result, so it need not be redone at every load. The input file is never modified.

Options:
  -o, --output FILE   where to write the optimized model (required; not the input)
  --level L           basic, extended or all (default ${DEFAULT_OPTIMIZATION_LEVEL}); 'all' adds
                      layout transforms for this machine's CPU: run the result on the same kind of machine
  --format F          onnx or ort (default: ort when FILE ends in .ort, else onnx)
  --json              the report as JSON
  -h, --help          this help`;

export async function runOptimize(argv: readonly string[]): Promise<void> {
  const { values, positionals } = parseToolArgs(
    argv,
    { output: { type: 'string', short: 'o' }, level: { type: 'string' }, format: { type: 'string' }, json: { type: 'boolean' } },
    'optimize',
  );
  if (values.help) {
    console.log(OPTIMIZE_HELP);
    return;
  }
  if (positionals.length !== 1) {
    throw new UsageError(`Expected one model file for ortex optimize but received ${positionals.length === 0 ? 'none' : positionals.length} (ortex optimize --help)`);
  }
  if (!values.output) throw new UsageError(`ortex optimize needs -o OUT.onnx, the file to write (ortex optimize --help)`);
  const level = oneOf(values.level, OPTIMIZATION_LEVELS, '--level') as OptimizationLevel | undefined;
  const format = oneOf(values.format, MODEL_FORMATS, '--format') as ModelFormat | undefined;
  const report = await optimizeModel(positionals[0]!, values.output, { level, format });
  console.log(values.json ? JSON.stringify(report, null, 2) : formatOptimize(report));
}

function oneOf(value: string | undefined, allowed: readonly string[], flag: string): string | undefined {
  if (value !== undefined && !allowed.includes(value)) {
    throw new UsageError(`Expected one of ${allowed.join(', ')} for ${flag} but received ${JSON.stringify(value)}`);
  }
  return value;
}

function formatOptimize(r: OptimizeReport): string {
  const lines = [
    `${r.input} -> ${r.output}  (level ${r.level}, ${r.format.toUpperCase()} format)`,
    `  size   ${formatBytes(r.bytesBefore)} -> ${formatBytes(r.bytesAfter)}`,
    `  nodes  ${r.nodesBefore} -> ${r.nodesAfter}`,
    `  ops    ${r.summary}`,
  ];
  if (r.opChanges.length > 0) {
    lines.push('', textTable(['op', 'before', 'after'], r.opChanges.map((c) => [c.op, c.before, c.after])));
  }
  return lines.join('\n');
}
