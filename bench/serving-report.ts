/**
 * Turns the serving benchmark's repeats into its figures and Markdown: every figure as the
 * median over repeats with its min-max spread, requests/s also as a ratio to fastify +
 * onnxruntime-node at the same model and concurrency. Pure functions of what
 * bench/serving.ts gathered.
 */
import { missingLines } from './batching-report.js';
import { type LoadFiguresOf, type LoadGroupRepeats, type MachineInfo, cell, loadTable, machineLines, num, ratioText } from './report.js';
import type { LoadGenerator, ServingResult } from './serving-trial.js';
import { CACHE_TARGETS, PEER_ROW, type Pinning, SERVING_COMPARISONS, SERVING_ROWS, SERVING_TARGETS, type ServingRow } from './serving-trials.js';
import { type Ratio, type Spread, ratioOf, spread } from './stats.js';

/** Keyed by row id (a "runner" of LoadGroupRepeats is a row here). */
export interface ServingGroupResult extends LoadGroupRepeats<ServingResult> {
  warmupS: number;
  durationS: number;
  timeoutS: number;
  poolSize: number;
  /** The rows measured in this group, in table order. */
  rows: ServingRow[];
}

export interface ServingFigures extends LoadFiguresOf {
  row: ServingRow;
  reqPerSec: Spread;
  p50Ms: Spread;
  p95Ms: Spread;
  p99Ms: Spread;
  /** Summed over repeats: answers that were not 2xx/3xx, requests past wrk's --timeout, and socket errors. */
  non2xx: number;
  timeouts: number;
  socketErrors: number;
  serverCpuCores: Spread;
  loadCpuCores: Spread;
  /** requests/s ÷ fastify + onnxruntime-node's. */
  vsPeer?: Ratio;
  /** Rows with the cache: the share of requests answered from it, and of those with stored bytes (encoded hits). */
  cacheHitRatio?: Spread;
  encodedHitRatio?: Spread;
}

/** What the report says besides the figures: the set-up, and rows left out with the reason. */
export interface ServingNotes {
  pin: Pinning;
  /** The hardware threads that share a core with each pinned CPU: if the two lists overlap, server and wrk share a core. */
  smtSiblings: { server: string; load: string };
  wrkVersion: string;
  fastifyVersion: string;
  /** Row id → why it was not run in this invocation (e.g. the cache row without --cache-bytes). */
  skippedRows: Record<string, string>;
}

const ms = (us: number) => us / 1000;

export function servingFigures(g: ServingGroupResult): ServingFigures[] {
  const peer = g.repeats[PEER_ROW];
  const figures: ServingFigures[] = [];
  for (const row of g.rows) {
    const reps = g.repeats[row.id];
    if (!reps || reps.length === 0) continue;
    const sum = (f: (r: ServingResult) => number) => reps.reduce((a, r) => a + f(r), 0);
    const f: ServingFigures = {
      label: g.label,
      model: g.model,
      concurrency: g.concurrency,
      row,
      repeats: reps.length,
      reqPerSec: spread(reps.map((r) => r.reqPerSec)),
      p50Ms: spread(reps.map((r) => ms(r.wrk.latencyUs.p50))),
      p95Ms: spread(reps.map((r) => ms(r.wrk.latencyUs.p95))),
      p99Ms: spread(reps.map((r) => ms(r.wrk.latencyUs.p99))),
      non2xx: sum((r) => r.wrk.errors.status),
      timeouts: sum((r) => r.wrk.errors.timeout),
      socketErrors: sum((r) => r.wrk.errors.connect + r.wrk.errors.read + r.wrk.errors.write),
      serverCpuCores: spread(reps.map((r) => r.serverCpuCores)),
      loadCpuCores: spread(reps.map((r) => r.loadCpuCores)),
    };
    const cached = reps.flatMap((r) => (r.cache ? [r.cache] : []));
    if (cached.length > 0) {
      f.cacheHitRatio = spread(cached.map((c) => c.hitRatio));
      f.encodedHitRatio = spread(cached.map((c) => c.encodedHitRatio));
    }
    if (peer && peer.length > 0 && row.id !== PEER_ROW) f.vsPeer = ratioOf(reps.map((r) => r.reqPerSec), peer.map((r) => r.reqPerSec));
    figures.push(f);
  }
  return figures;
}

export function rowText(row: ServingRow): string {
  switch (row.server) {
    case 'uws-constant':
      return 'bare uWebSockets.js, constant answer (ceiling)';
    case 'fastify-ort':
      return 'fastify + onnxruntime-node, JSON';
    case 'ortex': {
      const base = row.transport === 'websocket'
        ? 'ortex WebSocket, binary frames'
        : `ortex HTTP, ${row.protocol === 'binary' ? 'binary tensor data' : 'JSON'}`;
      const workload = row.zipf
        ? `, Zipf popular items (${row.zipf.items.toLocaleString('en-US')}, s = ${row.zipf.exponent})`
        : row.cache?.repeatShare !== undefined ? `, ${Math.round(row.cache.repeatShare * 100)} % repeated inputs` : '';
      return `${base}${row.cache ? ', response cache' : ''}${workload}`;
    }
  }
}

