import { describe, expect, it } from 'vitest';
import * as ortNode from 'onnxruntime-node';
import { Tensor, TENSOR_TYPES } from '../src/index.js';

describe('new Tensor()', () => {
  it('keeps type, data, dims and computes size', () => {
    const data = new Float32Array(6);
    const t = new Tensor('float32', data, [2, 3]);
    expect(t.type).toBe('float32');
    expect(t.data).toBe(data); // no copy
    expect(t.dims).toEqual([2, 3]);
    expect(t.size).toBe(6);
    expect(t.location).toBe('cpu');
  });

  it('infers the type from a TypedArray and defaults dims to 1-D', () => {
    expect(new Tensor(new Int32Array(4)).type).toBe('int32');
    expect(new Tensor(new BigInt64Array(2)).dims).toEqual([2]);
    expect(new Tensor(['a', 'b']).type).toBe('string');
    expect(new Tensor([true, false]).type).toBe('bool');
  });

  it('converts plain arrays like onnxruntime-common does', () => {
    expect(new Tensor('int64', [1, 2], [2]).data).toEqual(new BigInt64Array([1n, 2n]));
    expect(new Tensor('bool', [true, false, true], [3]).data).toEqual(new Uint8Array([1, 0, 1]));
    expect(new Tensor('float64', [0.5], [1]).data).toBeInstanceOf(Float64Array);
  });

  it('accepts bfloat16 and float8 data, which onnxruntime-node rejects', () => {
    expect(new Tensor('bfloat16', new Uint16Array(4), [2, 2]).type).toBe('bfloat16');
    expect(new Tensor('float8e4m3fn', new Uint8Array(3), [3]).size).toBe(3);
    expect(() => new ortNode.Tensor('bfloat16' as 'float16', new Uint16Array(4), [2, 2])).toThrow();
  });

  it('packs 4-bit types two to a byte', () => {
    const t = new Tensor('int4', new Int8Array(2), [3]);
    expect(t.size).toBe(3);
    expect(() => new Tensor('int4', new Int8Array(3), [3])).toThrow(/Expected 2 elements/);
  });

  it('rejects data whose length does not match dims', () => {
    expect(() => new Tensor('float32', new Float32Array(5), [2, 3])).toThrow(RangeError);
    expect(() => new Tensor('float32', new Float32Array(5), [2, 3])).toThrow(/Expected 6 elements of float32 data for dims \[2,3\] but received 5/);
  });

  it('rejects a TypedArray of the wrong kind for the type', () => {
    expect(() => new Tensor('float32', new Float64Array(2) as unknown as Float32Array, [2])).toThrow(/Expected Float32Array/);
  });

  it('rejects negative, fractional and non-numeric dims', () => {
    for (const dims of [[-1], [1.5], ['2'], [NaN]]) {
      expect(() => new Tensor('float32', new Float32Array(2), dims as number[])).toThrow(/non-negative integers/);
    }
  });

  it('rejects an unknown type name', () => {
    expect(() => new Tensor('float33' as 'float32', new Float32Array(1), [1])).toThrow(/tensor type/);
  });

  it('knows every element type ONNX Runtime has', () => {
    for (const t of ['float32', 'float64', 'float16', 'bfloat16', 'int8', 'int16', 'int32', 'int64', 'uint8', 'uint16', 'uint32', 'uint64', 'bool', 'string']) {
      expect(TENSOR_TYPES).toContain(t);
    }
  });

  it('reshape() shares the data', () => {
    const t = new Tensor('float32', new Float32Array(6), [2, 3]);
    const r = t.reshape([3, 2]);
    expect(r.data).toBe(t.data);
    expect(r.dims).toEqual([3, 2]);
  });
});
