/**
 * The primary process of `ortex serve --workers N` (the flag and the worker's side are in
 * workers-flags.ts). It loads no model and binds nothing: it forks N worker processes running
 * `ortex serve` with the same flags, each in a process group of its own, and
 *
 * - start: starts them all at once, on one port. With --port 0 the primary first asks the
 *   kernel for a free port (binding and closing it) and hands that to every worker: a worker
 *   cannot share a port another worker got from port 0, because uSockets sets SO_REUSEPORT
 *   only on a bind to an explicit port (seen with strace). Another process could take the
 *   port in between; an explicit --port has no such window. A worker that exits before every
 *   worker is ready means the server cannot start: the others are stopped and the result is
 *   exit status 1.
 * - running: a worker that exits is restarted: at once the first time, then with a delay
 *   doubling from 500 ms up to 30 s while its replacements keep dying within 10 s of starting.
 * - SIGTERM/SIGINT: forwards the signal to every worker (each drains as a single server does)
 *   and resolves once all have exited: 0 when every one exited 0, else 1. A second signal
 *   kills the workers (SIGKILL) and resolves 1 at once.
 *
 * Workers are in their own process groups so that a terminal's Ctrl-C, which signals the
 * whole foreground group, reaches them once (forwarded), not twice. If the primary itself
 * dies, each worker sees its IPC channel close and shuts down (workers-flags.ts).
 */

import { type ChildProcess, fork } from 'node:child_process';
import { type AddressInfo, createServer as createNetServer } from 'node:net';
import { OrtexError } from '../errors.js';
import type { Logger } from '../server/logger.js';
import { WORKER_ENV, isReadyMessage } from './workers-flags.js';

export interface SuperviseOptions {
  /** The arguments after `serve`, as given (--workers included: workers ignore it). */
  argv: readonly string[];
  workers: number;
  host: string;
  /** The port to serve; 0: a free one, picked by the primary. */
  port: number;
  /** --metrics-port: worker i gets port + i; 0: each picks a free one. */
  metricsPort?: number | undefined;
  logger: Logger;
}

/** A worker that lives at least this long after starting is not crash-looping. */
const STABLE_MS = 10_000;
const FIRST_BACKOFF_MS = 500;
const MAX_BACKOFF_MS = 30_000;

interface Slot {
  readonly index: number;
  child: ChildProcess | undefined;
  startedAt: number;
  ready: boolean;
  /** Replacements in a row that died within STABLE_MS of starting. */
  quickExits: number;
  restartTimer: NodeJS.Timeout | undefined;
}

/**
 * Runs the workers until they have all exited after a signal, or the start failed.
 * @returns the exit status for the primary.
 */
export function superviseWorkers(o: SuperviseOptions): Promise<number> {
  const { logger } = o;
  const slots: Slot[] = Array.from({ length: o.workers }, (_, index) => ({ index, child: undefined, startedAt: 0, ready: false, quickExits: 0, restartTimer: undefined }));
  let port = o.port;
  let starting = true;
  let stopping = false;
  let failed = false;
  let resolveDone!: (code: number) => void;
  const done = new Promise<number>((resolve) => { resolveDone = resolve; });

  const live = (): ChildProcess[] => slots.flatMap((s) => (s.child ? [s.child] : []));

  const finishIfIdle = (): void => {
    if (stopping && live().length === 0 && slots.every((s) => s.restartTimer === undefined)) resolveDone(failed ? 1 : 0);
  };

  const stopAll = (signal: NodeJS.Signals): void => {
    for (const slot of slots) {
      clearTimeout(slot.restartTimer);
      slot.restartTimer = undefined;
    }
    for (const child of live()) child.kill(signal);
    finishIfIdle();
  };

  const onExit = (slot: Slot, child: ChildProcess, code: number | null, signal: NodeJS.Signals | null): void => {
    if (slot.child !== child) return;
    slot.child = undefined;
    const fields = { worker: slot.index, workerPid: child.pid, code, signal };
    if (stopping) {
      if (code !== 0) failed = true;
      logger.info(fields, 'worker exited');
      finishIfIdle();
    } else if (starting) {
      logger.error(fields, 'a worker exited before the server was ready: stopping');
      stopping = true;
      failed = true;
      stopAll('SIGTERM');
    } else {
      slot.quickExits = Date.now() - slot.startedAt < STABLE_MS ? slot.quickExits + 1 : 0;
      const delayMs = slot.quickExits <= 1 ? 0 : Math.min(MAX_BACKOFF_MS, FIRST_BACKOFF_MS * 2 ** (slot.quickExits - 2));
      logger.warn({ ...fields, delayMs }, 'worker exited: restarting it');
      slot.restartTimer = setTimeout(() => start(slot), delayMs);
    }
  };

  const onMessage = (slot: Slot, child: ChildProcess, m: unknown): void => {
    if (!isReadyMessage(m) || slot.child !== child) return;
    slot.ready = true;
    logger.info({ worker: slot.index, workerPid: child.pid, metricsPort: m.metricsPort }, 'worker ready');
    if (starting && slots.every((s) => s.ready)) {
      starting = false;
      logger.info({ host: o.host, port, workers: slots.map((s) => s.child!.pid) }, 'workers ready');
    }
  };

  const start = (slot: Slot): void => {
    slot.restartTimer = undefined;
    const args = ['serve', ...o.argv, '--port', String(port)];
    if (o.metricsPort !== undefined && o.metricsPort > 0) args.push('--metrics-port', String(o.metricsPort + slot.index));
    const child = fork(process.argv[1]!, args, {
      detached: true,
      env: { ...process.env, [WORKER_ENV]: String(slot.index) },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    slot.child = child;
    slot.startedAt = Date.now();
    slot.ready = false;
    child.on('message', (m: unknown) => onMessage(slot, child, m));
    child.on('exit', (code, signal) => onExit(slot, child, code, signal));
    child.on('error', (err) => logger.warn({ err, worker: slot.index }, 'worker process error'));
  };

  const onSignal = (signal: NodeJS.Signals): void => {
    if (stopping) {
      logger.warn({ signal }, 'second signal: killing the workers without finishing');
      for (const child of live()) child.kill('SIGKILL');
      resolveDone(1);
      return;
    }
    stopping = true;
    logger.info({ signal, workers: live().map((c) => c.pid) }, 'shutting down: stopping the workers');
    stopAll(signal);
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);

  void (async () => {
    if (port === 0) port = await freePort(o.host);
    if (stopping) return finishIfIdle();
    logger.info({ workers: o.workers, host: o.host, port }, 'starting workers');
    for (const slot of slots) start(slot);
  })().catch((err: unknown) => {
    logger.error({ err }, 'could not start the workers');
    failed = true;
    stopping = true;
    stopAll('SIGTERM');
  });
  return done;
}

/** A port free on `host` now (bound and released at once). */
function freePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createNetServer();
    probe.once('error', (err) => reject(new OrtexError('ERR_SERVER_LISTEN', `Could not find a free port on ${host}: ${err.message}`, { cause: err })));
    probe.listen(0, host, () => {
      const { port } = probe.address() as AddressInfo;
      probe.close(() => resolve(port));
    });
  });
}
