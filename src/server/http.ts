/**
 * uWebSockets.js idioms, done once so that no route has to get them right again:
 *
 * - `onAborted` is attached before anything else, in the route handler itself, and the
 *   response is never touched after an abort (uWS would crash the process);
 * - whatever the handler needs from the request (URL parameters, a few headers, the body
 *   stream) is taken before its first await, since uWS's HttpRequest lives on the stack of
 *   that one call;
 * - the body is read from `onData` chunks with a byte limit (http-body.ts);
 * - every write is corked (status, headers and body leave in one syscall);
 * - large bodies go out with tryEnd and continue in onWritable from the offset the socket
 *   reached, so a slow reader never makes uWS buffer a second copy of a response; one that
 *   stops reading is cut off after sendTimeoutMs without progress (limits.ts);
 * - an error from the handler, thrown or rejected, is answered through the one error
 *   mapper (http-status.ts).
 *
 * Threading: the event loop only.
 */

import { Buffer } from 'node:buffer';
import type { OrtexError } from '../errors.js';
import { type CorsPolicy, corsHeaders } from './cors.js';
import { type BodyCallback, readBody } from './http-body.js';
import { errorHeaders, errorReply, statusLine, statusLineBytes } from './http-status.js';
import { SEND_PROGRESS_BYTES, tooManyConnections } from './limits.js';
import type { Logger } from './logger.js';
import type { HttpRequest, HttpResponse } from './uws.js';

const EMPTY = Buffer.alloc(0);

/** Bodies up to this size are handed to end() whole; larger ones stream with tryEnd. */
const STREAM_FROM_BYTES = 64 * 1024;

/**
 * Header names and values of every response, as bytes: uWS turns a string into UTF-8 in a
 * fresh allocation on each call, and takes a Buffer as it is.
 */
const CONTENT_TYPE = Buffer.from('content-type');
const CONTENT_TYPES = new Map<string, Buffer>();
function contentTypeBytes(type: string): Buffer {
  let bytes = CONTENT_TYPES.get(type);
  if (bytes === undefined) {
    bytes = Buffer.from(type);
    // A handful in practice (JSON, octet-stream, Prometheus text); past that, not kept.
    if (CONTENT_TYPES.size < 32) CONTENT_TYPES.set(type, bytes);
  }
  return bytes;
}

/** Shared by every exchange of one server: limits, logging, and what shutdown waits for. */
export class HttpContext {
  /** Exchanges not yet answered (or aborted). */
  open = 0;
  /** Set when shutting down: every response then closes its connection. */
  draining = false;
  /** Cross-origin policy (cors.ts); undefined: no CORS headers. */
  cors: CorsPolicy | undefined = undefined;
  /**
   * Past `open + streams` of this, requests are answered 503 and their connection closed.
   * uWS reports no HTTP connection until it carries a request, so idle keep-alive
   * connections are not counted (uWS closes them after 10 s idle).
   */
  maxConnections = Infinity;
  /** Open WebSocket connections (ws.ts keeps it). */
  streams = 0;
  /** A streamed response that makes less than SEND_PROGRESS_BYTES of progress in this long is abandoned (limits.ts). */
  sendTimeoutMs = 10_000;
  /** Headers written on every response (ServerOptions.responseHeaders), as [name, value] pairs, encoded once. */
  responseHeaders: ReadonlyArray<readonly [Buffer, Buffer]> = [];
  #idle: Array<() => void> = [];

  constructor(readonly logger: Logger, readonly maxBodyBytes: number) {}

  /** Resolves once no exchange is open. */
  idle(): Promise<void> {
    if (this.open === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }

  /** @internal */
  ended(): void {
    if (--this.open === 0 && this.#idle.length > 0) {
      const waiting = this.#idle;
      this.#idle = [];
      for (const resolve of waiting) resolve();
    }
  }
}

/** What a route takes from the request before its handler may await. */
export interface RouteSpec {
  /** Headers to copy, in lower case. */
  headers?: readonly string[];
  /** Start reading the body (POST routes); the handler gets it from `exchange.body()`. */
  body?: boolean;
  /** Served even past maxConnections (health checks and metrics: cheap, and a probe refused under load would get a busy server restarted). */
  unlimited?: boolean;
}

/** One request and its response. Valid until answered or aborted; safe to call after. */
export class HttpExchange {
  readonly method: string;
  readonly url: string;
  /** The route's `:name` parameters, in order, as sent (not URL-decoded). */
  readonly params: readonly string[];
  /** The headers the route asked for ('' when absent). */
  readonly headers: Readonly<Record<string, string>>;
  /** performance.now() when the request reached its handler. */
  readonly startMs: number;
  /** Response body bytes handed to uWS. */
  bytesOut = 0;
  /** The status answered, once answered. */
  status = 0;
  /** The error code answered with, when sendError() answered. */
  errorCode: string | undefined;

