/**
 * The soak's report (bench/out/soak.md): the figures the issue asks for (errors, RSS growth
 * after warm-up, p99 from window to window) against their targets, then one row per window.
 * A pure function of a SoakResult.
 */
import type { SoakResult } from './soak-run.js';
import { TRANSPORTS } from './soak-load.js';

/** The issue's targets, and the p99 bound this report calls stable. */
export const SOAK_TARGETS = { errors: 0, rssGrowthPct: 5, p99LastOverFirst: 1.5 } as const;

const mib = (b: number) => (b / 2 ** 20).toFixed(1);
const ms = (v: number) => (Number.isFinite(v) ? v.toFixed(2) : '–');
const met = (ok: boolean) => (ok ? 'met' : '**not met**');

/** Whether each target was met. */
export function soakVerdicts(r: SoakResult): { errors: boolean; rss: boolean; p99: boolean } {
  const s = r.summary;
  return {
    errors: s.errors === SOAK_TARGETS.errors && s.serverFailures === 0,
    rss: s.rss.growthPct < SOAK_TARGETS.rssGrowthPct,
    p99: s.p99.lastOverFirst <= SOAK_TARGETS.p99LastOverFirst,
  };
}

/** The two readings after a full collection (soak-gc-probe.ts). */
function gcLine(r: SoakResult): string {
  const { warm, end, heapUsedGrowthBytes, rssGrowthPct } = r.summary.gc;
  if (!warm || !end) return '- after a full garbage collection: no readings (the run was too short for two)';
  const n = (v: number) => v.toLocaleString('en-US');
  return (
    `- after a full garbage collection (SIGUSR2 to the server, soak-gc-probe.ts), under load at ${n(warm.completed)} and at ${n(end.completed)} requests: ` +
    `live JS heap ${mib(warm.heapUsed)} → ${mib(end.heapUsed)} MiB (${heapUsedGrowthBytes >= 0 ? '+' : ''}${(heapUsedGrowthBytes / 2 ** 10).toFixed(0)} KiB), ` +
    `V8's committed heap ${mib(warm.heapTotal)} → ${mib(end.heapTotal)} MiB, RSS ${mib(warm.rss)} → ${mib(end.rss)} MiB (${rssGrowthPct.toFixed(2)} %), ` +
    `RSS outside V8's heap ${mib(warm.rss - warm.heapTotal)} → ${mib(end.rss - end.heapTotal)} MiB`
  );
}

