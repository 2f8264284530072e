/**
 * Busy-waiting for run() completions. While a run is in flight, a self-rescheduling
 * setImmediate keeps the event loop polling instead of sleeping in epoll, so the completion
 * is picked up without waking a sleeping thread (measured: ~7–10 µs less per run on a 2-vCPU
 * VM). Sessions created with `busyWait: true` poll for as long as their runs last (a busy
 * core meanwhile); by default a run is polled for only its first DEFAULT_SPIN_US, which
 * covers a small model's whole run and costs a long run almost nothing (the same bargain as
 * the run workers' spin before they park, native/run_executor.cc); `busyWait: false` never
 * polls. The loop keeps turning throughout: other callbacks run between polls.
 */

/** How long a run is polled for by default, in µs. */
export const DEFAULT_SPIN_US = 50;

let unbounded = 0; // runs polled until they finish
let bounded = 0; // runs polled until `deadlineMs`
let deadlineMs = 0;
let polling = false;

function poll(): void {
  if (unbounded > 0 || (bounded > 0 && performance.now() < deadlineMs)) setImmediate(poll);
  else polling = false;
}

/** `spinUs`: how long to poll for this run, Infinity for as long as it lasts. */
export function beginBusyWait(spinUs: number): void {
  if (spinUs === Infinity) {
    unbounded++;
  } else {
    bounded++;
    deadlineMs = Math.max(deadlineMs, performance.now() + spinUs / 1000);
  }
  if (!polling) {
    polling = true;
    setImmediate(poll);
  }
}

/** Ends what beginBusyWait(spinUs) began, with the same `spinUs`. */
export function endBusyWait(spinUs: number): void {
  if (spinUs === Infinity) unbounded--;
  else bounded--;
}