  readonly #res: HttpResponse;
  readonly #ctx: HttpContext;
  #aborted = false;
  #ended = false;
  #closeConnection = false;
  /** Routes with a body: false until it has been read in full or refused. */
  #bodyDone = true;
  #bodyError: OrtexError | null = null;
  #bodyBytes: Buffer | null = null;
  #bodyWaiting: BodyCallback[] | undefined;
  #bodyPromise: Promise<Buffer> | undefined;
  #onAbort: Array<() => void> | undefined;
  #onEnd: Array<(ex: HttpExchange) => void> | undefined;
  /** Watches a streamed response's progress (#stream). */
  #sendTimer: NodeJS.Timeout | undefined;
  /** CORS headers for every answer, when the request's origin is allowed. */
  readonly #cors: Array<[string, string]> | undefined;

  /** @internal Made by route(). */
  constructor(ctx: HttpContext, res: HttpResponse, req: HttpRequest, paramCount: number, spec: RouteSpec) {
    this.startMs = performance.now();
    this.#res = res;
    this.#ctx = ctx;
    ctx.open++;
    res.onAborted(() => {
      this.#aborted = true;
      const listeners = this.#onAbort;
      this.#onAbort = undefined;
      this.#finish();
      if (listeners) for (const f of listeners) f();
    });
    this.method = req.getMethod();
    this.url = req.getUrl();
    const params = new Array<string>(paramCount);
    for (let i = 0; i < paramCount; i++) params[i] = req.getParameter(i);
    this.params = params;
    const headers: Record<string, string> = {};
    if (spec.headers) for (const h of spec.headers) headers[h] = req.getHeader(h);
    this.headers = headers;
    this.#cors = ctx.cors ? corsHeaders(ctx.cors, req.getHeader('origin')) : undefined;
    if (spec.body) {
      this.#bodyDone = false;
      readBody(res, req.getHeader('content-length'), ctx.maxBodyBytes, () => this.#ended, (err, body) => {
        // The rest of the body is not read: the connection cannot be reused.
        if (err && (err.code === 'ERR_REQUEST_TOO_LARGE' || err.code === 'ERR_REQUEST_INVALID')) this.#closeConnection = true;
        this.#bodyDone = true;
        this.#bodyError = err;
        this.#bodyBytes = body;
        const waiting = this.#bodyWaiting;
        this.#bodyWaiting = undefined;
        if (!waiting) return;
        for (const f of waiting) {
          // Called from uWS's onData: nothing may throw back into it.
          try {
            f(err, body);
          } catch (e) {
            this.sendError(e);
          }
        }
      });
    } else {
      this.#bodyBytes = EMPTY;
    }
  }

  /** True once the client went away; nothing more will be sent. */
  get aborted(): boolean {
    return this.#aborted;
  }

  /** True once answered or aborted. */
  get ended(): boolean {
    return this.#ended;
  }

