/**
 * Flow control of one streaming connection: how many of its requests are admitted, which
 * run, and when their answers are written, so that a client that sends faster than it
 * reads cannot make the server buffer without bound.
 *
 * uWebSockets.js cannot stop reading a WebSocket, so the bound is kept on what the server
 * holds rather than on what the client sends:
 *
 * - a request is "in flight" from the message that carried it until its answer is handed
 *   to uWS; at most `maxInFlight` of them, holding at most `maxInFlightBytes` of frames
 *   (one is always admitted). A message beyond either limit is answered at once with a 429
 *   error frame (ERR_WS_IN_FLIGHT) while the client is reading its answers; if it is not
 *   (answers are waiting for the socket), the connection is closed with 1008;
 * - at most `maxRunning` of a connection's requests are handed to the model at a time, and
 *   none is started while the connection is backed up: the rest wait as received frames.
 *   So the answers it holds are at most those of `maxRunning` requests;
 * - an answer is handed to uWS only while uWS buffers less than `highWaterBytes` for the
 *   socket (uWS buffers what the kernel does not take); otherwise it waits in the outbox
 *   until uWS reports the socket drained. uWS itself therefore holds at most
 *   `highWaterBytes` plus one answer, and never drops a frame (maxBackpressure is off).
 *
 * Answers are written in the order they finish, corked together when several finish in the
 * same tick (one write for a batch that completes at once).
 *
 * Threading: the event loop only (every uWS callback runs there).
 */

import { OrtexError } from '../errors.js';
import { RequestRecord } from './request-record.js';
import { type FramePieces, type StreamFrame, readFrameId } from './ws-frame.js';
import { type StreamContext, admit, answer, errorAnswer } from './ws-request.js';

/** Close codes the server uses (RFC 6455 section 7.4.1). */
export const CLOSE_GOING_AWAY = 1001;
export const CLOSE_POLICY_VIOLATION = 1008;

/** uWS's SendStatus for a frame it refused because of its maxBackpressure. */
const DROPPED = 2;

/** The socket, as the connection uses it (a uWS WebSocket in ws.ts). */
export interface FrameSocket {
  /** Sends one frame (as fragments when it has a tail); returns uWS's SendStatus: 0 buffered, 1 sent, 2 dropped. */
  send(frame: FramePieces): number;
  /** Bytes uWS holds for the socket beyond what the kernel took. */
  bufferedAmount(): number;
  /** Runs `f` with writes batched into one syscall. */
  cork(f: () => void): void;
  /** Closes with a close frame; uWS calls the close handler (and so closed()) at once. */
  end(code: number, reason: string): void;
}

export interface StreamLimits {
  maxInFlight: number;
  maxInFlightBytes: number;
  maxRunning: number;
  highWaterBytes: number;
}

/** What a connection holds now; `peakHeldBytes` is the most answers it ever held (outbox plus uWS's buffer). */
export interface ConnectionStats {
  inFlight: number;
  inFlightBytes: number;
  running: number;
  waiting: number;
  queuedAnswers: number;
  queuedAnswerBytes: number;
  bufferedBytes: number;
  peakHeldBytes: number;
}

/** Called once per request when it is over: its answer handed to uWS, or dropped with the connection. */
export type RequestDone = (record: RequestRecord, delivered: boolean, bytesOut: number) => void;

interface Slot {
  readonly record: RequestRecord;
  /** Bytes of the request frame, counted against maxInFlightBytes. */
  readonly bytes: number;
}
interface Job extends Slot {
  readonly frame: StreamFrame;
}
interface Ready extends Slot {
  readonly pieces: FramePieces;
}

export class StreamConnection {
  readonly #socket: FrameSocket;
  readonly #limits: StreamLimits;
  readonly #ctx: StreamContext;
  readonly #done: RequestDone;
  readonly #abort: AbortController | undefined;
  #inFlight = 0;
  #inFlightBytes = 0;
  #running = 0;
  #waiting: Job[] = [];
  #outbox: Ready[] = [];
  #outboxBytes = 0;
  #peakHeld = 0;
  #flushQueued = false;
  #shuttingDown = false;
  #closed = false;
  readonly #closedPromise: Promise<void>;
  #resolveClosed!: () => void;

  /**
   * @param cancelOnClose abort the requests still queued in their model when the connection
   *   closes (one AbortSignal listener per request; see ServerOptions.cancelOnDisconnect).
   */
  constructor(socket: FrameSocket, limits: StreamLimits, ctx: StreamContext, done: RequestDone, cancelOnClose: boolean) {
    this.#socket = socket;
    this.#limits = limits;
    this.#ctx = ctx;
    this.#done = done;
    this.#abort = cancelOnClose ? new AbortController() : undefined;
    this.#closedPromise = new Promise((resolve) => { this.#resolveClosed = resolve; });
  }

  get stats(): ConnectionStats {
    return {
      inFlight: this.#inFlight,
      inFlightBytes: this.#inFlightBytes,
      running: this.#running,
      waiting: this.#waiting.length,
      queuedAnswers: this.#outbox.length,
      queuedAnswerBytes: this.#outboxBytes,
      bufferedBytes: this.#closed ? 0 : this.#socket.bufferedAmount(),
      peakHeldBytes: this.#peakHeld,
    };
  }

