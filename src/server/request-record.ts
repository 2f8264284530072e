/**
 * The record of one inference request: timestamps taken along the request path, what it
 * asked for, and how it ended. The server fills it; layers around the model call (an
 * InferMiddleware such as a response cache) may add to it (`cache`); observers registered
 * with `onRequest` (metrics, access logs) receive it once the response is written or the
 * client is gone. Times are performance.now() values in ms; a mark is 0 when the request
 * ended before reaching it.
 */

import type { Servable } from '../repository/servable.js';

export type RequestTransport = 'http' | 'websocket';

export class RequestRecord {
  /** Model and version as requested (version '' when the client gave none). */
  model = '';
  version = '';
  /** The servable that handled it, once one was chosen. */
  servable: Servable | undefined;
  /** Request body bytes, response body bytes. */
  bytesIn = 0;
  bytesOut = 0;
  /** Batch rows the request carried (first dim of its first input when batching). */
  rows = 0;
  /** Whether the request carried binary tensor data. */
  binaryIn = false;
  /**
   * Set by a response cache (src/cache CacheOutcome): 'hit' from the cache, 'shared' from an
   * identical request in flight, 'miss' computed; undefined when no cache was consulted.
   */
  cache: 'hit' | 'miss' | 'shared' | undefined;

  /** Body received in full. */
  bodyMs = 0;
  /** Request parsed and feeds built: where Triton's compute_input ends. */
  inputMs = 0;
  /** Outputs back from the InferHandler chain (model or cache). */
  inferEndMs = 0;
  /** Response encoded. */
  outputMs = 0;
  /** Response written in full, or the client gone. */
  endMs = 0;

  /** HTTP status sent (or that would have been, for an aborted request: 0). */
  status = 0;
  /** The error code, when it failed with one. */
  code: string | undefined;
  /** The client went away before the response was written. */
  aborted = false;

  /**
   * @param startMs when the request reached the server's handler.
   */
  constructor(readonly transport: RequestTransport, readonly startMs: number) {}

  /** Whether the request was answered with outputs. */
  get ok(): boolean {
    return this.status === 200;
  }

  /** Whole-request duration in ms (0 until it ended). */
  get totalMs(): number {
    return this.endMs === 0 ? 0 : this.endMs - this.startMs;
  }
}

/** Receives each request record once its request is over. Must not throw. */
export type RequestObserver = (record: RequestRecord) => void;
