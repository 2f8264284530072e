/**
 * Turns the batching benchmark's repeats into its figures and Markdown: every figure as the
 * median over repeats with its min-max spread, throughput also as a ratio to onnxruntime-node
 * at the same concurrency. Pure functions of what bench/batching.ts gathered.
 */
import type { BatcherWindowStats, ClosedLoopResult } from './batching-trial.js';
import { BATCHING_TARGET, type BatchingRunner } from './batching-trials.js';
import { type LoadFiguresOf, type LoadGroupRepeats, type MachineInfo, cell, loadTable, machineLines, num, ratioText } from './report.js';
import { type Ratio, type Spread, ratioOf, spread } from './stats.js';

/** `missing` holds e.g. "createModel is not exported" for the batcher before it landed. */
export interface BatchingGroupResult extends LoadGroupRepeats<ClosedLoopResult> {
  warmupMs: number;
  durationMs: number;
  /** The runners measured in this group, in table order. */
  runners: BatchingRunner[];
}

export interface BatchingRow extends LoadFiguresOf {
  runner: BatchingRunner;
  samplesPerSec: Spread;
  p50Us: Spread;
  p99Us: Spread;
  meanUs: Spread;
  cpuCores: Spread;
  /** Summed over repeats. */
  errors: number;
  wrongShape: number;
  firstError?: string;
  /** Median of the medians' ratio: samples/s ÷ ort-node's samples/s; `paired` spreads the per-repeat ratios. */
  vsOrtNode?: Ratio;
  batcher?: {
    avgBatchSize: Spread;
    meanQueueUs: Spread;
    meanComputeUs: Spread;
    /** Batch-size histogram summed over repeats: index = batch size, value = batches. */
    batchSizes: number[];
    rejected: Record<string, number>;
  };
}

const PEER = 'ort-node';

function batcherFigures(stats: BatcherWindowStats[]): BatchingRow['batcher'] {
  const batchSizes: number[] = [];
  const rejected: Record<string, number> = {};
  for (const s of stats) {
    s.batchSizes.forEach((n, size) => (batchSizes[size] = (batchSizes[size] ?? 0) + n));
    for (const [reason, n] of Object.entries(s.rejected)) rejected[reason] = (rejected[reason] ?? 0) + n;
  }
  for (let k = 0; k < batchSizes.length; k++) batchSizes[k] ??= 0;
  return {
    avgBatchSize: spread(stats.map((s) => s.avgBatchSize)),
    meanQueueUs: spread(stats.map((s) => s.meanQueueUs)),
    meanComputeUs: spread(stats.map((s) => s.meanComputeUs)),
    batchSizes,
    rejected,
  };
}

export function batchingRows(g: BatchingGroupResult): BatchingRow[] {
  const rows: BatchingRow[] = [];
  const peer = g.repeats[PEER];
  for (const runner of g.runners) {
    const reps = g.repeats[runner.id];
    if (!reps || reps.length === 0) continue;
    const timed = reps.filter((r) => r.latency !== null);
    const row: BatchingRow = {
      label: g.label,
      model: g.model,
      concurrency: g.concurrency,
      runner,
      repeats: reps.length,
      samplesPerSec: spread(reps.map((r) => r.samplesPerSec)),
      p50Us: spread(timed.map((r) => r.latency!.p50_us)),
      p99Us: spread(timed.map((r) => r.latency!.p99_us)),
      meanUs: spread(timed.map((r) => r.latency!.mean_us)),
      cpuCores: spread(reps.map((r) => r.cpuCores)),
      errors: reps.reduce((a, r) => a + r.errors, 0),
      wrongShape: reps.reduce((a, r) => a + r.wrongShape, 0),
    };
    const firstError = reps.find((r) => r.firstError !== undefined)?.firstError;
    if (firstError !== undefined) row.firstError = firstError;
    if (peer && peer.length > 0) row.vsOrtNode = ratioOf(reps.map((r) => r.samplesPerSec), peer.map((r) => r.samplesPerSec));
    const stats = reps.flatMap((r) => (r.batcher ? [r.batcher] : []));
    if (stats.length > 0) row.batcher = batcherFigures(stats);
    rows.push(row);
  }
  return rows;
}

