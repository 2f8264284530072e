/**
 * One inference request end to end, whatever transport carried it (HTTP here; a WebSocket
 * transport calls the same function): pick the servable, parse the body, build the feeds,
 * run the InferHandler chain, encode the response, filling the request's record on the way.
 *
 * The InferHandler chain is where layers plug in between the protocol and the model: each
 * InferMiddleware gets the prepared call and `next`, and may answer without calling it (a
 * response cache hit), call it and keep the result (a cache miss), or time it (metrics).
 */

import type { InferOptions } from '../model.js';
import type { ModelRepository } from '../repository/repository.js';
import type { Servable } from '../repository/servable.js';
import type { Tensor } from '../tensor.js';
import type { EncodedResponses } from './cache-middleware.js';
import { prepareInfer } from './infer-request.js';
import { encodeInferResult } from './infer-response.js';
import { type PendingBytes, type PendingTicket, checkBatchBytes } from './limits.js';
import { parseInferRequest } from './oip-codec.js';
import type { EncodedMessage, OipLimits, ParsedInferRequest } from './oip-types.js';
import type { RequestRecord } from './request-record.js';

/** A prepared model call: everything an InferHandler needs to answer it. */
export interface InferCall {
  /** The model version chosen, leased for the duration of the call. */
  readonly servable: Servable;
  /** The parsed request; binary input data are views over the request body. */
  readonly request: ParsedInferRequest;
  /** Inputs as the model takes them. */
  readonly feeds: Readonly<Record<string, Tensor>>;
  /** The outputs the response will carry (the handler may return more). */
  readonly outputs: readonly string[];
  /** Priority, queue timeout and the client's abort signal, for Model#infer(). */
  readonly options: InferOptions;
  readonly record: RequestRecord;
}

/** Answers a prepared call with the model's outputs. */
export type InferHandler = (call: InferCall) => Promise<Record<string, Tensor>>;

/**
 * A layer around the model call.
 * @example
 * // time every model call
 * const timed: InferMiddleware = async (call, next) => {
 *   const t0 = performance.now();
 *   try { return await next(call); } finally { histogram.observe(performance.now() - t0); }
 * };
 */
export type InferMiddleware = (call: InferCall, next: InferHandler) => Promise<Record<string, Tensor>>;

/** The last handler of every chain: the batched model itself. */
export const callModel: InferHandler = (call) => call.servable.model.infer(call.feeds, call.options);

/** Chains middleware around `last`, the first in the list outermost. */
export function composeInfer(middleware: readonly InferMiddleware[], last: InferHandler = callModel): InferHandler {
  return middleware.reduceRight<InferHandler>((next, layer) => (call) => layer(call, next), last);
}

/** What runInfer() needs from its server. */
export interface InferPipeline {
  readonly repository: ModelRepository;
  readonly handler: InferHandler;
  readonly limits: OipLimits;
  /** Server-wide admission (limits.ts): pending bytes and the batch-bytes bound. Absent: none. */
  readonly admission?: { readonly pending: PendingBytes; readonly maxBatchBytes: number };
  /** Responses as sent, answering byte-identical requests before they are parsed (cache-middleware.ts). Absent: none. */
  readonly encoded?: EncodedResponses;
}

/**
 * Runs one inference request.
 *
 * @param version '' or undefined for the model's latest ready version.
 * @param headerLength the Inference-Header-Content-Length value (undefined: all JSON).
 * @param signal the client's disconnect; cancels the request while it is still queued.
 * @throws the coded error of whichever step failed (404/503 from the repository, 400/413
 *   from parsing and checking, 503 from admission, 429/504/503 from the model, ...).
 */
export function runInfer(
  pipeline: InferPipeline,
  modelName: string,
  version: string | undefined,
  body: Uint8Array,
  headerLength: number | undefined,
  record: RequestRecord,
  signal?: AbortSignal,
): Promise<EncodedMessage> {
  // Not async: one promise per request (the model's) rather than one per await.
  let servable: Servable;
  try {
    servable = pipeline.repository.acquire(modelName, version);
  } catch (err) {
    return Promise.reject(err);
  }
  record.servable = servable;
  record.binaryIn = headerLength !== undefined;
  let ticket: PendingTicket | undefined;
  const done = (): void => {
    ticket?.release();
    servable.release();
  };
  try {
    const encoded = pipeline.encoded;
    const encodedKey = encoded?.key(servable, body, headerLength);
    if (encodedKey !== undefined) {
      const stored = encoded!.answer(encodedKey, record);
      if (stored !== undefined) {
        done();
        return stored;
      }
    }
    // Admitted before parsing: parsing is what allocates (JSON values, copies of misaligned sections).
    const admission = pipeline.admission;
    if (admission) ticket = admission.pending.admit(body.byteLength);
    const request = parseInferRequest(body, headerLength, pipeline.limits);
    const prepared = prepareInfer(servable, request);
    record.rows = prepared.rows;
    if (admission) ticket!.grow(checkBatchBytes(servable, prepared.feeds, prepared.rows, body, admission.maxBatchBytes));
    if (signal) prepared.options.signal = signal;
    record.inputMs = performance.now();
    return pipeline.handler({
      servable, request, feeds: prepared.feeds, outputs: prepared.outputs, options: prepared.options, record,
    }).then(
      (outputs) => {
        try {
          record.inferEndMs = performance.now();
          let message = encodeInferResult(servable.name, servable.versionText, request.id, prepared.outputs, prepared.binary, outputs);
          if (encodedKey !== undefined) message = encoded!.store(encodedKey, message, prepared.rows);
          record.outputMs = performance.now();
          return message;
        } finally {
          done();
        }
      },
      (err: unknown) => {
        done();
        throw err;
      },
    );
  } catch (err) {
    done();
    return Promise.reject(err);
  }
}
