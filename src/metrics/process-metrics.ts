/**
 * Process CPU and memory, event-loop lag, heap and GC: prom-client's default metrics, under
 * their standard names (`process_cpu_seconds_total`, `process_resident_memory_bytes`,
 * `nodejs_heap_size_used_bytes`, ...) rather than an `ortex_` prefix, so the Node.js
 * dashboards and alerts people already have work unchanged.
 *
 * They describe the process, not a server, and prom-client cannot stop collecting them once
 * started (a GC observer, an event-loop delay monitor), so one registry holds them for the
 * whole process, made on first use and shared by every server in it.
 */

import { Registry, collectDefaultMetrics } from 'prom-client';

let shared: Registry | undefined;

/** The process-wide registry of the default metrics. */
export function processRegistry(): Registry {
  if (!shared) {
    shared = new Registry();
    collectDefaultMetrics({ register: shared });
  }
  return shared;
}
