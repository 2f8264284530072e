/**
 * Model inputs and outputs as the session sees them (slots), and the validation of tensor
 * feeds against them: every check that can be made before ONNX Runtime is called, each
 * failure naming the input, what it expected and what arrived.
 */

import { type DTypeInfo, dataLength, dtypeByOnnx, type TensorType } from './dtypes.js';
import { OrtexError, OrtexTypeError } from './errors.js';
import type { EncodedValue, NativeValueInfo } from './native.js';
import { invalidType, isInteger } from './validate.js';
import { type TensorLike, isTensorLike } from './values.js';

export const KIND_TENSOR = 1;
export const KIND_OPTIONAL = 6;

/** Metadata of one input or output, as onnxruntime-common reports it, plus `valueType`. */
export type ValueMetadata =
  | { readonly name: string; readonly isTensor: true; readonly type: TensorType; readonly shape: ReadonlyArray<number | string>; readonly valueType: string }
  | { readonly name: string; readonly isTensor: false; readonly valueType: string };

export interface Slot {
  readonly index: number;
  readonly name: string;
  readonly kind: number;
  readonly dtype: DTypeInfo | undefined;
  readonly shape: ReadonlyArray<number | string>;
  readonly description: string;
  readonly optional: boolean;
}

export function toSlot(v: NativeValueInfo, index: number): Slot {
  return {
    index,
    name: v.name,
    kind: v.kind,
    dtype: v.kind === KIND_TENSOR ? dtypeByOnnx(v.elemType) : undefined,
    shape: v.shape,
    description: v.description,
    optional: v.kind === KIND_OPTIONAL,
  };
}

export function toMetadata(s: Slot): ValueMetadata {
  if (s.kind === KIND_TENSOR && s.dtype) return { name: s.name, isTensor: true, type: s.dtype.name, shape: s.shape, valueType: s.description };
  return { name: s.name, isTensor: false, valueType: s.description };
}

const shapeText = (dims: ReadonlyArray<number | string>) => `[${dims.join(',')}]`;

/** Validates a tensor feed against its input; throws a typed error naming the input. */
export function checkTensor(slot: Slot, v: unknown): asserts v is TensorLike {
  const d = slot.dtype!;
  if (!isTensorLike(v)) throw invalidType(`a ${d.name} tensor`, `input '${slot.name}'`, v, 'ERR_INPUT_TYPE');
  if (v.type !== d.name) {
    throw new OrtexTypeError('ERR_INPUT_TYPE', `Expected a ${d.name} tensor for input '${slot.name}' but received a ${v.type} tensor`);
  }
  const data = v.data;
  if (d.array ? !(data instanceof d.array) : !Array.isArray(data)) {
    throw invalidType(d.array ? d.array.name : 'string[]', `the data of input '${slot.name}' (${d.name})`, data, 'ERR_INPUT_TYPE');
  }
  const dims = v.dims;
  const shape = slot.shape;
  // Rank 0 in the metadata is either a scalar or "no shape known": only check when known.
  if (shape.length > 0 && dims.length !== shape.length) {
    throw new OrtexError('ERR_INPUT_SHAPE', `Expected rank ${shape.length} ${shapeText(shape)} for input '${slot.name}' but received rank ${dims.length} ${shapeText(dims)}`);
  }
  let count = 1;
  for (let i = 0; i < dims.length; i++) {
    const x = dims[i]!;
    if (!isInteger(x) || x < 0) {
      throw new OrtexError('ERR_INPUT_SHAPE', `Expected non-negative integer dims for input '${slot.name}' but received ${shapeText(dims)}`);
    }
    const want = shape[i];
    if (typeof want === 'number' && want >= 0 && want !== x) {
      throw new OrtexError('ERR_INPUT_SHAPE', `Expected dims ${shapeText(shape)} for input '${slot.name}' but received ${shapeText(dims)} (dim ${i} must be ${want})`);
    }
    count *= x;
  }
  const length = (data as { length: number }).length;
  if (length !== dataLength(d, count)) {
    throw new OrtexError('ERR_INPUT_DATA_LENGTH', `Expected ${dataLength(d, count)} elements of data for input '${slot.name}' with dims ${shapeText(dims)} but received ${length}`);
  }
}

export function encodeTensor(slot: Slot, v: unknown): EncodedValue {
  checkTensor(slot, v);
  return [slot.dtype!.onnx, v.data as ArrayBufferView, v.dims as number[]];
}

/** Two input dims the model names alike: [input, dim, first input, first dim] (indices into the slots). */
export type SharedDim = readonly [number, number, number, number];

/**
 * The input dims that share a symbolic name with an earlier one. ONNX gives a dim_param the
 * same value wherever it appears among a graph's inputs (TensorRT checks it too), so a
 * request whose `input_ids` and `attention_mask` disagree on 'S' is refused here rather than
 * failing inside a kernel as an ONNX Runtime error (500). Empty for most models.
 */
export function sharedDims(slots: readonly Slot[]): SharedDim[] {
  const first = new Map<string, readonly [number, number]>();
  const links: SharedDim[] = [];
  slots.forEach((slot, i) => {
    slot.shape.forEach((name, d) => {
      if (typeof name !== 'string' || name === '') return;
      const at = first.get(name);
      if (at) links.push([i, d, at[0], at[1]]);
      else first.set(name, [i, d]);
    });
  });
  return links;
}

/** @throws OrtexError ERR_INPUT_SHAPE naming both inputs when dims that share a name differ. */
export function checkSharedDims(slots: readonly Slot[], links: readonly SharedDim[], dimsOf: (input: number) => readonly number[]): void {
  for (const [i, d, j, e] of links) {
    const a = dimsOf(i)[d];
    const b = dimsOf(j)[e];
    if (a === b) continue;
    const name = slots[i]!.shape[d] as string;
    throw new OrtexError('ERR_INPUT_SHAPE', `Expected dim ${d} of input '${slots[i]!.name}' to equal dim ${e} of input '${slots[j]!.name}' (both '${name}' in the model) but received ${a} and ${b}`);
  }
}
