/**
 * The WebSocket streaming endpoint (default ws://host:port/v2/stream): one connection, many
 * inference requests in flight, each answered as soon as it finishes (out of order, matched
 * by request id). Frames are ws-frame.ts's: a small binary header, then the tensors exactly
 * as in Triton's binary tensor data extension. Requests take the same path as HTTP ones
 * (OrtexServer#infer: repository, middleware, model) and leave the same RequestRecord, with
 * transport 'websocket'.
 *
 * What the server answers with and when it closes a connection:
 *
 *   a failed request (unknown model, bad input, queue full, ...)  error frame with its id; stays open
 *   a malformed frame, a text message                              error frame ERR_WS_FRAME (id 0 when
 *                                                                  no id could be read); stays open
 *   a message over maxMessageBytes                                 error frame 413 with its id; stays open
 *   a message over 2 × maxMessageBytes                             uWS drops the connection unread (1006)
 *   more than maxInFlight / maxInFlightBytes unanswered            error frame 429 ERR_WS_IN_FLIGHT; but
 *                                                                  close 1008 when answers wait unread
 *   server shutdown                                                in-flight answers written, then 1001
 *   an upgrade past the server's maxConnections                    503 ERR_SERVER_OVERLOADED, no connection
 *   an upgrade from a browser origin not allowed (cors.ts)         403 ERR_ORIGIN_FORBIDDEN, no connection
 *   a model name or version that is not allowed (names.ts)         error frame 400 ERR_MODEL_NAME / _VERSION
 *
 * Flow control (the bounds a slow reader meets) is ws-connection.ts's.
 *
 * Threading: the event loop only.
 */

import { OrtexError } from '../errors.js';
import { type CorsPolicy, checkUpgradeOrigin } from './cors.js';
import { refuseNow } from './http.js';
import { tooManyConnections } from './limits.js';
import type { Logger } from './logger.js';
import { DEFAULT_MAX_BODY_BYTES } from './oip-message.js';
import type { RequestRecord } from './request-record.js';
import { type TemplatedApp, type WebSocket, loadUws } from './uws.js';
import { type ConnectionStats, type FrameSocket, StreamConnection, type StreamLimits } from './ws-connection.js';
import { STREAM_PATH } from './ws-frame.js';
import type { StreamContext, StreamInfer } from './ws-request.js';

export interface WebSocketOptions {
  /** The URL path of the endpoint. Default '/v2/stream'. */
  path?: string;
  /** Largest request message; larger ones are answered 413, and uWS drops the connection past twice this. Default: the server's maxBodyBytes (64 MiB). */
  maxMessageBytes?: number;
  /** Requests one connection may have unanswered. Default 1024. */
  maxInFlight?: number;
  /** Bytes of request frames one connection may have unanswered (one request is always admitted). Default 256 MiB. */
  maxInFlightBytes?: number;
  /** Requests of one connection handed to the models at a time; the others wait. Default 64. */
  maxRunning?: number;
  /** Answers wait in the server while uWS buffers this much for the socket. Default 1 MiB. */
  highWaterBytes?: number;
  /** Seconds without a message either way before uWS closes the connection (pings are sent automatically); 0 never. Default 120. */
  idleTimeoutSeconds?: number;
  /** Cancel a connection's requests still queued in their model when it closes. Default false. */
  cancelOnClose?: boolean;
}

/** Open connections, summed; peaks are the largest of any one connection. */
export interface StreamStats extends ConnectionStats {
  connections: number;
}

/** What the endpoint needs from its server: OrtexServer has all of it. */
export interface StreamHost {
  readonly app: TemplatedApp;
  readonly logger: Logger;
  readonly infer: StreamInfer;
  observe(record: RequestRecord): void;
  /**
   * The server's connection count and origin policy (its HttpContext): upgrades past
   * `maxConnections` (HTTP requests in progress plus streams) are refused 503, browser
   * upgrades from origins `cors` does not allow 403; `streams` is kept here. Absent: no limit,
   * and browser origins are refused.
   */
  readonly gate?: { readonly open: number; streams: number; readonly maxConnections: number; readonly cors: CorsPolicy | undefined };
}

