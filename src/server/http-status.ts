/**
 * The one place errors become HTTP statuses: an error's `code` from src/errors.ts decides
 * the status (httpStatusOf); anything without a known code is a 500 and is logged, since it
 * is a bug in ortex rather than a fault of the request. Also the status lines uWS writes
 * verbatim ("404 Not Found").
 */

import { Buffer } from 'node:buffer';
import { httpStatusOf, isErrorCode } from '../errors.js';
import type { Logger } from './logger.js';

const REASONS: Record<number, string> = {
  200: 'OK', 204: 'No Content', 400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 405: 'Method Not Allowed', 409: 'Conflict',
  413: 'Payload Too Large', 422: 'Unprocessable Entity', 429: 'Too Many Requests', 499: 'Client Closed Request',
  500: 'Internal Server Error', 501: 'Not Implemented', 503: 'Service Unavailable', 504: 'Gateway Timeout',
};

/** The response header that carries an error's code (ERR_…) beside its status; the body stays Triton's `{"error": "..."}`. */
export const ERROR_CODE_HEADER = 'ortex-error-code';

const LINES = new Map<number, string>();
const LINE_BYTES = new Map<number, Buffer>();

/** "200 OK", "503 Service Unavailable", ...: the status line uWS's writeStatus() takes. */
export function statusLine(status: number): string {
  let line = LINES.get(status);
  if (line === undefined) {
    line = `${status} ${REASONS[status] ?? 'Unknown'}`;
    LINES.set(status, line);
  }
  return line;
}

/**
 * statusLine() as bytes, for the hot path: uWS takes a string through a UTF-8 conversion into
 * a fresh allocation each time, and a Buffer as it is.
 */
export function statusLineBytes(status: number): Buffer {
  let bytes = LINE_BYTES.get(status);
  if (bytes === undefined) {
    bytes = Buffer.from(statusLine(status), 'latin1');
    LINE_BYTES.set(status, bytes);
  }
  return bytes;
}

/** What an error turns into on the wire. */
export interface ErrorReply {
  status: number;
  /** `{"error": "..."}` */
  body: string;
  /** The error's code, when it has a known one. */
  code: string | undefined;
}

/**
 * Maps an error to its status and `{"error": message}` body. Errors without a known code
 * (bugs) become 500 and are logged with their stack; coded errors that are 500 (a model run
 * that failed) are logged as warnings. Others (bad requests, queue full, timeouts) are the
 * normal traffic of a loaded server and are left to metrics.
 */
export function errorReply(err: unknown, logger: Logger): ErrorReply {
  const code = (err as { code?: unknown } | null)?.code;
  const known = isErrorCode(code);
  const status = httpStatusOf(err);
  const message = err instanceof Error ? err.message : String(err);
  if (!known) logger.error({ err }, `unexpected error answered with 500: ${message}`);
  else if (status === 500) logger.warn({ code, status }, message);
  return { status, body: JSON.stringify({ error: message }), code: known ? (code as string) : undefined };
}

/**
 * Headers that go with an error answer: its code (ortex's client reads it), WWW-Authenticate
 * with every 401 (RFC 9110 requires it), Retry-After with an overload 503.
 */
export function errorHeaders(reply: ErrorReply): Array<[string, string]> {
  const headers: Array<[string, string]> = [];
  if (reply.code !== undefined) headers.push([ERROR_CODE_HEADER, reply.code]);
  if (reply.status === 401) headers.push(['www-authenticate', 'Bearer realm="ortex model control"']);
  if (reply.code === 'ERR_SERVER_OVERLOADED') headers.push(['retry-after', '1']);
  return headers;
}
