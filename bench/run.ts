/**
 * `npm run bench`: the per-call latency benchmark (issue 2).
 *
 *   node dist/bench/run.js [--repeats=5] [--quick] [--only=ctr_mlp] [--full]
 *
 * Runs every trial of bench/trials.ts in a fresh process, `repeats` times. Within a repeat
 * the runners of a group run back to back, in an order rotated each repeat, so drift in the
 * machine hits all of them alike and the i-th repeats of two runners form a fair pair.
 * Then, per repeat, the same-process trials (PAIRED_TRIALS): runSync(), io.runSync() and the raw
 * C loop (build/Release/ortex_raw_bench.node) in one process, in blocks that take turns.
 * Writes bench/out/latency.json, bench/out/latency.md and the latency CDF plot
 * (bench/out/latency-cdf.svg, by bench/plots.ts), and prints the Markdown.
 *
 * Needs dist/ (npm ci runs tsc in `prepare`) and build/ (npm ci runs cmake-js in `install`,
 * which also builds the raw C baseline, build/Release/ortex_raw_run). Models missing from
 * models/out/ are generated, and the raw C baseline is built if absent.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { dirname, resolve } from 'node:path';
import { type BenchArgs, ROOT, codeState, lastJsonLine, log, nativeTool, parseBenchArgs, rotated, sleep } from './harness.js';
import { latencyPlots, writePlots } from './plots.js';
import {
  type HopFloorResult,
  type LatencyGroupResult,
  type LoopDelayResult,
  type MachineInfo,
  type PairedRepeat,
  type PairedResult,
  groupFigures,
  markdown,
  pairedFigures,
} from './report.js';
import { type LatencySummary, QUANTILE_PER_MILLE, spread } from './stats.js';
import {
  FULL_LATENCY_GROUPS,
  HOP_FLOOR_TRIAL,
  LATENCY_GROUPS,
  LOOP_DELAY_TRIALS,
  PAIRED_TRIALS,
  RUNNERS,
  type LatencyTrial,
  type Runner,
  type Trial,
  groupLabel,
  latencyTrial,
} from './trials.js';

const TRIAL_JS = resolve(ROOT, 'dist/bench/trial.js');
const ORT_NODE_LIB_DIR = resolve(ROOT, 'node_modules/onnxruntime-node/bin/napi-v6/linux/x64');
const TRIAL_TIMEOUT_MS = 180_000;

const parseArgs = (argv: string[]): BenchArgs => parseBenchArgs(argv, 5);

/** Generates missing models and builds the raw C loops if absent; returns the program's path or null. */
function preflight(): { rawBinary: string | null; rawAddon: boolean } {
  const models = new Set([...FULL_LATENCY_GROUPS.map((g) => g.model.path), ...LOOP_DELAY_TRIALS.map((t) => t.model.path)]);
  if ([...models].some((m) => !existsSync(resolve(ROOT, m)))) {
    log('bench: generating models into models/out/ ...');
    const r = spawnSync(process.execPath, [resolve(ROOT, 'dist/models/generate.js')], { cwd: ROOT, stdio: ['ignore', 'ignore', 'inherit'] });
    if (r.status !== 0) throw new Error('bench: `node dist/models/generate.js` failed; run `npm run build` first');
  }
  const raw = nativeTool('ortex_raw_run', 'the raw C baseline');
  if (!raw) log('bench: ortex_raw_run could not be built; the raw C rows are left out');
  const addon = nativeTool('ortex_raw_bench', 'the in-process raw C loop', 'ortex_raw_bench.node');
  if (!addon) log('bench: ortex_raw_bench.node could not be built; the same-process rows are left out');
  return { rawBinary: raw ?? null, rawAddon: addon !== undefined };
}



/**
 * Runs one trial process; a failed one is retried once after a pause, since on a shared
 * checkout the addon may be mid-rebuild for a moment. A second failure ends the benchmark.
 */
function runTrial(trial: Trial, rawBinary: string | null): unknown {
  try {
    return runTrialOnce(trial, rawBinary);
  } catch (err) {
    log(`${(err as Error).message}\nbench: retrying in 5 s`);
    sleep(5_000);
    return runTrialOnce(trial, rawBinary);
  }
}

