/** `ortex bench model.onnx [options]`: latency percentiles and throughput, or two setups side by side. */
import { basename } from 'node:path';
import { BENCH_SETTING_KEYS, parseCompareSpec, withSettings, type BenchTarget } from '../toolkit/bench-settings.js';
import { benchModels, metricValue, type BenchMetric, type BenchReport, type BenchResult, type Warmup } from '../toolkit/perf-analyzer.js';
import { formatNumber, textTable } from '../toolkit/text-table.js';
import { UsageError } from './serve-options.js';
import { dims, parseToolArgs, positiveInt } from './tool-args.js';

const USAGE = `Usage: ortex bench <model.onnx> [options]

Warms the model up, then keeps --concurrency requests in flight for --duration seconds, in
--repeats blocks, and prints p50/p90/p99/mean latency and throughput with their spread from
block to block. With --compare, measures a second setup in alternating blocks (a b b a ...)
and prints b ÷ a per metric, called a difference only when the two sides' per-block ranges
do not overlap.

  --batch <n>                 rows per request along the batch dimension (default 1)
  --concurrency <n>           requests in flight (default 1)
  --duration <s>              measured seconds per setup (default 5)
  --repeats <n>               blocks the measurement is split into (default 5; 4 or more with --compare)
  --warmup <n | Ns>           warm-up requests, or seconds with an s suffix (default 0.5s)
  --sync                      runSync() on the calling thread (concurrency 1)
  --batcher                   through createModel(): the dynamic batcher, maxBatchSize batch x concurrency
  --max-queue-delay-us <n>    with --batcher: how long a pending batch waits for more requests (default 0)
  --threads <n>               intra-op threads (default: one per core)
  --optimization-level <l>    disabled, basic, extended, layout or all (default all)
  --ep <name>                 cpu, cuda or tensorrt; falls back to cpu when unavailable
  --busy-wait                 the event loop polls for as long as runs are in flight
                              (default: short runs' first 50 us, see the README)
  --dim NAME=SIZE             size of a symbolic input dimension, e.g. --dim S=64 (repeatable)
  --input <file.json>         samples sent in turn instead of random inputs (their rows are the batch):
                              [{ "<input>": { "dims": [...], "data": [...] } }, ...]
  --seed <n>                  seed of the random inputs (default 1)
  --compare <spec>            the second setup: another model file (same settings), or settings
                              changed from the first, comma-separated key=value (a boolean key
                              alone means true); keys: model, batch, concurrency, sync, batcher,
                              max-queue-delay-us, threads, optimization-level, ep, busy-wait
                              e.g. --compare threads=1   --compare "batch=64,busy-wait=false"
                                   --compare model.opt.onnx   --compare model=b.onnx,threads=1
  --json                      print the report as JSON`;

/** Errors of the library that mean the command line does not fit the model: usage errors, exit 2. */
const USAGE_CODES = new Set(['ERR_OPTION_INVALID', 'ERR_MODEL_NOT_BATCHABLE']);