export interface WebSocketEndpoint {
  readonly path: string;
  readonly limits: Readonly<StreamLimits & { maxMessageBytes: number; idleTimeoutSeconds: number }>;
  stats(): StreamStats;
  /**
   * Graceful close (see StreamConnection#shutdown) of every connection; after `timeoutMs`
   * the ones still busy are closed with 1001 anyway. Resolves once all are closed.
   */
  close(timeoutMs?: number): Promise<void>;
}

interface UserData {
  connection?: StreamConnection;
}

function option(o: WebSocketOptions, key: keyof WebSocketOptions, fallback: number, min: number, max: number): number {
  const v = o[key];
  if (v === undefined) return fallback;
  if (!Number.isInteger(v) || (v as number) < min || (v as number) > max) {
    throw new OrtexError('ERR_OPTION_INVALID', `Expected an integer from ${min} to ${max} for websocket.${key} but received ${String(v)}`);
  }
  return v as number;
}

/** uWS keeps maxPayloadLength in a signed 32-bit integer. */
const MAX_PAYLOAD = 2 ** 31 - 1;

function resolveOptions(o: WebSocketOptions): WebSocketEndpoint['limits'] & { path: string } {
  if (typeof o !== 'object' || o === null) throw new OrtexError('ERR_OPTION_INVALID', `Expected an object for the websocket options but received ${String(o)}`);
  const path = o.path ?? STREAM_PATH;
  if (typeof path !== 'string' || !path.startsWith('/')) throw new OrtexError('ERR_OPTION_INVALID', `Expected a path starting with "/" for websocket.path but received ${String(path)}`);
  const idle = option(o, 'idleTimeoutSeconds', 120, 0, 960);
  if (idle > 0 && idle < 8) throw new OrtexError('ERR_OPTION_INVALID', `Expected 0 or an integer from 8 to 960 for websocket.idleTimeoutSeconds but received ${idle}`);
  return {
    path,
    maxMessageBytes: option(o, 'maxMessageBytes', DEFAULT_MAX_BODY_BYTES, 1, 2 ** 30),
    maxInFlight: option(o, 'maxInFlight', 1024, 1, 2 ** 20),
    maxInFlightBytes: option(o, 'maxInFlightBytes', 256 * 1024 * 1024, 1, Number.MAX_SAFE_INTEGER),
    maxRunning: option(o, 'maxRunning', 64, 1, 2 ** 20),
    highWaterBytes: option(o, 'highWaterBytes', 1024 * 1024, 1, Number.MAX_SAFE_INTEGER),
    idleTimeoutSeconds: idle,
  };
}

function frameSocket(ws: WebSocket<UserData>): FrameSocket {
  return {
    send(frame) {
      if (!frame.tail) return ws.send(frame.head, true);
      // The typings say boolean; uWS returns its SendStatus for fragments as for send().
      ws.sendFirstFragment(frame.head, true);
      return ws.sendLastFragment(frame.tail) as unknown as number;
    },
    bufferedAmount: () => ws.getBufferedAmount(),
    cork: (f) => void ws.cork(f),
    end: (code, reason) => ws.end(code, reason),
  };
}

/**
 * Adds the streaming endpoint to a uWS app, before listen(). createServer() does it (the
 * `websocket` option) and closes it on shutdown; whoever else calls it closes the endpoint.
 * @throws OrtexError ERR_OPTION_INVALID for an option out of range.
 * @example
 * const endpoint = registerWebSocket({ app, logger, infer, observe }, { path: '/stream', maxInFlight: 256 });
 * // ...
 * await endpoint.close(30_000);
 */
