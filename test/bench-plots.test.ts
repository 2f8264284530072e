import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BatchingRow } from '../bench/batching-report.js';
import { type BatchingJson, type LatencyJson, type ServingJson, plotsOf, writePlots } from '../bench/plots.js';
import type { LatencyGroupResult, MachineInfo } from '../bench/report.js';
import type { ServingFigures } from '../bench/serving-report.js';
import { QUANTILE_PER_MILLE, quantilesUs, summarize } from '../bench/stats.js';

const INFO: MachineInfo = {
  date: '2026-01-02T03:04:05.000Z',
  cpu: 'Test CPU',
  cores: 2,
  node: 'v20.20.2',
  ort: '1.30.0',
  ortexOrt: '1.30.0',
  code: { commit: 'abc1234', dirty: false, addonSha256: '0123456789ab' },
  loadAvgStart: [0, 0, 0],
  loadAvgEnd: [0, 0, 0],
  repeats: 2,
  seconds: 1,
};

const spread = (median: number) => ({ median, min: median * 0.9, max: median * 1.1, n: 2 });

/** A latency summary whose quantiles rise from `base` µs, as a trial records them. */
function latencySummary(base: number) {
  return summarize(Float64Array.from({ length: 200 }, (_, i) => base + i / 10), { quantiles: true });
}

const LATENCY: LatencyJson = {
  info: INFO,
  quantilePerMille: QUANTILE_PER_MILLE,
  latency: [
    {
      label: 'tiny b1 t1',
      model: 'tiny',
      batch: 1,
      intraOpThreads: 1,
      iterations: 200,
      repeats: { 'ortex-sync': [latencySummary(10), latencySummary(11)], 'ort-node': [latencySummary(30), latencySummary(32)] },
    } satisfies LatencyGroupResult,
  ],
};

const batchingRow = (id: string, kind: 'batcher' | 'ort-node', concurrency: number, samplesPerSec: number) =>
  ({
    label: `tiny c${concurrency}`,
    model: 'tiny',
    concurrency,
    repeats: 2,
    runner: kind === 'batcher' ? { id, kind, batcher: { maxBatchSize: 8, maxQueueDelayUs: 50, instances: 1 } } : { id, kind },
    samplesPerSec: spread(samplesPerSec),
    p50Us: spread(1e6 / samplesPerSec),
    p99Us: spread(3e6 / samplesPerSec),
    meanUs: spread(1e6 / samplesPerSec),
    cpuCores: spread(1),
    errors: 0,
    wrongShape: 0,
  }) satisfies BatchingRow;

const BATCHING: BatchingJson = {
  info: INFO,
  rows: [1, 16].flatMap((c) => [batchingRow('batcher', 'batcher', c, 1000 * c), batchingRow('ort-node', 'ort-node', c, 2000)]),
};

/** A row the serving report knows (fastify) and one it does not (a server kind added later): both must become series. */
const servingFigure = (row: ServingFigures['row'], concurrency: number, reqPerSec: number): ServingFigures => ({
  label: `tiny c${concurrency}`,
  model: 'tiny',
  concurrency,
  repeats: 2,
  row,
  reqPerSec: spread(reqPerSec),
  p50Ms: spread(concurrency / reqPerSec * 1000),
  p95Ms: spread(concurrency / reqPerSec * 2000),
  p99Ms: spread(concurrency / reqPerSec * 3000),
  non2xx: 0,
  timeouts: 0,
  socketErrors: 0,
  serverCpuCores: spread(1),
  loadCpuCores: spread(0.2),
});
const NEW_ROW = { id: 'ortex-carrier-pigeon', server: 'carrier-pigeon', protocol: 'json' } as unknown as ServingFigures['row'];

const SERVING: ServingJson = {
  info: INFO,
  figures: [1, 64].flatMap((c) => [servingFigure({ id: 'fastify', server: 'fastify-ort', protocol: 'json' }, c, 5000), servingFigure(NEW_ROW, c, 9000)]),
};

