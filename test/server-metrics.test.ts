// GET /metrics over real sockets, on the main port and on a metrics port of its own: the
// Prometheus text is parsed (strictly: declared families, well-formed histograms) and its
// counts checked against the requests made — successes, failures by status and error code
// (400, 404, 429, 504), inference and execution counts and the batch-size histogram from the
// batcher (batches made deterministic with holdUntil), the pending gauge, cache hits and
// misses — plus the GPU probe with and without nvidia-smi, the Grafana dashboard against
// what a scrape exports, and the `ortex serve` flags (--metrics-port, --cache-bytes, --log-level).
import { spawn } from 'node:child_process';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createResponseCache } from '../src/cache/index.js';
import { GpuProbe, parseNvidiaSmi } from '../src/metrics/gpu-probe.js';
import { createServerMetrics } from '../src/metrics/server-metrics.js';
import { createLogger, silentLogger } from '../src/server/logger.js';
import { type OrtexServer, createServer } from '../src/server/server.js';
import { ONE_THREAD, TempRepository, probeConfig } from './fixtures/model-repository.js';
import { type PromFamily, metricNamesIn, parsePrometheusText, sampleValue } from './fixtures/prometheus-text.js';
import { freePort, waitFor } from './fixtures/redis-server.js';
import { startServe } from './fixtures/serve-process.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

let server: OrtexServer;
let repo: TempRepository;

async function scrape(port = server.port): Promise<Map<string, PromFamily>> {
  const res = await fetch(`http://127.0.0.1:${port}/metrics`);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
  return parsePrometheusText(await res.text());
}

const post = (path: string, body: unknown) => fetch(`http://127.0.0.1:${server.port}${path}`, { method: 'POST', body: JSON.stringify(body) });
const probeBody = (v: number, parameters?: object, rows = 1) => ({ parameters, inputs: [{ name: 'x', datatype: 'FP64', shape: [rows, 1], data: Array.from({ length: rows }, (_, i) => v + i) }] });
const ctrBody = (v: number) => ({ inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 64], data: new Array<number>(64).fill(v) }] });

function probeModel(name = 'probe') {
  const s = server.repository.acquire(name);
  s.release();
  return s.model;
}

/** Differences of the samples named in `names` (with `labels`) between two scrapes. */
function delta(before: Map<string, PromFamily>, after: Map<string, PromFamily>, name: string, labels: Record<string, string> = {}): number {
  return sampleValue(after, name, labels) - sampleValue(before, name, labels);
}

beforeAll(async () => {
  repo = await TempRepository.create('ortex-metrics-');
  await repo.config('probe', probeConfig('probe', 'dynamic_batching { default_queue_policy { max_queue_size: 2 } }'));
  await repo.version('probe', 1, 'batch_probe');
  await repo.config('batched', probeConfig('batched'));
  await repo.version('batched', 1, 'batch_probe');
  await repo.config('ctr', {
    name: 'ctr',
    max_batch_size: 8,
    input: [{ name: 'x', data_type: 'TYPE_FP32', dims: [64] }],
    output: [{ name: 'y', data_type: 'TYPE_FP32', dims: [1] }],
    dynamic_batching: { max_queue_delay_microseconds: 100 },
    response_cache: { enable: true },
  });
  await repo.version('ctr', 1, 'ctr_mlp');
  server = createServer({
    repository: repo.root, port: 0, modelOptions: ONE_THREAD, logger: silentLogger,
    cache: { maxBytes: 1 << 20 },
    metrics: { port: 0 },
  });
  await server.listen();
});

afterAll(async () => {
  await server?.close();
  await repo?.dispose();
});

