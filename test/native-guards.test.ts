import { execFile } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { native } from '../src/native.js';
import { InferenceSession, Tensor } from '../src/index.js';
import { DataType, GraphBuilder, tensorType } from '../models/builder.js';
import { model } from './helpers.js';

describe('the native fast-call descriptors', () => {
  it('refuse malformed descriptors from a raw-binding caller instead of reading out of bounds', async () => {
    const s = new native.Session();
    await s.load(model('ctr_mlp'), {});
    const scratch = new Float64Array(64);
    s.setScratch(scratch);
    const data = new Float32Array(64);
    const bad: number[][] = [
      [1, -1, 0, 1, 2, 1, 64, 0], // negative output count
      [1, 1, 0, 1, 2, 1, 64, NaN], // NaN output index
      [1, 1, 5, 1, 2, 1, 64, 0], // input index out of range
      [1, 1, 0, 1, 99, 1, 64, 0], // rank beyond the limit
      [1, 1, 0, 1, 2, 1.5, 64, 0], // fractional dim
      [1, 1e300, 0, 1, 2, 1, 64, 0], // huge count
    ];
    for (const desc of bad) {
      scratch.fill(0);
      scratch.set(desc);
      expect(() => s.runSyncT(data)).toThrow(/Malformed call descriptor|Scratch overflow|out of range/);
    }
    scratch.set([1, 1, 0, 1, 2, 1, 64, 0]);
    expect((s.runSyncT(data) as Float32Array).length).toBe(1);
    // An output scratch must be a Uint8Array: its bytes are written by native code.
    for (const out of [new Float32Array(16), new ArrayBuffer(16), 'bytes', {}]) {
      expect(() => s.setScratch(scratch, out as never)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG' }));
    }
    // Given one, the output's bytes land there and its descriptor says where: kind 2, float32, rank 2 [1, 1], offset 0, length 1.
    const out = new Uint8Array(64);
    s.setScratch(scratch, out);
    scratch.set([1, 1, 0, 1, 2, 1, 64, 0]);
    expect(s.runSyncT(data)).toBeUndefined();
    expect(Array.from(scratch.subarray(0, 7))).toEqual([2, 1, 2, 1, 1, 0, 1]);
    expect(new Float32Array(out.buffer, 0, 1)[0]).toBeGreaterThan(0);
    // One too small for the output: it comes as its own array instead.
    s.setScratch(scratch, new Uint8Array(2));
    scratch.set([1, 1, 0, 1, 2, 1, 64, 0]);
    expect((s.runSyncT(data) as Float32Array).length).toBe(1);
    expect(scratch[0]).toBe(1);
    // Set again without one: the earlier output scratch is no longer written.
    s.setScratch(scratch, out);
    s.setScratch(scratch);
    out.fill(0);
    scratch.set([1, 1, 0, 1, 2, 1, 64, 0]);
    expect((s.runSyncT(data) as Float32Array).length).toBe(1);
    expect(out.every((b) => b === 0)).toBe(true);
    s.release();
  });
});

describe('the bound runSyncT (bindRunSync)', () => {
  it('keeps its session alive on its own and runs like the method; after release() it refuses', async () => {
    // A fresh process with --expose-gc: the bound function alone must keep the native Session
    // (whose pointer it carries) from being collected.
    const script = `
      const { native } = await import(${JSON.stringify(new URL('../dist/src/native.js', import.meta.url).href)});
      const scratch = new Float64Array(64);
      let s = new native.Session();
      await s.load(${JSON.stringify(model('ctr_mlp'))}, {});
      s.setScratch(scratch);
      const run = s.bindRunSync();
      const viaMethod = s.runSyncT.bind(s);
      const data = new Float32Array(64).fill(0.5);
      scratch.set([1, 1, 0, 1, 2, 1, 64, 0]);
      const expected = viaMethod(data)[0];
      s = null;
      for (let i = 0; i < 5; i++) { globalThis.gc(); await new Promise((r) => setTimeout(r, 10)); }
      scratch.set([1, 1, 0, 1, 2, 1, 64, 0]);
      const got = run(data)[0];
      run.session.release();
      let code = 'none';
      try { scratch.set([1, 1, 0, 1, 2, 1, 64, 0]); run(data); } catch (e) { code = e.code; }
      console.log(JSON.stringify({ same: got === expected, code }));`;
    const out = await new Promise<string>((resolve, reject) => {
      execFile(process.execPath, ['--expose-gc', '--input-type=module', '-e', script], { timeout: 30_000 }, (err, stdout, stderr) => (err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(stdout)));
    });
    expect(JSON.parse(out.trim().split('\n').pop()!)).toEqual({ same: true, code: 'ERR_SESSION_RELEASED' });
  });
});

describe('many outputs', () => {
  it('returns every output of a model with more output descriptors than the shared scratch holds', async () => {
    const g = new GraphBuilder('many_outputs');
    g.input('x', tensorType(DataType.FLOAT, [1, 2, 3]));
    const n = 1200; // 1,200 rank-3 outputs: 7,200 descriptor slots, past the 4,096 of the scratch
    for (let i = 0; i < n; i++) {
      g.node('Identity', ['x'], { outputs: [`y${i}`] });
      g.output(`y${i}`, tensorType(DataType.FLOAT, [1, 2, 3]));
    }
    const s = await InferenceSession.create(g.encode());
    const x = new Tensor('float32', new Float32Array([1, 2, 3, 4, 5, 6]), [1, 2, 3]);
    const x2 = new Tensor('float32', new Float32Array([6, 5, 4, 3, 2, 1]), [1, 2, 3]);
    for (const [out, values] of [[s.runSync({ x }), [1, 2, 3, 4, 5, 6]], [await s.run({ x: x2 }), [6, 5, 4, 3, 2, 1]]] as const) {
      expect(Object.keys(out)).toHaveLength(n);
      // The first outputs' bytes fit the scratch (or run()'s result slot), the last ones' do not.
      for (const name of ['y0', 'y1199']) {
        expect((out[name] as Tensor).dims).toEqual([1, 2, 3]);
        expect(Array.from((out[name] as Tensor).data as Float32Array)).toEqual(values);
      }
    }
    await s.release();
  });
});

describe('native entry points given objects of the wrong class', () => {
  it('refuse them with ERR_INVALID_ARG instead of unwrapping the wrong type', async () => {
    const s = new native.Session();
    await s.load(model('ctr_mlp'), {});
    const ro = new native.RunOptions({});
    expect(() => new native.IoBinding(ro as never)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG' }));
    expect(() => new native.IoBinding({} as never)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG' }));
    expect(() => s.runSync([0], [[1, new Float32Array(64), [1, 64]]], [0], s as never)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG' }));
    expect(s.runSync([0], [[1, new Float32Array(64), [1, 64]]], [0], ro)).toHaveLength(1);
    s.release();
  });
});

describe('IoBinding over a buffer that was transferred away', () => {
  it('refuses to run with ERR_INPUT_DETACHED, and runs again once re-bound', async () => {
    const s = await InferenceSession.create(model('ctr_mlp'));
    const io = s.createIoBinding();
    const x = new Tensor('float32', new Float32Array(64), [1, 64]);
    io.bindInput('x', x);
    io.bindOutput('y');
    structuredClone(x.data.buffer, { transfer: [x.data.buffer as ArrayBuffer] }); // detaches x.data
    expect(() => io.runSync()).toThrow(expect.objectContaining({ code: 'ERR_INPUT_DETACHED', status: 400 }));
    await expect(io.run()).rejects.toMatchObject({ code: 'ERR_INPUT_DETACHED' });
    io.bindInput('x', new Tensor('float32', new Float32Array(64), [1, 64]));
    expect((io.runSync().y as Tensor).dims).toEqual([1, 1]);
    await s.release();
  });

  // V8 unmaps the pages a resizable ArrayBuffer gives up: ORT reading a bound input or writing
  // a bound output there crashed the process with SIGSEGV (found by test/native-fuzz.test.ts).
  it('refuses to run with ERR_INPUT_DETACHED when a bound resizable buffer shrank, and runs once it is large enough again', async () => {
    type Resizable = ArrayBuffer & { resize(n: number): void };
    const Resizable = ArrayBuffer as unknown as new (n: number, o: { maxByteLength: number }) => Resizable;
    const MiB = 1 << 20;
    const s = await InferenceSession.create(model('identity_float32'));
    const io = s.createIoBinding();
    const xBuffer = new Resizable(MiB, { maxByteLength: 2 * MiB });
    io.bindInput('x', new Tensor('float32', new Float32Array(xBuffer, 0, MiB / 4).fill(3), [512, 512]));
    const yBuffer = new Resizable(MiB, { maxByteLength: 2 * MiB });
    const y = new Tensor('float32', new Float32Array(yBuffer), [512, 512]); // length-tracking
    io.bindOutput('y', y);
    io.runSync();
    expect(y.data[MiB / 4 - 1]).toBe(3);
    xBuffer.resize(0);
    expect(() => io.runSync()).toThrow(expect.objectContaining({ code: 'ERR_INPUT_DETACHED', message: expect.stringMatching(/resized smaller \(0 of 1048576 bytes left\)/) }));
    await expect(io.run()).rejects.toMatchObject({ code: 'ERR_INPUT_DETACHED' });
    xBuffer.resize(2 * MiB); // grown in place: the bound bytes are there again
    io.runSync();
    yBuffer.resize(MiB - 4);
    expect(() => io.runSync()).toThrow(expect.objectContaining({ code: 'ERR_INPUT_DETACHED' }));
    await s.release();
  });
});
