/**
 * `ortex serve` flags of the metrics: GET /metrics is always served on the main port;
 * `--metrics-port N` serves it on a port of its own too (Triton's is 8002), on the same host.
 */

import { SERVE_EXTENSIONS } from './serve-extensions.js';
import { integer } from './serve-options.js';

SERVE_EXTENSIONS.push({
  flags: {
    'metrics-port': { type: 'string' },
  },
  help: [
    '  --metrics-port N            also serve GET /metrics (Prometheus) on this port (0: a free one)',
  ],
  configure(values, options) {
    const port = integer(values, 'metrics-port', 0, 65535);
    if (port !== undefined) options.metrics = { port };
  },
});
