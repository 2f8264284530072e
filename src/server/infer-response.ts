/**
 * From a model's outputs to the Open Inference Protocol response: the requested outputs in
 * the order asked, each in JSON or as binary data as the request said, with the model's
 * name and the version that answered.
 */

import { OrtexError } from '../errors.js';
import type { Tensor } from '../tensor.js';
import { encodeInferResponse } from './oip-codec.js';
import { isDataOf, oipDatatype, ortexToOipType } from './oip-datatypes.js';
import { dataToJson } from './oip-json-data.js';
import type { EncodedMessage, OipTensorOut } from './oip-types.js';

/**
 * @throws ERR_OUTPUT_TYPE (500) for an output whose element type the protocol cannot carry
 *   (float8, 4-bit, complex) or that the model did not return.
 */
export function encodeInferResult(
  modelName: string,
  modelVersion: string,
  id: string | undefined,
  names: readonly string[],
  binary: readonly boolean[],
  outputs: Readonly<Record<string, Tensor>>,
): EncodedMessage {
  const json = jsonResult(modelName, modelVersion, id, names, binary, outputs);
  if (json !== undefined) return { body: json };
  const tensors = new Array<OipTensorOut>(names.length);
  for (let i = 0; i < names.length; i++) {
    const name = names[i]!;
    const t = outputs[name];
    if (!t) throw new OrtexError('ERR_OUTPUT_TYPE', `Model '${modelName}' returned no output '${name}'`);
    const datatype = ortexToOipType(t.type);
    if (!datatype) throw new OrtexError('ERR_OUTPUT_TYPE', `Output '${name}' of model '${modelName}' is ${t.type}, which the Open Inference Protocol has no datatype for`);
    tensors[i] = { name, datatype, shape: t.dims, data: t.data as OipTensorOut['data'], binary: binary[i]! };
  }
  const response: Parameters<typeof encodeInferResponse>[0] = { modelName, modelVersion, outputs: tensors };
  if (id !== undefined) response.id = id;
  return encodeInferResponse(response);
}

/**
 * The all-JSON response written straight out, byte for byte what encodeInferResponse()
 * writes, for the usual case: every output sent as JSON, present, and holding the array of
 * its datatype with as many elements as its dims say. Undefined otherwise, and the general
 * path answers (and raises the errors). Skips the intermediate objects and the per-tensor
 * checks that encodeInferResponse() makes for arbitrary input, a measurable share of a
 * small request.
 */
function jsonResult(
  modelName: string,
  modelVersion: string,
  id: string | undefined,
  names: readonly string[],
  binary: readonly boolean[],
  outputs: Readonly<Record<string, Tensor>>,
): string | undefined {
  let s = `{"model_name":${JSON.stringify(modelName)},"model_version":${JSON.stringify(modelVersion)}`;
  if (id !== undefined) s += `,"id":${JSON.stringify(id)}`;
  s += ',"outputs":[';
  for (let i = 0; i < names.length; i++) {
    if (binary[i]) return undefined;
    const name = names[i]!;
    const t = outputs[name];
    if (!t) return undefined;
    const datatype = ortexToOipType(t.type);
    const info = datatype === undefined ? undefined : oipDatatype(datatype);
    if (!info || !isDataOf(info, t.data)) return undefined;
    const dims = t.dims;
    let count = 1;
    for (let d = 0; d < dims.length; d++) {
      const n = dims[d]!;
      if (!Number.isSafeInteger(n) || n < 0) return undefined;
      count *= n;
    }
    if (t.data.length !== count) return undefined;
    s += `${i === 0 ? '' : ','}{"name":${JSON.stringify(name)},"datatype":"${datatype}","shape":[${dims.join(',')}],"data":${dataToJson(info, t.data)}}`;
  }
  return s + ']}';
}
