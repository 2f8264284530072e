/**
 * Turns the collected repeats into the figures bench/RESULTS.md records: every figure as the
 * median over repeats with its min-max spread, and as a ratio to the peer. Pure functions of
 * the data bench/run.ts gathered; nothing here runs anything.
 */
import { type Ratio, type Spread, type LatencySummary, spread } from './stats.js';
import { PAIRED_RUNNERS, type PairedRunner, type Runner } from './trials.js';

export interface MachineInfo {
  date: string;
  cpu: string;
  cores: number;
  node: string;
  ort: string;
  ortexOrt: string;
  code: { commit: string; dirty: boolean; addonSha256: string };
  loadAvgStart: number[];
  loadAvgEnd: number[];
  repeats: number;
  seconds: number;
}

/** One model at one concurrency under load, measured for several runners over repeats (batching, serving). */
export interface LoadGroupRepeats<R> {
  label: string;
  model: string;
  concurrency: number;
  /** Per runner id, one result per repeat, in repeat order (index i of two runners is a pair). */
  repeats: Record<string, R[]>;
  /** Per runner id, why a trial produced no result (a runner this build lacks, a crash). */
  missing: Record<string, string>;
}

/** Where the figures of one runner of a LoadGroupRepeats come from. */
export interface LoadFiguresOf {
  label: string;
  model: string;
  concurrency: number;
  /** Repeats with a result. */
  repeats: number;
}

/**
 * The table of a load benchmark: a line per group and runner, `| model | concurrency | runner | ...`,
 * with the runner's cells, or "not run (see below)" where it has no figures.
 * @param columns the headings after model, concurrency and runner.
 */
export function loadTable<Run extends { id: string }, F extends LoadFiguresOf>(
  groups: ReadonlyArray<LoadGroupRepeats<unknown> & { runners: readonly Run[] }>,
  figures: readonly F[],
  o: { runnerHeading: string; columns: readonly string[]; runnerOf: (f: F) => Run; text: (run: Run) => string; cells: (f: F, run: Run) => string[] },
): string {
  const lines = [
    `| model | concurrency | ${o.runnerHeading} | ${o.columns.join(' | ')} |`,
    `|---|---|---|${o.columns.map(() => '---').join('|')}|`,
  ];
  for (const g of groups) {
    for (const run of g.runners) {
      const f = figures.find((x) => x.label === g.label && o.runnerOf(x).id === run.id);
      const cells = f ? o.cells(f, run) : ['not run (see below)', ...o.columns.slice(1).map(() => '')];
      lines.push(`| ${g.model} | ${g.concurrency} | ${o.text(run)} | ${cells.join(' | ')} |`);
    }
  }
  return lines.join('\n');
}

export interface LatencyGroupResult {
  label: string;
  model: string;
  batch: number;
  intraOpThreads: number;
  iterations: number;
  /** Per runner, one summary per repeat, in repeat order (so index i of two runners is a pair). */
  repeats: Partial<Record<Runner, LatencySummary[]>>;
}

/** One PairedTrial's output: per runner, its p50 and p99 in each round, and its summary over all rounds. */
export interface PairedRepeat {
  rounds: Record<PairedRunner, { p50: number[]; p99: number[] }>;
  pooled: Record<PairedRunner, LatencySummary>;
}

export interface PairedResult {
  label: string;
  rounds: number;
  block: number;
  repeats: PairedRepeat[];
}

export interface PairedFigures {
  label: string;
  rounds: number;
  block: number;
  runners: Partial<Record<PairedRunner, RunnerFigures>>;
  /** Per repeat, the median over its rounds of p50(runner) - p50(raw-c) in the same round; then their spread. */
  p50OverRawUs: Partial<Record<PairedRunner, Spread>>;
  p99OverRawUs: Partial<Record<PairedRunner, Spread>>;
  /** The same against 'raw-c-js', the raw call made from JS. */
  p50OverRawJsUs: Partial<Record<PairedRunner, Spread>>;
}

export interface LoopDelayResult {
  runner: 'ortex-async' | 'ort-node';
  label: string;
  repeats: { maxGapMs: number; medianGapMs: number; medianRunMs: number }[];
}

export interface HopFloorResult {
  repeats: { async: LatencySummary; sync: LatencySummary }[];
}

export interface RunnerFigures {
  p50: Spread;
  p99: Spread;
  mean: Spread;
}

export interface GroupFigures {
  label: string;
  runners: Partial<Record<Runner, RunnerFigures>>;
  /** Median of the per-repeat paired differences p50(runner) - p50(raw-c), in µs. */
  p50OverRawUs: Partial<Record<Runner, Spread>>;
  p99OverRawUs: Partial<Record<Runner, Spread>>;
}

