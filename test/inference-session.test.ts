import { readFileSync, writeFileSync, mkdtempSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as ortNode from 'onnxruntime-node';
import { InferenceSession, Tensor, OrtexError, httpStatusOf } from '../src/index.js';
import { freeResultSlots } from '../src/inference-session.js';
import { DataType, GraphBuilder, attr, onnx, optionalType, tensorType } from '../models/builder.js';
import { codeOf, model, randomFloats } from './helpers.js';

const tmp = mkdtempSync(join(tmpdir(), 'ortex-session-'));

describe('InferenceSession.create()', () => {
  it('loads from a path, from bytes and from an ArrayBuffer slice', async () => {
    const bytes = readFileSync(model('ctr_mlp'));
    const padded = new Uint8Array(bytes.length + 16);
    padded.set(bytes, 8);
    const sessions = [
      await InferenceSession.create(model('ctr_mlp')),
      await InferenceSession.create(new Uint8Array(bytes)),
      await InferenceSession.create(padded.buffer, 8, bytes.length),
    ];
    for (const s of sessions) {
      expect(s.inputNames).toEqual(['x']);
      expect(s.outputNames).toEqual(['y']);
      await s.release();
    }
  });

  it('reports metadata with symbolic dims', async () => {
    const s = await InferenceSession.create(model('ctr_mlp'));
    expect(s.inputMetadata).toEqual([{ name: 'x', isTensor: true, type: 'float32', shape: ['N', 64], valueType: 'tensor(float)' }]);
    expect(s.outputMetadata[0]).toMatchObject({ name: 'y', isTensor: true, type: 'float32', shape: ['N', 1] });
    await s.release();
  });

  it('fails with ERR_MODEL_NOT_FOUND for a missing file or a directory', async () => {
    expect(await codeOf(() => InferenceSession.create(join(tmp, 'missing.onnx')))).toBe('ERR_MODEL_NOT_FOUND');
    expect(await codeOf(() => InferenceSession.create(tmp))).toBe('ERR_MODEL_NOT_FOUND');
  });

  it('fails with ERR_MODEL_INVALID for a truncated model, a non-ONNX file and empty bytes', async () => {
    const bytes = readFileSync(model('ctr_mlp'));
    writeFileSync(join(tmp, 'truncated.onnx'), bytes.subarray(0, Math.floor(bytes.length / 3)));
    writeFileSync(join(tmp, 'text.onnx'), 'this is not a model\n'.repeat(20));
    for (const f of ['truncated.onnx', 'text.onnx']) {
      const err = await InferenceSession.create(join(tmp, f)).catch((e) => e);
      expect(err).toBeInstanceOf(OrtexError);
      expect(err.code).toBe('ERR_MODEL_INVALID');
      expect(err.message).toContain(f);
      expect(httpStatusOf(err)).toBe(422);
    }
    expect(await codeOf(() => InferenceSession.create(new Uint8Array(0)))).toBe('ERR_MODEL_INVALID');
  });

  it('rejects unknown and ill-typed options before loading', async () => {
    expect(await codeOf(() => InferenceSession.create(model('ctr_mlp'), { intraOpThreads: 2 } as object))).toBe('ERR_OPTION_INVALID');
    expect(await codeOf(() => InferenceSession.create(model('ctr_mlp'), { graphOptimizationLevel: 'max' as 'all' }))).toBe('ERR_OPTION_INVALID');
    expect(await codeOf(() => InferenceSession.create(model('ctr_mlp'), { intraOpNumThreads: -1 }))).toBe('ERR_OPTION_INVALID');
  });
});

describe('InferenceSession#run()', () => {
  let s: InferenceSession;
  let ref: ortNode.InferenceSession;
  beforeAll(async () => {
    s = await InferenceSession.create(model('ctr_mlp'), { intraOpNumThreads: 1 });
    ref = await ortNode.InferenceSession.create(model('ctr_mlp'), { intraOpNumThreads: 1 });
  });
  afterAll(async () => {
    await s.release();
    await ref.release();
  });

  it('gives the same outputs as onnxruntime-node, async and sync', async () => {
    for (const n of [1, 7, 32]) {
      const data = randomFloats(n * 64, n);
      const expected = (await ref.run({ x: new ortNode.Tensor('float32', data, [n, 64]) })).y!;
      const x = new Tensor('float32', data, [n, 64]);
      const a = (await s.run({ x })).y as Tensor;
      const b = s.runSync({ x }).y as Tensor;
      expect(a.dims).toEqual([n, 1]);
      expect(Array.from(a.data as Float32Array)).toEqual(Array.from(expected.data as Float32Array));
      expect(Array.from(b.data as Float32Array)).toEqual(Array.from(expected.data as Float32Array));
    }
  });

  it('accepts onnxruntime-common tensors and plain { type, data, dims } objects as feeds', async () => {
    const data = randomFloats(64);
    const a = (await s.run({ x: new ortNode.Tensor('float32', data, [1, 64]) })).y as Tensor;
    const b = (await s.run({ x: { type: 'float32', data, dims: [1, 64] } })).y as Tensor;
    expect(a.data).toEqual(b.data);
  });

  it('is not affected by the caller mutating its input while the run is in flight', async () => {
    const data = randomFloats(64 * 4, 9);
    const expected = s.runSync({ x: new Tensor('float32', data.slice(), [4, 64]) }).y as Tensor;
    const pending = s.run({ x: new Tensor('float32', data, [4, 64]) });
    data.fill(123);
    const got = (await pending).y as Tensor;
    expect(Array.from(got.data as Float32Array)).toEqual(Array.from(expected.data as Float32Array));
  });

  it('returns only the outputs named in fetches', async () => {
    const out = await s.run({ x: new Tensor('float32', randomFloats(64), [1, 64]) }, ['y']);
    expect(Object.keys(out)).toEqual(['y']);
    expect(await codeOf(() => s.run({ x: new Tensor('float32', randomFloats(64), [1, 64]) }, ['nope']))).toBe('ERR_OUTPUT_NAME');
  });

  it('writes into a pre-allocated fetch tensor', async () => {
    const y = new Tensor('float32', new Float32Array(1), [1, 1]);
    const out = await s.run({ x: new Tensor('float32', randomFloats(64), [1, 64]) }, { y });
    expect(out.y).toBe(y);
    expect(y.data[0]).toBeGreaterThan(0);
  });

  const x = () => new Tensor('float32', randomFloats(64), [1, 64]);
  const cases: Array<[string, () => Record<string, unknown>, string, RegExp]> = [
    ['an unknown input name', () => ({ x: x(), z: x() }), 'ERR_INPUT_NAME', /Unknown input 'z'; the model's inputs are: x/],
    ['a missing input', () => ({}), 'ERR_INPUT_MISSING', /Missing input 'x'/],
    ['a float64 feed for a float32 input', () => ({ x: new Tensor('float64', new Float64Array(64), [1, 64]) }), 'ERR_INPUT_TYPE', /Expected a float32 tensor for input 'x' but received a float64 tensor/],
    ['data of the wrong TypedArray kind', () => ({ x: { type: 'float32', data: new Int32Array(64), dims: [1, 64] } }), 'ERR_INPUT_TYPE', /Expected Float32Array/],
    ['the wrong rank', () => ({ x: new Tensor('float32', randomFloats(64), [64]) }), 'ERR_INPUT_SHAPE', /Expected rank 2 \[N,64\] for input 'x' but received rank 1 \[64\]/],
    ['a wrong fixed dimension', () => ({ x: new Tensor('float32', randomFloats(63), [1, 63]) }), 'ERR_INPUT_SHAPE', /dim 1 must be 64/],
    ['data length not matching dims', () => ({ x: { type: 'float32', data: new Float32Array(60), dims: [1, 64] } }), 'ERR_INPUT_DATA_LENGTH', /Expected 64 elements .* but received 60/],
    ['non-finite dims', () => ({ x: { type: 'float32', data: new Float32Array(64), dims: [Infinity, 64] } }), 'ERR_INPUT_SHAPE', /non-negative integer dims/],
    ['negative dims', () => ({ x: { type: 'float32', data: new Float32Array(64), dims: [-1, 64] } }), 'ERR_INPUT_SHAPE', /non-negative integer dims/],
    ['a non-tensor feed', () => ({ x: 42 }), 'ERR_INPUT_TYPE', /Expected a float32 tensor for input 'x' but received number 42/],
  ];
  for (const [what, feeds, code, message] of cases) {
    it(`rejects ${what} with ${code}, in run() and runSync(), and keeps serving`, async () => {
      const err = await s.run(feeds() as never).catch((e) => e);
      expect(err.code).toBe(code);
      expect(err.message).toMatch(message);
      expect(httpStatusOf(err)).toBe(400);
      let syncErr: { code?: string } | undefined;
      try {
        s.runSync(feeds() as never);
      } catch (e) {
        syncErr = e as { code?: string };
      }
      expect(syncErr?.code).toBe(code);
      expect(((await s.run({ x: x() })).y as Tensor).dims).toEqual([1, 1]);
    });
  }

  it('rejects feeds that are not an object', async () => {
    expect(await codeOf(() => s.run(null as never))).toBe('ERR_INPUT_TYPE');
    expect(await codeOf(() => s.run([] as never))).toBe('ERR_INPUT_TYPE');
  });
});

/** a: float [N] and w: string [N], each passed through: user JS (a getter on w's data) can run inside a call. */
function numberAndWordModel(): string {
  const path = join(tmp, 'number_and_word.onnx');
  if (existsSync(path)) return path;
  const g = new GraphBuilder('number_and_word');
  const a = g.input('a', tensorType(DataType.FLOAT, ['N']));
  const w = g.input('w', tensorType(DataType.STRING, ['N']));
  g.node('Identity', [a], { outputs: ['a_out'] });
  g.node('Identity', [w], { outputs: ['w_out'] });
  g.output('a_out', tensorType(DataType.FLOAT, ['N']));
  g.output('w_out', tensorType(DataType.STRING, ['N']));
  writeFileSync(path, g.encode());
  return path;
}

describe('InferenceSession#runSync() outputs', () => {
  // Small outputs come back through a byte buffer each session reuses (the synchronous fast
  // path copies them there for JS to slice out); larger ones, or those past its end, come as
  // arrays of their own. Either way each result must be the caller's alone.
  it('are the caller\'s own, small or large, whatever a later call computes', async () => {
    const g = new GraphBuilder('outputs_of_sizes');
    const a = g.input('a', tensorType(DataType.FLOAT, ['N']));
    g.node('Identity', [a], { outputs: ['same'] });
    g.node('Cast', [a], { outputs: ['wide'], attrs: { to: attr.int(DataType.INT64) } });
    g.node('Neg', [a], { outputs: ['neg'] });
    g.node('Greater', [a, g.floats('zero', [], new Float32Array([0]))], { outputs: ['positive'] });
    g.output('same', tensorType(DataType.FLOAT, ['N']));
    g.output('wide', tensorType(DataType.INT64, ['N']));
    g.output('neg', tensorType(DataType.FLOAT, ['N']));
    g.output('positive', tensorType(DataType.BOOL, ['N']));
    const path = join(tmp, 'outputs_of_sizes.onnx');
    writeFileSync(path, g.encode());
    const s = await InferenceSession.create(path);
    // 3 elements: all four outputs through the reused buffer; 1,000: 'same' and 'neg' through it, 'wide' (8,000 bytes)
    // too large and 'positive' past its end; 5,000: none of them.
    for (const n of [3, 1000, 5000]) {
      const a1 = Float32Array.from({ length: n }, (_, i) => i - n / 2 + 0.5);
      const a2 = Float32Array.from({ length: n }, (_, i) => 7 * i + 1);
      const r1 = s.runSync({ a: new Tensor('float32', a1, [n]) });
      const first = Object.fromEntries(Object.entries(r1).map(([k, t]) => [k, Array.from(t.data as ArrayLike<unknown>)]));
      const r2 = s.runSync({ a: new Tensor('float32', a2, [n]) });
      for (const [r, x] of [[r1, a1], [r2, a2]] as const) {
        expect(Object.keys(r)).toEqual(['same', 'wide', 'neg', 'positive']);
        expect(r.same!.data).toBeInstanceOf(Float32Array);
        expect(Array.from(r.same!.data as Float32Array)).toEqual(Array.from(x));
        expect(r.wide!.type).toBe('int64');
        expect(Array.from(r.wide!.data as BigInt64Array)).toEqual(Array.from(x, (v) => BigInt(Math.trunc(v))));
        expect(Array.from(r.neg!.data as Float32Array)).toEqual(Array.from(x, (v) => -v));
        expect(r.positive!.type).toBe('bool');
        expect(Array.from(r.positive!.data as Uint8Array)).toEqual(Array.from(x, (v) => (v > 0 ? 1 : 0)));
        for (const t of Object.values(r)) expect(t.dims).toEqual([n]);
      }
      // The second call changed nothing of the first's results.
      expect(Object.fromEntries(Object.entries(r1).map(([k, t]) => [k, Array.from(t.data as ArrayLike<unknown>)]))).toEqual(first);
      // Each output has its own memory: writing one changes no other result.
      (r2.same!.data as Float32Array).fill(-1);
      expect(Array.from(r2.neg!.data as Float32Array)).toEqual(Array.from(a2, (v) => -v));
      expect(Array.from(r1.same!.data as Float32Array)).toEqual(Array.from(a1));
    }
    await s.release();
  });

  it('are right when user code run inside the call (a getter on a string feed) makes a runSync() of its own', async () => {
    const outer = await InferenceSession.create(numberAndWordModel());
    const inner = await InferenceSession.create(model('ctr_mlp'), { intraOpNumThreads: 1 });
    const innerX = new Tensor('float32', randomFloats(64), [1, 64]);
    const expected = (inner.runSync({ x: innerX }).y!.data as Float32Array)[0];
    const nested: number[] = [];
    const words = ['one', 'two'];
    // The string data is read element by element while the outer call is being prepared.
    Object.defineProperty(words, 1, { enumerable: true, get: () => { nested.push((inner.runSync({ x: innerX }).y!.data as Float32Array)[0]!); return 'two'; } });
    const r = outer.runSync({ a: new Tensor('float32', new Float32Array([1.5, -2]), [2]), w: new Tensor('string', words, [2]) });
    expect(nested.length).toBeGreaterThan(0);
    for (const v of nested) expect(v).toBe(expected);
    expect(Array.from(r.a_out!.data as Float32Array)).toEqual([1.5, -2]);
    expect(r.w_out!.data).toEqual(['one', 'two']);
    await outer.release();
    await inner.release();
  });
});

describe('InferenceSession#run() results through the session\'s result slots', () => {
  // A run()'s small outputs come back through one of a few slots the session shares with the
  // native side, read when its promise settles; runs beyond the slots get arrays of their own.

  it('gives each of many runs in flight its own outputs, small and large, and results stay as they were', async () => {
    const s = await InferenceSession.create(model('identity_float32'), { intraOpNumThreads: 1 });
    // Sizes across the slot's bytes (8 KiB): 1 to 4,000 floats.
    const sizes = [1, 7, 64, 300, 1000, 2047, 2048, 2049, 4000];
    const inputs = Array.from({ length: 40 }, (_, i) => {
      const n = sizes[i % sizes.length]!;
      return new Tensor('float32', randomFloats(n, 100 + i), [1, n]);
    });
    for (let wave = 0; wave < 3; wave++) {
      const outs = await Promise.all(inputs.map((x) => s.run({ x })));
      outs.forEach((o, i) => {
        expect(o.y!.dims).toEqual(inputs[i]!.dims);
        expect(o.y!.data).toEqual(inputs[i]!.data);
      });
      // A result held on to is not overwritten by the runs that reuse its slot.
      const held = outs.map((o) => Float32Array.from(o.y!.data as Float32Array));
      await Promise.all(inputs.slice().reverse().map((x) => s.run({ x })));
      for (let i = 0; i < 10; i++) await s.run({ x: inputs[(i * 7) % inputs.length]! });
      outs.forEach((o, i) => expect(o.y!.data).toEqual(held[i]));
    }
    // With nothing in flight, every slot is free again.
    expect(freeResultSlots(s)).toBe(4);
    await s.release();
  });

  it('returns every output, or the ones fetched in their order, for runs in flight together, as runSync() does', async () => {
    const s = await InferenceSession.create(model('token_tagger'), { intraOpNumThreads: 1 });
    const feeds = (seq: number, seed: number) => ({
      input_ids: new Tensor('int64', BigInt64Array.from({ length: seq }, (_, i) => BigInt((i * 31 + seed * 17) % 200)), [1, seq]),
      attention_mask: new Tensor('int64', new BigInt64Array(seq).fill(1n), [1, seq]),
    });
    // seq 300: tags hold 9,600 bytes, more than a slot; seq 8: 256 bytes.
    const cases = Array.from({ length: 12 }, (_, i) => feeds(i % 3 === 0 ? 300 : 8 + i, i));
    const expected = cases.map((f) => s.runSync(f));
    const all = await Promise.all(cases.map((f) => s.run(f)));
    const picked = await Promise.all(cases.map((f) => s.run(f, ['pooled', 'tags'])));
    const onlyPooled = await Promise.all(cases.map((f) => s.run(f, ['pooled'])));
    cases.forEach((_, i) => {
      for (const name of ['tags', 'pooled']) {
        expect(all[i]![name]!.dims).toEqual(expected[i]![name]!.dims);
        expect(all[i]![name]!.data).toEqual(expected[i]![name]!.data);
        expect(picked[i]![name]!.data).toEqual(expected[i]![name]!.data);
      }
      expect(Object.keys(picked[i]!)).toEqual(['pooled', 'tags']);
      expect(Object.keys(onlyPooled[i]!)).toEqual(['pooled']);
      expect(onlyPooled[i]!.pooled!.data).toEqual(expected[i]!.pooled!.data);
    });
    await s.release();
  });

  it('gives back the slot of a run ONNX Runtime fails, while runs beside it succeed', async () => {
    // Reshape to a shape given as an input: a count that does not match fails inside ORT,
    // after the run took its slot.
    const g = new GraphBuilder('reshape_to');
    const a = g.input('a', tensorType(DataType.FLOAT, ['N']));
    const shape = g.input('shape', tensorType(DataType.INT64, [2]));
    g.node('Reshape', [a, shape], { outputs: ['r'] });
    g.node('Neg', [a], { outputs: ['neg'] });
    g.output('r', tensorType(DataType.FLOAT, ['R', 'C']));
    g.output('neg', tensorType(DataType.FLOAT, ['N']));
    const path = join(tmp, 'reshape_to.onnx');
    writeFileSync(path, g.encode());
    const s = await InferenceSession.create(path, { intraOpNumThreads: 1 });
    const feeds = (i: number, ok: boolean) => ({
      a: new Tensor('float32', Float32Array.from({ length: 12 }, (_, k) => i * 100 + k), [12]),
      shape: new Tensor('int64', ok ? BigInt64Array.from([3n, 4n]) : BigInt64Array.from([5n, 5n]), [2]),
    });
    for (let wave = 0; wave < 5; wave++) {
      const runs = Array.from({ length: 16 }, (_, i) => s.run(feeds(i, i % 3 !== 0)).then((o) => o, (e: unknown) => e));
      const outs = await Promise.all(runs);
      outs.forEach((o, i) => {
        if (i % 3 === 0) {
          expect((o as OrtexError).code).toMatch(/^ERR_ORT_/);
          return;
        }
        const r = o as Record<string, Tensor>;
        expect(r.r!.dims).toEqual([3, 4]);
        expect(Array.from(r.r!.data as Float32Array)).toEqual(Array.from({ length: 12 }, (_, k) => i * 100 + k));
        expect(Array.from(r.neg!.data as Float32Array)).toEqual(Array.from({ length: 12 }, (_, k) => -(i * 100 + k)));
      });
      // The failed runs gave their slots back.
      expect(freeResultSlots(s)).toBe(4);
    }
    await s.release();
  });
});

// A runSync() of the same shape as the last reuses its input OrtValues (same address and size)
// and hands its small outputs' OrtValues back to ORT to write into (native/sync_reuse.h).
// Nothing of that may show: each result is what a fresh run computes.
describe('InferenceSession#runSync() after a call of the same shape', () => {
  it('follows the inputs: the same array changed in place, another array, another batch, a view at an offset', async () => {
    const s = await InferenceSession.create(model('ctr_mlp'), { intraOpNumThreads: 1 });
    const fresh = (x: Tensor) => s.run({ x }).then((r) => Array.from(r.y!.data as Float32Array));
    const own = new Float32Array(64 * 3);
    const feeds: Array<() => Tensor> = [
      () => new Tensor('float32', own.subarray(0, 64), [1, 64]),
      () => new Tensor('float32', own.subarray(0, 64).fill(0.25), [1, 64]), // same address, new values
      () => new Tensor('float32', own.subarray(0, 64).fill(-0.5), [1, 64]),
      () => new Tensor('float32', randomFloats(64), [1, 64]), // another array
      () => new Tensor('float32', own.subarray(64, 128).fill(0.75), [1, 64]), // another address, same shape
      () => new Tensor('float32', own.subarray(0, 128), [2, 64]), // another batch, overlapping the first
      () => new Tensor('float32', own.subarray(0, 64).fill(0.125), [1, 64]),
      () => new Tensor('float32', own.subarray(0, 64), [1, 64]),
    ];
    for (const [i, make] of feeds.entries()) {
      const x = make();
      const got = Array.from(s.runSync({ x }).y!.data as Float32Array);
      expect(got, `call ${i}`).toEqual(await fresh(x));
      expect(got.length).toBe(x.dims[0]);
    }
    await s.release();
  });

  it('takes each feed by its name in whatever order the feeds object lists them, call after call', async () => {
    // y = Concat(a, b, c): any feed taken for another input shows in y.
    const g = new GraphBuilder('concat3');
    const names = ['a', 'b', 'c'];
    const ins = names.map((n) => g.input(n, tensorType(DataType.FLOAT, [1])));
    g.node('Concat', ins, { outputs: ['y'], attrs: { axis: attr.int(0) } });
    g.output('y', tensorType(DataType.FLOAT, [3]));
    const s = await InferenceSession.create(g.encode(), { intraOpNumThreads: 1 });
    const t = (v: number) => new Tensor('float32', new Float32Array([v]), [1]);
    const orders = [['a', 'b', 'c'], ['c', 'a', 'b'], ['a', 'c', 'b'], ['b', 'a', 'c'], ['a', 'b', 'c']];
    for (const [i, order] of orders.entries()) {
      const feeds: Record<string, Tensor> = {};
      for (const n of order) feeds[n] = t(names.indexOf(n) + 10 * i);
      const want = [0, 1, 2].map((k) => k + 10 * i);
      expect(Array.from(s.runSync(feeds).y!.data as Float32Array), order.join('')).toEqual(want);
      expect(Array.from((await s.run(feeds)).y!.data as Float32Array), order.join('')).toEqual(want);
    }
    await s.release();
  });

  it('are right when a getter on the feeds object runs the same session while the call reads its feeds', async () => {
    const g = new GraphBuilder('concat3_getter');
    const ins = ['a', 'b', 'c'].map((n) => g.input(n, tensorType(DataType.FLOAT, [1])));
    g.node('Concat', ins, { outputs: ['y'], attrs: { axis: attr.int(0) } });
    g.output('y', tensorType(DataType.FLOAT, [3]));
    const s = await InferenceSession.create(g.encode(), { intraOpNumThreads: 1 });
    const t = (v: number) => new Tensor('float32', new Float32Array([v]), [1]);
    const ys = (r: Record<string, Tensor | null>) => Array.from(r.y!.data as Float32Array);
    let inner: number[] = [];
    let innerAsync: Promise<Record<string, Tensor | null>> | undefined;
    // The getter of 'b' runs after 'a' has been read and its descriptor written.
    const feeds = {
      a: t(1),
      get b() {
        inner = ys(s.runSync({ a: t(100), b: t(101), c: t(102) }));
        innerAsync = s.run({ a: t(200), b: t(201), c: t(202) });
        return t(2);
      },
      c: t(3),
    };
    expect(ys(s.runSync(feeds))).toEqual([1, 2, 3]);
    expect(inner).toEqual([100, 101, 102]);
    expect(ys(await innerAsync!)).toEqual([200, 201, 202]);
    expect(ys(await s.run(feeds))).toEqual([1, 2, 3]);
    expect(inner).toEqual([100, 101, 102]);
    expect(ys(await innerAsync!)).toEqual([200, 201, 202]);
    // A getter on a tensor's dims, read while its descriptor is written, and a nested call
    // that throws, which the getter catches.
    const c = t(3);
    let thrown = '';
    Object.defineProperty(c, 'dims', {
      get() {
        try {
          s.runSync({ a: t(1) } as never);
        } catch (err) {
          thrown = (err as { code?: string }).code ?? '';
        }
        inner = ys(s.runSync({ a: t(300), b: t(301), c: t(302) }));
        return [1];
      },
    });
    expect(ys(s.runSync({ a: t(1), b: t(2), c }))).toEqual([1, 2, 3]);
    expect(thrown).toBe('ERR_INPUT_MISSING');
    expect(inner).toEqual([300, 301, 302]);
    // And the fast path is back for the next call.
    expect(ys(s.runSync({ a: t(7), b: t(8), c: t(9) }))).toEqual([7, 8, 9]);
    await s.release();
  });

  it('are right when an output\'s shape depends on the input values (NonZero), call after call', async () => {
    const g = new GraphBuilder('nonzero');
    const a = g.input('a', tensorType(DataType.FLOAT, [6]));
    g.node('NonZero', [a], { outputs: ['where'] });
    g.node('Neg', [a], { outputs: ['neg'] });
    g.output('where', tensorType(DataType.INT64, [1, 'K']));
    g.output('neg', tensorType(DataType.FLOAT, [6]));
    const path = join(tmp, 'nonzero.onnx');
    writeFileSync(path, g.encode());
    const s = await InferenceSession.create(path);
    const a1 = new Float32Array(6);
    for (const values of [[0, 1, 0, 1, 0, 0], [0, 1, 0, 1, 0, 0], [1, 1, 1, 0, 0, 2], [0, 0, 0, 0, 0, 0], [3, 0, 0, 0, 0, 0], [3, 0, 0, 0, 0, 0]]) {
      a1.set(values); // the same array each time: only the values change, never the shape given
      const r = s.runSync({ a: new Tensor('float32', a1, [6]) });
      const where = values.flatMap((v, i) => (v !== 0 ? [BigInt(i)] : []));
      expect(r.where!.dims).toEqual([1, where.length]);
      expect(Array.from(r.where!.data as BigInt64Array)).toEqual(where);
      expect(Array.from(r.neg!.data as Float32Array)).toEqual(values.map((v) => -v));
    }
    await s.release();
  });

  it('are right for outputs that are a graph input or a constant', async () => {
    const g = new GraphBuilder('passthrough');
    const a = g.input('a', tensorType(DataType.FLOAT, ['N']));
    g.node('Identity', [g.floats('k', [2], new Float32Array([4, 5]))], { outputs: ['c'] });
    g.node('Abs', [a], { outputs: ['abs'] });
    g.output('a', tensorType(DataType.FLOAT, ['N']));
    g.output('c', tensorType(DataType.FLOAT, [2]));
    g.output('abs', tensorType(DataType.FLOAT, ['N']));
    const path = join(tmp, 'passthrough.onnx');
    writeFileSync(path, g.encode());
    const s = await InferenceSession.create(path);
    for (const x of [[1, -2, 3], [-4, 5, -6], [-4, 5, -6], [7, 8, -9]]) {
      const r = s.runSync({ a: new Tensor('float32', Float32Array.from(x), [3]) });
      expect(Array.from(r.a!.data as Float32Array)).toEqual(x);
      expect(Array.from(r.c!.data as Float32Array)).toEqual([4, 5]);
      expect(Array.from(r.abs!.data as Float32Array)).toEqual(x.map(Math.abs));
    }
    await s.release();
  });

  it('are right for an optional output an If makes present or None, call after call (run() too)', async () => {
    // Found in review: ORT answers a None with a value of its own and leaves a preallocated
    // output as it was (so it came back stale), and the fast paths crashed reading its shape.
    const g = new GraphBuilder('maybe');
    g.input('a', tensorType(DataType.FLOAT, [2]));
    const c = g.input('c', tensorType(DataType.BOOL, []));
    const optional = optionalType(tensorType(DataType.FLOAT, [2]));
    const branch = (name: string, node: object) => ({
      type: onnx.AttributeProto.AttributeType.GRAPH,
      g: onnx.GraphProto.create({ name, node: [node], output: [{ name: `${name}_y`, type: optional }] }),
    });
    const none = { name: 'type', type: onnx.AttributeProto.AttributeType.TYPE_PROTO, tp: tensorType(DataType.FLOAT, [2]) };
    g.node('If', [c], {
      outputs: ['y'],
      attrs: {
        then_branch: branch('then', { opType: 'Optional', input: ['a'], output: ['then_y'] }),
        else_branch: branch('else', { opType: 'Optional', input: [], output: ['else_y'], attribute: [none] }),
      },
    });
    g.output('y', optional);
    const s = await InferenceSession.create(g.encode());
    for (const [i, present] of [true, false, true, false, false, true].entries()) {
      const feeds = { a: new Tensor('float32', Float32Array.from([i, -i]), [2]), c: new Tensor('bool', Uint8Array.from([present ? 1 : 0]), []) };
      for (const r of [s.runSync(feeds), await s.run(feeds)]) {
        if (present) expect(Array.from((r.y as Tensor).data as Float32Array), `call ${i}`).toEqual([i, -i]);
        else expect(r.y, `call ${i}`).toBeNull();
      }
    }
    await s.release();
  });

  it('are right when user code inside the call runs the same session, sync or async', async () => {
    const s = await InferenceSession.create(numberAndWordModel());
    const nested: Array<Record<string, unknown>> = [];
    const pending: Array<Promise<Record<string, unknown>>> = [];
    const inner = () => ({ w: new Tensor('string', ['x', 'y', 'z'], [3]), a: new Tensor('float32', new Float32Array([7, 8, 9]), [3]) });
    const words = ['one', 'two'];
    // w first, so the outer call reads a's descriptor after the getter ran.
    Object.defineProperty(words, 0, { enumerable: true, get: () => { nested.push(s.runSync(inner())); pending.push(s.run(inner())); return 'one'; } });
    const r = s.runSync({ w: new Tensor('string', words, [2]), a: new Tensor('float32', new Float32Array([1.5, -2]), [2]) });
    expect(Array.from(r.a_out!.data as Float32Array)).toEqual([1.5, -2]);
    expect(r.w_out!.data).toEqual(['one', 'two']);
    expect(nested.length).toBeGreaterThan(0);
    for (const n of [...nested, ...(await Promise.all(pending))]) {
      expect(Array.from((n.a_out as Tensor).data as Float32Array)).toEqual([7, 8, 9]);
      expect((n.w_out as Tensor).data).toEqual(['x', 'y', 'z']);
    }
    await s.release();
  });

  it('fails with ERR_SESSION_RELEASED, and no crash, when user code inside the call releases the session', async () => {
    const s = await InferenceSession.create(numberAndWordModel());
    const feeds = { a: new Tensor('float32', new Float32Array([1, 2]), [2]), w: new Tensor('string', ['x', 'y'], [2]) };
    expect(Array.from(s.runSync(feeds).a_out!.data as Float32Array)).toEqual([1, 2]); // leaves OrtValues to reuse
    const words = ['one', 'two'];
    Object.defineProperty(words, 1, { enumerable: true, get: () => { void s.release(); return 'two'; } });
    expect(await codeOf(() => s.runSync({ a: feeds.a, w: new Tensor('string', words, [2]) }))).toBe('ERR_SESSION_RELEASED');
    expect(await codeOf(() => s.runSync(feeds))).toBe('ERR_SESSION_RELEASED');
  });
});

describe('InferenceSession#release()', () => {
  it('refuses while runs are in flight, then succeeds once they settle', async () => {
    const s = await InferenceSession.create(model('slow_matmul'), { intraOpNumThreads: 1 });
    const x = new Tensor('float32', randomFloats(s.inputMetadata[0]!.isTensor ? 512 : 0), [1, 512]);
    const pending = s.run({ x });
    expect(s.pendingRuns).toBe(1);
    const err = await s.release().catch((e) => e);
    expect(err.code).toBe('ERR_SESSION_BUSY');
    await pending;
    await s.release();
    await s.release(); // idempotent
  });

  it('makes later calls fail with ERR_SESSION_RELEASED', async () => {
    const s = await InferenceSession.create(model('ctr_mlp'));
    await s.release();
    const x = new Tensor('float32', randomFloats(64), [1, 64]);
    expect(await codeOf(() => s.run({ x }))).toBe('ERR_SESSION_RELEASED');
    expect(await codeOf(() => s.runSync({ x }))).toBe('ERR_SESSION_RELEASED');
    expect(await codeOf(() => s.createIoBinding())).toBe('ERR_SESSION_RELEASED');
  });
});

describe('session options', () => {
  it('writes the optimized model to optimizedModelFilePath', async () => {
    const out = join(tmp, 'optimized.onnx');
    const s = await InferenceSession.create(model('ctr_mlp'), { graphOptimizationLevel: 'extended', optimizedModelFilePath: out });
    expect(existsSync(out)).toBe(true);
    const o = await InferenceSession.create(out);
    expect(o.inputNames).toEqual(['x']);
    await s.release();
    await o.release();
  });

  it('writes a Chrome-trace profile when profiling is enabled', async () => {
    const prefix = join(tmp, 'profile');
    const s = await InferenceSession.create(model('ctr_mlp'), { enableProfiling: true, profileFilePrefix: prefix });
    s.runSync({ x: new Tensor('float32', randomFloats(64), [1, 64]) });
    const file = s.endProfiling();
    expect(file.startsWith(prefix)).toBe(true);
    const trace = JSON.parse(readFileSync(file, 'utf8')) as Array<{ cat: string; name: string; ph: string }>;
    expect(trace.some((e) => e.cat === 'Node' && e.ph === 'X')).toBe(true);
    await s.release();
  });

  it('applies freeDimensionOverrides: the dim becomes fixed and other sizes are refused', async () => {
    const s = await InferenceSession.create(model('ctr_mlp'), { freeDimensionOverrides: { N: 2 } });
    expect(s.inputMetadata[0]).toMatchObject({ shape: [2, 64] });
    await s.run({ x: new Tensor('float32', randomFloats(128), [2, 64]) });
    const err = await s.run({ x: new Tensor('float32', randomFloats(64), [1, 64]) }).catch((e) => e);
    expect(err.code).toBe('ERR_INPUT_SHAPE');
    await s.release();
  });

  it('accepts every documented option together', async () => {
    const s = await InferenceSession.create(model('ctr_mlp'), {
      graphOptimizationLevel: 'all', intraOpNumThreads: 1, interOpNumThreads: 1, executionMode: 'parallel',
      enableCpuMemArena: false, enableMemPattern: false, logSeverityLevel: 3, logVerbosityLevel: 0, logId: 'test',
      extra: { session: { use_env_allocators: '0' } }, executionProviders: ['cpu'],
    });
    expect(((await s.run({ x: new Tensor('float32', randomFloats(64), [1, 64]) })).y as Tensor).dims).toEqual([1, 1]);
    await s.release();
  });

  it('passes extra session config entries to ONNX Runtime (ORT-format model output)', async () => {
    const out = join(tmp, 'optimized.ort');
    const s = await InferenceSession.create(model('ctr_mlp'), { optimizedModelFilePath: out, extra: { session: { save_model_format: 'ORT' } } });
    // An ORT-format model is a FlatBuffer with file identifier "ORTM", not an ONNX protobuf.
    expect(readFileSync(out).subarray(4, 8).toString('latin1')).toBe('ORTM');
    await s.release();
  });
});
