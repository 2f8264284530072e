/**
 * The Open Inference Protocol's HTTP endpoints as Triton serves them: health, server and
 * model metadata, model readiness, inference (JSON and binary tensor data), and Triton's
 * model repository and statistics extensions. Every handler answers through HttpExchange;
 * every error through the one error mapper (`{"error": "..."}` with the code's status).
 */

import { OrtexError } from '../errors.js';
import type { ModelRepository } from '../repository/repository.js';
import type { ControlAuth } from './auth.js';
import { preflightHeaders } from './cors.js';
import { type HttpContext, type HttpExchange, type RouteSpec, route } from './http.js';
import { statusLine } from './http-status.js';
import { type InferPipeline, runInferInto } from './infer-pipeline.js';
import { modelMetadataJson } from './model-metadata.js';
import { checkModelName, checkModelVersion } from './names.js';
import { HEADER_LENGTH_HEADER } from './oip-codec.js';
import { RequestRecord, type RequestObserver } from './request-record.js';
import { statsJson } from './stats-response.js';
import type { TemplatedApp } from './uws.js';

/** What the routes need from their server. */
export interface RouteContext {
  readonly http: HttpContext;
  readonly repository: ModelRepository;
  readonly pipeline: InferPipeline;
  /** Called with every inference request's record once it is over. */
  readonly observe: RequestObserver;
  /** Cancel a queued request when its client disconnects (an AbortSignal per request). */
  readonly cancelOnDisconnect: boolean;
  /** GET /v2 */
  readonly metadata: { name: string; version: string; extensions: readonly string[] };
  /** Why the server is not ready, or undefined when it is. */
  notReady(): OrtexError | undefined;
  /** Checks the bearer token of the repository endpoints (auth.ts); undefined: open. */
  readonly controlAuth?: ControlAuth | undefined;
}

/** A path segment as sent, URL-decoded. */
function segment(raw: string, what: string): string {
  let s: string;
  try {
    s = decodeURIComponent(raw);
  } catch {
    throw new OrtexError('ERR_REQUEST_INVALID', `Expected a URL-encoded ${what} but received "${raw}"`);
  }
  if (s === '') throw new OrtexError('ERR_REQUEST_INVALID', `Expected a ${what} but received an empty one`);
  return s;
}

/** Model names as sent in URLs, once checked, and what they decode to. Bounded: emptied when full. */
const checkedNames = new Map<string, string>();
const CHECKED_NAMES_MAX = 1024;

/** The model name of a URL, decoded and checked (names.ts) before anything looks it up. */
function modelParam(raw: string): string {
  const known = checkedNames.get(raw);
  if (known !== undefined) return known;
  const name = checkModelName(segment(raw, 'model name'));
  if (checkedNames.size >= CHECKED_NAMES_MAX) checkedNames.clear();
  checkedNames.set(raw, name);
  return name;
}
/** The version of a URL, decoded and checked: a positive integer. */
const versionParam = (raw: string): string => checkModelVersion(segment(raw, 'model version'));