function paired(a: LatencySummary[] | undefined, b: LatencySummary[] | undefined, key: 'p50_us' | 'p99_us'): Spread | undefined {
  if (!a || !b) return undefined;
  const n = Math.min(a.length, b.length);
  const d: number[] = [];
  for (let i = 0; i < n; i++) d.push(a[i]![key] - b[i]![key]);
  return spread(d);
}

export function groupFigures(g: LatencyGroupResult): GroupFigures {
  const runners: GroupFigures['runners'] = {};
  const p50OverRawUs: GroupFigures['p50OverRawUs'] = {};
  const p99OverRawUs: GroupFigures['p99OverRawUs'] = {};
  for (const [runner, reps] of Object.entries(g.repeats) as [Runner, LatencySummary[]][]) {
    runners[runner] = {
      p50: spread(reps.map((r) => r.p50_us)),
      p99: spread(reps.map((r) => r.p99_us)),
      mean: spread(reps.map((r) => r.mean_us)),
    };
    if (runner !== 'raw-c') {
      const d50 = paired(reps, g.repeats['raw-c'], 'p50_us');
      const d99 = paired(reps, g.repeats['raw-c'], 'p99_us');
      if (d50) p50OverRawUs[runner] = d50;
      if (d99) p99OverRawUs[runner] = d99;
    }
  }
  return { label: g.label, runners, p50OverRawUs, p99OverRawUs };
}

const median = (v: readonly number[]) => spread(v).median;

/** Per repeat, the median over rounds of a's round figure minus b's; then their spread over repeats. */
function roundPairs(reps: readonly PairedRepeat[], a: PairedRunner, b: PairedRunner, key: 'p50' | 'p99'): Spread {
  return spread(reps.map((r) => median(r.rounds[a][key].map((v, i) => v - r.rounds[b][key][i]!))));
}

export function pairedFigures(g: PairedResult): PairedFigures {
  const f: PairedFigures = { label: g.label, rounds: g.rounds, block: g.block, runners: {}, p50OverRawUs: {}, p99OverRawUs: {}, p50OverRawJsUs: {} };
  if (g.repeats.length === 0) return f;
  for (const runner of PAIRED_RUNNERS) {
    f.runners[runner] = {
      p50: spread(g.repeats.map((r) => r.pooled[runner].p50_us)),
      p99: spread(g.repeats.map((r) => r.pooled[runner].p99_us)),
      mean: spread(g.repeats.map((r) => r.pooled[runner].mean_us)),
    };
    if (runner === 'raw-c') continue;
    f.p50OverRawUs[runner] = roundPairs(g.repeats, runner, 'raw-c', 'p50');
    f.p99OverRawUs[runner] = roundPairs(g.repeats, runner, 'raw-c', 'p99');
    if (runner !== 'raw-c-js') f.p50OverRawJsUs[runner] = roundPairs(g.repeats, runner, 'raw-c-js', 'p50');
  }
  return f;
}

/** Significant figures that suit both 0.4 µs and 21000 µs. */
export function num(v: number): string {
  if (!Number.isFinite(v)) return 'n/a';
  const a = Math.abs(v);
  if (a >= 1000) return v.toFixed(0);
  if (a >= 100) return v.toFixed(1);
  if (a >= 10) return v.toFixed(2);
  return v.toFixed(2);
}

export const cell = (s: Spread | undefined) => (s ? `${num(s.median)} (${num(s.min)}–${num(s.max)})` : '—');

/** "2.31× (2.10–2.52)": the ratio of the medians, then the range of the paired per-repeat ratios. */
export const ratioText = (r: Ratio | undefined) => (r ? `${r.ofMedians.toFixed(2)}× (${r.paired.min.toFixed(2)}–${r.paired.max.toFixed(2)})` : '—');
function ratio(a: Spread | undefined, b: Spread | undefined): string {
  if (!a || !b) return '—';
  const r = a.median / b.median;
  return `${r < 0.1 ? r.toPrecision(2) : r.toFixed(2)}×`;
}

export const RUNNER_TEXT: Record<Runner, string> = {
  'raw-c': 'raw C `OrtApi::Run`',
  'raw-c-js': 'raw C `OrtApi::Run`, one N-API call per call',
  'ortex-sync': 'ortex `runSync()`',
  'ortex-io-sync': 'ortex I/O binding `io.runSync()`',
  'ortex-async': 'ortex `await run()`',
  'ortex-async-busy': 'ortex `await run()`, busyWait',
  'ort-node': 'onnxruntime-node `await run()`',
};

