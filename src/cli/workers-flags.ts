/**
 * `ortex serve --workers N`: N server processes on one port, each with its own models. The
 * primary (worker-supervisor.ts) forks them and supervises them; it never binds the port
 * itself. Each worker binds it with uWebSockets.js, which sets SO_REUSEPORT on Linux when the
 * port is explicit (checked with strace, and with two processes on one port: both bind, fresh
 * connections split between them), so the kernel spreads connections over the workers; a
 * keep-alive connection stays with the worker that accepted it.
 *
 * This file is the flag and the worker's side. A worker is an `ortex serve` process with
 * ORTEX_WORKER set (its index) and an IPC channel to the primary:
 *   worker → primary  { ortex: 'ready', port, metricsPort }   once it serves (after listen())
 *   primary → worker  SIGTERM or SIGINT, forwarded             the graceful shutdown of cli/ortex.ts
 * Workers run in a process group of their own, so Ctrl-C in a terminal reaches the primary
 * only and each worker gets exactly one signal (a second one means "exit without finishing").
 * A worker whose primary is gone (its IPC channel closed) shuts down as on SIGTERM. A worker
 * loads its models before it binds the port (ServerOptions.loadBeforeListen), and answers
 * every HTTP response with `x-ortex-worker: <pid>`, so a client (and the tests) can tell which
 * process served it.
 */

import { SERVE_EXTENSIONS, type FlagValues } from './serve-extensions.js';
import { UsageError, integer } from './serve-options.js';

/** The response header naming the worker process that answered (only with --workers > 1). */
export const WORKER_HEADER = 'x-ortex-worker';

/** The most workers accepted; more than the cores only adds contention. */
export const MAX_WORKERS = 256;

/** A worker's report that it serves. */
export interface WorkerReadyMessage {
  ortex: 'ready';
  port: number;
  /** The port of its own metrics listener (--metrics-port); 0 when there is none. */
  metricsPort: number;
}

/** The environment variable marking a worker process (its index, from 0). */
export const WORKER_ENV = 'ORTEX_WORKER';

/** Whether this process is a worker of `ortex serve --workers N`. */
export function isWorkerProcess(): boolean {
  return process.env[WORKER_ENV] !== undefined && typeof process.send === 'function';
}

export function isReadyMessage(m: unknown): m is WorkerReadyMessage {
  return typeof m === 'object' && m !== null && (m as { ortex?: unknown }).ortex === 'ready' && Number.isInteger((m as { port?: unknown }).port);
}

/**
 * --workers as a count (default 1), checked against --metrics-port: worker i serves its
 * metrics on --metrics-port + i, so the last of those must be a port.
 * @throws UsageError
 */
export function workerCount(values: FlagValues): number {
  const workers = integer(values, 'workers', 1, MAX_WORKERS) ?? 1;
  const metricsPort = integer(values, 'metrics-port', 0, 65535);
  if (workers > 1 && metricsPort !== undefined && metricsPort > 0 && metricsPort + workers - 1 > 65535) {
    throw new UsageError(`--metrics-port ${metricsPort} with --workers ${workers}: worker i serves metrics on ${metricsPort} + i, past port 65535`);
  }
  return workers;
}

SERVE_EXTENSIONS.push({
  flags: {
    workers: { type: 'string' },
  },
  help: [
    '  --workers N                 N server processes sharing the port, each loading its own models; the parent',
    '                              restarts a worker that dies and forwards SIGTERM/SIGINT (default 1). With',
    '                              --metrics-port P, worker i serves its metrics on P + i',
  ],
  configure(values, options) {
    workerCount(values);
    if (!isWorkerProcess()) return;
    options.responseHeaders = { ...options.responseHeaders, [WORKER_HEADER]: String(process.pid) };
    // The port is shared: a (re)started worker must not take connections before its models are ready.
    options.loadBeforeListen = true;
    process.once('disconnect', () => process.kill(process.pid, 'SIGTERM'));
  },
  started(server) {
    if (!isWorkerProcess()) return;
    const ready: WorkerReadyMessage = { ortex: 'ready', port: server.port, metricsPort: server.metricsPort };
    process.send?.(ready);
  },
});
