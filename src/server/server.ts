/**
 * createServer(): the Open Inference Protocol over HTTP on uWebSockets.js, serving a model
 * repository. The request path is
 *
 *   uWS route (http.ts) → routes.ts → runInfer (infer-pipeline.ts) → InferMiddleware… → Model#infer
 *
 * and every inference request leaves a RequestRecord that the observers get once it is
 * over. Layers that come later (response cache, metrics, WebSocket streaming) plug in as
 * middleware, observers, extra routes on `server.app` and `server.infer()`.
 *
 * Lifecycle: listen() binds the socket first (liveness answers at once), then loads the
 * repository (readiness follows the models); close() stops accepting connections, turns
 * readiness off, answers new requests on open connections with 503, waits for the requests
 * in flight, closes the models (their queues drained) and then every connection.
 */

import { Buffer } from 'node:buffer';
import type { ResponseCache } from '../cache/index.js';
import { OrtexError, isErrorCode } from '../errors.js';
import { registerAdmissionMetrics } from '../metrics/admission-metrics.js';
import { type MetricsOptions, type ServerMetrics, checkMetricsOptions, createServerMetrics } from '../metrics/server-metrics.js';
import { packageVersion } from '../package-info.js';
import { type ModelControlMode, ModelRepository } from '../repository/repository.js';
import type { ModelOptionsHook } from '../repository/servable.js';
import { controlAuth } from './auth.js';
import { type ServerCacheOptions, createServerCache } from './cache-middleware.js';
import { corsPolicy } from './cors.js';
import { HttpContext } from './http.js';
import { type InferMiddleware, type InferPipeline, composeInfer, runInfer } from './infer-pipeline.js';
import { type LimitOptions, MAX_ELEMENTS_HINT, PendingBytes, resolveLimits } from './limits.js';
import { type Logger, createLogger } from './logger.js';
import { type MetricsListener, listenMetrics, registerMetricsRoute } from './metrics-route.js';
import { DEFAULT_MAX_BODY_BYTES } from './oip-message.js';
import type { EncodedMessage } from './oip-types.js';
import { requestLog } from './request-log.js';
import { RequestRecord, type RequestObserver } from './request-record.js';
import { observeRequest } from './request-stats.js';
import { registerRoutes } from './routes.js';
import { type TlsOptions, tlsAppOptions } from './tls.js';
import { type TemplatedApp, type UsListenSocket, loadUws } from './uws.js';
import { type WebSocketEndpoint, type WebSocketOptions, registerWebSocket } from './ws.js';

export interface ServerOptions {
  /** The model repository directory (Triton layout). */
  repository: string;
  /** Default '127.0.0.1'. */
  host?: string;
  /** Default 8000 (Triton's HTTP port); 0 picks a free port (see `server.port`). */
  port?: number;
  /** Default 'none': load every model at start. */
  modelControlMode?: ModelControlMode;
  /** Poll mode: ms between repository scans. Default 5000. */
  pollIntervalMs?: number;
  /** Explicit mode: models to load at start ('*': all). */
  startupModels?: readonly string[];
  /** Largest request body, in bytes; larger ones are answered 413. Default 64 MiB. */
  maxBodyBytes?: number;
  /** Layers around every model call, outermost first (a cache, a timer, ...). */
  middleware?: readonly InferMiddleware[];
  /** Called with each inference request's record once it is over (metrics, access logs). */
  onRequest?: RequestObserver | readonly RequestObserver[];
  /** Adjusts the createModel() options of each model version loaded. */
  modelOptions?: ModelOptionsHook;
  /** Default: JSON lines on stderr at level info. A pino logger fits. */
  logger?: Logger;
  /** listen() rejects when a model fails to load at start (Triton's --exit-on-error). Default true. */
  failOnLoadError?: boolean;
  /** close(): how long to wait for requests in flight before closing anyway. Default 30000. */
  drainTimeoutMs?: number;
  /**
   * Cancel a request still queued when its client disconnects. Off by default: it costs an
   * AbortSignal listener per request (about 7 µs here), and the queue timeout
   * (default_timeout_microseconds) already bounds what a departed client leaves behind.
   */
  cancelOnDisconnect?: boolean;
  /** Extra names for the `extensions` list of GET /v2. */
  extensions?: readonly string[];
  /** Headers added to every HTTP response, e.g. `{ 'x-ortex-worker': String(process.pid) }` (`ortex serve --workers`). */
  responseHeaders?: Readonly<Record<string, string>>;
  /**
   * Load the models before binding the port (default false: bind first, so that liveness
   * answers while they load). For processes sharing a port through SO_REUSEPORT (`ortex serve
   * --workers`): the kernel hands a bound socket connections at once, so a worker that binds
   * before its models are ready would answer its share of requests 503.
   */
  loadBeforeListen?: boolean;
  /**
   * A response cache for the models whose configuration enables it (`response_cache.enable`),
   * e.g. `{ maxBytes: 256 << 20, ttlMs: 60_000, redis: { url: 'redis://127.0.0.1:6379' } }`.
   * Absent: no cache. It runs inside the `middleware` layers, next to the model. A request
   * whose bytes equal an earlier one's is answered with the bytes sent then, before parsing,
   * unless `middleware` is given (which then sees every request).
   */
  cache?: ServerCacheOptions;
  /** Prometheus metrics at GET /metrics (default true); `{ port }` serves them on a port of their own too. */
  metrics?: boolean | MetricsOptions;
  /** WebSocket streaming at ws://host:port/v2/stream (ws.ts), on by default; false turns it off. */
  websocket?: boolean | WebSocketOptions;
  /**
   * Admission limits (limits.ts): `maxRequestElements` (default 64 Mi), `maxBatchBytes`
   * (1 GiB), `maxPendingBytes` (2 GiB), `maxConnections` (4096), `sendTimeoutMs` (10000).
   */
  limits?: LimitOptions;
  /**
   * A bearer token the model repository endpoints (index, load, unload) require
   * (auth.ts); at least 16 characters. Absent: they are open (load/unload exist in explicit mode only).
   */
  controlToken?: string;
  /** HTTPS and WSS (tls.ts): `{ certFile, keyFile, passphrase? }`. */
  tls?: TlsOptions;
  /** Origins whose browser pages may call the server (cors.ts), or ['*']. Absent: no CORS headers, browser WebSockets refused. */
  corsOrigins?: readonly string[];
}

