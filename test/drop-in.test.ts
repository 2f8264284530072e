import { describe, expect, it } from 'vitest';
import * as ortNode from 'onnxruntime-node';
import * as ortex from '../src/index.js';
import { model, randomFloats } from './helpers.js';

/**
 * A script written for onnxruntime-node, using the API surface such scripts use. It is run
 * unchanged with either module as `ort`.
 */
async function script(ort: typeof ortNode) {
  const session = await ort.InferenceSession.create(model('ctr_mlp'), {
    executionProviders: ['cpu'], graphOptimizationLevel: 'all', intraOpNumThreads: 1, logSeverityLevel: 3,
  });
  const meta = session.inputMetadata.map((m) => (m.isTensor ? { name: m.name, type: m.type, shape: m.shape } : m.name));
  const results: number[][] = [];
  for (const batch of [1, 3]) {
    const x = new ort.Tensor('float32', randomFloats(batch * 64, batch), [batch, 64]);
    const out = await session.run({ [session.inputNames[0]!]: x }, [session.outputNames[0]!]);
    const y = out[session.outputNames[0]!]!;
    results.push([...y.dims, ...Array.from(y.data as Float32Array)]);
  }
  const bytesSession = await ort.InferenceSession.create(new Uint8Array(await import('node:fs').then((fs) => fs.readFileSync(model('add_float32')))));
  const a = new ort.Tensor('float32', [1, 2, 3, 4, 5, 6], [2, 3]);
  const sum = (await bytesSession.run({ x: a, y: a })).z!;
  await session.release();
  await bytesSession.release();
  return { names: [session.inputNames, session.outputNames], meta, results, sum: Array.from(sum.data as Float32Array), sumType: sum.type };
}

describe('drop-in for onnxruntime-node', () => {
  it('runs an onnxruntime-node script unchanged with the same results', async () => {
    const expected = await script(ortNode);
    const actual = await script(ortex as unknown as typeof ortNode);
    expect(actual).toEqual(expected);
    expect(actual.sum).toEqual([2, 4, 6, 8, 10, 12]);
  });

  it('keeps output tensors valid after the session that made them is released', async () => {
    const s = await ortex.InferenceSession.create(model('ctr_mlp'));
    const outs = [];
    for (let i = 0; i < 50; i++) outs.push((await s.run({ x: new ortex.Tensor('float32', randomFloats(64 * 8, i), [8, 64]) })).y as ortex.Tensor);
    const before = outs.map((t) => Array.from(t.data as Float32Array));
    await s.release();
    // Churn the allocator a little, then read the outputs again.
    const other = await ortex.InferenceSession.create(model('ctr_mlp'));
    for (let i = 0; i < 50; i++) other.runSync({ x: new ortex.Tensor('float32', randomFloats(64 * 8, 100 + i), [8, 64]) });
    expect(outs.map((t) => Array.from(t.data as Float32Array))).toEqual(before);
    await other.release();
  });
});
