/**
 * Admission limits: what one request, one batch and the whole server may hold, checked when
 * a request is admitted, before it is queued, so that no client can make the process
 * allocate without bound. Each refusal is a typed error with the limit, what arrived and
 * the flag that raises it; the server goes on serving the others.
 *
 *   limit                 refused with                    checked
 *   maxRequestElements    413 ERR_REQUEST_TOO_LARGE       while the JSON header is read, from the
 *                                                         declared shapes, before any tensor is allocated
 *   maxBatchBytes         413 ERR_REQUEST_TOO_LARGE       after parsing, before queueing (see below)
 *   maxPendingBytes       503 ERR_SERVER_OVERLOADED       before parsing, and again with the decoded inputs
 *   maxConnections        503 ERR_SERVER_OVERLOADED       when a request or a WebSocket upgrade arrives
 *   sendTimeoutMs         connection closed               while a large response is written (http.ts)
 *
 * maxBatchBytes bounds the input bytes of any batch the dynamic batcher can form. The
 * native batcher gathers rows by count (max_batch_size), not bytes, and batches requests
 * together only when their non-batch dims agree or are padded to the longest, so a batch
 * holding a request is at most max_batch_size rows of the largest row among its requests.
 * A request is therefore admitted only if its bytes per row × max_batch_size fit the bound
 * (for a model that does not batch: its own bytes). Done here in TypeScript at admission,
 * which needs no change to the native batcher.
 *
 * maxPendingBytes counts the bytes of every inference request from admission to its
 * answer (queued in a model, running, or being encoded): its body, plus its decoded input
 * tensors where those are copies rather than views over the body (JSON data). Past the
 * bound new requests are refused with 503 and Retry-After instead of the process running
 * out of memory; one request is always admitted when nothing is pending.
 *
 * sendTimeoutMs bounds what a client that stops reading can hold: a response streamed to it
 * (over 64 KiB; smaller ones uWS buffers whole and drops with the idle connection after 10 s)
 * that makes less than SEND_PROGRESS_BYTES of progress in a window of sendTimeoutMs is
 * abandoned and its connection closed, freeing the response and the connection slot. It is
 * the response side of uWS's own rule for requests (a request's headers or body arriving at
 * less than 16 KiB per 10 s closes its connection), as nginx's send_timeout is.
 *
 * Threading: the event loop only.
 */

import { Buffer } from 'node:buffer';
import { OrtexError } from '../errors.js';
import type { Servable } from '../repository/servable.js';
import type { Tensor } from '../tensor.js';

export interface LimitOptions {
  /** Elements summed over a request's input tensors. Default 64 Mi (67108864). */
  maxRequestElements?: number;
  /** Input bytes of one batch a request can be part of. Default 1 GiB. */
  maxBatchBytes?: number;
  /** Bytes of all inference requests admitted and not yet answered. Default 2 GiB. */
  maxPendingBytes?: number;
  /** HTTP requests in progress plus open WebSocket connections. Default 4096. */
  maxConnections?: number;
  /** A large response read at less than 16 KiB per this many ms is abandoned and its connection closed. Default 10000. */
  sendTimeoutMs?: number;
}

/** The progress a streamed response must make in each window of sendTimeoutMs (or the rest of it). */
export const SEND_PROGRESS_BYTES = 16 * 1024;

export const DEFAULT_LIMITS: Readonly<Required<LimitOptions>> = {
  maxRequestElements: 64 * 1024 * 1024,
  maxBatchBytes: 1024 * 1024 * 1024,
  maxPendingBytes: 2 * 1024 * 1024 * 1024,
  maxConnections: 4096,
  sendTimeoutMs: 10_000,
};

/** The flag that sets each limit, named in refusals so that the operator knows what to raise. */
const FLAG: Record<keyof LimitOptions, string> = {
  maxRequestElements: '--max-request-elements',
  maxBatchBytes: '--max-batch-bytes',
  maxPendingBytes: '--max-pending-bytes',
  maxConnections: '--max-connections',
  sendTimeoutMs: '--send-timeout-ms',
};

/** What a request over --max-request-elements is told to do. */
export const MAX_ELEMENTS_HINT = `send fewer or smaller tensors, or raise ${FLAG.maxRequestElements}`;

