/**
 * Request bodies assembled from uWebSockets.js `onData` chunks, with a byte limit.
 *
 * uWS hands each chunk as an ArrayBuffer that it neuters when the callback returns, so every
 * chunk is copied once: straight into a buffer of exactly Content-Length bytes when the
 * client sent that header (the usual case; no copy after this one, and the parsers then make
 * views over it), or into a list joined at the end for a chunked body. Past the limit the
 * reader stops copying and reports ERR_REQUEST_TOO_LARGE at once; the caller answers 413
 * and closes the connection, so the rest of the body is never buffered.
 *
 * Threading: the event loop only, like every uWS callback.
 */

import { Buffer } from 'node:buffer';
import { OrtexError } from '../errors.js';
import type { HttpResponse } from './uws.js';

/** Called once: with the body, or with the error that stopped reading it. */
export type BodyCallback = (err: OrtexError | null, body: Buffer | null) => void;

export function tooLarge(maxBytes: number, received: string): OrtexError {
  return new OrtexError('ERR_REQUEST_TOO_LARGE', `Expected a request body of at most ${maxBytes} bytes but received ${received}`);
}

/**
 * Starts reading the request body. Must be called from the route handler itself (before
 * any await): uWS delivers chunks only to a handler attached by then.
 *
 * @param contentLength the Content-Length header as sent ('' when absent, e.g. chunked).
 * @param isStopped checked before each chunk: true once the response was aborted or ended,
 *   after which chunks are dropped.
 */
export function readBody(res: HttpResponse, contentLength: string, maxBytes: number, isStopped: () => boolean, done: BodyCallback): void {
  const declared = contentLength === '' ? -1 : Number(contentLength);
  if (contentLength !== '' && !(Number.isSafeInteger(declared) && declared >= 0)) {
    done(new OrtexError('ERR_REQUEST_INVALID', `Expected a Content-Length of a byte count but received "${contentLength}"`), null);
    return;
  }
  if (declared > maxBytes) {
    done(tooLarge(maxBytes, `a Content-Length of ${declared}`), null);
    return;
  }
  // allocUnsafeSlow: a buffer of its own, starting an ArrayBuffer, so binary tensor sections
  // are aligned whenever their offset in the body is (see oip-binary-data.ts).
  const whole = declared >= 0 ? Buffer.allocUnsafeSlow(declared) : null;
  const chunks: Buffer[] = [];
  let received = 0;
  let finished = false;
  res.onData((chunk, isLast) => {
    if (finished || isStopped()) return;
    const n = chunk.byteLength;
    if (received + n > maxBytes || (whole && received + n > whole.byteLength)) {
      finished = true;
      done(
        whole && received + n <= maxBytes
          ? new OrtexError('ERR_REQUEST_INVALID', `Expected a body of Content-Length ${declared} bytes but received more`)
          : tooLarge(maxBytes, `at least ${received + n} bytes`),
        null,
      );
      return;
    }
    if (whole) whole.set(new Uint8Array(chunk), received);
    else if (n > 0) chunks.push(Buffer.from(new Uint8Array(chunk)));
    received += n;
    if (!isLast) return;
    finished = true;
    if (whole) {
      if (received === whole.byteLength) done(null, whole);
      else done(new OrtexError('ERR_REQUEST_INVALID', `Expected a body of Content-Length ${declared} bytes but received ${received}`), null);
    } else {
      done(null, chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, received));
    }
  });
}