/** The extensions of the Open Inference Protocol this server implements, as Triton names them. */
export const EXTENSIONS: readonly string[] = ['binary_tensor_data', 'model_repository', 'statistics', 'schedule_policy'];

export interface OrtexServer {
  /** The uWebSockets.js app: more routes (e.g. `app.ws(...)`) may be added before listen(). */
  readonly app: TemplatedApp;
  readonly repository: ModelRepository;
  readonly logger: Logger;
  readonly host: string;
  /** The port listened on; 0 before listen(). */
  readonly port: number;
  /** True when serving HTTPS and WSS (the `tls` option). */
  readonly tls: boolean;
  /** Listening, every model that should be loaded is ready, and not shutting down. */
  readonly ready: boolean;
  /** The response cache (the `cache` option), or undefined. */
  readonly cache: ResponseCache | undefined;
  /** The metrics (GET /metrics), or undefined when turned off. */
  readonly metrics: ServerMetrics | undefined;
  /** The port of the metrics listener of its own (`metrics.port`); 0 when there is none. */
  readonly metricsPort: number;
  /** The WebSocket streaming endpoint (the `websocket` option), or undefined when turned off. */
  readonly websocket: WebSocketEndpoint | undefined;
  /**
   * One inference request through the same path as POST .../infer (for other transports).
   * @param version '' for the latest ready version.
   */
  infer(model: string, version: string, body: Uint8Array, headerLength: number | undefined, record: RequestRecord, signal?: AbortSignal): Promise<EncodedMessage>;
  /** Reports a request's record to the observers (for other transports; HTTP does it itself). */
  observe(record: RequestRecord): void;
  /**
   * Binds, then loads the repository. Resolves once the models are loaded.
   * @throws ERR_SERVER_LISTEN when the address cannot be bound; the first load error
   *   (every failure in its message) when a model fails and failOnLoadError is on.
   */
  listen(): Promise<OrtexServer>;
  /** Graceful shutdown (see the file header). Idempotent. */
  close(): Promise<void>;
}

/** Whether `host` is reachable from this machine only. */
function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || host.startsWith('127.');
}

function checkOptions(o: ServerOptions): void {
  if (typeof o !== 'object' || o === null || typeof o.repository !== 'string' || o.repository === '') {
    throw new OrtexError('ERR_OPTION_INVALID', 'Expected { repository: "<directory>" , ... } for createServer() options');
  }
  const int = (v: unknown, what: string, min: number, max: number) => {
    if (v !== undefined && (!Number.isInteger(v) || (v as number) < min || (v as number) > max)) {
      throw new OrtexError('ERR_OPTION_INVALID', `Expected an integer from ${min} to ${max} for ${what} but received ${String(v)}`);
    }
  };
  int(o.port, 'port', 0, 65535);
  int(o.maxBodyBytes, 'maxBodyBytes', 1, 2 ** 32);
  int(o.drainTimeoutMs, 'drainTimeoutMs', 0, 2 ** 31 - 1);
  checkMetricsOptions(o.metrics);
  if (o.host !== undefined && (typeof o.host !== 'string' || o.host === '')) throw new OrtexError('ERR_OPTION_INVALID', `Expected a host name or address for host but received ${String(o.host)}`);
  if (o.responseHeaders !== undefined) {
    if (typeof o.responseHeaders !== 'object' || o.responseHeaders === null) throw new OrtexError('ERR_OPTION_INVALID', `Expected { name: value } for responseHeaders but received ${String(o.responseHeaders)}`);
    for (const [k, v] of Object.entries(o.responseHeaders)) {
      // A CR or LF in a value would let it write headers (or a body) of its own.
      if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(k) || typeof v !== 'string' || /[\r\n\0]/.test(v)) {
        throw new OrtexError('ERR_OPTION_INVALID', `Expected a header name and a value without CR, LF or NUL for responseHeaders but received ${JSON.stringify(k)}: ${JSON.stringify(v)}`);
      }
    }
  }
}

