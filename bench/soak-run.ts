/**
 * One soak run, shared by `npm run bench:soak` (bench/soak.ts, a million requests) and the CI
 * test (test/soak.test.ts, a few tens of thousands): starts `ortex serve` on the bundled
 * repository (ctr_mlp with dynamic batching) in a child process, starts bench/soak-load.ts in
 * another, and while the load runs reads the server's memory every `sampleMs`
 * (soak-memory.ts: VmRSS, and V8's heap from its /metrics). Resolves with every window's
 * figures and their summary: errors, RSS after warm-up against RSS at the end, and how p99
 * moved from window to window. Ends with SIGTERM to the server, whose exit status is part of
 * the result (a graceful shutdown exits 0).
 *
 * Warm-up: the windows that start before `warmupFraction` of the requests (or of the
 * duration) are done. The RSS "after warm-up" is the median of the samples in the first
 * window after them; the RSS "at the end" the median of those in the last full window.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { cpus, loadavg } from 'node:os';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { SERVE_NODE_FLAGS } from '../src/cli/node-flags.js';
import { ROOT, codeState } from './harness.js';
import type { MachineInfo } from './report.js';
import type { LoadConfig, LoadMessage, LoadTotals, LoadWindow } from './soak-load.js';
import { type MemoryFigures, type MemorySample, MemorySampler, cpuSecondsOf, median, metricSum, slope } from './soak-memory.js';

export interface SoakOptions {
  /** Requests in all, over every transport. Default 1,000,000. */
  requests?: number;
  /** Stop after this long even if not every request was sent; 0 (default): no limit. */
  durationMs?: number;
  /** Closed loops per transport (HTTP JSON, HTTP binary, WebSocket). Default 16. */
  concurrency?: number;
  /** WebSocket connections the WebSocket loops share. Default 2. */
  wsConnections?: number;
  /** Length of a latency window, ms. Default 5000. */
  windowMs?: number;
  /** How often the server's memory is read, ms. Default 500. */
  sampleMs?: number;
  /** Share of the run counted as warm-up. Default 0.1. */
  warmupFraction?: number;
  /** CPU lists for taskset (`-c`): the server's and the load's. Default: not pinned. */
  pin?: { server: string; load: string };
  /** Every n-th request carries 4 rows. Default 10. */
  multiRowEvery?: number;
  /** Largest |answer - expected| accepted. Default 1e-6 (under the pool's closest two answers, so a swapped answer fails). */
  tolerance?: number;
  /** More `ortex serve` flags. */
  serverArgs?: readonly string[];
  /** Flags for the server's node, before the script. Default: those it ships with (SERVE_NODE_FLAGS). */
  serverNodeFlags?: readonly string[];
  /** Progress lines (one per window). */
  log?: (line: string) => void;
}

export interface SoakWindow extends LoadWindow, MemoryFigures {
  warmup: boolean;
}

/** What soak-gc-probe.ts reports after a full collection; `t` ms since the load started, `completed` requests by then. */
export interface GcReading {
  t: number;
  completed: number;
  rss: number;
  heapTotal: number;
  heapUsed: number;
  external: number;
  arrayBuffers: number;
}