export function latencyTable(groups: GroupFigures[]): string {
  const lines: string[] = [];
  lines.push('| trial | runner | p50 µs | p99 µs | mean µs | p50 ÷ raw C | p50 ÷ ort-node | p50 − raw C µs | p99 − raw C µs |');
  lines.push('|---|---|---|---|---|---|---|---|---|');
  for (const g of groups) {
    const raw = g.runners['raw-c'];
    const peer = g.runners['ort-node'];
    for (const runner of ['raw-c', 'ortex-sync', 'ortex-io-sync', 'ortex-async', 'ortex-async-busy', 'ort-node'] as Runner[]) {
      const f = g.runners[runner];
      if (!f) continue;
      lines.push(
        `| ${g.label} | ${RUNNER_TEXT[runner]} | ${cell(f.p50)} | ${cell(f.p99)} | ${cell(f.mean)} | ` +
          `${runner === 'raw-c' ? '1' : ratio(f.p50, raw?.p50)} | ${runner === 'ort-node' ? '1' : ratio(f.p50, peer?.p50)} | ` +
          `${runner === 'raw-c' ? '' : cell(g.p50OverRawUs[runner])} | ${runner === 'raw-c' ? '' : cell(g.p99OverRawUs[runner])} |`,
      );
    }
  }
  return lines.join('\n');
}

export function pairedTable(groups: readonly PairedFigures[]): string {
  const lines = [
    '| trial | runner | p50 µs | p99 µs | p50 − raw C µs, same round | p99 − raw C µs, same round | p50 − raw C called from JS µs |',
    '|---|---|---|---|---|---|---|',
  ];
  for (const g of groups) {
    for (const runner of PAIRED_RUNNERS) {
      const f = g.runners[runner];
      if (!f) continue;
      lines.push(
        `| ${g.label} | ${RUNNER_TEXT[runner]} | ${cell(f.p50)} | ${cell(f.p99)} | ${runner === 'raw-c' ? '' : cell(g.p50OverRawUs[runner])} | ` +
          `${runner === 'raw-c' ? '' : cell(g.p99OverRawUs[runner])} | ${runner.startsWith('raw-c') ? '' : cell(g.p50OverRawJsUs[runner])} |`,
      );
    }
  }
  return lines.join('\n');
}

export function loopDelayTable(results: LoopDelayResult[]): string {
  const lines: string[] = [];
  const typical = (r: LoopDelayResult | undefined) => (r ? spread(r.repeats.map((x) => x.medianGapMs)) : undefined);
  const worst = (r: LoopDelayResult | undefined) => (r ? spread(r.repeats.map((x) => x.maxGapMs)) : undefined);
  const peer = results.find((r) => r.runner === 'ort-node');
  lines.push('| model | runner | run ms | largest tick gap ms, typical run | largest tick gap ms, worst run | typical gap ÷ ort-node |');
  lines.push('|---|---|---|---|---|---|');
  for (const r of results) {
    lines.push(
      `| ${r.label} | ${RUNNER_TEXT[r.runner]} | ${cell(spread(r.repeats.map((x) => x.medianRunMs)))} | ${cell(typical(r))} | ` +
        `${cell(worst(r))} | ${ratio(typical(r), typical(peer))} |`,
    );
  }
  return lines.join('\n');
}

export function hopFloorTable(hop: HopFloorResult): string {
  const r = hop.repeats;
  const diff = spread(r.map((x) => x.async.p50_us - x.sync.p50_us));
  return [
    '| libuv thread-pool round trip (crypto.pbkdf2, 1 iteration) | p50 µs | p99 µs |',
    '|---|---|---|',
    `| \`await\` pbkdf2 on the thread pool | ${cell(spread(r.map((x) => x.async.p50_us)))} | ${cell(spread(r.map((x) => x.async.p99_us)))} |`,
    `| pbkdf2Sync inline | ${cell(spread(r.map((x) => x.sync.p50_us)))} | ${cell(spread(r.map((x) => x.sync.p99_us)))} |`,
    `| the hop alone (paired p50 difference) | ${cell(diff)} | |`,
  ].join('\n');
}