describe('GET /metrics', () => {
  it('serves the same families on the main port and on the metrics port, and 404 for anything else there', async () => {
    expect(server.metricsPort).toBeGreaterThan(0);
    expect(server.metricsPort).not.toBe(server.port);
    const main = await scrape();
    const own = await scrape(server.metricsPort);
    expect([...own.keys()].sort()).toEqual([...main.keys()].sort());
    for (const name of ['ortex_request_success_total', 'ortex_inference_count_total', 'ortex_queue_duration_seconds', 'ortex_cache_hits_total', 'process_cpu_seconds_total', 'process_resident_memory_bytes']) {
      expect(main.get(name), name).toBeDefined();
    }
    expect(main.get('ortex_request_duration_seconds')!.type).toBe('histogram');
    expect(main.get('ortex_pending_requests')!.type).toBe('gauge');
    expect(main.get('ortex_request_failure_total')!.type).toBe('counter');
    const other = await fetch(`http://127.0.0.1:${server.metricsPort}/v2/health/live`);
    expect(other.status).toBe(404);
    expect((await other.json()).error).toMatch(/this port serves GET \/metrics/);
  });

  it('counts successes, and failures by status and error code (400, 404, 429, 504)', async () => {
    const before = await scrape();
    for (let i = 0; i < 3; i++) expect((await post('/v2/models/probe/infer', probeBody(i))).status).toBe(200);
    expect((await post('/v2/models/probe/infer', { inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 1], data: [1] }] })).status).toBe(400);
    expect((await post('/v2/models/probe/versions/7/infer', probeBody(1))).status).toBe(404);
    expect((await post('/v2/models/no-such-model/infer', probeBody(1))).status).toBe(404);
    const model = probeModel();
    model.holdUntil(1000);
    const queued = [post('/v2/models/probe/infer', probeBody(10)), post('/v2/models/probe/infer', probeBody(11))];
    await waitFor('two requests queued', () => model.stats().pending === 2);
    expect((await post('/v2/models/probe/infer', probeBody(12))).status).toBe(429);
    model.holdUntil(0);
    expect((await Promise.all(queued)).map((r) => r.status)).toEqual([200, 200]);
    model.holdUntil(1000);
    expect((await post('/v2/models/probe/infer', probeBody(13, { timeout: 20_000 }))).status).toBe(504);
    model.holdUntil(0);
    const after = await scrape();

    const probe = { model: 'probe', version: '1' };
    expect(delta(before, after, 'ortex_request_success_total', probe)).toBe(5);
    expect(delta(before, after, 'ortex_request_failure_total', { ...probe, code: '400', reason: 'ERR_INPUT_TYPE' })).toBe(1);
    expect(delta(before, after, 'ortex_request_failure_total', { ...probe, code: '429', reason: 'ERR_QUEUE_FULL' })).toBe(1);
    expect(delta(before, after, 'ortex_request_failure_total', { ...probe, code: '504', reason: 'ERR_REQUEST_TIMEOUT' })).toBe(1);
    // No version answered: the version label is empty; an unknown model's name is not a label value.
    expect(delta(before, after, 'ortex_request_failure_total', { model: 'probe', version: '', code: '404', reason: 'ERR_MODEL_NOT_FOUND' })).toBe(1);
    expect(delta(before, after, 'ortex_request_failure_total', { model: '', version: '', code: '404', reason: 'ERR_MODEL_NOT_FOUND' })).toBe(1);
    expect(JSON.stringify([...after.get('ortex_request_failure_total')!.samples])).not.toContain('no-such-model');
    // The batcher's own view of the same: one queue-full and one timeout rejection.
    expect(delta(before, after, 'ortex_model_rejected_total', { ...probe, reason: 'queue_full' })).toBe(1);
    expect(delta(before, after, 'ortex_model_rejected_total', { ...probe, reason: 'timeout' })).toBe(1);
    // Every success has a duration; the histogram is cumulative and its +Inf bucket is its count.
    expect(delta(before, after, 'ortex_request_duration_seconds_count', probe)).toBe(5);
    expect(sampleValue(after, 'ortex_request_duration_seconds_bucket', { ...probe, le: '+Inf' })).toBe(sampleValue(after, 'ortex_request_duration_seconds_count', probe));
    expect(delta(before, after, 'ortex_request_duration_seconds_sum', probe)).toBeGreaterThan(0);
  });

  it('reads inference and execution counts, the batch-size histogram and the batcher timings from the batcher', async () => {
    const model = probeModel('batched');
    const before = await scrape();
    const stats0 = model.stats();
    // Three one-row requests held until all are queued make one batch of 3; then one of 2 rows alone.
    model.holdUntil(3);
    const three = await Promise.all([0, 1, 2].map((i) => post('/v2/models/batched/infer', probeBody(i))));
    expect(three.map((r) => r.status)).toEqual([200, 200, 200]);
    expect((await post('/v2/models/batched/infer', probeBody(5, undefined, 2))).status).toBe(200);
    const after = await scrape();
    const stats1 = model.stats();

    const probe = { model: 'batched', version: '1' };
    expect(delta(before, after, 'ortex_inference_count_total', probe)).toBe(5);
    expect(delta(before, after, 'ortex_inference_exec_count_total', probe)).toBe(2);
    expect(delta(before, after, 'ortex_model_requests_total', probe)).toBe(4);
    expect(sampleValue(after, 'ortex_inference_count_total', probe)).toBe(stats1.rows);
    expect(sampleValue(after, 'ortex_inference_exec_count_total', probe)).toBe(stats1.batches);
    expect(stats1.batches - stats0.batches).toBe(2);
    // Rows per execution: one batch of 3 (le 4) and one of 2 (le 2).
    expect(delta(before, after, 'ortex_batch_size_bucket', { ...probe, le: '1' })).toBe(0);
    expect(delta(before, after, 'ortex_batch_size_bucket', { ...probe, le: '2' })).toBe(1);
    expect(delta(before, after, 'ortex_batch_size_bucket', { ...probe, le: '4' })).toBe(2);
    expect(delta(before, after, 'ortex_batch_size_bucket', { ...probe, le: '8' })).toBe(2);
    expect(delta(before, after, 'ortex_batch_size_sum', probe)).toBe(5);
    expect(delta(before, after, 'ortex_batch_size_count', probe)).toBe(2);
    // Per request (queue) and per execution (compute phases).
    expect(delta(before, after, 'ortex_queue_duration_seconds_count', probe)).toBe(4);
    expect(delta(before, after, 'ortex_model_request_duration_seconds_count', probe)).toBe(4);
    for (const name of ['ortex_compute_duration_seconds', 'ortex_compute_input_duration_seconds', 'ortex_compute_infer_duration_seconds', 'ortex_compute_output_duration_seconds']) {
      expect(delta(before, after, `${name}_count`, probe), name).toBe(2);
      expect(after.get(name)!.samples.find((s) => s.labels.le === '0.00001'), name).toBeDefined(); // 10 µs, in seconds
    }
    expect(delta(before, after, 'ortex_compute_infer_duration_seconds_sum', probe)).toBeGreaterThan(0);
    expect(delta(before, after, 'ortex_request_parse_duration_seconds_count', probe)).toBe(4);
    expect(delta(before, after, 'ortex_response_encode_duration_seconds_count', probe)).toBe(4);
  });

  it('shows requests waiting in the queue in the pending gauge', async () => {
    const model = probeModel();
    model.holdUntil(1000);
    const queued = [post('/v2/models/probe/infer', probeBody(1)), post('/v2/models/probe/infer', probeBody(2))];
    try {
      await waitFor('two requests queued', () => model.stats().pending === 2);
      expect(sampleValue(await scrape(), 'ortex_pending_requests', { model: 'probe', version: '1' })).toBe(2);
    } finally {
      model.holdUntil(0);
    }
    await Promise.all(queued);
    expect(sampleValue(await scrape(), 'ortex_pending_requests', { model: 'probe', version: '1' })).toBe(0);
  });

  it('counts cache hits and misses after repeated requests', async () => {
    const before = await scrape();
    for (let i = 0; i < 3; i++) expect((await post('/v2/models/ctr/infer', ctrBody(0.25))).status).toBe(200);
    expect((await post('/v2/models/ctr/infer', ctrBody(0.5))).status).toBe(200);
    const after = await scrape();
    expect(delta(before, after, 'ortex_cache_misses_total')).toBe(2);
    expect(delta(before, after, 'ortex_cache_hits_total')).toBe(2);
    expect(delta(before, after, 'ortex_inference_count_total', { model: 'ctr', version: '1' })).toBe(2);
    expect(delta(before, after, 'ortex_request_success_total', { model: 'ctr', version: '1' })).toBe(4);
    expect(sampleValue(after, 'ortex_cache_entries')).toBeGreaterThanOrEqual(2);
    expect(sampleValue(after, 'ortex_cache_bytes')).toBeGreaterThan(0);
    expect(sampleValue(after, 'ortex_cache_evictions_total')).toBe(0);
    expect(after.get('ortex_cache_redis_errors_total')).toBeUndefined(); // no Redis tier
  });

  it('reports each version\'s load duration, and process CPU and memory', async () => {
    const m = await scrape();
    for (const model of ['ctr', 'probe']) expect(sampleValue(m, 'ortex_model_load_duration_seconds', { model, version: '1' })).toBeGreaterThan(0);
    expect(sampleValue(m, 'process_cpu_seconds_total')).toBeGreaterThan(0);
    expect(sampleValue(m, 'process_resident_memory_bytes')).toBeGreaterThan(10 << 20);
  });

  it('is off with metrics: false, and refuses bad metrics options', async () => {
    const s = createServer({ repository: repo.root, port: 0, modelOptions: ONE_THREAD, logger: silentLogger, metrics: false });
    try {
      await s.listen();
      expect(s.metrics).toBeUndefined();
      expect((await fetch(`http://127.0.0.1:${s.port}/metrics`)).status).toBe(404);
    } finally {
      await s.close();
    }
    expect(() => createServer({ repository: repo.root, metrics: { port: 70000 } })).toThrow(/Expected an integer from 0 to 65535 for metrics.port but received number 70000/);
    expect(() => createServer({ repository: repo.root, metrics: 'yes' as never })).toThrow(/Expected true, false or \{ port\?, host\?, processMetrics\?, gpu\? \} for the metrics option/);
  });
});

