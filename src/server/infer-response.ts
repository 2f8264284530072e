/**
 * From a model's outputs to the Open Inference Protocol response: the requested outputs in
 * the order asked, each in JSON or as binary data as the request said, with the model's
 * name and the version that answered.
 */

import { OrtexError } from '../errors.js';
import type { Tensor } from '../tensor.js';
import { encodeInferResponse } from './oip-codec.js';
import { ortexToOipType } from './oip-datatypes.js';
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