/** The issue's targets, checked on the tiny MLP at batch 1. */
export function targetLines(groups: GroupFigures[], paired: readonly PairedFigures[] = []): string {
  const lines: string[] = [];
  const yes = (ok: boolean) => (ok ? 'met' : '**not met**');
  for (const g of groups) {
    if (!g.label.startsWith('ctr_mlp b1 ')) continue;
    const sync = g.runners['ortex-sync'];
    const dSync = g.p50OverRawUs['ortex-sync'];
    const dSync99 = g.p99OverRawUs['ortex-sync'];
    lines.push(`- **${g.label}**`);
    const p = paired.find((x) => x.label === g.label);
    const pSync = p?.p50OverRawUs['ortex-sync'];
    const pSync99 = p?.p99OverRawUs['ortex-sync'];
    if (pSync && pSync99) {
      lines.push(`  - \`runSync\` p50 within 1 µs of raw C, same process, rounds paired: ${num(pSync.median)} µs over (${num(pSync.min)}–${num(pSync.max)}) — ${yes(pSync.median <= 1)}`);
      lines.push(`  - \`runSync\` p99 over raw C under 10 µs, same process, rounds paired (the nearest reading of "p99 under 10 µs" where raw C's own p99 is ${num(p!.runners['raw-c']!.p99.median)} µs): ${num(pSync99.median)} µs over — ${yes(pSync99.median < 10)}`);
    }
    if (sync && dSync) {
      lines.push(`  - \`runSync\` p50 within 1 µs of raw C, separate processes: ${num(dSync.median)} µs over (${num(dSync.min)}–${num(dSync.max)}) — ${yes(dSync.median <= 1)}`);
      lines.push(`  - \`runSync\` p99 under 10 µs: absolute p99 ${num(sync.p99.median)} µs — ${yes(sync.p99.median < 10)}; ` +
        `p99 over raw C ${dSync99 ? `${num(dSync99.median)} µs — ${yes(dSync99.median < 10)}` : 'n/a'}`);
    }
    for (const runner of ['ortex-async', 'ortex-async-busy'] as const) {
      const f = g.runners[runner];
      const d = g.p50OverRawUs[runner];
      if (!f || !d) continue;
      lines.push(`  - ${RUNNER_TEXT[runner]} p50 under 20 µs including the hop: absolute p50 ${num(f.p50.median)} µs — ${yes(f.p50.median < 20)}; ` +
        `over raw C ${num(d.median)} µs (${num(d.min)}–${num(d.max)}) — ${yes(d.median < 20)}`);
    }
  }
  return lines.join('\n');
}

/** The Markdown list items that say when, on what and on which code a benchmark ran. */
export function machineLines(info: MachineInfo): string[] {
  const load = (l: number[]) => l.map((x) => x.toFixed(2)).join(' / ');
  return [
    `- date: ${info.date}`,
    `- CPU: ${info.cpu}, ${info.cores} cores`,
    `- Node ${info.node}; ONNX Runtime ${info.ort} (onnxruntime-node's libonnxruntime.so.1; ortex reports ${info.ortexOrt})`,
    `- code: commit ${info.code.commit}${info.code.dirty ? ' with local changes in src/ or native/' : ''}; build/Release/ortex.node sha256 ${info.code.addonSha256}…`,
    `- load average (1/5/15 min) at start ${load(info.loadAvgStart)}, at end ${load(info.loadAvgEnd)}`,
  ];
}

export function markdown(info: MachineInfo, groups: GroupFigures[], loop: LoopDelayResult[], hop: HopFloorResult, paired: readonly PairedFigures[] = []): string {
  const pairedSection = paired.length === 0 ? [] : [
    '## Same process, blocks taking turns: `runSync()` against raw C',
    '',
    `Each process runs every runner below on one model, in blocks of ${paired[0]!.block} calls that take turns (${paired[0]!.rounds} rounds, the order changed each round).`,
    'The raw C loop is build/Release/ortex_raw_bench.node: timed in C over a block, and called from JS once per call through a bound function with no arguments, timed as ortex is (the floor of a binding).',
    'p50 and p99: of all the process\'s calls, median (min–max) over processes; "same round": per process, the median over rounds of the runner\'s block figure minus raw C\'s',
    '(a block\'s p99 is its 5th-slowest call of 500, so slow calls bunched in a few rounds do not show in the p99 column).',
    '',
    pairedTable(paired),
    '',
  ];
  return [
    '# ortex per-call latency',
    '',
    ...machineLines(info),
    `- ${info.repeats} repeats per trial, each a fresh process, runners interleaved; total ${info.seconds.toFixed(0)} s`,
    '- every figure: median over repeats (min–max); ratios are of the medians; "− raw C" is the median of the per-repeat paired differences',
    '',
    '## Per-call latency',
    '',
    latencyTable(groups),
    '',
    ...pairedSection,
    '## Targets (issue 2)',
    '',
    targetLines(groups, paired),
    '',
    '## The floor under an async run: a bare libuv thread-pool round trip',
    '',
    hopFloorTable(hop),
    '',
    '## Event-loop delay during a ~150 ms run',
    '',
    'Per process: the largest gap between setImmediate ticks (the gap open when the promise settles included) of each run;',
    '"typical" is the median over the runs of a process, "worst" their maximum; then median (min–max) over processes.',
    '',
    loopDelayTable(loop),
    '',
  ].join('\n');
}
