/**
 * One streamed request, from the WebSocket message that carried it to the frame that
 * answers it: admit() reads the frame header (or refuses the message with an error frame),
 * answer() runs the inference through the server's pipeline (the same path as HTTP) and
 * encodes the response frame, or the error frame of whatever failed. The flow control
 * around them (how many run, when answers are written) is ws-connection.ts's.
 *
 * Threading: the event loop only.
 */

import { Buffer } from 'node:buffer';
import { type ErrorCode, OrtexError } from '../errors.js';
import { errorReply } from './http-status.js';
import type { Logger } from './logger.js';
import { checkModelName, checkModelVersion } from './names.js';
import type { EncodedMessage } from './oip-types.js';
import type { RequestRecord } from './request-record.js';
import { type FramePieces, FrameKind, type StreamFrame, encodeErrorFrame, encodeFrame, parseFrame, readFrameId } from './ws-frame.js';

/** The server's inference entry point (OrtexServer#infer). */
export type StreamInfer = (model: string, version: string, body: Uint8Array, headerLength: number | undefined, record: RequestRecord, signal?: AbortSignal) => Promise<EncodedMessage>;

/** What streamed requests need from their server. */
export interface StreamContext {
  readonly logger: Logger;
  /** Larger messages are answered 413 (their connection stays open). */
  readonly maxMessageBytes: number;
  readonly infer: StreamInfer;
  /** True once the server is shutting down: new requests are answered 503. */
  draining(): boolean;
}

/**
 * The error frame for a failed request, its status and code noted in the record. Errors
 * without a known code are bugs: answered 500 ERR_INTERNAL and logged (errorReply).
 */
export function errorAnswer(ctx: StreamContext, id: number, record: RequestRecord, err: unknown): FramePieces {
  const reply = errorReply(err, ctx.logger);
  record.status = reply.status;
  record.code = reply.code ?? 'ERR_INTERNAL';
  const message = err instanceof Error ? err.message : String(err);
  return encodeErrorFrame(id, record.model, record.version, { error: message, code: record.code as ErrorCode, status: reply.status });
}

/**
 * Reads a received message as a request frame, copying it out of uWS's buffer (which is
 * neutered when the message handler returns) into one of its own, so that the binary
 * tensor sections the sender aligned stay aligned. Fills the record's model and version.
 * @returns the frame to run, or the error frame that answers it at once: a text message, a
 *   message over maxMessageBytes (413), a malformed frame (400 ERR_WS_FRAME, id 0 when no id
 *   could be read), a frame that is not a request, or any request while draining (503).
 */
export function admit(ctx: StreamContext, message: Uint8Array, isBinary: boolean, record: RequestRecord): StreamFrame | FramePieces {
  if (!isBinary) {
    return errorAnswer(ctx, 0, record, new OrtexError('ERR_WS_FRAME', 'Expected a binary message (a frame of the streaming protocol) but received a text message'));
  }
  if (message.byteLength > ctx.maxMessageBytes) {
    const err = new OrtexError('ERR_REQUEST_TOO_LARGE', `Expected a message of at most ${ctx.maxMessageBytes} bytes but received ${message.byteLength}`);
    return errorAnswer(ctx, readFrameId(message), record, err);
  }
  const bytes = Buffer.allocUnsafeSlow(message.byteLength);
  bytes.set(message);
  let frame: StreamFrame;
  try {
    frame = parseFrame(bytes);
  } catch (err) {
    return errorAnswer(ctx, readFrameId(bytes), record, err);
  }
  record.model = frame.model;
  record.version = frame.version;
  if (frame.kind !== FrameKind.request) {
    return errorAnswer(ctx, frame.id, record, new OrtexError('ERR_WS_FRAME', `Expected a request frame (kind 1) but received kind ${frame.kind}`));
  }
  if (frame.id === 0) return errorAnswer(ctx, 0, record, new OrtexError('ERR_WS_FRAME', 'Expected a request id from 1 to 4294967295 but received 0 (reserved)'));
  if (frame.model === '') return errorAnswer(ctx, frame.id, record, new OrtexError('ERR_WS_FRAME', 'Expected a model name but received an empty one'));
  try {
    // Before anything looks the model up (names.ts).
    checkModelName(frame.model);
    checkModelVersion(frame.version);
  } catch (err) {
    // Not echoed back nor kept as a metrics label: it may be anything the client made up.
    record.model = '';
    record.version = '';
    return errorAnswer(ctx, frame.id, record, err);
  }
  if (ctx.draining()) return errorAnswer(ctx, frame.id, record, new OrtexError('ERR_SERVER_DRAINING', 'The server is shutting down and accepts no new requests'));
  return frame;
}

/**
 * Runs an admitted request. Never rejects: a failure is answered with its error frame.
 * @param signal the connection's closing, which cancels the request while still queued.
 */
export async function answer(ctx: StreamContext, frame: StreamFrame, record: RequestRecord, signal?: AbortSignal): Promise<FramePieces> {
  try {
    const headerLength = frame.headerLength === frame.body.byteLength ? undefined : frame.headerLength;
    const encoded = await ctx.infer(frame.model, frame.version, frame.body, headerLength, record, signal);
    const servable = record.servable!;
    const pieces = encodeFrame(FrameKind.response, frame.id, servable.name, servable.versionText, encoded);
    record.status = 200;
    return pieces;
  } catch (err) {
    return errorAnswer(ctx, frame.id, record, err);
  }
}