export function registerWebSocket(host: StreamHost, options: WebSocketOptions = {}): WebSocketEndpoint {
  const { path, ...limits } = resolveOptions(options);
  const uws = loadUws();
  const connections = new Set<StreamConnection>();
  let draining = false;
  let closing: Promise<void> | undefined;
  const ctx: StreamContext = { logger: host.logger, maxMessageBytes: limits.maxMessageBytes, infer: host.infer, draining: () => draining };
  const done = (record: RequestRecord, delivered: boolean, bytesOut: number): void => {
    record.endMs = performance.now();
    record.aborted = !delivered;
    if (!delivered) record.status = 0;
    record.bytesOut = bytesOut;
    host.observe(record);
  };

  host.app.ws<UserData>(path, {
    compression: uws.DISABLED,
    maxPayloadLength: Math.min(2 * limits.maxMessageBytes, MAX_PAYLOAD),
    // Off: ws-connection.ts keeps uWS's buffer under highWaterBytes itself, and a frame uWS
    // dropped would leave its request unanswered.
    maxBackpressure: 0,
    idleTimeout: limits.idleTimeoutSeconds,
    sendPingsAutomatically: true,
    upgrade: (res, req, context) => {
      if (draining) {
        res.writeStatus('503 Service Unavailable').writeHeader('content-type', 'application/json').end(JSON.stringify({ error: 'The server is shutting down' }), true);
        return;
      }
      const gate = host.gate;
      let refusal: unknown;
      try {
        checkUpgradeOrigin(gate?.cors, req.getHeader('origin'));
        if (gate && gate.open + gate.streams >= gate.maxConnections) refusal = tooManyConnections(gate.maxConnections);
      } catch (err) {
        refusal = err;
      }
      if (refusal) {
        refuseNow(res, refusal, host.logger);
        return;
      }
      res.upgrade<UserData>({}, req.getHeader('sec-websocket-key'), req.getHeader('sec-websocket-protocol'), req.getHeader('sec-websocket-extensions'), context);
    },
    open: (ws) => {
      const connection = new StreamConnection(frameSocket(ws), limits, ctx, done, options.cancelOnClose ?? false);
      ws.getUserData().connection = connection;
      connections.add(connection);
      if (host.gate) host.gate.streams++;
    },
    message: (ws, message, isBinary) => ws.getUserData().connection!.receive(message, isBinary),
    drain: (ws) => ws.getUserData().connection!.drained(),
    close: (ws) => {
      const connection = ws.getUserData().connection!;
      connections.delete(connection);
      if (host.gate) host.gate.streams--;
      connection.closed();
    },
  });

  return {
    path,
    limits,
    stats() {
      const sum: StreamStats = { connections: connections.size, inFlight: 0, inFlightBytes: 0, running: 0, waiting: 0, queuedAnswers: 0, queuedAnswerBytes: 0, bufferedBytes: 0, peakHeldBytes: 0 };
      for (const c of connections) {
        const s = c.stats;
        sum.inFlight += s.inFlight;
        sum.inFlightBytes += s.inFlightBytes;
        sum.running += s.running;
        sum.waiting += s.waiting;
        sum.queuedAnswers += s.queuedAnswers;
        sum.queuedAnswerBytes += s.queuedAnswerBytes;
        sum.bufferedBytes += s.bufferedBytes;
        sum.peakHeldBytes = Math.max(sum.peakHeldBytes, s.peakHeldBytes);
      }
      return sum;
    },
    close(timeoutMs = 30_000) {
      closing ??= (async () => {
        draining = true;
        const all = Promise.all([...connections].map((c) => c.shutdown()));
        let timer: NodeJS.Timeout | undefined;
        const timedOut = await Promise.race([all.then(() => false), new Promise<boolean>((resolve) => { timer = setTimeout(() => resolve(true), timeoutMs); })]);
        clearTimeout(timer);
        if (timedOut) {
          host.logger.warn({ open: connections.size, timeoutMs }, 'WebSocket requests still in flight after the drain timeout: closing anyway');
          for (const c of [...connections]) c.forceEnd();
        }
      })();
      return closing;
    },
  };
}
