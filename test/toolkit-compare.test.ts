// compareModels(): the numbers `ortex compare` reports, on models whose answer is known.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { compareModels } from '../src/toolkit/compare.js';
import { OutputMetrics } from '../src/toolkit/output-metrics.js';
import { codeOf, model } from './helpers.js';

const tmp = mkdtempSync(join(tmpdir(), 'ortex-compare-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('compareModels()', () => {
  it('finds a model identical to itself: full agreement, zero error, equal bytes', async () => {
    const r = await compareModels(model('bert_mini'), model('bert_mini'), { random: 40, dims: { S: 8 }, latencyRuns: 5, warmup: 1, batchSizes: [1, 4] });
    expect(r.samples).toBe(40);
    expect(r.outputs).toEqual([
      { name: 'logits', elements: 40 * 65, top1Agreement: 1, maxAbsError: 0, meanAbsError: 0, maxRelError: 0, cosine: expect.closeTo(1, 6), minCosine: expect.closeTo(1, 6) },
    ]);
    expect(r.sizeRatio).toBe(1);
    expect(r.latency.map((l) => l.batch)).toEqual([1, 4]);
    expect(r.latency.every((l) => l.a.p50Ms > 0 && l.b.p99Ms >= l.b.p50Ms)).toBe(true);
  });

  it('reads samples from a JSON file', async () => {
    const sample = { x: { dims: [1, 64], data: Array.from({ length: 64 }, (_, i) => i / 64) } };
    writeFileSync(join(tmp, 'samples.json'), JSON.stringify([sample, sample, sample]));
    const r = await compareModels(model('ctr_mlp'), model('ctr_mlp'), { inputs: join(tmp, 'samples.json'), latencyRuns: 3, warmup: 1 });
    expect(r.samples).toBe(3);
    expect(r.inputs).toBe(join(tmp, 'samples.json'));
    writeFileSync(join(tmp, 'bad.json'), JSON.stringify([{ y: {} }]));
    expect(await codeOf(() => compareModels(model('ctr_mlp'), model('ctr_mlp'), { inputs: join(tmp, 'bad.json') }))).toBe('ERR_INPUT_MISSING');
  });

  it('refuses models with different inputs, and bad options', async () => {
    expect(await codeOf(() => compareModels(model('ctr_mlp'), model('bert_mini'), { random: 4, dims: { S: 4 } }))).toBe('ERR_COMPARE_MISMATCH');
    expect(await codeOf(() => compareModels(model('ctr_mlp'), model('ctr_mlp'), { random: 0 }))).toBe('ERR_OPTION_INVALID');
    expect(await codeOf(() => compareModels(model('bert_mini'), model('bert_mini'), { random: 4 }))).toBe('ERR_OPTION_INVALID');
  });
});

describe('OutputMetrics', () => {
  it('counts a row as agreeing only when both argmaxes match, and scales relative error by the largest reference value', () => {
    const m = new OutputMetrics('y');
    m.add([1, 2, 3, 4, 0, 0], [1, 2, 2.5, 3, 3.5, 0], 3);
    const r = m.result();
    expect(r.top1Agreement).toBe(0.5); // row 1: class 2 in both; row 2: class 0 vs class 1
    expect(r.maxAbsError).toBe(3.5);
    expect(r.maxRelError).toBe(3.5 / 4);
    expect(r.meanAbsError).toBeCloseTo(5 / 6, 12);
  });
});
