/**
 * OrtexWsClient: inference over ortex's WebSocket streaming endpoint (ws-frame.ts), many
 * requests in flight on one connection, each promise settled by the answer that carries its
 * request id, in whatever order the server finishes them.
 *
 * The client keeps within the server's per-connection limits by itself: beyond
 * `maxInFlight` requests or `maxInFlightBytes` of frames unanswered, requests wait in the
 * client until answers come back (set both to the server's `websocket` options when those
 * are lowered; the defaults are the server's).
 */

import { Buffer } from 'node:buffer';
import { parseInferResponse } from '../server/oip-codec.js';
import { FrameKind, encodeFrame, joinFrame, parseFrame } from '../server/ws-frame.js';
import type { Tensor } from '../tensor.js';
import { invalidRange, invalidType } from '../validate.js';
import { connectionError, protocolError, serverError } from './client-error.js';
import { type ClientInferOptions, decodeOutputs, encodeRequest, modelRef } from './infer-message.js';
import { type WebSocketConstructor, type WebSocketEventLike, type WebSocketLike, resolveWebSocket } from './web-socket.js';

export interface WsClientOptions {
  /** Requests sent and unanswered at most; later ones wait in the client. Default 1024 (the server's default). */
  maxInFlight?: number;
  /** Bytes of request frames sent and unanswered at most (one request is always sent). Default 256 MiB (the server's default). */
  maxInFlightBytes?: number;
  /** A WHATWG WebSocket class. Default: the global WebSocket, else the `ws` package's. */
  WebSocket?: WebSocketConstructor;
}

/** How the connection closed. */
export interface CloseInfo {
  code: number;
  reason: string;
}

interface Request {
  /** The whole frame; its id is written when it is sent. */
  readonly frame: Uint8Array;
  readonly resolve: (out: Record<string, Tensor>) => void;
  readonly reject: (err: Error) => void;
}

const OPEN = 1;
const MAX_ID = 0xffffffff;

/**
 * @example
 * const client = await new OrtexWsClient('ws://127.0.0.1:8000/v2/stream').connect();
 * const answers = await Promise.all(rows.map((x) => client.infer('ctr_mlp', { x })));
 * await client.close();
 */
export class OrtexWsClient {
  readonly url: string;
  /** Resolves once the connection is closed, by either side (never rejects). */
  readonly closed: Promise<CloseInfo>;
  readonly #maxInFlight: number;
  readonly #maxInFlightBytes: number;
  readonly #WebSocket: WebSocketConstructor | undefined;
  #socket: WebSocketLike | undefined;
  #connecting: Promise<this> | undefined;
  #closeInfo: CloseInfo | undefined;
  #resolveClosed!: (info: CloseInfo) => void;
  readonly #sent = new Map<number, Request & { bytes: number }>();
  #queue: Request[] = [];
  #sentBytes = 0;
  #nextId = 1;