export interface SoakSummary {
  requests: number;
  completed: number;
  errors: number;
  seconds: number;
  reqPerSec: number;
  rss: {
    /** After warm-up: median over the first window after it. */
    warmBytes: number;
    /** Median over the last full window. */
    endBytes: number;
    growthPct: number;
    /** Largest sample after warm-up. */
    maxBytes: number;
    /** Least-squares slope of every sample after warm-up, bytes per minute. */
    slopeBytesPerMin: number;
    /**
     * V8's committed heap, and RSS less it, in the same two windows. V8 grows and shrinks its
     * heap (the young generation above all) with the allocation rate: a step in RSS that the
     * committed heap makes too, with RSS outside it flat, is the JS heap resizing, not memory
     * kept. (Approximate: committed pages count in RSS only once touched.)
     */
    heapWarmBytes: number;
    heapEndBytes: number;
    outsideHeapWarmBytes: number;
    outsideHeapEndBytes: number;
    outsideHeapGrowthPct: number;
  };
  /**
   * After a full collection (soak-gc-probe.ts), at the start of the first window after
   * warm-up and at the start of the first window past 90 % of the run, both under load: the
   * JS heap still reachable, and RSS less V8's committed heap (ONNX Runtime, uWS, buffers,
   * Node itself). A leak in JS shows in the first, a native one in the second; V8 resizing
   * its heap in neither.
   */
  gc: {
    warm: GcReading | null;
    end: GcReading | null;
    heapUsedGrowthBytes: number;
    outsideHeapGrowthBytes: number;
    outsideHeapGrowthPct: number;
    rssGrowthPct: number;
  };
  p99: {
    /** p99 over every transport, in the first window after warm-up and in the last full one. */
    firstMs: number;
    lastMs: number;
    lastOverFirst: number;
    minMs: number;
    medianMs: number;
    maxMs: number;
    maxOverMin: number;
    /**
     * Median p99 of the last third of the windows after warm-up ÷ that of the first third:
     * a drift upwards shows here, while a single window slowed by a neighbour on the machine
     * does not.
     */
    lastThirdOverFirstThird: number;
    /** Windows after warm-up the figures are over. */
    windows: number;
  };
  /** CPU time (user + system) over the load, in seconds: the server's and the load process's. */
  serverCpuS: number;
  loadCpuS: number;
  /** The server's own counts at the end (ortex_request_success_total / _failure_total over every label; no failure series: 0). */
  serverSuccess: number;
  serverFailures: number;
  /** The server's exit status after SIGTERM (0: graceful). */
  serverExit: number | string;
}

export interface SoakResult {
  options: Required<Omit<SoakOptions, 'pin' | 'log' | 'serverArgs' | 'serverNodeFlags'>> & { pin: SoakOptions['pin'] | null; serverArgs: readonly string[]; serverNodeFlags: readonly string[] };
  machine: Pick<MachineInfo, 'date' | 'cpu' | 'cores' | 'node' | 'code' | 'loadAvgStart' | 'loadAvgEnd'>;
  /** Smallest gap between two expected answers of the input pool (a swapped answer differs by at least this). */
  minExpectedGap: number;
  totals: LoadTotals;
  windows: SoakWindow[];
  /** Every memory reading of the server, t in ms since the load started. */
  memorySamples: MemorySample[];
  gcReadings: GcReading[];
  summary: SoakSummary;
}

const CLI = resolve(ROOT, 'dist/src/cli/ortex.js');
const LOAD = resolve(ROOT, 'dist/bench/soak-load.js');
const GC_PROBE = resolve(ROOT, 'dist/bench/soak-gc-probe.js');
const MODEL = resolve(ROOT, 'models/repository/ctr_mlp/1/model.onnx');

/** `argv` under `taskset -c cpus` when pinning. */
function command(argv: string[], cpuList: string | undefined): string[] {
  return cpuList === undefined ? argv : ['taskset', '-c', cpuList, ...argv];
}

type ProbeLine = Omit<GcReading, 't' | 'completed'>;

interface Server {
  child: ChildProcess;
  port: number;
  stderr: () => string;
  /** Sends SIGUSR2 and resolves with the probe's next line. */
  probe: () => Promise<ProbeLine>;
}

/**
 * `ortex serve --port 0` on the bundled repository, with soak-gc-probe.ts loaded; resolves
 * with its port once it logs "ready".
 */