export function runnerText(r: BatchingRunner): string {
  if (r.kind === 'batcher' && r.batcher) {
    const b = r.batcher;
    const delay = b.latencyTargetUs ? `load-aware, target ${b.latencyTargetUs} µs` : `${b.maxQueueDelayUs} µs`;
    return `batcher \`infer()\` (max ${b.maxBatchSize}, ${delay}, ${b.instances} instance${b.instances === 1 ? '' : 's'})`;
  }
  return r.kind === 'ortex-run' ? 'ortex `await run()`, batch 1' : 'onnxruntime-node `await run()`, batch 1';
}

function ratioCell(v: BatchingRow['vsOrtNode'], isPeer: boolean): string {
  return isPeer ? '1' : ratioText(v);
}

export function throughputTable(rows: BatchingRow[], groups: BatchingGroupResult[]): string {
  return loadTable(groups, rows, {
    runnerHeading: 'runner',
    columns: ['samples/s', 'p50 µs', 'p99 µs', 'avg batch size', 'samples/s ÷ ort-node', 'CPU cores', 'errors'],
    runnerOf: (r) => r.runner,
    text: runnerText,
    cells: (r, runner) => {
      const batch = r.batcher ? cell(r.batcher.avgBatchSize) : '1';
      const errors = r.errors + r.wrongShape === 0 ? '0' : `**${r.errors + r.wrongShape}**${r.firstError ? ` (${r.firstError.slice(0, 80)})` : ''}`;
      return [cell(r.samplesPerSec), cell(r.p50Us), cell(r.p99Us), batch, ratioCell(r.vsOrtNode, runner.id === PEER), cell(r.cpuCores), errors];
    },
  });
}

/** Power-of-two bins up to the largest batch size seen: 1, 2–3, 4–7, ... */
function bins(maxSize: number): [number, number][] {
  const out: [number, number][] = [];
  for (let lo = 1; lo <= maxSize; lo *= 2) out.push([lo, Math.min(lo * 2 - 1, maxSize)]);
  return out;
}

/** Share of requests served in batches of each size bin, summed over repeats. */
export function batchSizeTable(rows: BatchingRow[]): string {
  const withStats = rows.filter((r) => r.batcher);
  if (withStats.length === 0) return '_No batcher rows: the batcher runner did not run._';
  const maxSize = Math.max(...withStats.map((r) => r.runner.batcher?.maxBatchSize ?? r.batcher!.batchSizes.length - 1));
  const b = bins(maxSize);
  const label = ([lo, hi]: [number, number]) => (lo === hi ? `${lo}` : `${lo}–${hi}`);
  const lines = [
    `| model | concurrency | runner | batches | ${b.map(label).join(' | ')} | mean queue µs per request | mean compute µs per batch |`,
    `|---|---|---|---|${b.map(() => '---').join('|')}|---|---|`,
  ];
  for (const r of withStats) {
    const sizes = r.batcher!.batchSizes;
    const batches = sizes.reduce((a, n) => a + n, 0);
    const requests = sizes.reduce((a, n, size) => a + n * size, 0);
    const shares = b.map(([lo, hi]) => {
      let n = 0;
      for (let size = lo; size <= hi; size++) n += (sizes[size] ?? 0) * size;
      const pct = requests > 0 ? (100 * n) / requests : 0;
      if (n === 0) return '';
      return pct < 0.01 ? '<0.01 %' : `${pct.toFixed(pct >= 10 ? 0 : pct >= 1 ? 1 : 2)} %`;
    });
    lines.push(
      `| ${r.model} | ${r.concurrency} | ${runnerText(r.runner)} | ${batches} | ${shares.join(' | ')} | ` +
        `${cell(r.batcher!.meanQueueUs)} | ${cell(r.batcher!.meanComputeUs)} |`,
    );
  }
  return lines.join('\n');
}

