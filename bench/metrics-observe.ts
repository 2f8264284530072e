/**
 * What the Prometheus metrics cost: per request on the event loop (the onRequest observer
 * that counts a finished request) and per scrape (GET /metrics building the text).
 *
 * Per request, ortex's RequestMetrics#observe() is compared with the server's existing
 * statistics observer (the floor every request pays already) and with the two ways of doing
 * the same with prom-client's own Counter and Histogram: labels passed on every call, and
 * children bound once per model version. One process, each figure the median of 7 repeats
 * with its min–max spread. Not a test: the figures go to the report of the metrics work.
 *
 *   npx tsc -p . && node dist/bench/metrics-observe.js
 */

import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Counter, Histogram, Registry } from 'prom-client';
import { createServerMetrics } from '../src/metrics/server-metrics.js';
import { RequestMetrics } from '../src/metrics/request-metrics.js';
import { ModelRepository } from '../src/repository/repository.js';
import { RequestRecord } from '../src/server/request-record.js';
import { observeRequest } from '../src/server/request-stats.js';
import { spread } from './stats.js';

const ROOT = resolve(fileURLToPath(import.meta.url), '../../..');
const REPEATS = 7;
const CALLS = 1_000_000;

/** A repository of `n` copies of ctr_mlp (one thread each), loaded. */
async function repository(n: number): Promise<{ repo: ModelRepository; dir: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'ortex-metrics-bench-'));
  const config = await readFile(join(ROOT, 'models/repository/ctr_mlp/config.pbtxt'), 'utf8');
  for (let i = 0; i < n; i++) {
    await mkdir(join(dir, `ctr${i}`, '1'), { recursive: true });
    await writeFile(join(dir, `ctr${i}`, 'config.pbtxt'), config.replace('name: "ctr_mlp"', `name: "ctr${i}"`));
    await copyFile(join(ROOT, 'models/out/ctr_mlp.onnx'), join(dir, `ctr${i}`, '1', 'model.onnx'));
  }
  const repo = new ModelRepository(dir, { modelOptions: (o) => ({ ...o, intraOpNumThreads: 1, interOpNumThreads: 1 }) });
  const failures = await repo.start();
  if (failures.length > 0) throw failures[0]!.error;
  return { repo, dir };
}

/** A finished, successful request record of `servable`, with plausible timings (ms). */
function record(servable: RequestRecord['servable'], i: number): RequestRecord {
  const r = new RequestRecord('http', 1000 + i);
  r.servable = servable;
  r.model = servable!.name;
  r.bodyMs = r.startMs + 0.01;
  r.inputMs = r.startMs + 0.02;
  r.inferEndMs = r.startMs + 0.2 + (i % 7) * 0.05;
  r.outputMs = r.inferEndMs + 0.01;
  r.endMs = r.outputMs + 0.02;
  r.status = 200;
  return r;
}

function nsPerCall(records: readonly RequestRecord[], observe: (r: RequestRecord) => void): number {
  const start = process.hrtime.bigint();
  for (let i = 0; i < CALLS; i++) observe(records[i & 1023]!);
  return Number(process.hrtime.bigint() - start) / CALLS;
}

const fmt = (s: { median: number; min: number; max: number }, digits = 0) => `${s.median.toFixed(digits)} (${s.min.toFixed(digits)}–${s.max.toFixed(digits)})`;

const { repo, dir } = await repository(10);
try {
  const servable = repo.servables()[0]!;
  const records = Array.from({ length: 1024 }, (_, i) => record(servable, i));

  const requestMetrics = new RequestMetrics(repo);
  const buckets = [1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 1e-2, 2.5e-2, 5e-2, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
  const promFamilies = () => {
    const registry = new Registry();
    const labelNames = ['model', 'version'] as const;
    return {
      success: new Counter({ name: 'success_total', help: 'h', labelNames, registers: [registry] }),
      duration: new Histogram({ name: 'duration_seconds', help: 'h', labelNames, buckets, registers: [registry] }),
      parse: new Histogram({ name: 'parse_seconds', help: 'h', labelNames, buckets, registers: [registry] }),
      encode: new Histogram({ name: 'encode_seconds', help: 'h', labelNames, buckets, registers: [registry] }),
    };
  };
  const labelled = promFamilies();
  const bound = promFamilies();
  const children = new WeakMap<object, { success: ReturnType<Counter['labels']>; duration: ReturnType<Histogram['labels']>; parse: ReturnType<Histogram['labels']>; encode: ReturnType<Histogram['labels']> }>();

  const trials: Array<[string, (r: RequestRecord) => void]> = [
    ['server statistics (observeRequest, already paid by every request)', observeRequest],
    ['ortex RequestMetrics#observe()', (r) => requestMetrics.observe(r)],
    ['prom-client Counter + 3 Histograms, labels per call', (r) => {
      const labels = { model: r.servable!.name, version: r.servable!.versionText };
      labelled.success.inc(labels);
      labelled.duration.observe(labels, (r.endMs - r.startMs) / 1000);
      labelled.parse.observe(labels, (r.inputMs - r.bodyMs) / 1000);
      labelled.encode.observe(labels, (r.outputMs - r.inferEndMs) / 1000);
    }],
    ['prom-client Counter + 3 Histograms, children bound per version', (r) => {
      let c = children.get(r.servable!);
      if (!c) {
        const v = [r.servable!.name, r.servable!.versionText];
        c = { success: bound.success.labels(...v), duration: bound.duration.labels(...v), parse: bound.parse.labels(...v), encode: bound.encode.labels(...v) };
        children.set(r.servable!, c);
      }
      c.success.inc();
      c.duration.observe((r.endMs - r.startMs) / 1000);
      c.parse.observe((r.inputMs - r.bodyMs) / 1000);
      c.encode.observe((r.outputMs - r.inferEndMs) / 1000);
    }],
  ];

  console.log(`# ${new Date().toISOString()}, ${cpus()[0]?.model} x${cpus().length}, Node ${process.version}\n`);
  console.log('| per request | ns per call |');
  console.log('|---|---|');
  for (const [name, observe] of trials) {
    nsPerCall(records, observe); // warm-up
    console.log(`| ${name} | ${fmt(spread(Array.from({ length: REPEATS }, () => nsPerCall(records, observe))))} |`);
  }

  console.log('\n| per scrape (GET /metrics text) | ms |');
  console.log('|---|---|');
  for (const processMetrics of [false, true]) {
    const metrics = createServerMetrics({ repository: repo, logger: { debug() {}, info() {}, warn() {}, error() {} } }, { gpu: false, processMetrics });
    for (const r of records) metrics.observe(r);
    await metrics.text();
    const runs: number[] = [];
    for (let i = 0; i < REPEATS; i++) {
      const n = 50;
      const t0 = performance.now();
      for (let k = 0; k < n; k++) await metrics.text();
      runs.push((performance.now() - t0) / n);
    }
    const text = await metrics.text();
    console.log(`| 10 model versions${processMetrics ? ' + process metrics' : ''} (${text.split('\n').length} lines) | ${fmt(spread(runs), 2)} |`);
    metrics.close();
  }
} finally {
  await repo.close();
  await rm(dir, { recursive: true, force: true });
}