describe('a served model file replaced by garbage, then deleted, while polling', () => {
  it('keeps the loaded version serving and reports each failure in the logs, the metrics and the repository index', async () => {
    const own = await TempRepository.create('ortex-faults-');
    await own.config('probe', probeConfig('probe'));
    await own.version('probe', 1, 'batch_probe');
    const logs: Array<Record<string, unknown>> = [];
    const s = createServer({
      repository: own.root, port: 0, modelOptions: ONE_THREAD, modelControlMode: 'poll', pollIntervalMs: 20,
      logger: createLogger('info', (line: string) => void logs.push(JSON.parse(line) as Record<string, unknown>)),
    });
    const base = () => `http://127.0.0.1:${s.port}`;
    const infer = async () => {
      const res = await fetch(`${base()}/v2/models/probe/infer`, { method: 'POST', body: JSON.stringify(probeBody(3)) });
      return { status: res.status, body: (await res.json()) as { outputs?: Array<{ data: number[] }> } };
    };
    const failures = async () => sampleValue(await scrape(s.port), 'ortex_model_load_failures_total', { model: 'probe' });
    const index = async () => (await (await fetch(`${base()}/v2/repository/index`, { method: 'POST', body: '{}' })).json()) as unknown;
    try {
      await s.listen();
      const good = await infer();
      expect(good.status).toBe(200);
      // The series exists at 0 before the first failure, so increase() sees that failure.
      expect((await scrape(s.port)).get('ortex_model_load_failures_total')?.samples).toEqual([expect.objectContaining({ labels: { model: 'probe' }, value: 0 })]);

      await own.brokenVersion('probe', 1); // garbage in place of the served file
      await waitFor('the failed reload to be counted', async () => (await failures()) === 1);
      expect(await infer()).toEqual(good); // the loaded version answers as before
      expect(await index()).toEqual([{ name: 'probe', version: '1', state: 'READY', reason: expect.stringMatching(/probe\/1\/model\.onnx: it is not a valid ONNX model/) }]);
      expect(logs.filter((l) => l.msg === 'load failed: the loaded file keeps serving' && l.model === 'probe')).toHaveLength(1);

      await own.remove('probe/1/model.onnx'); // then no file at all
      await waitFor('the missing file to be counted', async () => (await failures()) === 2);
      expect(await infer()).toEqual(good);
      expect(await index()).toEqual([{ name: 'probe', version: '1', state: 'READY', reason: expect.stringMatching(/Model file not found: .*probe\/1\/model\.onnx$/) }]);
      expect(logs.filter((l) => l.msg === 'load failed: the loaded file keeps serving' && l.model === 'probe')).toHaveLength(2);

      // Later polls meet the same state: nothing more is counted or logged.
      await new Promise((r) => setTimeout(r, 200));
      expect(await failures()).toBe(2);
      expect(logs.filter((l) => (l.level as number) >= 40 && l.model === 'probe')).toHaveLength(2);

      await own.version('probe', 1, 'batch_probe'); // fixed: reloaded, the reason gone
      await waitFor('the fixed file to be loaded', async () => JSON.stringify(await index()) === JSON.stringify([{ name: 'probe', version: '1', state: 'READY' }]));
      expect((await infer()).status).toBe(200);
    } finally {
      await s.close();
      await own.dispose();
    }
  });
});

