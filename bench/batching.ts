/**
 * `npm run bench:batching`: throughput and latency under closed-loop load, ortex's dynamic
 * batcher against batch-1 calls of an ortex session and of onnxruntime-node (issue 3).
 *
 *   node dist/bench/batching.js [--repeats=3] [--quick] [--only=ctr_mlp]
 *
 * Runs every trial of bench/batching-trials.ts in a fresh process, `repeats` times. Within a
 * repeat the runners of a group run back to back, in an order rotated each repeat. Writes
 * bench/out/batching.json, bench/out/batching.md and, per model, plots of latency and
 * throughput versus concurrency (bench/out/batching-<model>-*.svg, by bench/plots.ts), and
 * prints the Markdown.
 *
 * A runner the build does not have yet (the batcher before createModel() is exported) is
 * reported as "not run" and skipped for the rest of the invocation; a trial that fails twice
 * is reported as "not run" with its error, and the others go on.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { resolve } from 'node:path';
import { DLRM } from '../models/dlrm.js';
import { type BatchingGroupResult, batchingMarkdown, batchingRows } from './batching-report.js';
import type { ClosedLoopResult } from './batching-trial.js';
import {
  BATCHING_GROUPS,
  BATCHING_MODELS,
  EXIT_RUNNER_MISSING,
  type BatchingGroup,
  type BatchingTrial,
  batchingLabel,
  batchingTrial,
  runnersAt,
} from './batching-trials.js';
import { type BenchArgs, ROOT, codeState, ensureModels, log, machineInfo, parseBenchArgs, rotated, spawnTrial } from './harness.js';
import { batchingPlots, writePlots } from './plots.js';

const TRIAL_JS = resolve(ROOT, 'dist/bench/batching-trial.js');
const TRIAL_TIMEOUT_MS = 60_000;

const parseArgs = (argv: string[]): BenchArgs => parseBenchArgs(argv, 3);

/** Generates missing models, and checks that the dlrm spec still matches the generator. */
function preflight(groups: readonly BatchingGroup[]): void {
  const dims = Object.fromEntries(BATCHING_MODELS.dlrm.inputs.map((i) => [i.name, i.dims[1]]));
  if (dims.dense !== DLRM.denseFeatures || dims.sparse !== DLRM.sparseFeatures || DLRM.tableRows < 1000) {
    throw new Error(`bench: BATCHING_MODELS.dlrm (dense ${dims.dense}, sparse ${dims.sparse}) no longer matches models/dlrm.ts; update bench/batching-trials.ts`);
  }
  ensureModels(groups.map((g) => g.model.path));
}

function runTrial(trial: BatchingTrial) {
  const label = `${batchingLabel(trial)} ${trial.runner.id}`;
  return spawnTrial<ClosedLoopResult>(TRIAL_JS, trial, { label, timeoutMs: TRIAL_TIMEOUT_MS, missingStatus: EXIT_RUNNER_MISSING });
}

function describe(r: ClosedLoopResult): string {
  const lat = r.latency ? `p50 ${r.latency.p50_us.toFixed(0)} µs, p99 ${r.latency.p99_us.toFixed(0)} µs` : 'no latency samples';
  const batch = r.batcher ? `, avg batch ${r.batcher.avgBatchSize.toFixed(1)}` : '';
  const errors = r.errors + r.wrongShape > 0 ? `, ${r.errors} errors, ${r.wrongShape} wrong shapes (${r.firstError ?? ''})` : '';
  return `${r.samplesPerSec.toFixed(0)} samples/s, ${lat}${batch}, ${r.cpuCores.toFixed(2)} cores${errors}`;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const started = Date.now();
  const loadAvgStart = loadavg();
  const code = codeState();
  const groups = BATCHING_GROUPS.filter((g) => !args.only || g.model.name === args.only).map((g) =>
    args.quick ? { ...g, warmupMs: 200, durationMs: 600 } : g,
  );
  if (groups.length === 0) throw new RangeError(`Expected --only to name one of ${Object.keys(BATCHING_MODELS).join(', ')} but received '${args.only}'`);
  preflight(groups);
  const repeats = args.quick ? 1 : args.repeats;

  const results: BatchingGroupResult[] = groups.map((g) => ({
    label: batchingLabel(g),
    model: g.model.name,
    concurrency: g.concurrency,
    warmupMs: g.warmupMs,
    durationMs: g.durationMs,
    runners: runnersAt(g.concurrency),
    repeats: {},
    missing: {},
  }));
  /** Runners this build does not have, with the reason, so they are not spawned again. */
  const absent = new Map<string, string>();
  let ortexOrt = 'unknown';

  for (let rep = 0; rep < repeats; rep++) {
    groups.forEach((g, gi) => {
      const res = results[gi]!;
      for (const runner of rotated(res.runners, rep + gi)) {
        const tag = `bench: [${rep + 1}/${repeats}] ${res.label} ${runner.id}`;
        const known = absent.get(runner.id);
        if (known) {
          res.missing[runner.id] = known;
          continue;
        }
        const out = runTrial(batchingTrial(g, runner));
        if (!out.ok) {
          res.missing[runner.id] = out.reason;
          if (out.missing) absent.set(runner.id, out.reason);
          log(`${tag}: not run (${out.reason})`);
          continue;
        }
        (res.repeats[runner.id] ??= []).push(out.result);
        if (runner.kind !== 'ort-node') ortexOrt = out.result.ortVersion;
        log(`${tag}: ${describe(out.result)}`);
      }
    });
  }

  const info = machineInfo({ started, loadAvgStart, repeats, ortexOrt, code });
  const rows = results.flatMap(batchingRows);
  const md = batchingMarkdown(info, rows, results);
  const outDir = resolve(ROOT, 'bench/out');
  mkdirSync(outDir, { recursive: true });
  writeFileSync(resolve(outDir, 'batching.json'), `${JSON.stringify({ info, groups: results, rows }, null, 2)}\n`);
  writeFileSync(resolve(outDir, 'batching.md'), md);
  process.stdout.write(md);
  const plots = await writePlots(batchingPlots({ info, rows }), outDir);
  log(`bench: wrote ${resolve(outDir, 'batching.json')}, batching.md and ${plots.length} plots in ${info.seconds.toFixed(0)} s`);
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
