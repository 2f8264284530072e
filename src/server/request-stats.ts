/**
 * Folds each finished request's record into the statistics of the servable that handled it
 * (Servable#requestStats), the server's half of Triton's statistics extension; the batcher
 * keeps the other half (queue, compute, batch sizes) natively.
 */

import type { Duration } from '../repository/servable.js';
import type { RequestRecord } from './request-record.js';

const add = (d: Duration, ms: number): void => {
  d.count++;
  d.ns += Math.round(ms * 1e6);
};

/** A RequestObserver: records without a servable (unknown model, bad URL) are not counted. */
export function observeRequest(record: RequestRecord): void {
  const s = record.servable?.requestStats;
  if (!s || record.endMs === 0) return;
  if (record.ok) {
    add(s.success, record.endMs - record.startMs);
    s.lastInferenceMs = Date.now();
  } else {
    add(s.fail, record.endMs - record.startMs);
  }
  if (record.inputMs > 0) add(s.computeInput, record.inputMs - (record.bodyMs || record.startMs));
  if (record.outputMs > 0) add(s.computeOutput, record.outputMs - record.inferEndMs);
  // A request that joined an identical one in flight ran no model: Triton's nearest is a hit.
  if ((record.cache === 'hit' || record.cache === 'shared') && record.inferEndMs > 0) add(s.cacheHit, record.inferEndMs - record.inputMs);
  else if (record.cache === 'miss' && record.inferEndMs > 0) add(s.cacheMiss, record.inferEndMs - record.inputMs);
}
