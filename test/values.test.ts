import { describe, expect, it } from 'vitest';
import * as ortNode from 'onnxruntime-node';
import { InferenceSession, Tensor, type TensorType } from '../src/index.js';
import { model } from './helpers.js';

/** Six distinct, type-appropriate elements (rank-2 [2,3]). */
function sample(type: TensorType): Tensor {
  switch (type) {
    case 'string': return new Tensor('string', ['a', 'bé', '', 'ün\u0000ïcode', 'x'.repeat(100), '🙂\u0000'], [2, 3]);
    case 'bool': return new Tensor('bool', new Uint8Array([1, 0, 1, 1, 0, 0]), [2, 3]);
    case 'int64': return new Tensor('int64', new BigInt64Array([1n, -2n, 2n ** 62n, -(2n ** 63n), 0n, 7n]), [2, 3]);
    case 'uint64': return new Tensor('uint64', new BigUint64Array([1n, 2n, 2n ** 64n - 1n, 0n, 5n, 6n]), [2, 3]);
    case 'float16': return new Tensor('float16', new Uint16Array([0x3c00, 0xc000, 0x7bff, 0x0001, 0x7e00, 0]), [2, 3]);
    case 'bfloat16': return new Tensor('bfloat16', new Uint16Array([0x3f80, 0xc000, 0x7f7f, 0x0001, 0x7fc0, 0]), [2, 3]);
    default: {
      const Ctor = { float32: Float32Array, float64: Float64Array, int8: Int8Array, int16: Int16Array, int32: Int32Array, uint8: Uint8Array, uint16: Uint16Array, uint32: Uint32Array }[type as 'float32']!;
      return new Tensor(type, Ctor.from([1, -2, 3.5, 127, 0, 42]), [2, 3]);
    }
  }
}

const TYPES: TensorType[] = ['float32', 'float64', 'float16', 'bfloat16', 'int8', 'int16', 'int32', 'int64', 'uint8', 'uint16', 'uint32', 'uint64', 'bool', 'string'];

describe('tensor element types', () => {
  for (const type of TYPES) {
    it(`round-trips ${type} through run() and runSync() bit for bit`, async () => {
      const s = await InferenceSession.create(model(`identity_${type}`));
      expect(s.inputMetadata[0]).toMatchObject({ type, shape: ['A', 'B'] });
      const x = sample(type);
      for (const y of [(await s.run({ x })).y as Tensor, s.runSync({ x }).y as Tensor]) {
        expect(y.type).toBe(type);
        expect(y.dims).toEqual([2, 3]);
        expect(Array.from(y.data as ArrayLike<unknown>)).toEqual(Array.from(x.data as ArrayLike<unknown>));
        expect(y.data).not.toBe(x.data);
      }
      await s.release();
    });
  }

  it('handles empty tensors', async () => {
    const s = await InferenceSession.create(model('identity_float32'));
    const y = s.runSync({ x: new Tensor('float32', new Float32Array(0), [0, 3]) }).y as Tensor;
    expect(y.dims).toEqual([0, 3]);
    expect(y.data.length).toBe(0);
    await s.release();
  });

  it('computes in bfloat16, which onnxruntime-node cannot feed', async () => {
    const s = await InferenceSession.create(model('add_bfloat16'));
    const bf = (xs: number[]) => new Uint16Array(new Uint32Array(new Float32Array(xs).buffer).map((b) => b >>> 16));
    const z = (await s.run({ x: new Tensor('bfloat16', bf([1, 2, 3, 4, 5, 6]), [2, 3]), y: new Tensor('bfloat16', bf([0.5, 0.5, 0.5, 0.5, 0.5, 0.5]), [2, 3]) })).z as Tensor;
    const asFloat = Array.from(z.data as Uint16Array, (h) => new Float32Array(new Uint32Array([h << 16]).buffer)[0]);
    expect(asFloat).toEqual([1.5, 2.5, 3.5, 4.5, 5.5, 6.5]);
    await expect(ortNode.InferenceSession.create(model('add_bfloat16'))).rejects.toThrow(/Unsupported data type/);
  });
});

