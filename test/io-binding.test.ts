import { describe, expect, it } from 'vitest';
import { InferenceSession, Tensor } from '../src/index.js';
import { model, randomFloats } from './helpers.js';

describe('IoBinding', () => {
  it('runs many times over bound buffers, reading inputs updated in place', async () => {
    const s = await InferenceSession.create(model('ctr_mlp'), { intraOpNumThreads: 1 });
    const io = s.createIoBinding();
    const x = new Tensor('float32', new Float32Array(4 * 64), [4, 64]);
    const y = new Tensor('float32', new Float32Array(4), [4, 1]);
    io.bindInput('x', x);
    io.bindOutput('y', y);
    for (let i = 0; i < 5; i++) {
      (x.data as Float32Array).set(randomFloats(4 * 64, i + 1));
      const expected = s.runSync({ x: new Tensor('float32', (x.data as Float32Array).slice(), [4, 64]) }).y as Tensor;
      const out = i % 2 ? io.runSync() : await io.run();
      expect(out.y).toBe(y); // the very tensor bound, filled in place
      expect(Array.from(y.data as Float32Array)).toEqual(Array.from(expected.data as Float32Array));
    }
    await s.release();
  });

  it('lets ONNX Runtime allocate an output bound without a tensor', async () => {
    const s = await InferenceSession.create(model('ctr_mlp'));
    const io = s.createIoBinding();
    io.bindInput('x', new Tensor('float32', randomFloats(2 * 64), [2, 64]));
    io.bindOutput('y');
    const out = io.runSync();
    expect((out.y as Tensor).dims).toEqual([2, 1]);
    await s.release();
  });

  it('allocates host buffers from ONNX Runtime (plain CPU memory without CUDA)', async () => {
    const s = await InferenceSession.create(model('ctr_mlp'), { executionProviders: ['cuda', 'cpu'] });
    const io = s.createIoBinding();
    expect(io.hostMemory).toBe('cpu'); // CudaPinned needs the CUDA provider, absent here
    const x = io.allocate('float32', [1, 64]);
    expect(x.data).toBeInstanceOf(Float32Array);
    (x.data as Float32Array).set(randomFloats(64));
    io.bindInput('x', x);
    io.bindOutput('y');
    const y = (await io.run()).y as Tensor;
    const ref = s.runSync({ x: new Tensor('float32', (x.data as Float32Array).slice(), [1, 64]) }).y as Tensor;
    expect(y.data).toEqual(ref.data);
    await s.release();
  });

  it('rejects unknown names and wrong types when binding', async () => {
    const s = await InferenceSession.create(model('ctr_mlp'));
    const io = s.createIoBinding();
    expect(() => io.bindInput('nope', new Tensor('float32', new Float32Array(64), [1, 64]))).toThrow(expect.objectContaining({ code: 'ERR_INPUT_NAME' }));
    expect(() => io.bindInput('x', new Tensor('int32', new Int32Array(64), [1, 64]) as never)).toThrow(expect.objectContaining({ code: 'ERR_INPUT_TYPE' }));
    expect(() => io.bindOutput('nope')).toThrow(expect.objectContaining({ code: 'ERR_OUTPUT_NAME' }));
    await s.release();
  });

  it('reports a run over a wrongly shaped binding as a typed error and keeps the session usable', async () => {
    const s = await InferenceSession.create(model('ctr_mlp'));
    const io = s.createIoBinding();
    io.bindInput('x', new Tensor('float32', new Float32Array(63), [1, 63]));
    io.bindOutput('y');
    expect(() => io.runSync()).toThrow(expect.objectContaining({ code: expect.stringMatching(/^ERR_ORT_/) }));
    io.clear();
    io.bindInput('x', new Tensor('float32', new Float32Array(64), [1, 64]));
    io.bindOutput('y');
    expect(((await io.run()).y as Tensor).dims).toEqual([1, 1]);
    await s.release();
  });

  it('keeps the session from being released while a bound run is in flight', async () => {
    const s = await InferenceSession.create(model('slow_matmul'), { intraOpNumThreads: 1 });
    const io = s.createIoBinding();
    io.bindInput('x', new Tensor('float32', randomFloats(512), [1, 512]));
    io.bindOutput('y');
    const pending = io.run();
    await expect(s.release()).rejects.toMatchObject({ code: 'ERR_SESSION_BUSY' });
    await pending;
    await s.release();
  });
});

describe('IoBinding while a run is in flight', () => {
  it('refuses to change or rerun the binding with ERR_BINDING_BUSY, then works once it settles', async () => {
    const s = await InferenceSession.create(model('slow_matmul'), { intraOpNumThreads: 1 });
    const io = s.createIoBinding();
    const x = new Tensor('float32', randomFloats(512), [1, 512]);
    io.bindInput('x', x);
    io.bindOutput('y');
    const pending = io.run();
    for (const misuse of [() => io.clear(), () => io.bindInput('x', x), () => io.bindOutput('y'), () => io.runSync()]) {
      expect(misuse).toThrow(expect.objectContaining({ code: 'ERR_BINDING_BUSY', status: 409 }));
    }
    await expect(io.run()).rejects.toMatchObject({ code: 'ERR_BINDING_BUSY' });
    const first = (await pending).y as Tensor;
    const second = (await io.run()).y as Tensor;
    expect(second.data).toEqual(first.data);
    await s.release();
  });
});

describe('IoBinding outputs allocated by ONNX Runtime', () => {
  it('are not overwritten by the next run, and follow a new input shape', async () => {
    const s = await InferenceSession.create(model('identity_float32'));
    const io = s.createIoBinding();
    const big = (fill: number, rows: number) => new Tensor('float32', new Float32Array(rows * 1024).fill(fill), [rows, 1024]); // > 64 KiB: handed over without a copy
    io.bindInput('x', big(1, 32));
    io.bindOutput('y');
    const y1 = io.runSync().y as Tensor;
    io.bindInput('x', big(2, 32));
    const y2 = io.runSync().y as Tensor;
    io.bindInput('x', big(3, 48));
    const y3 = (await io.run()).y as Tensor;
    expect([y1.data[0], y1.data[32 * 1024 - 1]]).toEqual([1, 1]);
    expect([y2.data[0], y2.data[32 * 1024 - 1]]).toEqual([2, 2]);
    expect(y3.dims).toEqual([48, 1024]);
    expect(y3.data[48 * 1024 - 1]).toBe(3);
    await s.release();
  });
});
