/**
 * The server's admission state as gauges, read at scrape time: what it holds against
 * --max-pending-bytes and --max-connections (src/server/limits.ts). An operator watches
 * them approach their limits; a test watches them return to 0 once its clients are gone
 * (a request whose bytes or connection slot were never given back is a leak).
 *
 *   ortex_server_pending_bytes      bytes of inference requests admitted and not yet answered
 *   ortex_server_pending_requests   those requests
 *   ortex_server_connections        HTTP requests in progress (the scrape included) plus WebSocket connections
 */

import type { Registry } from 'prom-client';
import { type Sample, collected } from './collected-metric.js';

/** What the gauges read (the server's PendingBytes and HttpContext). */
export interface AdmissionSources {
  readonly pending: { readonly bytes: number; readonly requests: number };
  readonly connections: { readonly open: number; readonly streams: number };
}

const NO_LABELS = Object.freeze({});
const one = (value: number): readonly Sample[] => [{ labels: NO_LABELS, value }];

/**
 * @example registerAdmissionMetrics(metrics.registry, { pending: pipeline.admission.pending, connections: http });
 */
export function registerAdmissionMetrics(registry: Registry, sources: AdmissionSources): void {
  const { pending, connections } = sources;
  collected(registry, 'ortex_server_pending_bytes', 'Bytes of inference requests admitted and not yet answered (limit: --max-pending-bytes)', 'gauge',
    () => one(pending.bytes));
  collected(registry, 'ortex_server_pending_requests', 'Inference requests admitted and not yet answered (queued, running or being encoded)', 'gauge',
    () => one(pending.requests));
  collected(registry, 'ortex_server_connections', 'HTTP requests in progress, this scrape included, plus open WebSocket connections (limit: --max-connections)', 'gauge',
    () => one(connections.open + connections.streams));
}
