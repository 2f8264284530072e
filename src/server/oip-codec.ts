/**
 * The Open Inference Protocol (KServe v2) inference messages as Triton speaks them over
 * HTTP, with Triton's binary tensor data extension: a body is a JSON object, optionally
 * followed by binary sections whose start the `Inference-Header-Content-Length` header gives.
 *
 * The server parses requests and encodes responses; the client side (encodeInferRequest,
 * parseInferResponse) is here too, for ortex's own client and for tests. Malformed messages
 * raise ERR_REQUEST_JSON (400), ERR_REQUEST_INVALID (400) or ERR_REQUEST_TOO_LARGE (413),
 * whichever side parses them.
 */

import { invalidType, isPlainObject } from '../validate.js';
import { encodeMessage, finishBody, readHeader, readName, readOptionalString, readParameters, readTensors } from './oip-message.js';
import type {
  EncodedMessage,
  InferRequest,
  InferResponse,
  OipLimits,
  ParsedInferRequest,
  ParsedInferResponse,
  ParsedRequestedOutput,
} from './oip-types.js';

export { OIP_DATATYPES, oipToOrtexType, ortexToOipType } from './oip-datatypes.js';
export type { OipDatatype } from './oip-datatypes.js';
export type * from './oip-types.js';

/** The HTTP header that carries the JSON header's length in bytes. */
export const HEADER_LENGTH_HEADER = 'inference-header-content-length';

function readRequestedOutputs(v: unknown, binaryDefault: boolean): ParsedRequestedOutput[] {
  if (!Array.isArray(v)) throw invalidType('an array of { name, parameters? }', 'outputs', v, 'ERR_REQUEST_INVALID');
  const seen = new Set<string>();
  return v.map((o, i) => {
    if (!isPlainObject(o)) throw invalidType('an object', `outputs[${i}]`, o, 'ERR_REQUEST_INVALID');
    const name = readName(o.name, `outputs[${i}].name`);
    if (seen.has(name)) throw invalidType('unique output names', `outputs[${i}].name`, name, 'ERR_REQUEST_INVALID');
    seen.add(name);
    const parameters = readParameters(o.parameters, `output '${name}'`);
    const binary = parameters?.binary_data;
    if (binary !== undefined && typeof binary !== 'boolean') {
      throw invalidType('a boolean', `output '${name}' parameters.binary_data`, binary, 'ERR_REQUEST_INVALID');
    }
    if (parameters?.shared_memory_region !== undefined) {
      throw invalidType('no parameters.shared_memory_region (the shared-memory extension is not supported)', `output '${name}'`, parameters.shared_memory_region, 'ERR_REQUEST_INVALID');
    }
    const out: ParsedRequestedOutput = { name, binary: binary ?? binaryDefault };
    if (parameters) out.parameters = parameters;
    return out;
  });
}

/**
 * Parses an inference request body.
 *
 * @param body the whole request body. Binary input data is returned as views over it, so
 *   it must stay unchanged while the inputs are in use.
 * @param headerLength the `Inference-Header-Content-Length` header as a number, or
 *   undefined when absent (then the whole body is JSON).
 * @param limits body and tensor size bounds (413 when exceeded).
 * @throws OrtexError / OrtexTypeError with code ERR_REQUEST_JSON, ERR_REQUEST_INVALID or
 *   ERR_REQUEST_TOO_LARGE; the message names the field or input at fault.
 * @example
 * const req = parseInferRequest(body, Number(headers['inference-header-content-length']) || undefined);
 * const feeds = Object.fromEntries(req.inputs.map((i) => [i.name, new Tensor(i.type, i.data, i.shape)]));
 */