/** A JSON object body; an empty body is `{}`. */
async function jsonBody(ex: HttpExchange): Promise<Record<string, unknown>> {
  const body = await ex.body();
  if (body.byteLength === 0) return {};
  let v: unknown;
  try {
    v = JSON.parse(body.toString('utf8'));
  } catch (err) {
    throw new OrtexError('ERR_REQUEST_JSON', `Expected a JSON object for the request body but received malformed JSON: ${(err as Error).message}`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) {
    throw new OrtexError('ERR_REQUEST_INVALID', 'Expected a JSON object for the request body');
  }
  return v as Record<string, unknown>;
}

function refuseWhileDraining(ctx: RouteContext): void {
  if (ctx.http.draining) throw new OrtexError('ERR_SERVER_DRAINING', 'The server is shutting down and accepts no new requests');
}

const INFER_SPEC: RouteSpec = { headers: [HEADER_LENGTH_HEADER], body: true };

/**
 * POST /v2/models/{m}[/versions/{v}]/infer. Callbacks rather than promises: this is the hot
 * path, and each promise costs an allocation and a microtask per request.
 */
function infer(ctx: RouteContext, versioned: boolean) {
  return (ex: HttpExchange): void => {
    const record = new RequestRecord('http', ex.startMs);
    ex.onEnd(() => {
      record.endMs = performance.now();
      record.status = ex.aborted ? 0 : ex.status;
      record.code = ex.errorCode;
      record.aborted = ex.aborted;
      record.bytesOut = ex.bytesOut;
      ctx.observe(record);
    });
    // The body first: an answer sent before it is read would leave it on the connection.
    ex.onBody((err, body) => {
      if (err) return ex.sendError(err);
      try {
        record.bodyMs = performance.now();
        record.bytesIn = body!.byteLength;
        record.model = modelParam(ex.params[0]!);
        record.version = versioned ? versionParam(ex.params[1]!) : '';
        refuseWhileDraining(ctx);
        const lengthHeader = ex.headers[HEADER_LENGTH_HEADER]!;
        const headerLength = lengthHeader === '' ? undefined : Number(lengthHeader);
        let signal: AbortSignal | undefined;
        if (ctx.cancelOnDisconnect) {
          const abort = new AbortController();
          ex.onAbort(() => abort.abort());
          signal = abort.signal;
        }
        runInferInto(ctx.pipeline, record.model, record.version, body!, headerLength, record, signal, (failure, encoded) => {
          try {
            if (failure !== null) ex.sendError(failure);
            else if (encoded!.headerLength === undefined) ex.send(200, encoded!.body, 'application/json');
            else ex.send(200, encoded!.body, 'application/octet-stream', [[HEADER_LENGTH_HEADER, String(encoded!.headerLength)]]);
          } catch (e) {
            ex.sendError(e);
          }
        });
      } catch (e) {
        ex.sendError(e);
      }
    });
  };
}

/** GET /v2/models/{m}[/versions/{v}] */
function metadata(ctx: RouteContext, versioned: boolean) {
  return (ex: HttpExchange): void => {
    const name = modelParam(ex.params[0]!);
    const version = versioned ? versionParam(ex.params[1]!) : undefined;
    const s = ctx.repository.acquire(name, version);
    try {
      ex.sendJson(200, modelMetadataJson(versioned ? [s] : ctx.repository.servables(name), s));
    } finally {
      s.release();
    }
  };
}

/** GET /v2/models/{m}[/versions/{v}]/ready: 200 when ready, else 404 or 503 with the reason. */
function modelReady(ctx: RouteContext, versioned: boolean) {
  return (ex: HttpExchange): void => {
    const name = modelParam(ex.params[0]!);
    const s = ctx.repository.acquire(name, versioned ? versionParam(ex.params[1]!) : undefined);
    s.release();
    ex.sendJson(200, { name, ready: true });
  };
}

/** GET /v2/models/stats, /v2/models/{m}/stats, /v2/models/{m}/versions/{v}/stats */
function stats(ctx: RouteContext, scope: 'all' | 'model' | 'version') {
  return (ex: HttpExchange): void => {
    if (scope === 'all') return ex.sendJson(200, statsJson(ctx.repository.servables()));
    const name = modelParam(ex.params[0]!);
    if (scope === 'model') {
      if (!ctx.repository.has(name)) throw new OrtexError('ERR_MODEL_NOT_FOUND', `Unknown model '${name}'`);
      return ex.sendJson(200, statsJson(ctx.repository.servables(name)));
    }
    const s = ctx.repository.acquire(name, versionParam(ex.params[1]!));
    try {
      ex.sendJson(200, statsJson([s]));
    } finally {
      s.release();
    }
  };
}

const CONTROL_SPEC: RouteSpec = { headers: ['authorization'], body: true };

/**
 * The body of a repository endpoint, once the token checks out: read first (an answer sent
 * before it would leave it on the connection), parsed only for a client with the token.
 */
async function controlBody(ctx: RouteContext, ex: HttpExchange): Promise<Record<string, unknown>> {
  await ex.body();
  ctx.controlAuth?.(ex.headers.authorization!);
  return jsonBody(ex);
}

/**
 * POST /v2/repository/index: every model with its state; `{"ready": true}` lists ready ones
 * only. Available in every model control mode, as in Triton (behind the control token when set).
 */
function repositoryIndex(ctx: RouteContext) {
  return async (ex: HttpExchange): Promise<void> => {
    const body = await controlBody(ctx, ex);
    if (body.ready !== undefined && typeof body.ready !== 'boolean') {
      throw new OrtexError('ERR_REQUEST_INVALID', 'Expected true or false for "ready" in the index request');
    }
    const rows = await ctx.repository.index();
    ex.sendJson(200, body.ready ? rows.filter((r) => r.state === 'READY') : rows);
  };
}

/**
 * POST /v2/repository/models/{m}/load and /unload: explicit model control mode only
 * (ERR_REPOSITORY_MODE, 400, in none and poll modes, as Triton refuses them), behind the
 * control token when one is set. The token is checked first, so that a client without it
 * learns nothing, not even the mode.
 */
function repositoryControl(ctx: RouteContext, action: 'load' | 'unload') {
  return async (ex: HttpExchange): Promise<void> => {
    const body = await controlBody(ctx, ex);
    const name = modelParam(ex.params[0]!);
    const parameters = body.parameters;
    if (parameters !== undefined) {
      if (typeof parameters !== 'object' || parameters === null || Array.isArray(parameters)) {
        throw new OrtexError('ERR_REQUEST_INVALID', 'Expected an object for "parameters"');
      }
      // unload_dependents has nothing to act on: ortex has no ensembles.
      const unsupported = Object.keys(parameters).filter((k) => !(action === 'unload' && k === 'unload_dependents'));
      if (unsupported.length > 0) {
        throw new OrtexError('ERR_REQUEST_INVALID', `Expected no parameters ${unsupported.join(', ')} (configuration and file overrides are not supported) for ${action}`);
      }
    }
    if (action === 'load') {
      refuseWhileDraining(ctx);
      await ctx.repository.load(name);
    } else {
      await ctx.repository.unload(name);
    }
    ex.sendJson(200, {});
  };
}

/**
 * Registers every route on `app`. More specific routes may be added after (uWS prefers
 * static segments to parameters, and parameters to the catch-all, whatever the order).
 * @example registerRoutes(uws.App(), ctx);
 */
export function registerRoutes(app: TemplatedApp, ctx: RouteContext): void {
  const h = ctx.http;
  const get = (pattern: string, handler: (ex: HttpExchange) => void | Promise<void>, spec: RouteSpec = {}) => app.get(pattern, route(h, pattern, spec, handler));
  const post = (pattern: string, spec: RouteSpec, handler: (ex: HttpExchange) => void | Promise<void>) => app.post(pattern, route(h, pattern, spec, handler));

  get('/v2/health/live', (ex) => ex.sendJson(200, { live: true }), { unlimited: true });
  get('/v2/health/ready', (ex) => {
    const why = ctx.notReady();
    if (why) throw why;
    ex.sendJson(200, { ready: true });
  }, { unlimited: true });
  get('/v2', (ex) => ex.sendJson(200, ctx.metadata));

  get('/v2/models/stats', stats(ctx, 'all'));
  get('/v2/models/:model', metadata(ctx, false));
  get('/v2/models/:model/ready', modelReady(ctx, false));
  get('/v2/models/:model/stats', stats(ctx, 'model'));
  get('/v2/models/:model/versions/:version', metadata(ctx, true));
  get('/v2/models/:model/versions/:version/ready', modelReady(ctx, true));
  get('/v2/models/:model/versions/:version/stats', stats(ctx, 'version'));
  post('/v2/models/:model/infer', INFER_SPEC, infer(ctx, false));
  post('/v2/models/:model/versions/:version/infer', INFER_SPEC, infer(ctx, true));

  post('/v2/repository/index', CONTROL_SPEC, repositoryIndex(ctx));
  post('/v2/repository/models/:model/load', CONTROL_SPEC, repositoryControl(ctx, 'load'));
  post('/v2/repository/models/:model/unload', CONTROL_SPEC, repositoryControl(ctx, 'unload'));

  if (h.cors) {
    // CORS preflight (cors.ts): answered on any path, without a body, allowed origin or not.
    const cors = h.cors;
    app.options('/*', (res, req) => {
      const headers = preflightHeaders(cors, req.getHeader('origin'));
      res.cork(() => {
        res.writeStatus(statusLine(204));
        for (const [k, v] of headers) res.writeHeader(k, v);
        res.endWithoutBody(0);
      });
    });
  }

  app.any('/*', route(h, '/*', { body: true }, async (ex) => {
    await ex.body().catch(() => undefined); // read (or refuse) whatever was sent before answering
    throw new OrtexError('ERR_ROUTE_NOT_FOUND', `No route for ${ex.method.toUpperCase()} ${ex.url}; see GET /v2 for what this server speaks`);
  }));
}
