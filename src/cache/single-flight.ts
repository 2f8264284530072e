/**
 * Single flight: calls with the same key made while one is in flight join it instead of
 * running again, so a burst of identical requests costs one computation. A call leaves the
 * table when it settles; a rejection is delivered to every caller that joined and is not
 * remembered, so the next call runs afresh.
 */

export interface Flight<V> {
  readonly promise: Promise<V>;
  /** True when this call joined one already in flight. */
  readonly joined: boolean;
}

/**
 * @example
 * const flights = new SingleFlight<bigint, Outputs>();
 * const { promise, joined } = flights.run(key, () => model.infer(feeds));
 */
export class SingleFlight<K, V> {
  readonly #inflight = new Map<K, Promise<V>>();

  /** Runs `fn` unless a call with this key is in flight, whose promise it then returns. */
  run(key: K, fn: () => Promise<V>): Flight<V> {
    const current = this.#inflight.get(key);
    if (current !== undefined) return { promise: current, joined: true };
    let promise: Promise<V>;
    try {
      promise = fn();
    } catch (err) {
      promise = Promise.reject(err);
    }
    this.#inflight.set(key, promise);
    // then(f, f), not finally(): finally() would return a second promise that rejects
    // unhandled whenever `promise` rejects.
    const leave = () => {
      if (this.#inflight.get(key) === promise) this.#inflight.delete(key);
    };
    promise.then(leave, leave);
    return { promise, joined: false };
  }

  /** Calls in flight now. */
  get size(): number {
    return this.#inflight.size;
  }
}