describe('GPU metrics', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ortex-gpu-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('has no GPU families and no error where nvidia-smi is absent (this machine)', async () => {
    const m = await scrape();
    expect([...m.keys()].filter((n) => n.startsWith('ortex_gpu_'))).toEqual([]);
    expect(server.metrics!.gpu).toBe(false);
    const logged: unknown[] = [];
    const logger = { debug() {}, info() {}, warn: (f: object) => logged.push(f), error: (f: object) => logged.push(f) };
    expect(GpuProbe.start({ command: join(dir, 'missing', 'nvidia-smi') }, logger)).toBeUndefined();
    expect(logged).toEqual([]);
  });

  it('parses nvidia-smi\'s CSV, skipping fields a GPU does not report', () => {
    const readings = parseNvidiaSmi('0, GPU-aaaa, 37, 1024, 16384\n1, GPU-bbbb, [N/A], 0, 81920\n\n');
    expect(readings).toEqual([
      { index: '0', uuid: 'GPU-aaaa', utilization: 0.37, memoryUsedBytes: 1024 * 1024 * 1024, memoryTotalBytes: 16384 * 1024 * 1024 },
      { index: '1', uuid: 'GPU-bbbb', utilization: undefined, memoryUsedBytes: 0, memoryTotalBytes: 81920 * 1024 * 1024 },
    ]);
  });

  it('exports readings of an nvidia-smi found on the way (a script standing in for the driver\'s), and none while it fails', async () => {
    // No GPU here: a script prints what nvidia-smi prints for these arguments, through the same execFile path.
    const smi = join(dir, 'nvidia-smi');
    await writeFile(smi, '#!/bin/sh\n[ -f "$0.fail" ] && exit 9\necho "0, GPU-1234, 42, 2048, 16384"\n');
    await chmod(smi, 0o755);
    const logged: unknown[] = [];
    const logger = { debug() {}, info() {}, warn: (f: object) => logged.push(f), error() {} };
    const metrics = createServerMetrics({ repository: server.repository, logger }, { gpu: { command: smi, intervalMs: 100 }, processMetrics: false });
    try {
      expect(metrics.gpu).toBe(true);
      let m = parsePrometheusText(await metrics.text());
      await waitFor('a GPU reading', async () => {
        m = parsePrometheusText(await metrics.text());
        return m.get('ortex_gpu_utilization_ratio')!.samples.length > 0;
      });
      expect(sampleValue(m, 'ortex_gpu_utilization_ratio', { gpu: '0', uuid: 'GPU-1234' })).toBeCloseTo(0.42);
      expect(sampleValue(m, 'ortex_gpu_memory_used_bytes', { gpu: '0' })).toBe(2048 * 1024 * 1024);
      expect(sampleValue(m, 'ortex_gpu_memory_total_bytes', { gpu: '0' })).toBe(16384 * 1024 * 1024);
      await writeFile(`${smi}.fail`, '');
      await waitFor('the readings to go', async () => parsePrometheusText(await metrics.text()).get('ortex_gpu_utilization_ratio')!.samples.length === 0);
      await new Promise((r) => setTimeout(r, 300)); // a few more failing runs
      expect(logged).toHaveLength(1); // logged once, not per run
    } finally {
      metrics.close();
    }
  });
});

