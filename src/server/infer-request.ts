/**
 * From a parsed Open Inference Protocol request to the call the model receives: every input
 * matched to the model's by name and datatype (in protocol names, so the client reads its
 * own vocabulary), the requested outputs checked, and the request parameters Triton defines
 * for scheduling (`priority`, `timeout` in µs) turned into infer() options. Shapes and row
 * counts are left to Model#infer(), which checks them with the same error codes.
 */

import { OrtexError } from '../errors.js';
import type { InferOptions } from '../model.js';
import type { Servable } from '../repository/servable.js';
import { Tensor } from '../tensor.js';
import { invalidRange } from '../validate.js';
import { ortexToOipType } from './oip-datatypes.js';
import type { ParsedInferRequest } from './oip-types.js';

/** The model call of one request, before it is made. */
export interface PreparedInfer {
  feeds: Record<string, Tensor>;
  /** Output names to answer with, in the order to send them. */
  outputs: string[];
  /** Per output name: send as binary data. */
  binary: boolean[];
  options: InferOptions;
  /** Rows of the request (first dim) when the model batches, else 1. */
  rows: number;
}

function schedulingOptions(request: ParsedInferRequest): InferOptions {
  const options: InferOptions = {};
  const p = request.parameters;
  if (!p) return options;
  if (p.priority !== undefined) {
    if (!Number.isInteger(p.priority) || (p.priority as number) < 0) throw invalidRange('an integer >= 0 (0: the model default)', 'parameters.priority', p.priority, 'ERR_REQUEST_INVALID');
    if (p.priority !== 0) options.priority = p.priority as number;
  }
  if (p.timeout !== undefined) {
    if (!Number.isInteger(p.timeout) || (p.timeout as number) < 0) throw invalidRange('an integer number of µs >= 0 (0: the model default)', 'parameters.timeout', p.timeout, 'ERR_REQUEST_INVALID');
    if (p.timeout !== 0) options.timeoutUs = p.timeout as number;
  }
  return options;
}

/**
 * @throws ERR_INPUT_NAME / ERR_INPUT_TYPE / ERR_OUTPUT_NAME (400) naming the tensor and the
 *   model; ERR_REQUEST_INVALID for bad scheduling parameters.
 */
export function prepareInfer(servable: Servable, request: ParsedInferRequest): PreparedInfer {
  const model = servable.model;
  const feeds: Record<string, Tensor> = {};
  let rows = 1;
  for (let i = 0; i < request.inputs.length; i++) {
    const t = request.inputs[i]!;
    const meta = model.inputMetadata.find((m) => m.name === t.name);
    if (!meta) {
      throw new OrtexError('ERR_INPUT_NAME', `Unknown input '${t.name}' for model '${servable.name}'; its inputs are: ${model.inputNames.join(', ')}`);
    }
    if (meta.isTensor && meta.type !== t.type) {
      throw new OrtexError('ERR_INPUT_TYPE', `Expected datatype ${ortexToOipType(meta.type) ?? meta.type} for input '${t.name}' of model '${servable.name}' but received ${t.datatype}`);
    }
    if (i === 0 && servable.config.maxBatchSize > 0) rows = t.shape[0] ?? 0;
    feeds[t.name] = new Tensor(t.type, t.data, t.shape);
  }
  let outputs: string[];
  let binary: boolean[];
  if (request.outputs) {
    outputs = request.outputs.map((o) => {
      if (o.parameters?.classification !== undefined) {
        throw new OrtexError('ERR_REQUEST_INVALID', `Expected no parameters.classification for output '${o.name}' (the classification extension is not supported) but received ${JSON.stringify(o.parameters.classification)}`);
      }
      if (!model.outputNames.includes(o.name)) {
        throw new OrtexError('ERR_OUTPUT_NAME', `Unknown output '${o.name}' for model '${servable.name}'; its outputs are: ${model.outputNames.join(', ')}`);
      }
      return o.name;
    });
    binary = request.outputs.map((o) => o.binary);
  } else {
    outputs = [...model.outputNames];
    binary = outputs.map(() => request.binaryOutputsDefault);
  }
  return { feeds, outputs, binary, options: schedulingOptions(request), rows };
}
