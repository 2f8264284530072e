/** `ortex compare a.onnx b.onnx [options]`: accuracy, size and latency side by side. */
import { basename } from 'node:path';
import { compareModels, type CompareReport } from '../toolkit/compare.js';
import { formatBytes, formatNumber, textTable } from '../toolkit/text-table.js';
import { UsageError } from './serve-options.js';
import { dims, list, parseToolArgs, positiveInt } from './tool-args.js';

const USAGE = `Usage: ortex compare <a.onnx> <b.onnx> [options]

Runs both models on the same inputs: b's outputs against a's (top-1 agreement, max absolute
and relative error, cosine similarity), both files' bytes, and p50/p99 latency.

  --inputs <file.json>   samples: [{ "<input>": { "dims": [...], "data": [...] }, ... }, ...]
  --random <n>           n seeded random samples (default 1000)
  --seed <n>             random seed (default 1)
  --dim NAME=SIZE        size of a symbolic input dimension, e.g. --dim S=64 (repeatable)
  --batch <list>         batch sizes to time (default 1,32)
  --runs <n>             timed runs per model and batch size (default 200)
  --threads <n>          intra-op threads of both sessions (default: one per core)
  --json                 print the report as JSON`;

export async function runCompare(argv: readonly string[]): Promise<void> {
  const { values, positionals } = parseToolArgs(
    argv,
    {
      inputs: { type: 'string' },
      random: { type: 'string' },
      seed: { type: 'string' },
      dim: { type: 'string', multiple: true },
      batch: { type: 'string', multiple: true },
      runs: { type: 'string' },
      threads: { type: 'string' },
      json: { type: 'boolean' },
    },
    'compare',
  );
  if (values.help) return console.log(USAGE);
  if (positionals.length !== 2) throw new UsageError(`compare takes two model files (ortex compare --help)`);
  if (values.inputs && values.random) throw new UsageError('Give --inputs or --random, not both');
  const seed = values.seed === undefined ? undefined : Number(values.seed);
  if (seed !== undefined && !Number.isInteger(seed)) throw new UsageError(`--seed expects an integer, got '${values.seed}'`);
  const batchSizes = list(values.batch)?.map((b) => positiveInt(b, '--batch')!);
  const report = await compareModels(positionals[0]!, positionals[1]!, {
    inputs: values.inputs,
    random: positiveInt(values.random, '--random'),
    seed,
    dims: dims(values.dim),
    batchSizes,
    latencyRuns: positiveInt(values.runs, '--runs'),
    intraOpNumThreads: positiveInt(values.threads, '--threads'),
  });
  console.log(values.json ? JSON.stringify(report, null, 2) : formatCompare(report));
}

export function formatCompare(r: CompareReport): string {
  const pct = (v: number | null) => (v === null ? '-' : `${(100 * v).toFixed(2)}%`);
  const a = basename(r.a.path);
  const b = basename(r.b.path);
  return [
    `a: ${r.a.path} (${formatBytes(r.a.bytes)})`,
    `b: ${r.b.path} (${formatBytes(r.b.bytes)}, ${(100 * r.sizeRatio).toFixed(1)}% of a)`,
    '',
    `Accuracy of b against a over ${r.samples} ${r.inputs === 'random' ? `random samples (seed ${r.seed})` : `samples from ${r.inputs}`}:`,
    textTable(
      ['output', 'top-1 agreement', 'max abs error', 'mean abs error', 'max rel error', 'cosine', 'min cosine'],
      r.outputs.map((o) => [o.name, pct(o.top1Agreement), o.maxAbsError, o.meanAbsError, o.maxRelError, formatNumber(o.cosine), formatNumber(o.minCosine)]),
    ),
    '',
    `Latency in ms (${r.latency[0]?.a.runs ?? 0} runs each, in alternating blocks of 20, intra-op threads: ${r.intraOpNumThreads}):`,
    textTable(
      ['batch', `${a} p50`, `${a} p99`, `${b} p50`, `${b} p99`, 'b/a p50'],
      r.latency.map((l) => [l.batch, l.a.p50Ms, l.a.p99Ms, l.b.p50Ms, l.b.p99Ms, `${l.ratio.toFixed(2)}x`]),
    ),
  ].join('\n');
}
