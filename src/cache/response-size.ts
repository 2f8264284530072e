/**
 * What a cached response costs in memory, and making it cost only that. A batched model's
 * outputs are views into the whole batch's buffers, so caching them as they are would keep
 * every other request's rows alive too: compactOutputs() copies such views first.
 */

import { Tensor } from '../tensor.js';

/** A cache entry's fixed cost: Map entry, entry record, BigInt key and outputs object. */
export const ENTRY_OVERHEAD_BYTES = 160;
/** A tensor's fixed cost beyond its data: Tensor object, dims array, TypedArray and ArrayBuffer. */
export const TENSOR_OVERHEAD_BYTES = 240;
/** A string element's fixed cost (V8 string header and array slot). */
export const STRING_OVERHEAD_BYTES = 24;

/** Approximate bytes a response occupies: tensor data plus the fixed costs above. */
export function responseBytes(outputs: Readonly<Record<string, Tensor>>): number {
  let bytes = ENTRY_OVERHEAD_BYTES;
  for (const name in outputs) {
    const t = outputs[name]!;
    bytes += TENSOR_OVERHEAD_BYTES + 2 * name.length + 8 * t.dims.length;
    const data = t.data;
    if (Array.isArray(data)) {
      // Two bytes per UTF-16 unit: an upper bound that holds for two-byte strings too.
      for (let i = 0; i < data.length; i++) bytes += STRING_OVERHEAD_BYTES + 2 * data[i]!.length;
    } else {
      bytes += data.byteLength;
    }
  }
  return bytes;
}

/**
 * The outputs with each tensor whose data is a view into a larger buffer replaced by a
 * tensor over a copy of just its bytes; tensors that own their whole buffer are kept as
 * they are (no copy).
 */
export function compactOutputs(outputs: Readonly<Record<string, Tensor>>): Record<string, Tensor> {
  const out: Record<string, Tensor> = {};
  for (const name in outputs) {
    const t = outputs[name]!;
    const data = t.data;
    if (!Array.isArray(data) && data.byteLength < data.buffer.byteLength) {
      out[name] = Tensor.fromNative(t.type, data.slice(), t.dims.slice());
    } else {
      out[name] = t;
    }
  }
  return out;
}