describe('non-tensor values', () => {
  it('returns a sequence output as an array of tensors', async () => {
    const s = await InferenceSession.create(model('sequence_construct'));
    expect(s.outputMetadata[0]).toMatchObject({ isTensor: false, valueType: 'seq(tensor(float))' });
    const out = (await s.run({ a: new Tensor('float32', new Float32Array([1, 2]), [2]), b: new Tensor('float32', new Float32Array([3, 4]), [2]) })).seq as Tensor[];
    expect(out.map((t) => Array.from(t.data as Float32Array))).toEqual([[1, 2], [3, 4]]);
  });

  it('takes a sequence input as an array of tensors', async () => {
    const s = await InferenceSession.create(model('sequence_at'));
    const seq = [new Tensor('float32', new Float32Array([1]), [1]), new Tensor('float32', new Float32Array([5, 6]), [2])];
    const y = s.runSync({ s: seq, i: new Tensor('int64', new BigInt64Array([1n]), []) }).y as Tensor;
    expect(Array.from(y.data as Float32Array)).toEqual([5, 6]);
  });

  it('returns sequence(map) outputs (scikit-learn ZipMap) as arrays of Maps', async () => {
    const s = await InferenceSession.create(model('zip_map'));
    const y = (await s.run({ x: new Tensor('float32', new Float32Array([0.1, 0.2, 0.7, 1, 0, 0]), [2, 3]) })).y as Array<Map<bigint, number>>;
    expect(y).toHaveLength(2);
    expect([...y[0]!.keys()]).toEqual([0n, 1n, 2n]);
    expect(y[0]!.get(2n)).toBeCloseTo(0.7);
    expect(y[1]!.get(0n)).toBe(1);
  });

  it('takes a Map input', async () => {
    const s = await InferenceSession.create(model('map_vectorize'));
    const y = s.runSync({ m: new Map<bigint, number>([[1n, 10], [3n, 30], [9n, 90]]) }).y as Tensor;
    expect(Array.from(y.data as Float32Array)).toEqual([10, 0, 30]);
  });

  it('feeds an optional input as a value or as null (absent)', async () => {
    const s = await InferenceSession.create(model('optional_has'));
    expect(s.inputMetadata[0]).toMatchObject({ isTensor: false, valueType: 'optional(tensor(float))' });
    const present = (await s.run({ x: new Tensor('float32', new Float32Array([1, 2]), [2]) })).y as Tensor;
    expect(present.data[0]).toBe(1);
    const absent = (await s.run({ x: null })).y as Tensor;
    expect(absent.data[0]).toBe(0);
  });

  it('rejects a non-array for a sequence input and a non-Map for a map input', async () => {
    const seq = await InferenceSession.create(model('sequence_at'));
    await expect(seq.run({ s: new Tensor('float32', new Float32Array(1), [1]), i: new Tensor('int64', new BigInt64Array(1), []) })).rejects.toMatchObject({ code: 'ERR_INPUT_TYPE' });
    const map = await InferenceSession.create(model('map_vectorize'));
    await expect(map.run({ m: {} as never })).rejects.toMatchObject({ code: 'ERR_INPUT_TYPE' });
  });
});

describe('sequence inputs to run()', () => {
  it('are copied before run() returns, so mutating the element arrays cannot change the result', async () => {
    const s = await InferenceSession.create(model('sequence_at'));
    const a = new Float32Array(1024).fill(7);
    const pending = s.run({ s: [new Tensor('float32', a, [1024])], i: new Tensor('int64', new BigInt64Array([0n]), []) });
    a.fill(-1);
    const y = (await pending).y as Tensor;
    expect((y.data as Float32Array).every((v) => v === 7)).toBe(true);
  });
});

describe('empty sequence inputs', () => {
  it('are fed as [] (which ONNX Runtime cannot build through its C API), in run() and runSync()', async () => {
    const { DataType, GraphBuilder, sequenceType, tensorType } = await import('../models/builder.js');
    const g = new GraphBuilder('sequence_length');
    g.input('s', sequenceType(tensorType(DataType.FLOAT)));
    g.node('SequenceLength', ['s'], { outputs: ['n'] });
    g.output('n', tensorType(DataType.INT64, []));
    const s = await InferenceSession.create(g.encode());
    expect(((await s.run({ s: [] })).n as Tensor).data[0]).toBe(0n);
    expect((s.runSync({ s: [] }).n as Tensor).data[0]).toBe(0n);
    const two = [new Tensor('float32', new Float32Array(1), [1]), new Tensor('float32', new Float32Array(2), [2])];
    expect(((await s.run({ s: two })).n as Tensor).data[0]).toBe(2n);
    await s.release();
  });
});