function startServer(args: readonly string[], nodeFlags: readonly string[], cpuList: string | undefined): Promise<Server> {
  const argv = command([process.execPath, ...nodeFlags, '--expose-gc', '--import', pathToFileURL(GC_PROBE).href, CLI, 'serve', '--port', '0', ...args], cpuList);
  const child = spawn(argv[0]!, argv.slice(1), { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
  let tail = '';
  let buffered = '';
  const probes: Array<(line: ProbeLine) => void> = [];
  const probe = () =>
    new Promise<ProbeLine>((resolveProbe, reject) => {
      const timer = setTimeout(() => reject(new Error('the server did not answer the GC probe (SIGUSR2) within 30 s')), 30_000);
      probes.push((line) => {
        clearTimeout(timer);
        resolveProbe(line);
      });
      child.kill('SIGUSR2');
    });
  return new Promise((resolveStart, reject) => {
    let port = 0;
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`ortex serve was not ready within 120 s:\n${tail}`));
    }, 120_000);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`ortex serve exited (${code ?? signal}) before it was ready:\n${tail}`));
    });
    child.stderr!.setEncoding('utf8').on('data', (s: string) => {
      tail = (tail + s).slice(-8000);
      buffered += s;
      let nl: number;
      while ((nl = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        let entry: { msg?: string; port?: number };
        try {
          entry = JSON.parse(line) as typeof entry;
        } catch {
          continue;
        }
        if (entry.msg === 'soak gc probe') probes.shift()?.(entry as unknown as ProbeLine);
        if (entry.msg === 'listening') port = entry.port!;
        if (entry.msg === 'ready') {
          clearTimeout(timer);
          resolveStart({ child, port, stderr: () => tail, probe });
        }
      }
    });
  });
}

async function stopServer(child: ChildProcess): Promise<number | string> {
  if (child.exitCode !== null || child.signalCode !== null) return child.exitCode ?? child.signalCode!;
  const exited = new Promise<number | string>((r) => child.once('exit', (code, signal) => r(code ?? signal ?? 'unknown')));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  const status = await exited;
  clearTimeout(timer);
  return status;
}

/** Fills the defaults and checks every option. */
export function soakOptions(o: SoakOptions): SoakResult['options'] {
  const int = (v: number | undefined, fallback: number, min: number, what: string) => {
    const n = v ?? fallback;
    if (!Number.isSafeInteger(n) || n < min) throw new RangeError(`Expected an integer >= ${min} for soak ${what} but received ${String(v)}`);
    return n;
  };
  const warmupFraction = o.warmupFraction ?? 0.1;
  if (!(warmupFraction >= 0 && warmupFraction < 1)) throw new RangeError(`Expected a fraction in [0, 1) for soak warmupFraction but received ${warmupFraction}`);
  const tolerance = o.tolerance ?? 1e-6;
  if (!(tolerance >= 0)) throw new RangeError(`Expected a number >= 0 for soak tolerance but received ${tolerance}`);
  const durationMs = int(o.durationMs, 0, 0, 'durationMs');
  return {
    requests: durationMs > 0 && o.requests === undefined ? Number.MAX_SAFE_INTEGER : int(o.requests, 1_000_000, 1, 'requests'),
    durationMs,
    concurrency: int(o.concurrency, 16, 1, 'concurrency'),
    wsConnections: int(o.wsConnections, 2, 1, 'wsConnections'),
    windowMs: int(o.windowMs, 5000, 100, 'windowMs'),
    sampleMs: int(o.sampleMs, 500, 10, 'sampleMs'),
    warmupFraction,
    multiRowEvery: int(o.multiRowEvery, 10, 0, 'multiRowEvery'),
    tolerance,
    pin: o.pin ?? null,
    serverArgs: o.serverArgs ?? [],
    serverNodeFlags: o.serverNodeFlags ?? SERVE_NODE_FLAGS,
  };
}

/**
 * Runs the soak. Rejects when the server or the load process fails to start or dies; a run
 * with failed requests resolves (they are in the result) so the caller can report them.
 */
