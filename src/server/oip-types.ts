/**
 * Shapes of Open Inference Protocol (KServe v2) inference messages as ortex parses and
 * encodes them. Wire field names (snake_case) appear only in oip-codec.ts; these are the
 * TypeScript side.
 */

import type { TensorType, TypedArray } from '../dtypes.js';
import type { OipDatatype } from './oip-datatypes.js';

/** A protocol parameter value; `parameters` objects map names to these. */
export type OipParameterValue = string | number | boolean;
export type OipParameters = Record<string, OipParameterValue>;

/**
 * Tensor values after parsing: the TypedArray ortex's tensor type uses (BOOL → Uint8Array
 * of 0/1, FP16/BF16 → Uint16Array of bit patterns, INT64/UINT64 → BigInt64Array /
 * BigUint64Array), or for BYTES a string[] of the elements decoded as UTF-8 (ortex's string
 * tensors hold JS strings; bytes that are not UTF-8 become U+FFFD).
 */
export type OipTensorData = TypedArray | string[];

/** One tensor of a parsed message (a request input or a response output). */
export interface ParsedTensor {
  name: string;
  datatype: OipDatatype;
  /** The ortex tensor type of `datatype`, ready for `new Tensor(type, data, shape)`. */
  type: TensorType;
  shape: number[];
  /**
   * For binary tensor data, a view over the message body wherever the offset is aligned for
   * the element size (a single copy otherwise): keep the body unchanged while it is in use.
   */
  data: OipTensorData;
  parameters?: OipParameters;
}

/** An output the client asked for, and whether it wants it as binary data. */
export interface ParsedRequestedOutput {
  name: string;
  /** `parameters.binary_data` of this output, else the request's `binary_data_output`. */
  binary: boolean;
  parameters?: OipParameters;
}

/** A parsed `POST /v2/models/{m}/infer` body. */
export interface ParsedInferRequest {
  id?: string;
  parameters?: OipParameters;
  inputs: ParsedTensor[];
  /** Absent when the client did not list outputs (all outputs are wanted). */
  outputs?: ParsedRequestedOutput[];
  /** `parameters.binary_data_output`: the binary choice for outputs not listed or without `binary_data`. */
  binaryOutputsDefault: boolean;
}

/** Values to encode: a parsed form, or for BYTES also raw byte strings; BOOL may be boolean[]. */
export type OipEncodableData = TypedArray | readonly string[] | readonly Uint8Array[] | readonly boolean[];

/** A tensor to encode in a message. */
export interface OipTensorOut {
  name: string;
  datatype: OipDatatype;
  shape: readonly number[];
  data: OipEncodableData;
  /** Send as binary tensor data after the JSON header (default false: in the JSON). */
  binary?: boolean;
  parameters?: OipParameters;
}

/** An inference response to encode. */
export interface InferResponse {
  modelName: string;
  modelVersion?: string;
  id?: string;
  parameters?: OipParameters;
  outputs: readonly OipTensorOut[];
}

/** A parsed inference response (what a client receives). */
export interface ParsedInferResponse {
  modelName: string;
  modelVersion?: string;
  id?: string;
  parameters?: OipParameters;
  outputs: ParsedTensor[];
}

/** An inference request to encode (what a client sends). */
export interface InferRequest {
  id?: string;
  parameters?: OipParameters;
  inputs: readonly OipTensorOut[];
  outputs?: ReadonlyArray<{ name: string; binary?: boolean; parameters?: OipParameters }>;
  /** Sets `parameters.binary_data_output`: all outputs as binary unless an output says otherwise. */
  binaryOutputs?: boolean;
}

/**
 * An encoded message. `body` is a string when everything is JSON; otherwise the JSON header
 * followed by the binary sections, and `headerLength` is the header's size in bytes, to be
 * sent as the `Inference-Header-Content-Length` header.
 */
export interface EncodedMessage {
  body: Uint8Array | string;
  headerLength?: number;
}

/** Bounds a parser enforces; breaking one is ERR_REQUEST_TOO_LARGE (413). */
export interface OipLimits {
  /** Largest accepted body in bytes (default 64 MiB). */
  maxBodyBytes?: number;
  /**
   * Largest element count of a message's tensors, summed over them (default 2^28), checked
   * from the declared shapes before any tensor is allocated.
   */
  maxElements?: number;
  /** Appended to an element-limit refusal, e.g. "or raise --max-request-elements". */
  maxElementsHint?: string;
}
