/**
 * GET /metrics: the Prometheus text exposition, on the server's own port and, when asked,
 * on a listener of its own (a second uWS app), so that scrapes can be kept off the
 * inference port or firewalled apart from it, as Triton's port 8002 is.
 */

import type { ServerMetrics } from '../metrics/server-metrics.js';
import { OrtexError } from '../errors.js';
import { HttpContext, type RouteHandler, route } from './http.js';
import type { Logger } from './logger.js';
import { type TemplatedApp, type UsListenSocket, loadUws } from './uws.js';

/** The handler of GET /metrics. */
export function metricsHandler(metrics: ServerMetrics): RouteHandler {
  return async (ex) => {
    ex.send(200, await metrics.text(), metrics.contentType);
  };
}

/** Registers GET /metrics on `app`. */
export function registerMetricsRoute(app: TemplatedApp, http: HttpContext, metrics: ServerMetrics): void {
  // Past maxConnections too: a scrape that fails under load would hide the load.
  app.get('/metrics', route(http, '/metrics', { unlimited: true }, metricsHandler(metrics)));
}

export interface MetricsListener {
  readonly port: number;
  close(): void;
}

/**
 * Serves GET /metrics (and 404 for anything else) on host:port.
 * @throws ERR_SERVER_LISTEN when the address cannot be bound.
 * @example
 * const listener = await listenMetrics('127.0.0.1', 8002, metrics, logger);
 * // ... listener.close();
 */
export async function listenMetrics(host: string, port: number, metrics: ServerMetrics, logger: Logger): Promise<MetricsListener> {
  const uws = loadUws();
  const app = uws.App();
  const http = new HttpContext(logger, 64 * 1024);
  registerMetricsRoute(app, http, metrics);
  app.any('/*', route(http, '/*', { body: true }, async (ex) => {
    await ex.body().catch(() => undefined); // read (or refuse) whatever was sent before answering
    throw new OrtexError('ERR_ROUTE_NOT_FOUND', `No route for ${ex.method.toUpperCase()} ${ex.url}; this port serves GET /metrics`);
  }));
  const socket = await new Promise<UsListenSocket>((resolve, reject) => {
    app.listen(host, port, (s) => {
      if (s) resolve(s);
      else reject(new OrtexError('ERR_SERVER_LISTEN', `Could not listen for metrics on ${host}:${port}: the address is taken or not local`));
    });
  });
  const bound = uws.us_socket_local_port(socket as unknown as Parameters<typeof uws.us_socket_local_port>[0]);
  return {
    port: bound,
    close() {
      uws.us_listen_socket_close(socket);
      (app as TemplatedApp & { close?: () => void }).close?.();
    },
  };
}
