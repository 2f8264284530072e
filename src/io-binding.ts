/**
 * IoBinding: inputs and outputs bound once, the model run many times with no allocation
 * per run. Bound tensors share memory with the model: write new input values into the
 * bound tensor's data in place; read results from the bound output tensors.
 */

import { dtypeByName, dtypeByOnnx, type TensorType } from './dtypes.js';
import { OrtexError, fromNative } from './errors.js';
import type { Slot } from './feeds.js';
import type { EncodedTensor, EncodedValue, NativeIoBinding, NativeSession } from './native.js';
import { native } from './native.js';
import { Tensor, type TensorData } from './tensor.js';
import { invalidType } from './validate.js';
import { type OnnxValue, decodeValue, isTensorLike } from './values.js';


export class IoBinding {
  readonly #native: NativeIoBinding;
  readonly #inputs: Map<string, Slot>;
  readonly #outputs: Map<string, number>;
  readonly #preallocated = new Map<string, Tensor>();

  /** @internal use session.createIoBinding() */
  constructor(session: NativeSession, inputs: Map<string, Slot>, outputs: Map<string, number>) {
    try {
      this.#native = new native.IoBinding(session);
    } catch (err) {
      throw fromNative(err);
    }
    this.#inputs = inputs;
    this.#outputs = outputs;
  }

  /** Where allocate() puts buffers: ORT's CudaPinned host memory on CUDA, else plain CPU memory. */
  get hostMemory(): 'cpu' | 'cuda-pinned' {
    return this.#native.hostMemory;
  }

  #encode(t: unknown, what: string): EncodedTensor {
    if (!isTensorLike(t)) throw invalidType('a Tensor', what, t, 'ERR_INPUT_TYPE');
    const d = dtypeByName(t.type);
    if (!d) throw invalidType('a known tensor type', what, t.type, 'ERR_INPUT_TYPE');
    return [d.onnx, t.data as EncodedTensor[1], t.dims as number[]];
  }

  /** Binds a tensor to an input. The binding shares (does not copy) the tensor's memory. */
  bindInput(name: string, tensor: Tensor): void {
    const slot = this.#inputs.get(name);
    if (!slot) throw new OrtexError('ERR_INPUT_NAME', `Unknown input '${name}'; the model's inputs are: ${[...this.#inputs.keys()].join(', ')}`);
    if (slot.dtype && tensor?.type !== slot.dtype.name) {
      throw new OrtexError('ERR_INPUT_TYPE', `Expected a ${slot.dtype.name} tensor for input '${name}' but received ${tensor?.type}`);
    }
    try {
      this.#native.bindInput(slot.index, this.#encode(tensor, `input '${name}'`));
    } catch (err) {
      throw fromNative(err);
    }
  }

  /**
   * Binds an output to a preallocated tensor (results are written into its data), or, with
   * no tensor, lets ONNX Runtime allocate it on each run.
   */
  bindOutput(name: string, tensor?: Tensor): void {
    const index = this.#outputs.get(name);
    if (index === undefined) throw new OrtexError('ERR_OUTPUT_NAME', `Unknown output '${name}'; the model's outputs are: ${[...this.#outputs.keys()].join(', ')}`);
    try {
      this.#native.bindOutput(index, tensor ? this.#encode(tensor, `output '${name}'`) : null);
    } catch (err) {
      throw fromNative(err);
    }
    if (tensor) this.#preallocated.set(name, tensor);
    else this.#preallocated.delete(name);
  }

  /** A tensor in host memory owned by ONNX Runtime (pinned when the session runs on CUDA). */
  allocate(type: TensorType, dims: readonly number[]): Tensor {
    const d = dtypeByName(type);
    if (!d || d.name === 'string') throw invalidType('a numeric tensor type', 'allocate()', type, 'ERR_INPUT_TYPE');
    try {
      const [onnx, data, shape] = this.#native.allocate(d.onnx, dims as number[]);
      return Tensor.fromNative(dtypeByOnnx(onnx)!.name, data as TensorData, shape);
    } catch (err) {
      throw fromNative(err);
    }
  }

  #collect(fresh: Record<string, EncodedValue>): Record<string, OnnxValue> {
    const out: Record<string, OnnxValue> = {};
    for (const [name, t] of this.#preallocated) out[name] = t;
    for (const name in fresh) out[name] = decodeValue(fresh[name]!);
    return out;
  }

  /** Runs on the calling thread. */
  runSync(): Record<string, OnnxValue> {
    try {
      return this.#collect(this.#native.runSync(null));
    } catch (err) {
      throw fromNative(err);
    }
  }

  /**
   * Runs off the JS thread. Do not write bound tensors until it settles; binding, clearing or
   * running this binding again meanwhile fails with ERR_BINDING_BUSY.
   */
  async run(): Promise<Record<string, OnnxValue>> {
    let fresh: Record<string, EncodedValue>;
    try {
      fresh = await this.#native.run(null);
    } catch (err) {
      throw fromNative(err);
    }
    return this.#collect(fresh);
  }

  /** Unbinds everything. */
  clear(): void {
    try {
      this.#native.clear();
    } catch (err) {
      throw fromNative(err);
    }
    this.#preallocated.clear();
  }
}