/**
 * Creates a server (nothing is bound or loaded until listen()).
 *
 * @example
 * import { createServer } from 'ortex';
 * const server = createServer({ repository: 'models/repository', port: 8000 });
 * await server.listen();
 * process.once('SIGTERM', () => server.close());
 */
export function createServer(options: ServerOptions): OrtexServer {
  checkOptions(options);
  const uws = loadUws();
  const logger = options.logger ?? createLogger('info');
  const host = options.host ?? '127.0.0.1';
  const maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const limits = resolveLimits(options.limits);
  // Checked before anything is started, so a bad file or token is a startup error.
  const sslOptions = options.tls === undefined ? undefined : tlsAppOptions(options.tls);
  const auth = controlAuth(options.controlToken);
  const cors = corsPolicy(options.corsOrigins);
  const repository = new ModelRepository(options.repository, {
    modelControlMode: options.modelControlMode ?? 'none',
    ...(options.pollIntervalMs !== undefined && { pollIntervalMs: options.pollIntervalMs }),
    ...(options.startupModels !== undefined && { startupModels: options.startupModels }),
    ...(options.modelOptions !== undefined && { modelOptions: options.modelOptions }),
    logger,
  });
  const cache = options.cache === undefined ? undefined : createServerCache(options.cache, logger);
  const metricsOptions = typeof options.metrics === 'object' ? options.metrics : {};
  const metrics = options.metrics === false ? undefined : createServerMetrics({ repository, cache: cache?.cache, redis: cache?.redis ?? false, logger }, metricsOptions);
  const logRequest = requestLog(logger);
  const http = new HttpContext(logger, maxBodyBytes);
  if (options.responseHeaders) http.responseHeaders = Object.entries(options.responseHeaders).map(([k, v]) => [Buffer.from(k), Buffer.from(v)] as const);
  const middleware = cache ? [...(options.middleware ?? []), cache.middleware] : options.middleware ?? [];
  http.cors = cors;
  http.maxConnections = limits.maxConnections;
  http.sendTimeoutMs = limits.sendTimeoutMs;
  const pipeline: InferPipeline = {
    repository,
    handler: composeInfer(middleware),
    limits: { maxBodyBytes, maxElements: limits.maxRequestElements, maxElementsHint: MAX_ELEMENTS_HINT },
    admission: { pending: new PendingBytes(limits.maxPendingBytes), maxBatchBytes: limits.maxBatchBytes },
    // Answering before the middleware would hide those requests from it: with middleware of the
    // user's own, every request goes through it and only the outputs' cache applies.
    ...(cache?.encoded && (options.middleware ?? []).length === 0 && { encoded: cache.encoded }),
  };
  const userObservers = options.onRequest === undefined ? [] : Array.isArray(options.onRequest) ? options.onRequest : [options.onRequest as RequestObserver];
  const observe = (record: RequestRecord): void => {
    observeRequest(record);
    metrics?.observe(record);
    logRequest?.(record);
    for (const f of userObservers) {
      try {
        f(record);
      } catch (err) {
        logger.error({ err }, 'an onRequest observer threw');
      }
    }
  };
  const app = sslOptions ? uws.SSLApp(sslOptions) : uws.App();
  let socket: UsListenSocket | undefined;
  let port = 0;
  let metricsListener: MetricsListener | undefined;
  let loaded = false;
  let closing: Promise<void> | undefined;

  const notReady = (): OrtexError | undefined => {
    if (http.draining) return new OrtexError('ERR_SERVER_DRAINING', 'The server is shutting down');
    if (!loaded) return new OrtexError('ERR_MODEL_NOT_READY', 'The server is still loading its models');
    const unready = repository.unready();
    if (unready.length > 0) return new OrtexError('ERR_MODEL_NOT_READY', `Not every model is ready: ${unready.join(', ')} (see POST /v2/repository/index)`);
    return undefined;
  };

  registerRoutes(app, {
    http, repository, pipeline, observe, notReady, cancelOnDisconnect: options.cancelOnDisconnect ?? false, controlAuth: auth,
    metadata: { name: 'ortex', version: packageVersion(), extensions: [...EXTENSIONS, ...(options.extensions ?? [])] },
  });
  if (metrics) {
    registerMetricsRoute(app, http, metrics);
    registerAdmissionMetrics(metrics.registry, { pending: pipeline.admission!.pending, connections: http });
  }
  const websocket = options.websocket === false ? undefined : registerWebSocket(
    { app, logger, observe, gate: http, infer: (m, v, body, h, record, signal) => runInfer(pipeline, m, v, body, h, record, signal) },
    { maxMessageBytes: Math.min(maxBodyBytes, 2 ** 30), cancelOnClose: options.cancelOnDisconnect ?? false, ...(typeof options.websocket === 'object' ? options.websocket : {}) },
  );

  const server: OrtexServer = {
    app,
    repository,
    logger,
    host,
    get port() {
      return port;
    },
    tls: sslOptions !== undefined,
    get ready() {
      return notReady() === undefined;
    },
    cache: cache?.cache,
    metrics,
    get metricsPort() {
      return metricsListener?.port ?? 0;
    },
    infer: (model, version, body, headerLength, record, signal) => runInfer(pipeline, model, version, body, headerLength, record, signal),
    observe,
    websocket,

    async listen() {
      if (socket || closing) throw new OrtexError('ERR_INVALID_ARG', 'listen() was already called');
      // loadBeforeListen: the failures are handled below, after binding, as they are otherwise.
      const loading = options.loadBeforeListen ? repository.start() : undefined;
      if (loading) await loading.catch(() => undefined);
      socket = await new Promise<UsListenSocket>((resolve, reject) => {
        app.listen(host, options.port ?? 8000, (s) => {
          if (s) resolve(s);
          else reject(new OrtexError('ERR_SERVER_LISTEN', `Could not listen on ${host}:${options.port ?? 8000}: the address is taken or not local`));
        });
      }).catch((err: unknown) => {
        // Nothing else was started: let the process exit without a Redis connection or GPU probe.
        metrics?.close();
        cache?.cache.close();
        if (loading) void repository.close();
        throw err;
      });
      port = uws.us_socket_local_port(socket as unknown as Parameters<typeof uws.us_socket_local_port>[0]);
      logger.info({ host, port, tls: sslOptions !== undefined, repository: repository.root, mode: repository.mode }, 'listening');
      if (repository.mode === 'explicit' && auth === undefined && !isLoopback(host)) {
        logger.warn({ host }, 'model load/unload is open to anyone who can reach this address: set a control token (--control-token or ORTEX_CONTROL_TOKEN)');
      }
      if (metrics && metricsOptions.port !== undefined) {
        try {
          metricsListener = await listenMetrics(metricsOptions.host ?? host, metricsOptions.port, metrics, logger);
        } catch (err) {
          await server.close();
          throw err;
        }
        logger.info({ host: metricsOptions.host ?? host, port: metricsListener.port }, 'metrics listening');
      }
      let failures;
      try {
        failures = await (loading ?? repository.start());
      } catch (err) {
        await server.close();
        throw err;
      }
      if (failures.length > 0 && (options.failOnLoadError ?? true)) {
        await server.close();
        const first = failures[0]!.error as Error & { code?: unknown };
        const list = failures.map((f) => `- ${f.error.message}`).join('\n');
        throw new OrtexError(isErrorCode(first.code) ? first.code : 'ERR_MODEL_CONFIG', `${failures.length} model load(s) failed:\n${list}`, { cause: first });
      }
      loaded = true;
      return server;
    },

    close() {
      closing ??= (async () => {
        http.draining = true;
        if (socket) uws.us_listen_socket_close(socket);
        socket = undefined;
        const timeoutMs = options.drainTimeoutMs ?? 30_000;
        let timer: NodeJS.Timeout | undefined;
        const streamsClosed = websocket?.close(timeoutMs);
        const timedOut = await Promise.race([
          http.idle().then(() => false),
          new Promise<boolean>((resolve) => { timer = setTimeout(() => resolve(true), timeoutMs); }),
        ]);
        clearTimeout(timer);
        if (timedOut) logger.warn({ open: http.open, timeoutMs }, 'requests still in flight after the drain timeout: closing anyway');
        await streamsClosed;
        await repository.close();
        metricsListener?.close();
        metrics?.close();
        cache?.cache.close();
        // Closes the idle keep-alive connections too (a uWS method its typings omit).
        (app as TemplatedApp & { close?: () => void }).close?.();
        logger.info({}, 'server closed');
      })();
      return closing;
    },
  };
  return server;
}

export { RequestRecord };
export type { InferMiddleware };
