/**
 * The same-process latency benchmark (bench/trial.ts 'paired'): the raw C loop inside Node
 * (build/Release/ortex_raw_bench.node) and how bench/report.ts pairs its rounds. The issue's
 * "runSync within 1 µs of raw C" is read from these figures, so they must pair what they say.
 */
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { type PairedRepeat, pairedFigures, pairedTable } from '../bench/report.js';
import { summarize } from '../bench/stats.js';
import { PAIRED_RUNNERS, type PairedRunner } from '../bench/trials.js';
import { model } from './helpers.js';

interface RawLoop {
  time(samplesUs: Float64Array, offset: number, count: number): void;
  bindCall(): () => void;
  release(): void;
}
const { RawLoop } = createRequire(import.meta.url)(fileURLToPath(new URL('../build/Release/ortex_raw_bench.node', import.meta.url))) as {
  RawLoop: new (path: string, batch: number, threads: number, seqLen: number) => RawLoop;
};

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

  it("fails with ONNX Runtime's message for a missing model and for bad arguments", () => {
    expect(() => new RawLoop(model('no_such_model'), 1, 1, 64)).toThrow(/RawLoop: CreateSession failed: .*no_such_model/);
    expect(() => new (RawLoop as unknown as new (...a: unknown[]) => RawLoop)(model('ctr_mlp'))).toThrow(TypeError);
  });
});

/** A repeat in which every runner's rounds are given, and its pooled summary made from them. */
function repeat(p50: Record<PairedRunner, number[]>, p99Offset = 10): PairedRepeat {
  const rounds = {} as PairedRepeat['rounds'];
  const pooled = {} as PairedRepeat['pooled'];
  for (const r of PAIRED_RUNNERS) {
    rounds[r] = { p50: p50[r], p99: p50[r].map((v) => v + p99Offset) };
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
    expect(g.p99OverRawUs['ortex-io-sync']!.median).toBeCloseTo(0.4, 9);
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
