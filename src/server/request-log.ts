/**
 * Request logs: one debug line per inference request, from its RequestRecord, when the
 * logger writes debug lines (`--log-level debug`). At any other level the observer returns
 * after one level check, so request logging costs nothing in production.
 */

import type { Logger } from './logger.js';
import type { RequestObserver } from './request-record.js';

/** Milliseconds with µs precision: enough for a log, short to read. */
const ms = (v: number): number => Math.round(v * 1000) / 1000;

/**
 * A RequestObserver logging each request at debug level, or undefined when the logger
 * cannot say whether debug is enabled (a logger without isLevelEnabled gets no request logs).
 * @example
 * createServer({ repository, onRequest: requestLog(logger) });
 * // {"level":20,...,"transport":"http","model":"ctr","version":"1","status":200,"ms":0.412,"cache":"hit","msg":"request"}
 */
export function requestLog(logger: Logger): RequestObserver | undefined {
  const enabled = logger.isLevelEnabled?.bind(logger);
  if (!enabled) return undefined;
  return (r) => {
    if (!enabled('debug')) return;
    logger.debug({
      transport: r.transport,
      model: r.model,
      version: r.servable?.versionText ?? r.version,
      status: r.aborted ? 499 : r.status,
      ...(r.code !== undefined && { code: r.code }),
      ...(r.aborted && { aborted: true }),
      ms: ms(r.totalMs),
      ...(r.cache !== undefined && { cache: r.cache }),
      rows: r.rows,
      bytesIn: r.bytesIn,
      bytesOut: r.bytesOut,
    }, 'request');
  };
}
