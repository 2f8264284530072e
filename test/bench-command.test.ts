// `ortex bench` and benchModels(): the verdict logic on synthetic blocks (where the answer is
// known), the --compare syntax, and short real runs on ctr_mlp, checked for structure and for
// what must hold whatever the machine's noise (ordered percentiles, Little's law, batch 64
// far slower than batch 1). The CLI runs dist/: `npx tsc -p .` builds it.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BENCH_SETTING_KEYS, describeTarget, parseCompareSpec, resolveTarget, withSettings } from '../src/toolkit/bench-settings.js';
import { BENCH_METRICS, benchModels, falseAlarmRate, judgeMetric, type BenchResult } from '../src/toolkit/perf-analyzer.js';
import { CLI, ROOT } from './fixtures/serve-process.js';
import { codeOf, model } from './helpers.js';

const tmp = mkdtempSync(join(tmpdir(), 'ortex-bench-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const cli = (...args: string[]) => spawnSync(process.execPath, [CLI, 'bench', ...args], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
const SHORT = { durationS: 0.5, repeats: 4, warmup: { runs: 20 } } as const;

/** What holds for any result, however noisy the machine. */
function expectSane(r: BenchResult): void {
  const l = r.latency;
  expect(l.minMs).toBeGreaterThan(0);
  expect(l.minMs).toBeLessThanOrEqual(l.p50Ms);
  expect(l.p50Ms).toBeLessThanOrEqual(l.p90Ms);
  expect(l.p90Ms).toBeLessThanOrEqual(l.p99Ms);
  expect(l.p99Ms).toBeLessThanOrEqual(l.maxMs);
  expect(r.requests).toBe(r.blocks.reduce((n, b) => n + b.requests, 0));
  expect(r.samples).toBe(r.requests * r.batch);
  expect(r.inferencesPerS).toBeCloseTo(r.requests / r.seconds, 6);
  for (const m of BENCH_METRICS) {
    expect(r.spread[m].min).toBeLessThanOrEqual(r.spread[m].median);
    expect(r.spread[m].median).toBeLessThanOrEqual(r.spread[m].max);
  }
  // Little's law: requests in flight = throughput x mean latency, a little under `concurrency`
  // for the time a request spends outside the timed call.
  const inFlight = (r.inferencesPerS * l.meanMs) / 1000;
  expect(inFlight).toBeGreaterThan(0.5 * r.concurrency);
  expect(inFlight).toBeLessThan(1.05 * r.concurrency);
}

describe('judgeMetric()', () => {
  it('calls overlapping per-block ranges within noise, whatever the ratio', () => {
    const v = judgeMetric('p50Ms', { value: 1, blocks: [0.9, 1, 1.3] }, { value: 1.2, blocks: [1.25, 1.4, 1.5] });
    expect(v).toEqual({ metric: 'p50Ms', a: 1, b: 1.2, ratio: 1.2, significant: false, verdict: 'within noise' });
  });

  it('calls separate ranges a difference, in the direction that is better for the metric', () => {
    expect(judgeMetric('p99Ms', { value: 1, blocks: [0.9, 1, 1.1] }, { value: 1.25, blocks: [1.2, 1.25, 1.3] }).verdict).toBe('slower by 25.0 %');
    expect(judgeMetric('meanMs', { value: 1, blocks: [0.9, 1, 1.1] }, { value: 0.8, blocks: [0.7, 0.8, 0.85] }).verdict).toBe('faster by 20.0 %');
    expect(judgeMetric('inferencesPerS', { value: 100, blocks: [95, 105] }, { value: 110, blocks: [108, 112] }).verdict).toBe('faster by 10.0 %');
    expect(judgeMetric('samplesPerS', { value: 100, blocks: [95, 105] }, { value: 25, blocks: [24, 26] }).verdict).toBe('4.0x slower');
    expect(judgeMetric('p50Ms', { value: 3, blocks: [2.9, 3.1] }, { value: 1, blocks: [0.9, 1.1] })).toMatchObject({ significant: true, verdict: '3.0x faster' });
  });

  it('gives the chance that identical setups look different: 2 / C(2R, R)', () => {
    expect(falseAlarmRate(4)).toBeCloseTo(2 / 70, 12);
    expect(falseAlarmRate(5)).toBeCloseTo(2 / 252, 12);
  });
});

describe('parseCompareSpec()', () => {
  const a = withSettings({ model: 'a.onnx' }, [['threads', '2'], ['sync', true]], 'flags');

  it('takes a model file with the same settings, or settings changed from the first setup', () => {
    expect(a).toEqual({ model: 'a.onnx', mode: 'sync', session: { intraOpNumThreads: 2 } });
    expect(parseCompareSpec(a, 'b.onnx')).toEqual({ ...a, model: 'b.onnx' });
    expect(parseCompareSpec(a, 'threads=1,busy-wait')).toEqual({ model: 'a.onnx', mode: 'sync', session: { intraOpNumThreads: 1, busyWait: true } });
    expect(parseCompareSpec(a, 'model=b.onnx, batch=64, sync=false, concurrency=4')).toEqual({ model: 'b.onnx', mode: 'async', batch: 64, concurrency: 4, session: { intraOpNumThreads: 2 } });
    expect(parseCompareSpec(a, 'batcher,max-queue-delay-us=200,ep=cuda,optimization-level=basic')).toMatchObject({
      mode: 'batcher',
      maxQueueDelayUs: 200,
      session: { executionProviders: ['cuda', 'cpu'], graphOptimizationLevel: 'basic' },
    });
    expect(a.session).toEqual({ intraOpNumThreads: 2 }); // not changed in place
  });

  it('refuses unknown keys and bad values with ERR_OPTION_INVALID, naming the keys', async () => {
    expect(await codeOf(() => parseCompareSpec(a, 'thread=2'))).toBe('ERR_OPTION_INVALID');
    expect(() => parseCompareSpec(a, 'thread=2')).toThrow(new RegExp(BENCH_SETTING_KEYS.join(', ')));
    expect(await codeOf(() => parseCompareSpec(a, 'threads=two'))).toBe('ERR_OPTION_INVALID');
    expect(await codeOf(() => parseCompareSpec(a, 'busy-wait=maybe'))).toBe('ERR_OPTION_INVALID');
    expect(await codeOf(() => parseCompareSpec(a, 'ep=rocm'))).toBe('ERR_OPTION_INVALID');
    expect(await codeOf(() => parseCompareSpec(a, 'sync,batcher'))).toBe('ERR_OPTION_INVALID');
    expect(await codeOf(() => parseCompareSpec(a, ' '))).toBe('ERR_OPTION_INVALID');
  });
});

describe('describeTarget()', () => {
  it('tells the three ways of waiting for run() apart: polling throughout, never, and the default', () => {
    const line = (busyWait?: boolean) =>
      describeTarget(resolveTarget({ model: 'a.onnx', session: busyWait === undefined ? {} : { busyWait } }), ['cpu']);
    expect(line(true)).toMatch(/, busy-wait$/);
    expect(line(false)).toMatch(/, busy-wait off$/);
    expect(line()).not.toMatch(/busy-wait/);
  });
});

describe('benchModels()', () => {
  it('measures one model: ordered percentiles, one entry per block, throughput consistent with latency', async () => {
    const report = await benchModels([{ model: model('ctr_mlp') }], SHORT);
    expect(report).toMatchObject({ durationS: 0.5, repeats: 4, inputs: 'random', seed: 1 });
    expect(report.comparison).toBeUndefined();
    const [r] = report.results;
    expect(r).toMatchObject({ label: 'a', batch: 1, concurrency: 1, mode: 'async', executionProviders: ['cpu'] });
    expect(r!.blocks).toHaveLength(4);
    expect(r!.seconds).toBeGreaterThan(0.45);
    expectSane(r!);
  });

  it('keeps `concurrency` requests in flight through the batcher, and counts samples by the batch', async () => {
    const report = await benchModels([{ model: model('ctr_mlp'), mode: 'batcher', batch: 2, concurrency: 4 }], SHORT);
    const r = report.results[0]!;
    expect(r.description).toMatch(/batch 2, concurrency 4, batcher/);
    expect(r.samplesPerS).toBeCloseTo(2 * r.inferencesPerS, 6);
    expectSane(r);
  });

  it('compares a model with itself: both sides measured, a ratio and a verdict per metric', async () => {
    const report = await benchModels([{ model: model('ctr_mlp'), mode: 'sync' }, { model: model('ctr_mlp'), mode: 'sync' }], SHORT);
    expect(report.results.map((r) => r.label)).toEqual(['a', 'b']);
    report.results.forEach(expectSane);
    expect(report.comparison!.falseAlarmRate).toBeCloseTo(2 / 70, 12);
    expect(report.comparison!.metrics.map((m) => m.metric)).toEqual([...BENCH_METRICS]);
    for (const m of report.comparison!.metrics) {
      expect(m.ratio).toBeCloseTo(m.b / m.a, 12);
      expect(m.verdict).toMatch(/^(within noise|(faster|slower) by \d+\.\d %|\d+\.\dx (faster|slower))$/);
    }
  });

  it('finds batch 64 significantly slower per request than batch 1, and faster per sample', async () => {
    const a = { model: model('ctr_mlp'), mode: 'sync' as const, session: { intraOpNumThreads: 1 } };
    const report = await benchModels([a, { ...a, batch: 64 }], { ...SHORT, durationS: 0.8 });
    const p50 = report.comparison!.metrics.find((m) => m.metric === 'p50Ms')!;
    expect(p50.significant).toBe(true);
    expect(p50.ratio).toBeGreaterThan(2);
    expect(p50.verdict).toMatch(/slower/);
    expect(report.results[1]!.samplesPerS).toBeGreaterThan(report.results[0]!.samplesPerS);
  });

  it('sends samples from a file in turn, counting their rows as samples', async () => {
    const row = Array.from({ length: 64 }, (_, i) => i / 64);
    const file = join(tmp, 'samples.json');
    writeFileSync(file, JSON.stringify([{ x: { dims: [1, 64], data: row } }, { x: { dims: [3, 64], data: [...row, ...row, ...row] } }]));
    const report = await benchModels([{ model: model('ctr_mlp') }], { ...SHORT, inputs: file });
    const r = report.results[0]!;
    expect(report.inputs).toBe(file);
    expect(r.samples / r.requests).toBeCloseTo(2, 1); // 1 and 3 rows in turn
    expect(await codeOf(() => benchModels([{ model: model('ctr_mlp'), batch: 4 }], { ...SHORT, inputs: file }))).toBe('ERR_OPTION_INVALID');
  });

  it('refuses a missing model, a batch the model cannot take, and bad options, with their codes', async () => {
    expect(await codeOf(() => benchModels([{ model: join(tmp, 'missing.onnx') }], SHORT))).toBe('ERR_MODEL_NOT_FOUND');
    expect(await codeOf(() => benchModels([{ model: model('add_float32'), batch: 4 }], SHORT))).toBe('ERR_MODEL_NOT_BATCHABLE');
    expect(await codeOf(() => benchModels([{ model: model('bert_mini') }], SHORT))).toBe('ERR_OPTION_INVALID'); // needs --dim S
    expect(await codeOf(() => benchModels([{ model: model('ctr_mlp'), mode: 'sync', concurrency: 2 }], SHORT))).toBe('ERR_OPTION_INVALID');
    expect(await codeOf(() => benchModels([{ model: model('ctr_mlp'), maxQueueDelayUs: 100 }], SHORT))).toBe('ERR_OPTION_INVALID');
    expect(await codeOf(() => benchModels([{ model: model('ctr_mlp') }, { model: model('ctr_mlp') }], { ...SHORT, repeats: 3 }))).toBe('ERR_OPTION_INVALID');
    expect(await codeOf(() => benchModels([{ model: model('ctr_mlp') }], { durationS: 0 }))).toBe('ERR_OPTION_INVALID');
    expect(await codeOf(() => benchModels([], SHORT))).toBe('ERR_OPTION_INVALID');
  });
});

describe('ortex bench (CLI)', () => {
  beforeAll(() => {
    expect(existsSync(CLI), `${CLI} is missing: build with \`npx tsc -p .\``).toBe(true);
  });

  it('prints a JSON report', () => {
    const r = cli(model('ctr_mlp'), '--duration', '0.5', '--repeats', '3', '--warmup', '20', '--concurrency', '2', '--threads', '1', '--json');
    expect(r.status, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(report).toMatchObject({ durationS: 0.5, repeats: 3, warmup: { runs: 20 } });
    expect(report.results[0]).toMatchObject({ concurrency: 2, session: { intraOpNumThreads: 1 } });
    expectSane(report.results[0]);
  });

  it('prints both setups and the side-by-side table with --compare', () => {
    const r = cli(model('ctr_mlp'), '--duration', '0.5', '--repeats', '4', '--warmup', '0.1s', '--sync', '--compare', 'batch=64');
    expect(r.status, r.stderr).toBe(0);
    const lines = r.stdout.split('\n');
    expect(lines[0]).toMatch(/^a: ctr_mlp\.onnx: batch 1, concurrency 1, runSync\(\)/);
    expect(lines[1]).toMatch(/^b: ctr_mlp\.onnx: batch 64, concurrency 1, runSync\(\)/);
    expect(r.stdout).toMatch(/^metric +a +b +b\/a +a blocks +b blocks +verdict$/m);
    for (const name of ['p50 ms', 'p90 ms', 'p99 ms', 'mean ms', 'inferences/s', 'samples/s']) {
      expect(r.stdout).toMatch(new RegExp(`^${name} .*(within noise|faster|slower)$`, 'm'));
    }
  });

  it('exits 2 for usage errors, a bad --compare and a batch the model cannot take; 1 for a missing model', () => {
    const help = cli('--help');
    expect(help.status).toBe(0);
    for (const key of BENCH_SETTING_KEYS) expect(help.stdout).toContain(key);
    const exits = (status: number, stderr: RegExp, ...args: string[]) => {
      const r = cli(...args);
      expect(r.status, r.stderr).toBe(status);
      expect(r.stderr).toMatch(stderr);
    };
    exits(2, /bench takes one model file/);
    exits(2, /--duration expects a number of seconds/, model('ctr_mlp'), '--duration', 'soon');
    exits(2, /Unknown setting 'thread' in --compare/, model('ctr_mlp'), '--compare', 'thread=2');
    exits(2, /Expected an integer from 1 to 1024 for 'threads' in --compare/, model('ctr_mlp'), '--compare', 'threads=0');
    exits(2, /no dynamic first dimension/, model('add_float32'), '--batch', '4');
    exits(1, /does not exist/, join(tmp, 'missing.onnx'));
  });
});