export function soakMarkdown(r: SoakResult): string {
  const s = r.summary;
  const o = r.options;
  const m = r.machine;
  const t = r.totals;
  const v = soakVerdicts(r);
  const per = TRANSPORTS.map((k) => `${k} ${t.perTransport[k].completed.toLocaleString('en-US')}`).join(', ');
  const lines = [
    '# Soak: ortex serve (bundled ctr_mlp, dynamic batching) under HTTP JSON, HTTP binary and WebSocket load',
    '',
    `- date: ${m.date}; CPU: ${m.cpu}, ${m.cores} cores; Node ${m.node}; code: commit ${m.code.commit}${m.code.dirty ? ' with local changes' : ''}, ortex.node ${m.code.addonSha256}`,
    `- load average (1/5/15 min) at start ${m.loadAvgStart.map((x) => x.toFixed(2)).join(' / ')}, at end ${m.loadAvgEnd.map((x) => x.toFixed(2)).join(' / ')}`,
    `- ${o.durationMs > 0 ? `for ${o.durationMs / 1000} s` : `${o.requests.toLocaleString('en-US')} requests`}, ${o.concurrency} closed loops per transport (WebSocket loops over ${o.wsConnections} connections), every ${o.multiRowEvery}th request 4 rows, the rest 1; ${o.pin ? `server pinned to CPU ${o.pin.server}, load to CPU ${o.pin.load}` : 'not pinned'}; server node flags: ${o.serverNodeFlags.length ? o.serverNodeFlags.map((f) => `\`${f}\``).join(' ') : 'none'} (and the GC probe's)`,
    `- windows of ${o.windowMs / 1000} s; warm-up: the windows that start before ${o.warmupFraction * 100} % of the run; every ${o.sampleMs} ms the server's RSS (VmRSS) read and its /metrics scraped for V8's heap; memory figures are medians over a window's readings`,
    `- every answer checked against onnxruntime-node's single-row output for the same row (tolerance ${o.tolerance}; the pool's closest two expected answers are ${r.minExpectedGap.toExponential(2)} apart)`,
    '',
    '## Summary',
    '',
    `- requests: ${s.requests.toLocaleString('en-US')} in ${s.seconds.toFixed(1)} s (${Math.round(s.reqPerSec).toLocaleString('en-US')} req/s): ${per}; rows checked ${t.rowsChecked.toLocaleString('en-US')}, bit-identical to the single-row run ${((t.exactValues / Math.max(1, t.rowsChecked)) * 100).toFixed(1)} %, largest difference ${t.maxAbsDiff.toExponential(2)}`,
    `- CPU time over the load: server ${s.serverCpuS.toFixed(1)} s (${(s.serverCpuS / s.seconds).toFixed(2)} cores), load process ${s.loadCpuS.toFixed(1)} s (${(s.loadCpuS / s.seconds).toFixed(2)} cores)`,
    `- errors: ${s.errors} (wrong answers ${t.wrongAnswers}); the server counted ${s.serverSuccess.toLocaleString('en-US')} successes and ${s.serverFailures} failures; it exited ${s.serverExit} on SIGTERM — target 0: ${met(v.errors)}`,
    `- server RSS after warm-up ${mib(s.rss.warmBytes)} MiB, at the end ${mib(s.rss.endBytes)} MiB: growth ${s.rss.growthPct.toFixed(2)} % (largest sample after warm-up ${mib(s.rss.maxBytes)} MiB; trend ${(s.rss.slopeBytesPerMin / 2 ** 20).toFixed(3)} MiB/min) — target < ${SOAK_TARGETS.rssGrowthPct} %: ${met(v.rss)}`,
    `- of it V8's committed heap (nodejs_heap_size_total_bytes) ${mib(s.rss.heapWarmBytes)} → ${mib(s.rss.heapEndBytes)} MiB; RSS outside it ${mib(s.rss.outsideHeapWarmBytes)} → ${mib(s.rss.outsideHeapEndBytes)} MiB: growth ${s.rss.outsideHeapGrowthPct.toFixed(2)} %`,
    gcLine(r),
    `- p99 over ${s.p99.windows} windows after warm-up: first ${ms(s.p99.firstMs)} ms, last ${ms(s.p99.lastMs)} ms (last ÷ first ${s.p99.lastOverFirst.toFixed(2)}), min ${ms(s.p99.minMs)}, median ${ms(s.p99.medianMs)}, max ${ms(s.p99.maxMs)} ms (max ÷ min ${s.p99.maxOverMin.toFixed(2)}; median of the last third of the windows ÷ that of the first third ${s.p99.lastThirdOverFirstThird.toFixed(2)}) — stable (last ÷ first ≤ ${SOAK_TARGETS.p99LastOverFirst}): ${met(v.p99)}`,
  ];
  if (t.firstErrors.length > 0) lines.push('', 'First errors:', '', ...t.firstErrors.map((e) => `- ${e}`));
  if (t.slowest.length > 0) {
    const t0 = r.windows[0]?.startMs ?? 0;
    lines.push(
      '',
      'Slowest requests (many loops stalled at one moment point at the machine; one loop alone, at its connection):',
      '',
      ...t.slowest.map((q) => `- ${q.ms.toFixed(1)} ms: ${q.transport} loop ${q.loop}, ${q.rows} row${q.rows > 1 ? 's' : ''}, sent at ${((q.sentAtMs - t0) / 1000).toFixed(2)} s`),
    );
  }
  lines.push(
    '',
    '## Windows',
    '',
    `| window | s | requests | errors | p50 ms | p99 ms | max ms | ${TRANSPORTS.map((k) => `p99 ${k}`).join(' | ')} | server RSS MiB | heap committed MiB | RSS outside heap MiB | heap used MiB | external MiB |`,
    `|---|---|---|---|---|---|---|${TRANSPORTS.map(() => '---').join('|')}|---|---|---|---|---|`,
  );
  for (const w of r.windows) {
    const cells = [
      `${w.index}${w.warmup ? ' (warm-up)' : ''}`,
      ((w.endMs - w.startMs) / 1000).toFixed(1),
      String(w.all.count),
      String(w.all.errors),
      ms(w.all.p50Ms),
      ms(w.all.p99Ms),
      ms(w.all.maxMs),
      ...TRANSPORTS.map((k) => ms(w.transports[k].p99Ms)),
      mib(w.rssBytes),
      mib(w.heapTotalBytes),
      mib(w.outsideHeapBytes),
      mib(w.heapUsedBytes),
      mib(w.externalBytes),
    ];
    lines.push(`| ${cells.join(' | ')} |`);
  }
  return `${lines.join('\n')}\n`;
}