export async function runSoak(input: SoakOptions = {}): Promise<SoakResult> {
  const options = soakOptions(input);
  const log = input.log ?? (() => {});
  const loadAvgStart = loadavg();
  const server = await startServer(options.serverArgs, options.serverNodeFlags, options.pin?.server);
  const pid = server.child.pid!;
  const metricsUrl = `http://127.0.0.1:${server.port}/metrics`;
  const memory = new MemorySampler(pid, metricsUrl, options.sampleMs);
  const windows: LoadWindow[] = [];
  let started = 0;
  const gcReadings: GcReading[] = [];
  const probes: Array<Promise<void>> = [];
  const gcAt = (completed: number) => {
    const t = Date.now() - started;
    const reading = server.probe().then((line) => {
      const { rss, heapTotal, heapUsed, external, arrayBuffers } = line;
      gcReadings.push({ t, completed, rss, heapTotal, heapUsed, external, arrayBuffers });
    });
    reading.catch(() => {}); // awaited below; not unhandled if the run fails first
    probes.push(reading);
  };
  /** Whether a share of the run is behind `w` (by requests, or by time for a run by duration). */
  const past = (w: LoadWindow, share: number) =>
    options.durationMs > 0 && options.requests === Number.MAX_SAFE_INTEGER ? w.endMs - started >= share * options.durationMs : w.completed >= share * options.requests;
  let minExpectedGap = NaN;
  const cpu = { server0: 0, load0: 0, server: NaN, load: NaN };
  let load: ChildProcess | undefined;
  try {
    const config: LoadConfig = {
      port: server.port,
      modelPath: MODEL,
      requests: options.requests,
      durationMs: options.durationMs,
      concurrency: options.concurrency,
      wsConnections: options.wsConnections,
      windowMs: options.windowMs,
      poolRows: 256,
      multiRowEvery: options.multiRowEvery,
      tolerance: options.tolerance,
    };
    const argv = command([process.execPath, LOAD, JSON.stringify(config)], options.pin?.load);
    const child = spawn(argv[0]!, argv.slice(1), { cwd: ROOT, stdio: ['ignore', 'inherit', 'pipe', 'ipc'] });
    load = child;
    let loadErr = '';
    child.stderr!.setEncoding('utf8').on('data', (s: string) => (loadErr = (loadErr + s).slice(-4000)));

    const totals = await new Promise<LoadTotals>((resolveLoad, reject) => {
      let done: LoadTotals | undefined;
      child.on('message', (m: LoadMessage) => {
        if (m.type === 'ready') {
          minExpectedGap = m.minExpectedGap;
          started = Date.now();
          cpu.server0 = cpuSecondsOf(pid);
          cpu.load0 = cpuSecondsOf(child.pid!);
          memory.start(started);
        } else if (m.type === 'window') {
          const w = m.window;
          windows.push(w);
          if (gcReadings.length + probes.length === 0 && past(w, options.warmupFraction)) gcAt(w.completed);
          else if (probes.length === 1 && past(w, 0.9)) gcAt(w.completed);
          const rss = memory.samples.at(-1)?.rssBytes ?? NaN;
          log(`soak: window ${w.index} ${((w.endMs - w.startMs) / 1000).toFixed(1)} s: ${w.all.count} ok, ${w.all.errors} errors, p50 ${w.all.p50Ms} ms, p99 ${w.all.p99Ms} ms; ${w.completed} done; server RSS ${(rss / 2 ** 20).toFixed(1)} MiB`);
        } else if (m.type === 'done') {
          done = m.totals;
          cpu.server = cpuSecondsOf(pid) - cpu.server0;
          cpu.load = cpuSecondsOf(child.pid!) - cpu.load0;
        }
      });
      child.once('exit', (code, signal) => {
        if (done && code === 0) resolveLoad(done);
        else reject(new Error(`the soak load process exited (${code ?? signal}) before it was done:\n${loadErr}`));
      });
      server.child.once('exit', (code, signal) => reject(new Error(`ortex serve died during the soak (${code ?? signal}):\n${server.stderr()}`)));
    });
    await memory.stop();
    await Promise.all(probes);
    const final = await (await fetch(metricsUrl)).text();
    const serverExit = await stopServer(server.child);
    const failures = metricSum(final, 'ortex_request_failure_total');
    const result: SoakResult = {
      options,
      machine: {
        date: new Date().toISOString(),
        cpu: cpus()[0]?.model ?? 'unknown',
        cores: cpus().length,
        node: process.version,
        code: codeState(),
        loadAvgStart,
        loadAvgEnd: loadavg(),
      },
      minExpectedGap,
      totals,
      windows: windows.map((w) => ({ ...w, warmup: false, ...memory.figures(w.startMs, w.endMs) })),
      memorySamples: memory.samples,
      gcReadings,
      summary: undefined as unknown as SoakSummary,
    };
    result.summary = summarize(result, started, {
      serverSuccess: metricSum(final, 'ortex_request_success_total'),
      // The failure counter has a series per code only once one failed.
      serverFailures: Number.isNaN(failures) && final.includes('ortex_request_success_total') ? 0 : failures,
      serverExit,
      serverCpuS: cpu.server,
      loadCpuS: cpu.load,
    });
    return result;
  } finally {
    await memory.stop();
    if (load && load.exitCode === null && load.signalCode === null) load.kill('SIGKILL');
    if (server.child.exitCode === null && server.child.signalCode === null) server.child.kill('SIGKILL');
  }
}

