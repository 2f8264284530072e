/**
 * How the event loop waits for run() completions. While it polls (a self-rescheduling
 * setImmediate), a completion is picked up without waking a sleeping thread: ~7–14 µs less
 * per run on a 2-vCPU VM, where waking a halted vCPU is the largest part of the thread hop.
 * The loop keeps turning throughout: other callbacks run between polls.
 *
 * - `busyWait: true`: a session's runs are polled for as long as they last (a busy core
 *   meanwhile).
 * - By default, a run is polled for its first DEFAULT_SPIN_US only, the same bargain as the
 *   run workers' spin before they park (native/run_executor.cc, 50 µs unless
 *   ORTEX_RUN_SPIN_US says otherwise), and only when that should not take a core from the run
 *   itself:
 *   - the session's intra-op threads leave one of this process's cores free (decided once,
 *     in session-options.ts; other processes and worker threads are not counted);
 *   - no other run of this thread is in flight when it starts (a poll already going runs out
 *     its 50 µs);
 *   - the session's runs are short: after LONG_RUNS_OFF runs in a row of SHORT_RUN_MS or more
 *     (wall time, the hop included), only one in LONG_RUNS_PROBE is polled.
 * - `busyWait: false`: never polled.
 */

/** How long a run is polled for by default, in µs. */
export const DEFAULT_SPIN_US = 50;

/** A run whose wall time was at least this counts as long. */
export const SHORT_RUN_MS = (2 * DEFAULT_SPIN_US) / 1000;

/** After this many long runs in a row, a session's runs are no longer polled by default... */
export const LONG_RUNS_OFF = 3;

/** ...except one in this many, which finds out whether they got short again. */
export const LONG_RUNS_PROBE = 32;

let running = 0; // run() calls in flight, polled or not
let unbounded = 0; // runs polled until they finish
let deadlineMs = 0; // bounded polling ends here
let polling = false;

function poll(): void {
  if (unbounded > 0 || (running > 0 && performance.now() < deadlineMs)) setImmediate(poll);
  else polling = false;
}

/**
 * Marks a run as in flight and starts polling for it: `spinUs` µs of it (Infinity: all of
 * it; 0: none). A bounded poll starts only when no other run is in flight.
 */
export function beginRun(spinUs: number): void {
  running++;
  if (spinUs === Infinity) unbounded++;
  else if (spinUs > 0 && running === 1) deadlineMs = performance.now() + spinUs / 1000;
  else return;
  if (!polling) {
    polling = true;
    setImmediate(poll);
  }
}

/** Ends what beginRun(spinUs) began, with the same `spinUs`. */
export function endRun(spinUs: number): void {
  running--;
  if (spinUs === Infinity) unbounded--;
}