function runTrialOnce(trial: Trial, rawBinary: string | null): unknown {
  let r;
  if (trial.kind === 'latency' && trial.runner === 'raw-c') {
    if (!rawBinary) return null;
    const args = [resolve(ROOT, trial.model.path), trial.batch, trial.intraOpThreads, trial.iterations, trial.warmup, trial.model.seqLen ?? 64];
    // Built beside ortex.node, the binary's $ORIGIN rpath finds the same copy of the library
    // the addon loads. An older build tree put it one folder up, where $ORIGIN holds no
    // library: then point it at onnxruntime-node's own copy, the file the ort-node runner loads.
    const besideAddon = dirname(rawBinary) === resolve(ROOT, 'build/Release');
    const env = besideAddon
      ? process.env
      : { ...process.env, LD_LIBRARY_PATH: [ORT_NODE_LIB_DIR, process.env.LD_LIBRARY_PATH].filter(Boolean).join(':') };
    r = spawnSync(rawBinary, args.map(String), { encoding: 'utf8', env, timeout: TRIAL_TIMEOUT_MS });
  } else {
    r = spawnSync(process.execPath, [TRIAL_JS, JSON.stringify(trial)], { encoding: 'utf8', cwd: ROOT, timeout: TRIAL_TIMEOUT_MS });
  }
  if (r.status !== 0) {
    const what = JSON.stringify('model' in trial ? { ...trial, model: trial.model.name } : trial);
    throw new Error(`bench: trial ${what} failed (status ${r.status}, signal ${r.signal}):\n${r.stderr}`);
  }
  return lastJsonLine(r.stdout);
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const started = Date.now();
  const loadAvgStart = loadavg();
  const { rawBinary, rawAddon } = preflight();
  const code = codeState();
  const groups = (args.full ? FULL_LATENCY_GROUPS : LATENCY_GROUPS).filter((g) => !args.only || g.model.name === args.only).map((g) =>
    args.quick ? { ...g, iterations: Math.max(20, Math.ceil(g.iterations / 10)), warmup: Math.ceil(g.warmup / 10) } : g,
  );
  const loopTrials = LOOP_DELAY_TRIALS.filter((t) => !args.only || t.model.name === args.only);
  const pairedTrials = rawAddon
    ? PAIRED_TRIALS.filter((t) => !args.only || t.model.name === args.only).map((t) => (args.quick ? { ...t, rounds: 4, block: 100, warmup: 100 } : t))
    : [];
  const repeats = args.quick ? 1 : args.repeats;

  const latency: LatencyGroupResult[] = groups.map((g) => ({
    label: groupLabel(g),
    model: g.model.name,
    batch: g.batch,
    intraOpThreads: g.intraOpThreads,
    iterations: g.iterations,
    repeats: {},
  }));
  const paired: PairedResult[] = pairedTrials.map((t) => ({ label: groupLabel(t), rounds: t.rounds, block: t.block, repeats: [] }));
  const loop: LoopDelayResult[] = loopTrials.map((t) => ({ runner: t.runner, label: groupLabel(t), repeats: [] }));
  const hop: HopFloorResult = { repeats: [] };
  const versions = { 'ort-node': 'unknown', ortex: 'unknown' };

  for (let rep = 0; rep < repeats; rep++) {
    groups.forEach((g, gi) => {
      for (const runner of rotated(RUNNERS, rep + gi)) {
        const trial: LatencyTrial = latencyTrial(g, runner);
        const out = runTrial(trial, rawBinary) as (LatencySummary & { ortVersion?: string }) | null;
        if (!out) continue;
        (latency[gi]!.repeats[runner as Runner] ??= []).push(out);
        if (out.ortVersion) versions[runner === 'ort-node' ? 'ort-node' : 'ortex'] = out.ortVersion;
        log(`bench: [${rep + 1}/${repeats}] ${groupLabel(g)} ${runner}: p50 ${out.p50_us.toFixed(2)} µs, p99 ${out.p99_us.toFixed(2)} µs`);
      }
    });
    pairedTrials.forEach((t, i) => {
      const out = runTrial(t, rawBinary) as PairedRepeat;
      paired[i]!.repeats.push(out);
      const d = spread(out.rounds['ortex-sync'].p50.map((v, k) => v - out.rounds['raw-c'].p50[k]!)).median;
      log(`bench: [${rep + 1}/${repeats}] ${groupLabel(t)} same process: runSync p50 ${out.pooled['ortex-sync'].p50_us.toFixed(2)} µs, raw C ${out.pooled['raw-c'].p50_us.toFixed(2)} µs, per round +${d.toFixed(2)} µs`);
    });
    rotated(loopTrials, rep).forEach((t) => {
      const out = runTrial(t, rawBinary) as LoopDelayResult['repeats'][number];
      loop[loopTrials.indexOf(t)]!.repeats.push(out);
      log(`bench: [${rep + 1}/${repeats}] ${groupLabel(t)} ${t.runner}: max event-loop gap ${out.maxGapMs.toFixed(2)} ms`);
    });
    const hopTrial = args.quick ? { ...HOP_FLOOR_TRIAL, iterations: HOP_FLOOR_TRIAL.iterations / 10 } : HOP_FLOOR_TRIAL;
    const h = runTrial(hopTrial, rawBinary) as HopFloorResult['repeats'][number];
    hop.repeats.push(h);
    log(`bench: [${rep + 1}/${repeats}] libuv hop floor: async p50 ${h.async.p50_us.toFixed(2)} µs, inline p50 ${h.sync.p50_us.toFixed(2)} µs`);
  }

  const info: MachineInfo = {
    date: new Date().toISOString(),
    cpu: cpus()[0]?.model ?? 'unknown',
    cores: cpus().length,
    node: process.version,
    ort: JSON.parse(readFileSync(resolve(ROOT, 'node_modules/onnxruntime-node/package.json'), 'utf8')).version,
    ortexOrt: versions.ortex,
    code,
    loadAvgStart,
    loadAvgEnd: loadavg(),
    repeats,
    seconds: (Date.now() - started) / 1000,
  };
  const figures = latency.map(groupFigures);
  const pairedFigs = paired.map(pairedFigures);
  const md = markdown(info, figures, loop, hop, pairedFigs);
  const outDir = resolve(ROOT, 'bench/out');
  mkdirSync(outDir, { recursive: true });
  const json = { info, quantilePerMille: QUANTILE_PER_MILLE, latency, figures, paired, pairedFigures: pairedFigs, loop, hop };
  writeFileSync(resolve(outDir, 'latency.json'), `${JSON.stringify(json, null, 2)}\n`);
  writeFileSync(resolve(outDir, 'latency.md'), md);
  process.stdout.write(md);
  const plots = await writePlots(latencyPlots(json), outDir);
  log(`bench: wrote ${resolve(outDir, 'latency.json')}, latency.md${plots.length > 0 ? ' and latency-cdf.svg' : ''} in ${info.seconds.toFixed(0)} s`);
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
