/**
 * `ortex serve` flags of the admission limits (src/server/limits.ts; defaults there and in
 * the README): request elements, batch bytes, pending bytes, connections, the send timeout of
 * large responses, and WebSocket requests in flight per connection.
 */

import { DEFAULT_LIMITS, type LimitOptions } from '../server/limits.js';
import { SERVE_EXTENSIONS } from './serve-extensions.js';
import { integer } from './serve-options.js';

const FLAGS: ReadonlyArray<readonly [string, keyof LimitOptions]> = [
  ['max-request-elements', 'maxRequestElements'],
  ['max-batch-bytes', 'maxBatchBytes'],
  ['max-pending-bytes', 'maxPendingBytes'],
  ['max-connections', 'maxConnections'],
  ['send-timeout-ms', 'sendTimeoutMs'],
];

SERVE_EXTENSIONS.push({
  flags: {
    'max-request-elements': { type: 'string' },
    'max-batch-bytes': { type: 'string' },
    'max-pending-bytes': { type: 'string' },
    'max-connections': { type: 'string' },
    'send-timeout-ms': { type: 'string' },
    'ws-max-in-flight': { type: 'string' },
  },
  help: [
    `  --max-request-elements N    elements summed over a request's input tensors (default ${DEFAULT_LIMITS.maxRequestElements}); more: 413`,
    `  --max-batch-bytes N         input bytes of one batch a request may join (default ${DEFAULT_LIMITS.maxBatchBytes}); more: 413`,
    `  --max-pending-bytes N       bytes of requests admitted and not yet answered (default ${DEFAULT_LIMITS.maxPendingBytes}); more: 503`,
    `  --max-connections N         HTTP requests in progress + WebSocket connections (default ${DEFAULT_LIMITS.maxConnections}); more: 503`,
    `  --send-timeout-ms N         close a connection whose client reads a large response at under 16 KiB per N ms (default ${DEFAULT_LIMITS.sendTimeoutMs})`,
    '  --ws-max-in-flight N        unanswered requests per WebSocket connection (default 1024); more: 429',
  ],
  configure(values, options) {
    const limits: LimitOptions = { ...options.limits };
    let any = false;
    for (const [flag, key] of FLAGS) {
      const n = integer(values, flag, 1, Number.MAX_SAFE_INTEGER);
      if (n === undefined) continue;
      limits[key] = n;
      any = true;
    }
    if (any) options.limits = limits;
    const inFlight = integer(values, 'ws-max-in-flight', 1, 2 ** 20);
    if (inFlight !== undefined) {
      if (options.websocket === false) return;
      options.websocket = { ...(typeof options.websocket === 'object' ? options.websocket : {}), maxInFlight: inFlight };
    }
  },
});
