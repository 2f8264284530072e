/**
 * The same-process latency benchmark (bench/trial.ts 'paired'): the raw C loop inside Node
 * (build/Release/ortex_raw_bench.node) and how bench/report.ts pairs its rounds. The issue's
 * "runSync within 1 µs of raw C" is read from these figures, so they must pair what they say.
 */
import { describe, expect, it } from 'vitest';
import { rawLoopAddon } from '../bench/harness.js';
import { type PairedRepeat, pairedFigures, pairedTable } from '../bench/report.js';
import { summarize } from '../bench/stats.js';
import { PAIRED_RUNNERS, type PairedRunner, pairedOrder } from '../bench/trials.js';
import { model } from './helpers.js';

const { RawLoop } = rawLoopAddon();

describe('RawLoop (bench/native/raw_loop_addon.cc)', () => {
  it('times each call of the raw C loop into the slice it is given, and nothing outside it', () => {
    const raw = new RawLoop(model('ctr_mlp'), 1, 1, 64);
    const samples = new Float64Array(12).fill(-1);
    raw.time(samples, 2, 8);
    expect([...samples.subarray(0, 2), ...samples.subarray(10)]).toEqual([-1, -1, -1, -1]);
    for (const v of samples.subarray(2, 10)) {
      expect(v).toBeGreaterThan(0);
      expect(v).toBeLessThan(1e6);
    }
    expect(() => raw.time(samples, 8, 8)).toThrow(/exceeds the samples array/);
    const call = raw.bindCall();
    expect(call()).toBeUndefined();
    raw.release();
    expect(() => raw.time(samples, 0, 1)).toThrow(/released/);
    expect(() => call()).toThrow(/released/);
  });

  it('runs the model in each timed call: slow_matmul (~150 ms a run on one core) takes tens of ms', () => {
    const raw = new RawLoop(model('slow_matmul'), 1, 1, 64);
    const samples = new Float64Array(1);
    raw.time(samples, 0, 1);
    expect(samples[0]).toBeGreaterThan(20_000);
    raw.release();
  });

  it("fails with ONNX Runtime's message for a missing model, and refuses bad sizes before loading", () => {
    expect(() => new RawLoop(model('no_such_model'), 1, 1, 64)).toThrow(/RawLoop: CreateSession failed: .*no_such_model/);
    expect(() => new (RawLoop as unknown as new (...a: unknown[]) => unknown)(model('ctr_mlp'))).toThrow(TypeError);
    for (const [batch, threads, seq] of [[0, 1, 64], [Number.NaN, 1, 64], [1.5, 1, 64], [1, -1, 64], [1, 1, 0]]) {
      expect(() => new RawLoop(model('ctr_mlp'), batch!, threads!, seq!), `${batch} ${threads} ${seq}`).toThrow(RangeError);
    }
  });
});

describe('pairedOrder()', () => {
  it('puts each runner at each place once, and after every other runner once, in any run of rounds as long as the runners', () => {
    const n = PAIRED_RUNNERS.length;
    for (const start of [0, 3, 40]) {
      const rows = Array.from({ length: n }, (_, k) => pairedOrder(start + k));
      for (const row of rows) expect([...row].sort()).toEqual([...PAIRED_RUNNERS].sort());
      for (let place = 0; place < n; place++) expect(new Set(rows.map((row) => row[place])).size).toBe(n);
      const follows = new Set(rows.flatMap((row) => row.slice(1).map((r, k) => `${row[k]}>${r}`)));
      expect(follows.size).toBe(n * (n - 1));
    }
  });
});

/**
 * A repeat in which every runner's rounds are given, and its pooled summary made from them.
 * Each round's p99 is its p50 plus 10 µs for raw C and 11 µs for the others, so p99 pairs
 * differ from p50 pairs by 1 µs.
 */
function repeat(p50: Record<PairedRunner, number[]>): PairedRepeat {
  const rounds = {} as PairedRepeat['rounds'];
  const pooled = {} as PairedRepeat['pooled'];
  for (const r of PAIRED_RUNNERS) {
    rounds[r] = { p50: p50[r], p99: p50[r].map((v) => v + (r === 'raw-c' ? 10 : 11)) };
    pooled[r] = summarize(Float64Array.from(p50[r]));
  }
  return { rounds, pooled };
}

describe('pairedFigures()', () => {
  it('takes each round against raw C in the same round, not medians against medians', () => {
    // The host is slow in raw C's last three rounds; in the third repeat it is slow in only two
    // of runSync's, which still runs 0.6 µs over raw C in four rounds of five. The pooled p50s
    // (10.6 against 20) would say -9.4 µs; the rounds say +0.6.
    const raw = [10, 10, 20, 20, 20];
    const plus = (d: number) => raw.map((v) => v + d);
    const g = pairedFigures({
      label: 'ctr_mlp b1 t1',
      rounds: 5,
      block: 500,
      repeats: [
        repeat({ 'raw-c': raw, 'raw-c-js': plus(0.3), 'ortex-sync': plus(0.5), 'ortex-io-sync': plus(0.4) }),
        repeat({ 'raw-c': raw, 'raw-c-js': plus(0.3), 'ortex-sync': plus(0.7), 'ortex-io-sync': plus(0.4) }),
        repeat({ 'raw-c': raw, 'raw-c-js': plus(0.3), 'ortex-sync': [10.6, 10.6, 10.6, 20.6, 20.6], 'ortex-io-sync': plus(0.4) }),
      ],
    });
    const sync = g.p50OverRawUs['ortex-sync']!;
    expect(sync.median).toBeCloseTo(0.6, 9);
    expect(sync.min).toBeCloseTo(0.5, 9);
    expect(sync.max).toBeCloseTo(0.7, 9);
    expect(g.runners['ortex-sync']!.p50.min).toBeCloseTo(10.6, 9);
    expect(g.p50OverRawJsUs['ortex-sync']!.min).toBeCloseTo(0.2, 9);
    expect(g.p50OverRawUs['raw-c-js']!.median).toBeCloseTo(0.3, 9);
    expect(g.p99OverRawUs['ortex-io-sync']!.median).toBeCloseTo(1.4, 9);
    expect(g.p99OverRawUs['ortex-sync']!.median).toBeCloseTo(1.6, 9);
    expect(g.p50OverRawUs['raw-c']).toBeUndefined();
    expect(g.p50OverRawJsUs['raw-c-js']).toBeUndefined();

    const table = pairedTable([g]);
    expect(table).toContain('| ctr_mlp b1 t1 | ortex `runSync()` |');
    expect(table.split('\n')).toHaveLength(2 + PAIRED_RUNNERS.length);
  });

  it('gives no figures for a group that produced no repeat', () => {
    const g = pairedFigures({ label: 'x', rounds: 1, block: 1, repeats: [] });
    expect(g.runners).toEqual({});
    expect(pairedTable([g]).split('\n')).toHaveLength(2);
  });
});