export function parseInferRequest(body: Uint8Array, headerLength?: number, limits: OipLimits = {}): ParsedInferRequest {
  const { json, reader } = readHeader(body, headerLength, limits, 'inference request');
  const id = readOptionalString(json.id, 'id');
  const parameters = readParameters(json.parameters, 'the request');
  const binaryDefault = parameters?.binary_data_output ?? false;
  if (typeof binaryDefault !== 'boolean') {
    throw invalidType('a boolean', 'parameters.binary_data_output', binaryDefault, 'ERR_REQUEST_INVALID');
  }
  if (json.inputs === undefined) throw invalidType('an array of input tensors', 'inputs', undefined, 'ERR_REQUEST_INVALID');
  const inputs = readTensors(json.inputs, 'input', reader);
  finishBody(reader, 'inference request');
  const request: ParsedInferRequest = { inputs, binaryOutputsDefault: binaryDefault };
  if (id !== undefined) request.id = id;
  if (parameters) request.parameters = parameters;
  if (json.outputs !== undefined) request.outputs = readRequestedOutputs(json.outputs, binaryDefault);
  return request;
}

/**
 * Encodes an inference response: all JSON (body is a string) unless some output has
 * `binary: true`, in which case the body is the JSON header then those outputs' bytes in
 * output order, and `headerLength` goes in the `Inference-Header-Content-Length` header.
 *
 * @throws OrtexTypeError ERR_OUTPUT_TYPE (500) when an output's data does not fit its datatype or shape.
 * @example
 * const { body, headerLength } = encodeInferResponse({
 *   modelName: 'ctr', modelVersion: '1', id: req.id,
 *   outputs: [{ name: 'prob', datatype: 'FP32', shape: [1, 1], data: new Float32Array([0.7]), binary: true }],
 * });
 */
export function encodeInferResponse(response: InferResponse): EncodedMessage {
  if (!isPlainObject(response)) throw invalidType('an object', 'the inference response', response, 'ERR_OUTPUT_TYPE');
  const fields: Record<string, unknown> = { model_name: response.modelName };
  if (response.modelVersion !== undefined) fields.model_version = response.modelVersion;
  if (response.id !== undefined) fields.id = response.id;
  if (response.parameters !== undefined) fields.parameters = response.parameters;
  return encodeMessage(fields, 'outputs', response.outputs, 'output', 'ERR_OUTPUT_TYPE');
}

/**
 * Encodes an inference request (the client side), inputs as JSON or binary sections.
 * @throws OrtexTypeError ERR_INVALID_ARG when an input's data does not fit its datatype or shape.
 * @example
 * const { body, headerLength } = encodeInferRequest({
 *   inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 4], data: new Float32Array(4), binary: true }],
 *   binaryOutputs: true,
 * });
 */
export function encodeInferRequest(request: InferRequest): EncodedMessage {
  if (!isPlainObject(request)) throw invalidType('an object', 'the inference request', request, 'ERR_INVALID_ARG');
  const fields: Record<string, unknown> = {};
  if (request.id !== undefined) fields.id = request.id;
  const parameters = request.binaryOutputs === undefined
    ? request.parameters
    : { ...request.parameters, binary_data_output: request.binaryOutputs };
  if (parameters !== undefined) fields.parameters = parameters;
  if (request.outputs !== undefined) {
    fields.outputs = request.outputs.map((o) => {
      const p = o.binary === undefined ? o.parameters : { ...o.parameters, binary_data: o.binary };
      return p === undefined ? { name: o.name } : { name: o.name, parameters: p };
    });
  }
  return encodeMessage(fields, 'inputs', request.inputs, 'input', 'ERR_INVALID_ARG');
}

/**
 * Parses an inference response body (the client side). Binary output data is returned as
 * views over `body` where aligned, as for requests.
 * @throws with the same codes as parseInferRequest.
 */
export function parseInferResponse(body: Uint8Array, headerLength?: number, limits: OipLimits = {}): ParsedInferResponse {
  const { json, reader } = readHeader(body, headerLength, limits, 'inference response');
  const response: ParsedInferResponse = {
    modelName: readName(json.model_name, 'model_name'),
    outputs: readTensors(json.outputs, 'output', reader),
  };
  finishBody(reader, 'inference response');
  const modelVersion = readOptionalString(json.model_version, 'model_version');
  if (modelVersion !== undefined) response.modelVersion = modelVersion;
  const id = readOptionalString(json.id, 'id');
  if (id !== undefined) response.id = id;
  const parameters = readParameters(json.parameters, 'the response');
  if (parameters) response.parameters = parameters;
  return response;
}