  /**
   * The whole request body (routes with `body: true`).
   * @throws ERR_REQUEST_TOO_LARGE (413) past the server's maxBodyBytes; ERR_REQUEST_INVALID
   *   when the body disagrees with its Content-Length.
   */
  body(): Promise<Buffer> {
    return (this.#bodyPromise ??= new Promise<Buffer>((resolve, reject) => this.onBody((err, body) => (err ? reject(err) : resolve(body!)))));
  }

  /**
   * Like body(), without a promise: calls `f` once with the body or the error that stopped
   * reading it (synchronously when that is already known). For the hot path, where a
   * promise and its microtask per request show in the profile.
   */
  onBody(f: BodyCallback): void {
    if (this.#bodyDone) f(this.#bodyError, this.#bodyBytes);
    else (this.#bodyWaiting ??= []).push(f);
  }

  /** Runs `f` if the client goes away before the answer is sent. */
  onAbort(f: () => void): void {
    if (this.#aborted) f();
    else if (!this.#ended) (this.#onAbort ??= []).push(f);
  }

  /** Runs `f` once the exchange is over: answered in full, or aborted. */
  onEnd(f: (ex: HttpExchange) => void): void {
    if (this.#ended) f(this);
    else (this.#onEnd ??= []).push(f);
  }

  /** Answers with a JSON value. */
  sendJson(status: number, value: unknown): void {
    this.send(status, JSON.stringify(value), 'application/json');
  }

  /**
   * Answers with a body (a string is sent as UTF-8).
   * @param headers extra headers, as [name, value] pairs.
   */
  send(status: number, body: string | Uint8Array, contentType: string, headers?: ReadonlyArray<readonly [string, string]>): void {
    if (this.#ended) return;
    const res = this.#res;
    const close = this.#closeConnection || this.#ctx.draining;
    // A string that may exceed the streaming threshold in UTF-8 is encoded, so tryEnd can resume it by byte offset.
    const bytes = typeof body === 'string' && !close && body.length * 3 > STREAM_FROM_BYTES ? Buffer.from(body) : body;
    this.status = status;
    this.bytesOut = typeof bytes === 'string' ? Buffer.byteLength(bytes) : bytes.byteLength;
    res.cork(() => {
      res.writeStatus(statusLineBytes(status)).writeHeader(CONTENT_TYPE, contentTypeBytes(contentType));
      if (headers) for (const [k, v] of headers) res.writeHeader(k, v);
      if (this.#cors) for (const [k, v] of this.#cors) res.writeHeader(k, v);
      for (const [k, v] of this.#ctx.responseHeaders) res.writeHeader(k, v);
      if (close || typeof bytes === 'string' || bytes.byteLength <= STREAM_FROM_BYTES) {
        res.end(bytes, close);
        this.#finish();
      } else {
        this.#stream(bytes);
      }
    });
  }

  /** Answers with the error's status and `{"error": message}`. */
  sendError(err: unknown): void {
    if (this.#ended) {
      // Too late to answer: a failure after the response went out is a bug worth seeing.
      if (!this.#aborted) this.#ctx.logger.error({ err }, 'error after the response was sent');
      return;
    }
    const reply = errorReply(err, this.#ctx.logger);
    this.errorCode = reply.code;
    if (reply.status === 413) this.#closeConnection = true;
    // The body stays Triton's {"error": "..."}; the code rides in a header for ortex's own client.
    this.send(reply.status, reply.body, 'application/json', errorHeaders(reply));
  }

  /** tryEnd, then onWritable from wherever the socket got to. Called corked. */
  #stream(body: Uint8Array): void {
    const res = this.#res;
    const total = body.byteLength;
    const start = res.getWriteOffset();
    const [, done] = res.tryEnd(body, total);
    if (done) {
      this.#finish();
      return;
    }
    res.onWritable((offset) => {
      // uWS calls this only while the response is alive; keep `body` referenced until done.
      const [ok, finished] = res.tryEnd(body.subarray(offset - start), total);
      if (finished) this.#finish();
      return ok;
    });
    // uWS has no timeout for a response its client does not read: without this, each such
    // client would hold its response (and a connection slot) for as long as it likes.
    let reached = res.getWriteOffset();
    this.#sendTimer = setInterval(() => {
      if (this.#ended) return;
      const offset = res.getWriteOffset();
      if (offset - reached < Math.min(SEND_PROGRESS_BYTES, start + total - reached)) {
        this.#ctx.logger.debug({ url: this.url, sent: offset - start, total, sendTimeoutMs: this.#ctx.sendTimeoutMs }, 'closing a connection that stopped reading its response');
        res.close(); // runs onAborted, which ends the exchange
        return;
      }
      reached = offset;
    }, this.#ctx.sendTimeoutMs);
  }

  #finish(): void {
    if (this.#ended) return;
    this.#ended = true;
    if (this.#sendTimer) clearInterval(this.#sendTimer);
    this.#ctx.ended();
    const listeners = this.#onEnd;
    this.#onEnd = undefined;
    if (!listeners) return;
    for (const f of listeners) {
      try {
        f(this);
      } catch (err) {
        this.#ctx.logger.error({ err }, 'an onEnd listener threw');
      }
    }
  }
}

/** A route's handler; whatever it throws or rejects with is answered by the error mapper. */
export type RouteHandler = (exchange: HttpExchange) => void | Promise<void>;

/**
 * Wraps a handler for `app.get(pattern, ...)` and the like: the exchange is made (abort
 * handler, parameters, headers, body stream) before the handler runs, and any error it
 * throws or rejects with is answered.
 *
 * @example
 * app.get('/v2/models/:model', route(ctx, '/v2/models/:model', {}, (ex) => ex.sendJson(200, { name: ex.params[0] })));
 */
export function route(ctx: HttpContext, pattern: string, spec: RouteSpec, handler: RouteHandler): (res: HttpResponse, req: HttpRequest) => void {
  const paramCount = pattern.split('/').filter((s) => s.startsWith(':')).length;
  return (res, req) => {
    if (!spec.unlimited && ctx.open + ctx.streams >= ctx.maxConnections) {
      refuseConnection(ctx, res, req);
      return;
    }
    const ex = new HttpExchange(ctx, res, req, paramCount, spec);
    try {
      const pending = handler(ex);
      if (pending) pending.catch((err: unknown) => ex.sendError(err));
    } catch (err) {
      ex.sendError(err);
    }
  };
}

/**
 * Answers `err` (through the error mapper) at once, corked, and closes the connection: for
 * refusals made in a uWS handler itself (a route, a WebSocket upgrade), before any body is
 * read, so nothing can abort in between.
 * @param headers more headers (e.g. CORS).
 */
export function refuseNow(res: HttpResponse, err: unknown, logger: Logger, headers?: ReadonlyArray<readonly [string, string]>): void {
  const reply = errorReply(err, logger);
  res.cork(() => {
    res.writeStatus(statusLine(reply.status)).writeHeader('content-type', 'application/json');
    for (const [k, v] of errorHeaders(reply)) res.writeHeader(k, v);
    if (headers) for (const [k, v] of headers) res.writeHeader(k, v);
    res.end(reply.body, true);
  });
}

/** Answers 503 ERR_SERVER_OVERLOADED without reading the body, and closes the connection. */
function refuseConnection(ctx: HttpContext, res: HttpResponse, req: HttpRequest): void {
  refuseNow(res, tooManyConnections(ctx.maxConnections), ctx.logger, ctx.cors ? corsHeaders(ctx.cors, req.getHeader('origin')) : undefined);
}
