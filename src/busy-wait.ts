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
const SHORT_RUN_MS = (2 * DEFAULT_SPIN_US) / 1000;

/** After this many long runs in a row, a session's runs are no longer polled by default... */
const LONG_RUNS_OFF = 3;

/** ...except one in this many, which finds out whether they got short again. */
const LONG_RUNS_PROBE = 32;

let running = 0; // run() calls in flight, polled or not
let unbounded = 0; // runs polled until they finish
let deadlineMs = 0; // bounded polling ends here
let polling = false;

function poll(): void {
  if (unbounded > 0 || (running > 0 && performance.now() < deadlineMs)) setImmediate(poll);
  else polling = false;
}

/** How one session's runs are waited for. */
export class RunWaiter {
  /** Runs in a row that took SHORT_RUN_MS or more (only tracked for a bounded poll). */
  #longRuns = 0;

  /** `pollUs`: how long to poll each run, in µs (Infinity: all of it; 0: never). */
  constructor(private readonly pollUs: number) {}

  /**
   * Marks a run as in flight and starts polling for it as the policy above says; returns its
   * start time, for end(). A bounded poll starts only when no other run is in flight.
   */
  begin(): number {
    const us = this.pollUs;
    const now = performance.now();
    running++;
    if (us === Infinity) unbounded++;
    else if (us > 0 && running === 1 && (this.#longRuns < LONG_RUNS_OFF || this.#longRuns % LONG_RUNS_PROBE === 0))
      deadlineMs = now + us / 1000;
    else return now;
    if (!polling) {
      polling = true;
      setImmediate(poll);
    }
    return now;
  }

  /** Ends what begin() began; `t0` is what it returned. */
  end(t0: number): void {
    const us = this.pollUs;
    running--;
    if (us === Infinity) unbounded--;
    else if (us > 0) this.#longRuns = performance.now() - t0 < SHORT_RUN_MS ? 0 : this.#longRuns + 1;
  }
}