export async function runBench(argv: readonly string[]): Promise<void> {
  const { values, positionals } = parseToolArgs(
    argv,
    {
      batch: { type: 'string' },
      concurrency: { type: 'string' },
      duration: { type: 'string' },
      repeats: { type: 'string' },
      warmup: { type: 'string' },
      sync: { type: 'boolean' },
      batcher: { type: 'boolean' },
      'max-queue-delay-us': { type: 'string' },
      threads: { type: 'string' },
      'optimization-level': { type: 'string' },
      ep: { type: 'string' },
      'busy-wait': { type: 'boolean' },
      dim: { type: 'string', multiple: true },
      input: { type: 'string' },
      seed: { type: 'string' },
      compare: { type: 'string' },
      json: { type: 'boolean' },
    },
    'bench',
  );
  if (values.help) return console.log(USAGE);
  if (positionals.length !== 1) throw new UsageError('bench takes one model file (ortex bench --help)');
  const duration = values.duration === undefined ? undefined : Number(values.duration);
  if (duration !== undefined && !(duration > 0)) throw new UsageError(`--duration expects a number of seconds above 0, got '${values.duration}'`);
  const seed = values.seed === undefined ? undefined : Number(values.seed);
  if (seed !== undefined && !Number.isInteger(seed)) throw new UsageError(`--seed expects an integer, got '${values.seed}'`);
  let report: BenchReport;
  try {
    const flags = BENCH_SETTING_KEYS.filter((k) => values[k as keyof typeof values] !== undefined).map((k) => [k, values[k as keyof typeof values] as string | boolean] as const);
    const a = withSettings({ model: positionals[0]! }, flags, 'flags');
    const targets: BenchTarget[] = values.compare === undefined ? [a] : [a, parseCompareSpec(a, values.compare)];
    report = await benchModels(targets, {
      durationS: duration,
      repeats: positiveInt(values.repeats, '--repeats'),
      warmup: warmup(values.warmup),
      dims: dims(values.dim),
      inputs: values.input,
      seed,
    });
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code !== undefined && USAGE_CODES.has(code)) throw new UsageError(`${(err as Error).message} (ortex bench --help)`);
    throw err;
  }
  console.log(values.json ? JSON.stringify(report, null, 2) : formatBench(report));
}

/** `--warmup 20` (requests) or `--warmup 1.5s` (seconds). */
function warmup(v: string | undefined): Warmup | undefined {
  if (v === undefined) return undefined;
  const m = /^(\d+(?:\.\d+)?)s$/.exec(v.trim());
  if (m) return { seconds: Number(m[1]) };
  if (/^\d+$/.test(v.trim())) return { runs: Number(v) };
  throw new UsageError(`--warmup expects a number of requests (20) or of seconds (1.5s), got '${v}'`);
}

const ROWS: ReadonlyArray<readonly [BenchMetric, string]> = [
  ['p50Ms', 'p50 ms'],
  ['p90Ms', 'p90 ms'],
  ['p99Ms', 'p99 ms'],
  ['meanMs', 'mean ms'],
  ['inferencesPerS', 'inferences/s'],
  ['samplesPerS', 'samples/s'],
];

const range = (r: BenchResult, m: BenchMetric) => `${formatNumber(r.spread[m].min)}-${formatNumber(r.spread[m].max)}`;

export function formatBench(report: BenchReport): string {
  const [a, b] = report.results;
  const warm = 'runs' in report.warmup ? `${report.warmup.runs} requests` : `${report.warmup.seconds} s`;
  const blockS = formatNumber(report.durationS / report.repeats);
  const inputs = report.inputs === 'random' ? `random inputs (seed ${report.seed})` : `samples from ${report.inputs}`;
  if (!a) return '';
  if (!b) {
    return [
      `${a.model}: ${a.description}`,
      `${a.requests} requests in ${report.repeats} blocks of ${blockS} s after a ${warm} warm-up, ${inputs}`,
      '',
      textTable(
        ['metric', 'whole run', 'block min', 'block median', 'block max'],
        ROWS.map(([m, name]) => [name, metricValue(a, m), a.spread[m].min, a.spread[m].median, a.spread[m].max]),
      ),
    ].join('\n');
  }
  const c = report.comparison!;
  const same = a.model === b.model;
  return [
    `a: ${same ? basename(a.model) : a.model}: ${a.description}`,
    `b: ${same ? basename(b.model) : b.model}: ${b.description}`,
    `${report.repeats} blocks of ${blockS} s each, alternating a b b a ..., after a ${warm} warm-up, ${inputs}; ${a.requests} and ${b.requests} requests`,
    '',
    textTable(
      ['metric', 'a', 'b', 'b/a', 'a blocks', 'b blocks', 'verdict'],
      ROWS.map(([m, name]) => {
        const v = c.metrics.find((x) => x.metric === m)!;
        return [name, metricValue(a, m), metricValue(b, m), `${v.ratio.toFixed(3)}x`, range(a, m), range(b, m), v.verdict];
      }),
    ),
    '',
    `A difference is called when the per-block ranges do not overlap; two identical setups do that by chance ${(100 * c.falseAlarmRate).toFixed(1)} % of the time per metric.`,
  ].join('\n');
}
