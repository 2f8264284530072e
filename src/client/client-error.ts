/**
 * The errors ortex's clients raise: every one an OrtexError whose `code` and `status` are
 * the server's (from the `ortex-error-code` header over HTTP, from the error frame over
 * WebSocket). A server that sends no code (another Open Inference Protocol server) gets the
 * catalogue code its status most likely means; ERR_CLIENT_CONNECTION when the server cannot
 * be reached or the connection closed before an answer; ERR_CLIENT_PROTOCOL when an answer
 * cannot be read.
 */

import { type ErrorCode, OrtexError, isErrorCode } from '../errors.js';

const BY_STATUS: Readonly<Record<number, ErrorCode>> = {
  400: 'ERR_REQUEST_INVALID',
  404: 'ERR_MODEL_NOT_FOUND',
  409: 'ERR_SESSION_STATE',
  413: 'ERR_REQUEST_TOO_LARGE',
  422: 'ERR_MODEL_INVALID',
  429: 'ERR_QUEUE_FULL',
  499: 'ERR_REQUEST_ABORTED',
  500: 'ERR_INTERNAL',
  501: 'ERR_ORT_NOT_IMPLEMENTED',
  503: 'ERR_MODEL_NOT_READY',
  504: 'ERR_REQUEST_TIMEOUT',
};

/** The error a server answered with: its message as sent, its code (or the status's). */
export function serverError(status: number, code: unknown, message: string): OrtexError {
  return new OrtexError(isErrorCode(code) ? code : BY_STATUS[status] ?? 'ERR_CLIENT_PROTOCOL', message);
}

export function connectionError(message: string, cause?: unknown): OrtexError {
  return new OrtexError('ERR_CLIENT_CONNECTION', message, cause === undefined ? undefined : { cause });
}

/** An answer the client cannot read (not the protocol, or a message that does not parse). */
export function protocolError(message: string, cause?: unknown): OrtexError {
  const detail = cause instanceof Error ? `: ${cause.message}` : '';
  return new OrtexError('ERR_CLIENT_PROTOCOL', `${message}${detail}`, cause === undefined ? undefined : { cause });
}