type ServerFigures = Pick<SoakSummary, 'serverSuccess' | 'serverFailures' | 'serverExit' | 'serverCpuS' | 'loadCpuS'>;

/** Marks the warm-up windows of `r` and sums up; `started`: when the load began (Date.now()). */
function summarize(r: SoakResult, started: number, server: ServerFigures): SoakSummary {
  const o = r.options;
  let before = 0;
  for (const w of r.windows) {
    w.warmup = o.durationMs > 0 && o.requests === Number.MAX_SAFE_INTEGER
      ? w.startMs - started < o.warmupFraction * o.durationMs
      : before < o.warmupFraction * o.requests;
    before = w.completed;
  }
  // A window cut short by the end of the run says little about p99 or RSS: only full ones count.
  const measured = r.windows.filter((w) => !w.warmup && w.endMs - w.startMs >= 0.5 * o.windowMs && w.all.count > 0);
  const first = measured[0];
  const last = measured.at(-1);
  const after = first ? r.memorySamples.filter((s) => s.t + started >= first.startMs) : [];
  const p99s = measured.map((w) => w.all.p99Ms);
  const third = Math.max(1, Math.floor(p99s.length / 3));
  const pct = (from: number, to: number) => ((to - from) / from) * 100;
  const warm = first?.rssBytes ?? NaN;
  const end = last?.rssBytes ?? NaN;
  const t = r.totals;
  const [gcWarm, gcEnd] = r.gcReadings.length === 2 ? r.gcReadings : [undefined, undefined];
  const outside = (g: GcReading | undefined) => (g ? g.rss - g.heapTotal : NaN);
  return {
    requests: t.completed + t.errors,
    completed: t.completed,
    errors: t.errors,
    seconds: t.elapsedMs / 1000,
    reqPerSec: t.completed / (t.elapsedMs / 1000),
    rss: {
      warmBytes: warm,
      endBytes: end,
      growthPct: pct(warm, end),
      maxBytes: after.length ? Math.max(...after.map((s) => s.rssBytes)) : NaN,
      slopeBytesPerMin: slope(after.map((s) => [s.t, s.rssBytes] as const)) * 60_000,
      heapWarmBytes: first?.heapTotalBytes ?? NaN,
      heapEndBytes: last?.heapTotalBytes ?? NaN,
      outsideHeapWarmBytes: first?.outsideHeapBytes ?? NaN,
      outsideHeapEndBytes: last?.outsideHeapBytes ?? NaN,
      outsideHeapGrowthPct: pct(first?.outsideHeapBytes ?? NaN, last?.outsideHeapBytes ?? NaN),
    },
    gc: {
      warm: gcWarm ?? null,
      end: gcEnd ?? null,
      heapUsedGrowthBytes: (gcEnd?.heapUsed ?? NaN) - (gcWarm?.heapUsed ?? NaN),
      outsideHeapGrowthBytes: outside(gcEnd) - outside(gcWarm),
      outsideHeapGrowthPct: pct(outside(gcWarm), outside(gcEnd)),
      rssGrowthPct: pct(gcWarm?.rss ?? NaN, gcEnd?.rss ?? NaN),
    },
    p99: {
      firstMs: first?.all.p99Ms ?? NaN,
      lastMs: last?.all.p99Ms ?? NaN,
      lastOverFirst: (last?.all.p99Ms ?? NaN) / (first?.all.p99Ms ?? NaN),
      minMs: p99s.length ? Math.min(...p99s) : NaN,
      medianMs: median(p99s),
      maxMs: p99s.length ? Math.max(...p99s) : NaN,
      maxOverMin: p99s.length ? Math.max(...p99s) / Math.min(...p99s) : NaN,
      lastThirdOverFirstThird: median(p99s.slice(-third)) / median(p99s.slice(0, third)),
      windows: measured.length,
    },
    ...server,
  };
}