const WS_GENERATOR_TEXT: Record<Exclude<LoadGenerator, 'wrk'>, string> = {
  ortex_ws_load: 'bench/native/ws_load.cc (`ortex_ws_load`: C++, one thread over epoll)',
  'ws-load.ts': 'bench/ws-load.ts (Node, the `ws` client: it may be the limit from concurrency 16 on, see load CPU)',
};

/** The set-up line of the WebSocket rows, naming the load generator(s) their repeats used; none without WebSocket results. */
export function wsGeneratorLines(groups: ServingGroupResult[]): string[] {
  const used = new Set<Exclude<LoadGenerator, 'wrk'>>();
  for (const g of groups) {
    for (const row of g.rows.filter((r) => r.transport === 'websocket')) {
      // Results from before the generator was recorded came from ws-load.ts, the only one then.
      for (const r of g.repeats[row.id] ?? []) used.add(r.loadGenerator === 'ortex_ws_load' ? 'ortex_ws_load' : 'ws-load.ts');
    }
  }
  if (used.size === 0) return [];
  const names = used.size === 1 ? WS_GENERATOR_TEXT[[...used][0]!] : `${WS_GENERATOR_TEXT.ortex_ws_load} in some repeats, ${WS_GENERATOR_TEXT['ws-load.ts']} in others,`;
  return [`- WebSocket rows: ${names} in place of wrk, pinned the same way, one request in flight per connection as with wrk`];
}

const countCell = (n: number) => (n === 0 ? '0' : `**${n}**`);
const percentText = (x: number) => `${(100 * x).toFixed(1)} %`;

export function servingTable(figures: ServingFigures[], groups: ServingGroupResult[]): string {
  return loadTable(groups.map((g) => ({ ...g, runners: g.rows })), figures, {
    runnerHeading: 'server',
    columns: ['req/s', 'p50 ms', 'p95 ms', 'p99 ms', 'req/s ÷ fastify', 'non-2xx', 'timeouts', 'socket errors', 'server CPU', 'load CPU', 'cache hits'],
    runnerOf: (f) => f.row,
    text: rowText,
    cells: (f, row) => [
      cell(f.reqPerSec), cell(f.p50Ms), cell(f.p95Ms), cell(f.p99Ms), row.id === PEER_ROW ? '1' : ratioText(f.vsPeer),
      countCell(f.non2xx), countCell(f.timeouts), countCell(f.socketErrors), cell(f.serverCpuCores), cell(f.loadCpuCores),
      f.cacheHitRatio ? `${percentText(f.cacheHitRatio.median)} (${percentText(f.encodedHitRatio!.median)} as stored bytes)` : '',
    ],
  });
}

const verdict = (ok: boolean) => (ok ? 'met' : '**not met**');

