/**
 * Request bodies assembled from uWebSockets.js `onData` chunks, with a byte limit.
 *
 * uWS hands each chunk as an ArrayBuffer that it neuters when the callback returns, so every
 * chunk is copied once: straight into a buffer of exactly Content-Length bytes when the
 * client sent that header (the usual case; no copy after this one, and the parsers then make
 * views over it), or into a list joined at the end for a chunked body.
 *
 * Past the limit (from Content-Length, or once a chunked body passes it) the reader stops
 * copying and reports ERR_REQUEST_TOO_LARGE; the caller answers 413 and closes the
 * connection. It reports it only once the client stopped sending, though: closing a socket
 * with unread data makes the kernel reset the connection, and a client still writing its
 * body then sees the reset instead of the 413 (most did, for bodies of a few MB). So what
 * the client goes on sending is read and discarded ("lingering close", as nginx does) until
 * the body ends, the client pauses for DRAIN_IDLE_MS (it waits for the answer), or
 * DRAIN_MAX_BYTES or DRAIN_MAX_MS have passed (then the connection is closed regardless).
 * Nothing discarded is kept.
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

/** A refused body is read and discarded for at most this many more bytes... */
export const DRAIN_MAX_BYTES = 64 * 1024 * 1024;
/** ...and this long... */
export const DRAIN_MAX_MS = 5000;
/** ...and until the client has sent nothing for this long (it is waiting for the answer). */
export const DRAIN_IDLE_MS = 1000;

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
  // Binary tensor sections must stay aligned whenever their offset in the body is (see
  // oip-binary-data.ts): Node's pool, which serves small sizes, starts each buffer 8-byte
  // aligned, and larger ones start an ArrayBuffer of their own.
  const whole = declared >= 0 && declared <= maxBytes ? Buffer.allocUnsafe(declared) : null;
  const chunks: Buffer[] = [];
  let received = 0;
  let finished = false;
  // Draining (see the file header): the refusal waits until the client stops sending.
  let refusal: OrtexError | null = null;
  let drained = 0;
  let drainUntilMs = 0;
  let timer: NodeJS.Timeout | undefined;
  const finish = (err: OrtexError | null, body: Buffer | null): void => {
    finished = true;
    clearTimeout(timer);
    done(err, body);
  };
  /** Waits DRAIN_IDLE_MS for more (less when the drain time is nearly up), then answers. */
  const arm = (): void => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      if (finished) return;
      if (isStopped()) finished = true; // the client went away: nobody to answer
      else finish(refusal, null);
    }, Math.max(0, Math.min(DRAIN_IDLE_MS, drainUntilMs - performance.now())));
  };
  const refuse = (err: OrtexError, isLast: boolean): void => {
    if (isLast) return finish(err, null);
    refusal = err;
    drainUntilMs = performance.now() + DRAIN_MAX_MS;
    arm();
  };
  if (declared > maxBytes) refuse(tooLarge(maxBytes, `a Content-Length of ${declared}`), false);
  res.onData((chunk, isLast) => {
    if (finished) return;
    if (isStopped()) {
      finished = true;
      clearTimeout(timer);
      return;
    }
    const n = chunk.byteLength;
    if (refusal) {
      drained += n;
      if (isLast || drained > DRAIN_MAX_BYTES || performance.now() >= drainUntilMs) finish(refusal, null);
      else arm();
      return;
    }
    if (received + n > maxBytes || (whole && received + n > whole.byteLength)) {
      refuse(
        whole && received + n <= maxBytes
          ? new OrtexError('ERR_REQUEST_INVALID', `Expected a body of Content-Length ${declared} bytes but received more`)
          : tooLarge(maxBytes, `at least ${received + n} bytes`),
        isLast,
      );
      return;
    }
    if (whole) whole.set(new Uint8Array(chunk), received);
    else if (n > 0) chunks.push(Buffer.from(new Uint8Array(chunk)));
    received += n;
    if (!isLast) return;
    if (whole) {
      if (received === whole.byteLength) finish(null, whole);
      else finish(new OrtexError('ERR_REQUEST_INVALID', `Expected a body of Content-Length ${declared} bytes but received ${received}`), null);
    } else {
      finish(null, chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, received));
    }
  });
}