  /** uWS `message`: admits (or refuses) one message. Synchronous: uWS neuters `message` on return. */
  receive(message: ArrayBuffer, isBinary: boolean): void {
    if (this.#closed) return;
    const view = new Uint8Array(message);
    const record = new RequestRecord('websocket', performance.now());
    record.bodyMs = record.startMs;
    record.bytesIn = view.byteLength;
    const { maxInFlight, maxInFlightBytes } = this.#limits;
    if (this.#inFlight >= maxInFlight || (this.#inFlight > 0 && this.#inFlightBytes + view.byteLength > maxInFlightBytes)) {
      this.#refuse(view, record);
      return;
    }
    this.#inFlight++;
    this.#inFlightBytes += view.byteLength;
    const admitted = admit(this.#ctx, view, isBinary, record);
    if ('head' in admitted) {
      this.#deliver({ record, bytes: view.byteLength, pieces: admitted });
      return;
    }
    const job: Job = { record, bytes: view.byteLength, frame: admitted };
    if (this.#waiting.length === 0 && this.#canStart()) this.#start(job);
    else this.#waiting.push(job);
  }

  /** uWS `drain`: uWS wrote some of what it buffered. */
  drained(): void {
    this.#pump();
  }

  /** uWS `close` (whoever closed): what is still waiting or queued is dropped. */
  closed(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#abort?.abort();
    const dropped: Slot[] = [...this.#waiting, ...this.#outbox];
    this.#waiting = [];
    this.#outbox = [];
    this.#outboxBytes = 0;
    for (const slot of dropped) this.#release(slot, false, 0);
    this.#resolveClosed();
  }

  /**
   * Graceful close: requests in flight are answered and their answers written out (uWS's
   * buffer empty), then the connection is closed with 1001. New requests meanwhile are
   * answered 503 (StreamContext.draining). Resolves once closed.
   */
  shutdown(): Promise<void> {
    this.#shuttingDown = true;
    this.#endIfIdle();
    return this.#closedPromise;
  }

  /** Closes with 1001 now, whatever is still in flight. */
  forceEnd(reason = 'server shutting down'): void {
    if (!this.#closed) this.#socket.end(CLOSE_GOING_AWAY, reason);
  }

  /** A message beyond the limits: a 429 error frame, or closing the connection if the client is not reading. */
  #refuse(view: Uint8Array, record: RequestRecord): void {
    const err = new OrtexError(
      'ERR_WS_IN_FLIGHT',
      `Expected at most ${this.#limits.maxInFlight} requests and ${this.#limits.maxInFlightBytes} bytes in flight on one connection but received one more (${view.byteLength} bytes) with ${this.#inFlight} requests and ${this.#inFlightBytes} bytes unanswered`,
    );
    const pieces = errorAnswer(this.#ctx, readFrameId(view), record, err);
    if (this.#backedUp()) {
      // Answering would add to what the client is not reading: the only bound left is closing.
      this.#done(record, false, 0);
      this.#socket.end(CLOSE_POLICY_VIOLATION, 'too many requests in flight while answers wait to be read');
      return;
    }
    this.#socket.cork(() => this.#socket.send(pieces));
    this.#done(record, true, pieces.byteLength);
  }

  #canStart(): boolean {
    return this.#running < this.#limits.maxRunning && !this.#backedUp();
  }

  /** Answers are waiting for the socket, or uWS already buffers more than the high-water mark. */
  #backedUp(): boolean {
    return this.#outbox.length > 0 || this.#socket.bufferedAmount() >= this.#limits.highWaterBytes;
  }

  #start(job: Job): void {
    this.#running++;
    void answer(this.#ctx, job.frame, job.record, this.#abort?.signal).then((pieces) => {
      this.#running--;
      this.#deliver({ record: job.record, bytes: job.bytes, pieces });
    });
  }

  /** Queues an answer; written at the end of this tick together with the others that finished in it. */
  #deliver(ready: Ready): void {
    if (this.#closed) {
      this.#release(ready, false, 0);
      return;
    }
    this.#outbox.push(ready);
    this.#outboxBytes += ready.pieces.byteLength;
    this.#notePeak();
    if (this.#flushQueued) return;
    this.#flushQueued = true;
    queueMicrotask(() => {
      this.#flushQueued = false;
      this.#pump();
    });
  }

  /** Writes queued answers while under the high-water mark, then starts waiting requests. */
  #pump(): void {
    if (this.#closed) return;
    const socket = this.#socket;
    const highWater = this.#limits.highWaterBytes;
    if (this.#outbox.length > 0 && socket.bufferedAmount() < highWater) {
      socket.cork(() => {
        while (!this.#closed && this.#outbox.length > 0 && socket.bufferedAmount() < highWater) {
          const ready = this.#outbox[0]!;
          const status = socket.send(ready.pieces);
          if (this.#closed) break; // the socket failed while writing: closed() released everything
          // Cannot happen with maxBackpressure off; kept for the next drain if it does.
          if (status === DROPPED) break;
          this.#outbox.shift();
          this.#outboxBytes -= ready.pieces.byteLength;
          this.#release(ready, true, ready.pieces.byteLength);
        }
      });
      this.#notePeak();
    }
    while (!this.#closed && this.#waiting.length > 0 && this.#canStart()) this.#start(this.#waiting.shift()!);
    this.#endIfIdle();
  }

  #release(slot: Slot, delivered: boolean, bytesOut: number): void {
    this.#inFlight--;
    this.#inFlightBytes -= slot.bytes;
    this.#done(slot.record, delivered, bytesOut);
  }

  #endIfIdle(): void {
    if (this.#shuttingDown && !this.#closed && this.#inFlight === 0 && this.#socket.bufferedAmount() === 0) {
      this.#socket.end(CLOSE_GOING_AWAY, 'server shutting down');
    }
  }

  #notePeak(): void {
    if (this.#closed) return;
    const held = this.#outboxBytes + this.#socket.bufferedAmount();
    if (held > this.#peakHeld) this.#peakHeld = held;
  }
}
