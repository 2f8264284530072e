/**
 * Tensor: a typed CPU buffer with dims, source-compatible with onnxruntime-common's Tensor
 * (`new Tensor(type, data, dims)`, `.type .data .dims .size .location`), and accepting every
 * element type ONNX Runtime supports, bfloat16 and float8 included.
 */

import { type DTypeInfo, type TensorDataMap, type TensorType, dataLength, dtypeByName, inferType } from './dtypes.js';
import { OrtexRangeError } from './errors.js';
import { invalidRange, invalidType, isInteger } from './validate.js';

export type TensorData = TensorDataMap[TensorType];

/** Marks the constructor call of fromNative(); never exported. */
const TRUSTED: unique symbol = Symbol('trusted');

function checkDims(dims: unknown): readonly number[] {
  if (!Array.isArray(dims)) throw invalidType('number[]', 'tensor dims', dims, 'ERR_INPUT_SHAPE');
  for (let i = 0; i < dims.length; i++) {
    const d = dims[i];
    if (!isInteger(d) || d < 0) throw invalidRange('non-negative integers', `tensor dims[${i}]`, d, 'ERR_INPUT_SHAPE');
  }
  return dims as readonly number[];
}

function elementCount(dims: readonly number[]): number {
  let n = 1;
  for (let i = 0; i < dims.length; i++) n *= dims[i]!;
  return n;
}

/** Converts a plain JS array to the TypedArray a type needs (as onnxruntime-common does). */
function fromArray(d: DTypeInfo, values: readonly unknown[]): TensorData {
  if (d.name === 'string') {
    for (const v of values) if (typeof v !== 'string') throw invalidType('string[]', 'string tensor data', values, 'ERR_INPUT_TYPE');
    return values as string[];
  }
  if (d.name === 'bool') return Uint8Array.from(values, (v) => (v ? 1 : 0));
  if (d.name === 'int64' || d.name === 'uint64') {
    const Ctor = d.array as BigInt64ArrayConstructor;
    return Ctor.from(values, (v, i) => {
      if (typeof v === 'bigint') return v;
      // BigInt() would throw a SyntaxError or RangeError without a code for anything else.
      if (isInteger(v)) return BigInt(v);
      throw invalidType('bigints or integers', `${d.name} tensor data[${i}]`, v, 'ERR_INPUT_TYPE');
    });
  }
  const Ctor = d.array as Float32ArrayConstructor;
  return Ctor.from(values as number[]);
}

export class Tensor<T extends TensorType = TensorType> {
  readonly type: T;
  readonly data: TensorDataMap[T];
  readonly dims: readonly number[];
  readonly size: number;
  readonly location = 'cpu' as const;

  /**
   * @example
   * new Tensor('float32', new Float32Array([1, 2, 3, 4]), [2, 2]);
   * new Tensor('bfloat16', new Uint16Array(4), [4]);   // raw bfloat16 bits
   * new Tensor(new Int32Array([1, 2]));                 // type inferred, dims [2]
   */
  constructor(type: T, data: TensorDataMap[T] | readonly unknown[], dims?: readonly number[]);
  constructor(data: TensorData | readonly string[] | readonly boolean[], dims?: readonly number[]);
  constructor(a: unknown, b?: unknown, c?: unknown, trusted?: typeof TRUSTED) {
    if (trusted === TRUSTED) {
      // fromNative(): parts ONNX Runtime made, so nothing to check.
      const dims = c as number[];
      let size = 1;
      for (let i = 0; i < dims.length; i++) size *= dims[i]!;
      this.type = a as T;
      this.data = b as TensorDataMap[T];
      this.dims = dims;
      this.size = size;
      return;
    }
    let type: string;
    let data: unknown;
    let dims: unknown;
    if (typeof a === 'string') {
      type = a;
      data = b;
      dims = c;
    } else {
      data = a;
      dims = b;
      const inferred = Array.isArray(a)
        ? typeof a[0] === 'string' ? 'string' : typeof a[0] === 'boolean' ? 'bool' : undefined
        : inferType(a);
      if (!inferred) throw invalidType('a TypedArray, string[] or boolean[]', 'tensor data', a, 'ERR_INPUT_TYPE');
      type = inferred;
    }
    const d = dtypeByName(type);
    if (!d) throw invalidType('a tensor type name such as "float32"', 'tensor type', type, 'ERR_INPUT_TYPE');
    if (Array.isArray(data)) {
      data = fromArray(d, data);
    } else if (d.array === null || !(data instanceof d.array)) {
      throw invalidType(d.array ? `${d.array.name}` : 'string[]', `${type} tensor data`, data, 'ERR_INPUT_TYPE');
    }
    const length = (data as { length: number }).length;
    const shape = dims === undefined ? [d.bits === 4 ? length * 2 : d.bits === 2 ? length * 4 : length] : checkDims(dims);
    const size = elementCount(shape);
    if (dataLength(d, size) !== length) {
      throw new OrtexRangeError(
        'ERR_INPUT_DATA_LENGTH',
        `Expected ${dataLength(d, size)} elements of ${type} data for dims [${shape.join(',')}] but received ${length}`,
      );
    }
    this.type = type as T;
    this.data = data as TensorDataMap[T];
    this.dims = shape;
    this.size = size;
  }

  /** A tensor over the same data with other dims of the same element count. */
  reshape(dims: readonly number[]): Tensor<T> {
    return new Tensor(this.type, this.data, dims);
  }

  /** For onnxruntime-common compatibility: the data, already on the CPU. */
  async getData(): Promise<TensorDataMap[T]> {
    return this.data;
  }

  /** For onnxruntime-common compatibility. CPU data is freed by the garbage collector. */
  dispose(): void {}

  /**
   * @internal Builds a tensor from native output without re-validating it, through the
   * constructor so that it has the same hidden class as a user's tensor.
   */
  static fromNative(type: TensorType, data: TensorData, dims: number[]): Tensor {
    return new (Tensor as unknown as new (a: unknown, b: unknown, c: unknown, t: typeof TRUSTED) => Tensor)(type, data, dims, TRUSTED);
  }
}
