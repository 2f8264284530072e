/**
 * One inference request end to end, whatever transport carried it (HTTP here; a WebSocket
 * transport calls the same function): pick the servable, parse the body, build the feeds,
 * run the InferHandler chain, encode the response, filling the request's record on the way.
 *
 * The InferHandler chain is where layers plug in between the protocol and the model: each
 * InferMiddleware gets the prepared call and `next`, and may answer without calling it (a
 * response cache hit), call it and keep the result (a cache miss), or time it (metrics).
 */

import { OrtexError } from '../errors.js';
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

/** Receives the outcome of runInferInto(): an error (never null), or null and the encoded response. Must not throw. */
export type InferReply = (err: unknown, message: EncodedMessage | undefined) => void;

/** A failure as reported: a middleware may reject with null or undefined, which would read as success. */
function reasonOf(err: unknown): unknown {
  return err ?? new OrtexError('ERR_INTERNAL', 'An inference middleware failed without a reason (it rejected with null or undefined)');
}

/**
 * Runs one inference request.
 *
 * @param version '' or undefined for the model's latest ready version.
 * @param headerLength the Inference-Header-Content-Length value (undefined: all JSON).
 * @param signal the client's disconnect; cancels the request while it is still queued.
 * @throws (rejects with) the coded error of whichever step failed (404/503 from the
 *   repository, 400/413 from parsing and checking, 503 from admission, 429/504/503 from the model, ...).
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
  return new Promise((resolve, reject) => {
    runInferInto(pipeline, modelName, version, body, headerLength, record, signal, (err, message) => (err === null ? resolve(message!) : reject(err)));
  });
}

/**
 * runInfer() with a callback, for the HTTP route: a request answered from the stored bytes of a
 * byte-identical one (most of them, under a cache that works) then costs no promise at all.
 * `reply` is called exactly once, never synchronously (a stored response at the end of this
 * event-loop turn, an error on the next microtask at the earliest).
 */
export function runInferInto(
  pipeline: InferPipeline,
  modelName: string,
  version: string | undefined,
  body: Uint8Array,
  headerLength: number | undefined,
  record: RequestRecord,
  signal: AbortSignal | undefined,
  reply: InferReply,
): void {
  const fail = (err: unknown): void => void Promise.resolve().then(() => reply(reasonOf(err), undefined));
  let servable: Servable;
  try {
    servable = pipeline.repository.acquire(modelName, version);
  } catch (err) {
    return fail(err);
  }
  let ticket: PendingTicket | undefined;
  const done = (): void => {
    ticket?.release();
    servable.release();
  };
  try {
    record.servable = servable;
    record.binaryIn = headerLength !== undefined;
    const encoded = pipeline.encoded;
    const encodedKey = encoded?.key(servable, body, headerLength);
    if (encodedKey !== undefined && encoded!.answer(encodedKey, record, reply)) {
      done();
      return;
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
    pipeline.handler({
      servable, request, feeds: prepared.feeds, outputs: prepared.outputs, options: prepared.options, record,
    }).then(
      (outputs) => {
        let message: EncodedMessage;
        try {
          record.inferEndMs = performance.now();
          message = encodeInferResult(servable.name, servable.versionText, request.id, prepared.outputs, prepared.binary, outputs);
          if (encodedKey !== undefined) message = encoded!.store(encodedKey, message, prepared.rows);
          record.outputMs = performance.now();
        } catch (err) {
          done();
          return reply(reasonOf(err), undefined);
        }
        done();
        reply(null, message);
      },
      (err: unknown) => {
        done();
        reply(reasonOf(err), undefined);
      },
    );
  } catch (err) {
    done();
    fail(err);
  }
}