export function servingTargetLines(figures: ServingFigures[], notes: ServingNotes): string {
  const at = (model: string, concurrency: number, id: string) => figures.find((f) => f.model === model && f.concurrency === concurrency && f.row.id === id);
  const lines: string[] = [];
  for (const t of SERVING_TARGETS) {
    const row = SERVING_ROWS.find((r) => r.id === t.row);
    const head = `- ${t.model} at concurrency ${t.concurrency}, ${row ? rowText(row) : t.row}: ` +
      `≥ ${t.minRatio}× fastify + onnxruntime-node's req/s, p99 below its p99${t.noTimeouts ? ', no timeouts' : ''}`;
    const f = at(t.model, t.concurrency, t.row);
    const peer = at(t.model, t.concurrency, PEER_ROW);
    if (!f || !peer || !f.vsPeer) {
      lines.push(`${head} — not measured (no result for this row or for fastify at that point)`);
      continue;
    }
    const ratioOk = f.vsPeer.ofMedians >= t.minRatio;
    const p99Ok = f.p99Ms.median < peer.p99Ms.median;
    const parts = [
      `req/s ${ratioText(f.vsPeer)} — ${verdict(ratioOk)}`,
      `p99 ${num(f.p99Ms.median)} ms vs ${num(peer.p99Ms.median)} ms — ${verdict(p99Ok)}`,
    ];
    let ok = ratioOk && p99Ok;
    if (t.noTimeouts) {
      parts.push(`timeouts ${f.timeouts} (fastify ${peer.timeouts}) — ${verdict(f.timeouts === 0)}`);
      ok &&= f.timeouts === 0;
    }
    lines.push(`${head}: ${parts.join('; ')}; **target ${ok ? 'met' : 'not met'}**${ok && f.vsPeer.paired.min < t.minRatio ? ' (on the medians; not in every repeat)' : ''}`);
  }
  for (const t of SERVING_TARGETS.filter((x) => x.row === 'ortex-binary')) {
    const binary = at(t.model, t.concurrency, 'ortex-binary');
    const json = at(t.model, t.concurrency, 'ortex-json');
    if (!binary || !json) continue;
    const r = binary.reqPerSec.median / json.reqPerSec.median;
    lines.push(`- ${t.model} at concurrency ${t.concurrency}, binary tensor data above JSON ("higher still"): ${r.toFixed(2)}× JSON's req/s (of the medians) — ${verdict(r > 1)}`);
  }
  for (const c of CACHE_TARGETS) {
    const head = `- ${c.model} at concurrency ${c.concurrency}, response cache on with 90 % repeated inputs: ≥ ${c.minRatio}× ortex JSON without the cache`;
    const cached = at(c.model, c.concurrency, c.row);
    const base = at(c.model, c.concurrency, c.base);
    const skipped = notes.skippedRows[c.row];
    if (skipped) lines.push(`${head} — not measured: ${skipped}`);
    else if (!cached || !base) lines.push(`${head} — not measured (no result at that point)`);
    else {
      const r = cached.reqPerSec.median / base.reqPerSec.median;
      lines.push(`${head}: ${r.toFixed(2)}× (of the medians); p99 ${num(cached.p99Ms.median)} ms vs ${num(base.p99Ms.median)} ms — **target ${r >= c.minRatio ? 'met' : 'not met'}**`);
    }
  }
  for (const c of SERVING_COMPARISONS) {
    for (const f of figures.filter((x) => x.row.id === c.row)) {
      const base = at(f.model, f.concurrency, c.base);
      if (!base) continue;
      const r = f.reqPerSec.median / base.reqPerSec.median;
      lines.push(`- ${f.model} at concurrency ${f.concurrency}, ${c.what}: ${r.toFixed(2)}× req/s (of the medians); p99 ${num(f.p99Ms.median)} ms vs ${num(base.p99Ms.median)} ms`);
    }
  }
  return lines.join('\n');
}

export function servingMarkdown(info: MachineInfo, figures: ServingFigures[], groups: ServingGroupResult[], notes: ServingNotes): string {
  const g0 = groups[0];
  const skipped = Object.entries(notes.skippedRows);
  return [
    '# ortex serving: HTTP load from wrk against ortex and fastify + onnxruntime-node',
    '',
    ...machineLines(info),
    `- ${info.repeats} repeat${info.repeats === 1 ? '' : 's'} per trial, each with its server in a fresh process, rows interleaved; total ${info.seconds.toFixed(0)} s`,
    `- servers pinned to CPU ${notes.pin.server} (\`taskset -c ${notes.pin.server}\`; SMT siblings ${notes.smtSiblings.server}), ${notes.wrkVersion} pinned to CPU ${notes.pin.load} (siblings ${notes.smtSiblings.load}): ` +
      '`wrk -t1 -c<concurrency>`, a closed loop (each connection sends its next request when the answer arrives), batch 1 per request',
    g0 ? `- each trial: ${g0.warmupS} s warm-up, then wait until the server is idle, then ${g0.durationS} s timed; wrk --timeout ${g0.timeoutS} s (a timed-out request has no latency sample, so count the timeouts beside p99)` : '',
    g0 ? `- wrk cycles through ${g0.poolSize} distinct request bodies prepared before the run, encoded by ortex's client encoder (the constant server gets one, as wrk's static request)` : '',
    `- fastify ${notes.fastifyVersion} + onnxruntime-node ${info.ort}: sessionOptions intraOpNumThreads 1, interOpNumThreads 1, graphOptimizationLevel all, \`await session.run()\` per request; ortex serves the same file with the bundled ctr_mlp configuration (dynamic batching) or bench/serving-trials.ts's for bert_mini`,
    '- every figure: median over repeats (min–max); "÷ fastify" is the ratio of the medians (min–max of the per-repeat paired ratios)',
    ...wsGeneratorLines(groups),
    '- server CPU / load CPU: the process\'s user + system CPU time over the timed run, in cores; server CPU well under 1 means its core was shared or it waited; load CPU near 1 means the load generator, not the server, was the limit',
    '- cache hits: the share of the timed run\'s requests the response cache answered (from the server\'s /metrics), and of them those answered with the stored bytes of a byte-identical request',
    '',
    '## Requests/s and latency versus concurrency',
    '',
    servingTable(figures, groups),
    '',
    '## Targets (issue 4) and comparisons',
    '',
    servingTargetLines(figures, notes),
    '',
    ...(skipped.length > 0 ? ['## Rows not run', '', ...skipped.map(([id, why]) => `- ${id}: ${why}`), ''] : []),
    ...missingLines(groups),
  ].join('\n');
}