  /** @throws OrtexTypeError ERR_INVALID_ARG for a URL that is not ws(s):// or an option out of range. */
  constructor(url: string | URL, options: WsClientOptions = {}) {
    let parsed: URL;
    try {
      parsed = new URL(String(url));
    } catch {
      throw invalidType('a ws:// or wss:// URL', 'OrtexWsClient url', url);
    }
    if (parsed.protocol !== 'ws:' && parsed.protocol !== 'wss:') throw invalidType('a ws:// or wss:// URL', 'OrtexWsClient url', String(url));
    const positive = (v: unknown, what: string, fallback: number): number => {
      if (v === undefined) return fallback;
      if (!Number.isSafeInteger(v) || (v as number) < 1) throw invalidRange('a positive integer', `OrtexWsClient options.${what}`, v);
      return v as number;
    };
    this.url = parsed.href;
    this.#maxInFlight = positive(options.maxInFlight, 'maxInFlight', 1024);
    this.#maxInFlightBytes = positive(options.maxInFlightBytes, 'maxInFlightBytes', 256 * 1024 * 1024);
    this.#WebSocket = options.WebSocket;
    this.closed = new Promise((resolve) => { this.#resolveClosed = resolve; });
  }

  /** Requests sent and not yet answered. */
  get inFlight(): number {
    return this.#sent.size;
  }

  /** Requests waiting in the client for room under the in-flight limits. */
  get queued(): number {
    return this.#queue.length;
  }

  /**
   * Opens the connection. Idempotent.
   * @throws ERR_CLIENT_CONNECTION when it cannot be opened.
   */
  connect(): Promise<this> {
    this.#connecting ??= (async () => {
      const Ctor = await resolveWebSocket(this.#WebSocket);
      const socket = new Ctor(this.url);
      socket.binaryType = 'arraybuffer';
      this.#socket = socket;
      await new Promise<void>((resolve, reject) => {
        let opened = false;
        socket.addEventListener('open', () => {
          opened = true;
          resolve();
        });
        socket.addEventListener('error', (e) => {
          if (!opened) reject(connectionError(`Could not open ${this.url}${e.message ? `: ${e.message}` : ''}`));
        });
        socket.addEventListener('close', (e) => {
          if (!opened) reject(connectionError(`Could not open ${this.url}: closed with code ${e.code ?? 1006}`));
          this.#onClose({ code: e.code ?? 1006, reason: e.reason ?? '' });
        });
        socket.addEventListener('message', (e) => this.#onMessage(e));
      });
      return this;
    })();
    return this.#connecting;
  }

  /**
   * Sends one inference request; resolves with its outputs whenever the server answers it.
   * @throws OrtexTypeError ERR_INVALID_ARG for bad arguments (nothing is sent); OrtexError
   *   with the server's code and status for an error frame; ERR_CLIENT_CONNECTION when not
   *   connected, or when the connection closes before the answer.
   * @example
   * const { y } = await client.infer('ctr_mlp', { x: new Tensor('float32', features, [1, 64]) });
   */
  infer(model: string, inputs: Readonly<Record<string, Tensor>>, options: ClientInferOptions = {}): Promise<Record<string, Tensor>> {
    try {
      const ref = modelRef(model, options?.version, 'infer()');
      const message = encodeRequest(inputs, options, 'infer()');
      if (!this.#socket || this.#socket.readyState !== OPEN || this.#closeInfo) {
        throw connectionError(this.#closeInfo ? `The connection to ${this.url} is closed (code ${this.#closeInfo.code})` : `Not connected to ${this.url}: call connect() first`);
      }
      const frame = joinFrame(encodeFrame(FrameKind.request, 0, ref.model, ref.version, message));
      return new Promise((resolve, reject) => {
        this.#queue.push({ frame, resolve, reject });
        this.#send();
      });
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** Closes the connection; requests still unanswered reject with ERR_CLIENT_CONNECTION. */
  close(code = 1000, reason = ''): Promise<CloseInfo> {
    if (this.#socket && !this.#closeInfo) this.#socket.close(code, reason);
    else if (!this.#socket) this.#onClose({ code, reason });
    return this.closed;
  }

  /** Sends queued requests while under the in-flight limits. */
  #send(): void {
    const socket = this.#socket!;
    while (this.#queue.length > 0 && this.#sent.size < this.#maxInFlight) {
      const next = this.#queue[0]!;
      if (this.#sent.size > 0 && this.#sentBytes + next.frame.byteLength > this.#maxInFlightBytes) break;
      this.#queue.shift();
      const id = this.#takeId();
      new DataView(next.frame.buffer, next.frame.byteOffset, 8).setUint32(4, id, true);
      this.#sent.set(id, { ...next, bytes: next.frame.byteLength });
      this.#sentBytes += next.frame.byteLength;
      socket.send(next.frame);
    }
  }

  /** The next id not in flight, skipping 0 (reserved). */
  #takeId(): number {
    for (;;) {
      const id = this.#nextId;
      this.#nextId = id === MAX_ID ? 1 : id + 1;
      if (!this.#sent.has(id)) return id;
    }
  }

  #onMessage(e: WebSocketEventLike): void {
    if (!(e.data instanceof ArrayBuffer)) {
      this.#failAll(protocolError(`Expected binary frames from ${this.url} but received a text message`));
      return;
    }
    let frame;
    try {
      frame = parseFrame(new Uint8Array(e.data));
    } catch (err) {
      this.#failAll(protocolError(`Could not read a frame from ${this.url}`, err));
      return;
    }
    if (frame.kind === FrameKind.error) {
      let error: Error;
      try {
        const body = JSON.parse(Buffer.from(frame.body.buffer, frame.body.byteOffset, frame.headerLength).toString('utf8')) as { error?: unknown; code?: unknown; status?: unknown };
        error = serverError(Number(body.status), body.code, String(body.error));
      } catch (err) {
        error = protocolError(`Could not read an error frame from ${this.url}`, err);
      }
      // Id 0: the server could not tell which request it is about; none would ever be answered.
      if (frame.id === 0) this.#failAll(error);
      else this.#settle(frame.id, (r) => r.reject(error));
      return;
    }
    if (frame.kind !== FrameKind.response) return;
    this.#settle(frame.id, (r) => {
      let outputs: Record<string, Tensor>;
      try {
        const headerLength = frame.headerLength === frame.body.byteLength ? undefined : frame.headerLength;
        outputs = decodeOutputs(parseInferResponse(frame.body, headerLength));
      } catch (err) {
        r.reject(protocolError(`Could not read the response to request ${frame.id} from ${this.url}`, err));
        return;
      }
      r.resolve(outputs);
    });
  }

  #settle(id: number, f: (r: Request) => void): void {
    const r = this.#sent.get(id);
    if (!r) return;
    this.#sent.delete(id);
    this.#sentBytes -= r.bytes;
    f(r);
    if (!this.#closeInfo) this.#send();
  }

  #failAll(err: Error): void {
    const all = [...this.#sent.values(), ...this.#queue];
    this.#sent.clear();
    this.#queue = [];
    this.#sentBytes = 0;
    for (const r of all) r.reject(err);
  }

  #onClose(info: CloseInfo): void {
    if (this.#closeInfo) return;
    this.#closeInfo = info;
    const unanswered = this.#sent.size + this.#queue.length;
    if (unanswered > 0) {
      this.#failAll(connectionError(`The connection to ${this.url} closed (code ${info.code}${info.reason ? ` "${info.reason}"` : ''}) with ${unanswered} request(s) unanswered`));
    }
    this.#resolveClosed(info);
  }
}