/** Checks that `xml` is one well-formed element: tags nest and close, attributes are quoted, text has no bare < or &. */
function expectWellFormed(xml: string): void {
  const tag = /<(\/?)([A-Za-z][\w:.-]*)((?:\s+[\w:.-]+="[^"<]*")*)\s*(\/?)>/y;
  const stack: string[] = [];
  let roots = 0;
  let i = xml.startsWith('<?xml') ? xml.indexOf('?>') + 2 : 0;
  while (i < xml.length) {
    const lt = xml.indexOf('<', i);
    const text = xml.slice(i, lt < 0 ? xml.length : lt);
    expect(text.replace(/&(amp|lt|gt|quot|apos|#\d+|#x[0-9a-fA-F]+);/g, '')).not.toMatch(/&/);
    if (lt < 0) break;
    tag.lastIndex = lt;
    const m = tag.exec(xml);
    if (!m) throw new Error(`Expected a well-formed tag at offset ${lt} but received '${xml.slice(lt, lt + 80)}'`);
    const [, closing, name, , selfClosing] = m;
    if (closing) expect(stack.pop()).toBe(name);
    else if (!selfClosing) {
      if (stack.length === 0) roots++;
      stack.push(name!);
    } else if (stack.length === 0) roots++;
    i = tag.lastIndex;
  }
  expect(stack).toEqual([]);
  expect(roots).toBe(1);
}

const escapeXml = (s: string) => s.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;');
/** True when `svg` has a text element reading exactly `text`. */
const hasText = (svg: string, text: string) => svg.includes(`>${escapeXml(text)}</text>`);

describe('bench/plots.ts', () => {
  let dir: string;
  const svgs = new Map<string, string>();

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'ortex-plots-'));
    writeFileSync(join(dir, 'latency.json'), JSON.stringify(LATENCY));
    writeFileSync(join(dir, 'batching.json'), JSON.stringify(BATCHING));
    writeFileSync(join(dir, 'serving.json'), JSON.stringify(SERVING));
    for (const path of await writePlots(plotsOf(dir), dir)) svgs.set(basename(path), readFileSync(path, 'utf8'));
  }, 30_000);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('draws one file per plot of each results file it finds', () => {
    expect([...svgs.keys()].sort()).toEqual([
      'batching-tiny-latency.svg',
      'batching-tiny-throughput.svg',
      'latency-cdf.svg',
      'serving-tiny-latency.svg',
      'serving-tiny-throughput.svg',
    ]);
  });

  it('writes well-formed SVG documents', () => {
    for (const svg of svgs.values()) {
      expect(svg.startsWith('<svg')).toBe(true);
      expectWellFormed(svg.trim());
    }
  });

  it('names every series, axis and panel, with the machine in the subtitle', () => {
    const cdf = svgs.get('latency-cdf.svg')!;
    for (const t of ['ortex runSync()', 'onnxruntime-node await run()', 'tiny b1 t1', 'latency per call (µs, log scale)', 'share of calls at or below (CDF)']) {
      expect(hasText(cdf, t), t).toBe(true);
    }
    const batching = svgs.get('batching-tiny-latency.svg')!;
    for (const t of ['batcher infer() (max 8, 50 µs, 1 instance)', 'onnxruntime-node await run(), batch 1', 'p50', 'p99', 'latency per request (µs, log scale)', 'concurrency (clients in a closed loop)']) {
      expect(hasText(batching, t), t).toBe(true);
    }
    expect(hasText(svgs.get('batching-tiny-throughput.svg')!, 'samples/s (log scale)')).toBe(true);
    const serving = svgs.get('serving-tiny-throughput.svg')!;
    for (const t of ['fastify + onnxruntime-node, JSON', 'ortex-carrier-pigeon', 'requests/s (log scale)']) expect(hasText(serving, t), t).toBe(true);
    for (const svg of svgs.values()) expect(svg).toContain('Test CPU, 2 vCPUs, Node 20.20.2, ONNX Runtime 1.30.0; commit abc1234');
  });

  it('leaves out the CDF of a latency.json from before quantiles were recorded', () => {
    const old = { ...LATENCY, latency: LATENCY.latency.map((g) => ({ ...g, repeats: { 'ortex-sync': g.repeats['ortex-sync']!.map(({ quantiles_us: _, ...s }) => s) } })) };
    writeFileSync(join(dir, 'latency.json'), JSON.stringify(old));
    expect(plotsOf(dir).map((p) => p.file)).not.toContain('latency-cdf.svg');
  });
});

describe('quantilesUs()', () => {
  it('takes the nearest rank from the per-mille integer, 7 % of 100 samples being the 7th', () => {
    const sorted = Float64Array.from({ length: 100 }, (_, i) => i + 1);
    const q = quantilesUs(sorted);
    expect(q).toHaveLength(QUANTILE_PER_MILLE.length);
    expect(q[QUANTILE_PER_MILLE.indexOf(70)]).toBe(7);
    expect(q[QUANTILE_PER_MILLE.indexOf(999)]).toBe(100);
  });
});
