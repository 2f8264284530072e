/**
 * What the clients send and receive, in ortex's own terms: a record of Tensors in, a record
 * of Tensors out, and the options of one call, turned into Open Inference Protocol messages
 * (oip-codec.ts) and back. Arguments are checked here, before anything is sent.
 */

import { OrtexTypeError } from '../errors.js';
import { encodeInferRequest } from '../server/oip-codec.js';
import { ortexToOipType } from '../server/oip-datatypes.js';
import type { EncodedMessage, OipParameters, OipTensorOut, ParsedInferResponse } from '../server/oip-types.js';
import { Tensor } from '../tensor.js';
import { invalidType, isPlainObject } from '../validate.js';

/** Options of one infer() call, for both clients. */
export interface ClientInferOptions {
  /** The model version; default the latest ready one. */
  version?: string | number;
  /** The outputs to return, by name (default: every output of the model). */
  outputs?: readonly string[];
  /** Send inputs and ask for outputs as binary tensor data (default true) rather than JSON. */
  binary?: boolean;
  /** The request's `id`, which the server echoes. */
  id?: string;
  /** Request parameters, e.g. `{ priority: 1, timeout: 50_000 }` (µs). */
  parameters?: OipParameters;
}

/** A model name and version as the clients put them in a URL or a frame. */
export function modelRef(model: unknown, version: unknown, where: string): { model: string; version: string } {
  if (typeof model !== 'string' || model === '') throw invalidType('a model name', `${where} model`, model);
  if (version !== undefined && !(typeof version === 'string' || (Number.isInteger(version) && (version as number) >= 0))) {
    throw invalidType('a version string or number', `${where} options.version`, version);
  }
  return { model, version: version === undefined ? '' : String(version) };
}

function toTensorOut(name: string, t: unknown, binary: boolean, where: string): OipTensorOut {
  // A Tensor, or anything shaped like one (onnxruntime-common's Tensor).
  const like = t as Partial<Tensor> | null;
  if (typeof like !== 'object' || like === null || typeof like.type !== 'string' || !Array.isArray(like.dims) || like.data === undefined) {
    throw invalidType('a Tensor', `${where} input '${name}'`, t);
  }
  const { type, data, dims } = like as Tensor;
  const datatype = ortexToOipType(type);
  if (!datatype) {
    throw new OrtexTypeError('ERR_INVALID_ARG', `Expected a tensor type the Open Inference Protocol carries (bool, (u)int8-64, float16, bfloat16, float32, float64, string) for ${where} input '${name}' but received ${String(type)}`);
  }
  return { name, datatype, shape: dims, data: data as OipTensorOut['data'], binary };
}

/**
 * The request message for `inputs` and `options`.
 * @throws OrtexTypeError ERR_INVALID_ARG naming the argument at fault.
 */
export function encodeRequest(inputs: Readonly<Record<string, Tensor>>, options: ClientInferOptions, where: string): EncodedMessage {
  if (!isPlainObject(inputs)) throw invalidType('an object of named Tensors', `${where} inputs`, inputs);
  if (!isPlainObject(options)) throw invalidType('an object', `${where} options`, options);
  const binary = options.binary ?? true;
  if (typeof binary !== 'boolean') throw invalidType('a boolean', `${where} options.binary`, binary);
  if (options.outputs !== undefined && !(Array.isArray(options.outputs) && options.outputs.every((o) => typeof o === 'string' && o !== ''))) {
    throw invalidType('an array of output names', `${where} options.outputs`, options.outputs);
  }
  if (options.id !== undefined && typeof options.id !== 'string') throw invalidType('a string', `${where} options.id`, options.id);
  if (options.parameters !== undefined && !isPlainObject(options.parameters)) throw invalidType('an object', `${where} options.parameters`, options.parameters);
  return encodeInferRequest({
    ...(options.id !== undefined && { id: options.id }),
    ...(options.parameters !== undefined && { parameters: options.parameters as OipParameters }),
    inputs: Object.entries(inputs).map(([name, t]) => toTensorOut(name, t, binary, where)),
    ...(options.outputs !== undefined && { outputs: options.outputs.map((name) => ({ name })) }),
    binaryOutputs: binary,
  });
}

/** The outputs of a parsed response as Tensors (binary data stays a view over the response). */
export function decodeOutputs(response: ParsedInferResponse): Record<string, Tensor> {
  const out: Record<string, Tensor> = {};
  for (const o of response.outputs) out[o.name] = new Tensor(o.type, o.data as Tensor['data'], o.shape);
  return out;
}