export function targetLines(rows: BatchingRow[]): string {
  const t = BATCHING_TARGET;
  const at = rows.filter((r) => r.model === t.model && r.concurrency === t.concurrency && r.runner.kind === 'batcher');
  const head = `At concurrency ${t.concurrency} on ${t.model}: the batcher at least ${t.minRatio}× onnxruntime-node's samples/s, with p99 under ${num(t.maxP99Us)} µs.`;
  if (at.length === 0) return `${head}\n\n- not measured: no batcher result at that point`;
  const yes = (ok: boolean) => (ok ? 'met' : '**not met**');
  const lines = [head, ''];
  for (const r of at) {
    const ratio = r.vsOrtNode;
    const ratioOk = ratio !== undefined && ratio.ofMedians >= t.minRatio;
    const p99Ok = r.p99Us.median < t.maxP99Us;
    lines.push(
      `- ${runnerText(r.runner)}: ${ratio ? `${ratio.ofMedians.toFixed(2)}× (paired ${ratio.paired.min.toFixed(2)}–${ratio.paired.max.toFixed(2)})` : 'no ort-node peer'} ` +
        `— ${yes(ratioOk)}; p99 ${cell(r.p99Us)} µs — ${yes(p99Ok)}; ` +
        `**target ${ratioOk && p99Ok ? 'met' : 'not met'}**${ratioOk && p99Ok && ratio!.paired.min < t.minRatio ? ' (on the medians; not in every repeat)' : ''}`,
    );
  }
  return lines.join('\n');
}

/** Trials that gave no result in some or all repeats, grouped by runner and reason. */
export function missingLines(groups: ReadonlyArray<LoadGroupRepeats<unknown>>): string[] {
  const byCause = new Map<string, string[]>();
  for (const g of groups) {
    for (const [runner, reason] of Object.entries(g.missing)) {
      const got = g.repeats[runner]?.length ?? 0;
      const key = `${runner}: ${reason}`;
      if (!byCause.has(key)) byCause.set(key, []);
      byCause.get(key)!.push(got > 0 ? `${g.label} (${got} repeat${got === 1 ? '' : 's'} with a result)` : g.label);
    }
  }
  if (byCause.size === 0) return [];
  return ['## Trials without a result', '', ...[...byCause].map(([cause, labels]) => `- ${cause} — ${labels.join(', ')}`), ''];
}

export function batchingMarkdown(info: MachineInfo, rows: BatchingRow[], groups: BatchingGroupResult[]): string {
  const g0 = groups[0];
  return [
    '# ortex dynamic batching: closed-loop load',
    '',
    ...machineLines(info),
    `- ${info.repeats} repeat${info.repeats === 1 ? '' : 's'} per trial, each a fresh process, runners interleaved; total ${info.seconds.toFixed(0)} s`,
    g0 ? `- each trial: C clients in a closed loop (each awaits its batch-1 request, then sends the next), ${g0.warmupMs} ms warm-up, ${g0.durationMs} ms timed` : '',
    '- session options for every runner: intraOpNumThreads 1, interOpNumThreads 1, graphOptimizationLevel all, executionMode sequential',
    '- every figure: median over repeats (min–max); "÷ ort-node" is the ratio of the medians (min–max of the per-repeat paired ratios)',
    '- CPU cores: user + system CPU time of the trial process over the timed window, divided by the window',
    '',
    '## Throughput and latency versus concurrency',
    '',
    throughputTable(rows, groups),
    '',
    '## Target (issue 3)',
    '',
    targetLines(rows),
    '',
    '## Batch sizes the batcher formed (share of requests, timed window, all repeats)',
    '',
    batchSizeTable(rows),
    '',
    ...missingLines(groups),
  ].join('\n');
}