describe('the Grafana dashboard (dashboards/ortex-grafana.json)', () => {
  it('is well-formed and every metric it queries is exported by a scrape', async () => {
    const dashboard = JSON.parse(await readFile(join(ROOT, 'dashboards/ortex-grafana.json'), 'utf8')) as { panels: Array<{ title: string; type: string; targets?: Array<{ expr: string }> }> };
    const exprs = dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr));
    expect(exprs.length).toBeGreaterThan(10);
    const titles = dashboard.panels.map((p) => p.title);
    for (const t of ['Request rate', 'Error rate by code', 'Request latency (p50, p95, p99)', 'Queue vs compute (p95 and mean)', 'Average batch size', 'Pending requests', 'Cache hit ratio', 'Process CPU', 'Process memory']) {
      expect(titles).toContain(t);
    }
    expect(exprs.some((e) => e.includes('histogram_quantile(0.99'))).toBe(true);

    // Everything a server can export: a cache with a Redis tier (unreachable is fine) and a GPU.
    const dir = await mkdtemp(join(tmpdir(), 'ortex-dash-'));
    const smi = join(dir, 'nvidia-smi');
    await writeFile(smi, '#!/bin/sh\necho "0, GPU-1, 1, 1, 2"\n');
    await chmod(smi, 0o755);
    const cache = createResponseCache({ maxBytes: 1024, ttlMs: 0, redis: { url: `redis://127.0.0.1:${await freePort()}` } });
    const metrics = createServerMetrics({ repository: server.repository, cache, redis: true, logger: silentLogger }, { gpu: { command: smi } });
    try {
      const exported = parsePrometheusText(await metrics.text());
      const names = new Set<string>();
      for (const f of exported.values()) for (const suffix of f.type === 'histogram' ? ['_bucket', '_sum', '_count'] : ['']) names.add(f.name + suffix);
      const used = [...new Set(exprs.flatMap(metricNamesIn))];
      expect(used.length).toBeGreaterThan(20);
      expect(used.filter((n) => !names.has(n))).toEqual([]);
    } finally {
      metrics.close();
      cache.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('ortex serve --metrics-port --cache-bytes --log-level', () => {
  const serve = startServe;

  it('serves metrics on their own port, caches, and logs each request at debug level as JSON', async () => {
    const s = await serve(['--repo', repo.root, '--metrics-port', '0', '--cache-bytes', '1048576', '--cache-ttl-ms', '60000', '--log-level', 'debug']);
    try {
      const port = Number(new URL(s.ready.url as string).port);
      const metricsPort = s.ready.metricsPort as number;
      expect(metricsPort).toBeGreaterThan(0);
      expect(s.logs.find((l) => l.msg === 'metrics listening')).toMatchObject({ port: metricsPort, level: 30 });
      expect(s.logs.find((l) => l.msg === 'model version loaded')).toMatchObject({ level: 30, model: expect.any(String), loadMs: expect.any(Number), pid: s.child.pid });
      for (let i = 0; i < 2; i++) {
        const r = await fetch(`http://127.0.0.1:${port}/v2/models/ctr/infer`, { method: 'POST', body: JSON.stringify(ctrBody(0.75)) });
        expect(r.status).toBe(200);
      }
      const m = parsePrometheusText(await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text());
      expect(sampleValue(m, 'ortex_cache_hits_total')).toBe(1);
      expect(sampleValue(m, 'ortex_cache_misses_total')).toBe(1);
      await waitFor('two request log lines', () => s.logs.filter((l) => l.msg === 'request').length === 2);
      expect(s.logs.filter((l) => l.msg === 'request').map((l) => [l.level, l.model, l.version, l.status, l.cache])).toEqual([
        [20, 'ctr', '1', 200, 'miss'],
        [20, 'ctr', '1', 200, 'hit'],
      ]);
    } finally {
      s.child.kill('SIGTERM');
    }
    expect(await s.exited).toBe(0);
  });

  it('refuses cache flags that need another, as a usage error', async () => {
    const child = spawn(process.execPath, [join(ROOT, 'dist/src/cli/ortex.js'), 'serve', '--repo', repo.root, '--cache-ttl-ms', '5'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (c: Buffer) => { stderr += c.toString(); });
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    expect(code).toBe(2);
    expect(stderr).toMatch(/--cache-ttl-ms needs --cache-bytes or --redis/);
  });
});
