/**
 * The soak's view of the server process from outside: its resident memory from
 * /proc/<pid>/status, its CPU time from /proc/<pid>/stat, and V8's heap figures from its
 * /metrics (prom-client's nodejs_heap_size_*), read together every `intervalMs` so each RSS
 * sample can be split into what V8's heap holds and what the rest (ONNX Runtime, uWS,
 * buffers, Node itself) holds.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { spread } from './stats.js';

/** One reading; ms since the load started. Heap figures are NaN when that scrape was skipped or failed. */
export interface MemorySample {
  t: number;
  rssBytes: number;
  heapTotalBytes: number;
  heapUsedBytes: number;
  externalBytes: number;
}

/** A window's medians (V8's heap saws up and down between collections; medians see through it). */
export interface MemoryFigures {
  rssBytes: number;
  rssMaxBytes: number;
  /** V8's heap as committed (nodejs_heap_size_total_bytes). */
  heapTotalBytes: number;
  heapUsedBytes: number;
  externalBytes: number;
  /** RSS less V8's committed heap, per sample. */
  outsideHeapBytes: number;
}

const CLOCK_TICKS = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout) || 100;

/** VmRSS of a process, in bytes. */
export function rssOf(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no VmRSS in /proc/${pid}/status`);
  return Number(m[1]) * 1024;
}

/** User + system CPU seconds of a process so far (every thread). */
export function cpuSecondsOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
}

/** The sum of a metric's samples over every label set, from Prometheus text; NaN when absent. */
export function metricSum(text: string, name: string): number {
  let sum = NaN;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const rest = line.slice(name.length);
    if (rest[0] !== ' ' && rest[0] !== '{') continue;
    const value = Number(rest.slice(rest.lastIndexOf(' ') + 1));
    sum = Number.isNaN(sum) ? value : sum + value;
  }
  return sum;
}

export const median = (values: number[]): number => (values.length === 0 ? NaN : spread(values).median);

export class MemorySampler {
  readonly samples: MemorySample[] = [];
  #timer: NodeJS.Timeout | undefined;
  #scraping: Promise<void> | undefined;
  #origin = 0;

  constructor(readonly pid: number, readonly metricsUrl: string, readonly intervalMs: number) {}

  /** Starts sampling; `origin` (Date.now()) is t = 0. */
  start(origin: number): void {
    this.#origin = origin;
    this.#sample();
    this.#timer = setInterval(() => this.#sample(), this.intervalMs);
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer);
    await this.#scraping;
  }

  /** The figures of the samples taken between two Date.now() instants. */
  figures(fromMs: number, toMs: number): MemoryFigures {
    const inside = this.samples.filter((s) => s.t + this.#origin >= fromMs && s.t + this.#origin <= toMs);
    const of = (f: (s: MemorySample) => number) => median(inside.map(f).filter((v) => !Number.isNaN(v)));
    return {
      rssBytes: of((s) => s.rssBytes),
      rssMaxBytes: inside.length ? Math.max(...inside.map((s) => s.rssBytes)) : NaN,
      heapTotalBytes: of((s) => s.heapTotalBytes),
      heapUsedBytes: of((s) => s.heapUsedBytes),
      externalBytes: of((s) => s.externalBytes),
      outsideHeapBytes: of((s) => s.rssBytes - s.heapTotalBytes),
    };
  }

  #sample(): void {
    let rssBytes: number;
    try {
      rssBytes = rssOf(this.pid);
    } catch {
      return; // the server is gone; whoever watches its exit reports it
    }
    const s: MemorySample = { t: Date.now() - this.#origin, rssBytes, heapTotalBytes: NaN, heapUsedBytes: NaN, externalBytes: NaN };
    this.samples.push(s);
    // One scrape at a time: a slow one makes the next samples go without heap figures.
    if (this.#scraping) return;
    this.#scraping = (async () => {
      try {
        const text = await (await fetch(this.metricsUrl)).text();
        s.heapTotalBytes = metricSum(text, 'nodejs_heap_size_total_bytes');
        s.heapUsedBytes = metricSum(text, 'nodejs_heap_size_used_bytes');
        s.externalBytes = metricSum(text, 'nodejs_external_memory_bytes');
      } catch {
        // left NaN
      } finally {
        this.#scraping = undefined;
      }
    })();
  }
}

/** Least-squares slope of [x, y] points (y per unit of x); NaN for fewer than two. */
export function slope(points: ReadonlyArray<readonly [number, number]>): number {
  const n = points.length;
  if (n < 2) return NaN;
  let sx = 0;
  let sy = 0;
  for (const [x, y] of points) {
    sx += x;
    sy += y;
  }
  const mx = sx / n;
  const my = sy / n;
  let num = 0;
  let den = 0;
  for (const [x, y] of points) {
    num += (x - mx) * (y - my);
    den += (x - mx) ** 2;
  }
  return den === 0 ? NaN : num / den;
}