/** Fills in the defaults. @throws OrtexError ERR_OPTION_INVALID for a limit that is not a positive safe integer. */
export function resolveLimits(o: LimitOptions = {}): Required<LimitOptions> {
  const out = { ...DEFAULT_LIMITS };
  for (const key of Object.keys(DEFAULT_LIMITS) as Array<keyof LimitOptions>) {
    const v = o[key];
    if (v === undefined) continue;
    if (!Number.isSafeInteger(v) || v < 1) throw new OrtexError('ERR_OPTION_INVALID', `Expected a positive integer for ${key} but received ${String(v)}`);
    out[key] = v;
  }
  return out;
}

/** Bytes of a tensor's values: its TypedArray, or the UTF-8 bytes of its strings. */
function tensorBytes(t: Tensor): number {
  const data = t.data as ArrayBufferView | readonly string[];
  if (ArrayBuffer.isView(data)) return data.byteLength;
  let n = 0;
  for (const s of data) n += Buffer.byteLength(s, 'utf8');
  return n;
}

/**
 * Checks that any batch a request can be part of stays within maxBatchBytes (file header).
 * @returns the bytes of its decoded inputs that are copies, not views over `body` (for the pending count).
 * @throws OrtexError ERR_REQUEST_TOO_LARGE (413).
 */
export function checkBatchBytes(servable: Servable, feeds: Readonly<Record<string, Tensor>>, rows: number, body: Uint8Array, maxBatchBytes: number): number {
  let bytes = 0;
  let copied = 0;
  for (const name in feeds) {
    const t = feeds[name]!;
    const n = tensorBytes(t);
    bytes += n;
    const data = t.data as ArrayBufferView | readonly string[];
    if (!ArrayBuffer.isView(data) || data.buffer !== body.buffer) copied += n;
  }
  const maxBatchSize = servable.config.maxBatchSize;
  const perRow = maxBatchSize > 0 ? Math.ceil(bytes / Math.max(rows, 1)) : bytes;
  const batch = maxBatchSize > 0 ? perRow * maxBatchSize : bytes;
  if (batch > maxBatchBytes) {
    const how = maxBatchSize > 0
      ? `a request of ${bytes} bytes in ${rows} rows (${perRow} bytes a row × max_batch_size ${maxBatchSize} = ${batch} bytes a batch)`
      : `a request of ${bytes} bytes (the model runs each request as its own batch)`;
    throw new OrtexError(
      'ERR_REQUEST_TOO_LARGE',
      `Expected at most ${maxBatchBytes} input bytes in one batch of model '${servable.name}' but received ${how}; send smaller inputs, lower the model's max_batch_size, or raise ${FLAG.maxBatchBytes}`,
    );
  }
  return copied;
}

/** What one admitted request holds against maxPendingBytes; release() once it is answered. */
export interface PendingTicket {
  /** Adds bytes (decoded inputs). @throws ERR_SERVER_OVERLOADED when they take the total past the bound. */
  grow(bytes: number): void;
  /** Idempotent. */
  release(): void;
}

/** The server-wide count of pending request bytes. */
export class PendingBytes {
  #bytes = 0;
  #requests = 0;
  constructor(readonly max: number) {}

  get bytes(): number {
    return this.#bytes;
  }

  get requests(): number {
    return this.#requests;
  }

  /**
   * Admits a request of `bytes` (its body).
   * @throws OrtexError ERR_SERVER_OVERLOADED (503) when pending bytes would pass the bound.
   */
  admit(bytes: number): PendingTicket {
    this.#check(bytes);
    this.#bytes += bytes;
    this.#requests++;
    let held = bytes;
    let released = false;
    return {
      grow: (more) => {
        if (released || more <= 0) return;
        // This request's own bytes are already counted: it is refused only if the rest plus all of it do not fit.
        if (this.#bytes + more > this.max && this.#bytes - held > 0) throw this.#overloaded(held + more);
        this.#bytes += more;
        held += more;
      },
      release: () => {
        if (released) return;
        released = true;
        this.#bytes -= held;
        this.#requests--;
      },
    };
  }

  #check(bytes: number): void {
    if (this.#bytes > 0 && this.#bytes + bytes > this.max) throw this.#overloaded(bytes);
  }

  #overloaded(bytes: number): OrtexError {
    return new OrtexError(
      'ERR_SERVER_OVERLOADED',
      `The server holds ${this.#bytes} bytes of pending requests (${this.#requests} requests) and a request of ${bytes} bytes would pass its limit of ${this.max} (${FLAG.maxPendingBytes}); retry shortly`,
    );
  }
}

/** The refusal of a request or WebSocket upgrade past maxConnections. */
export function tooManyConnections(max: number): OrtexError {
  return new OrtexError('ERR_SERVER_OVERLOADED', `The server is serving its limit of ${max} connections (${FLAG.maxConnections}); retry shortly`);
}
