/**
 * The WebSocket implementation the streaming client runs on: the WHATWG WebSocket interface
 * (browsers, Node 22+'s global, and the `ws` package, which implements the same interface).
 * Node 20 has no global WebSocket, so there the `ws` package is loaded, when installed; it
 * is an optional peer dependency of ortex.
 */

import { connectionError } from './client-error.js';

/** The part of the WHATWG WebSocket interface the client uses. */
export interface WebSocketLike {
  binaryType: string;
  readonly readyState: number;
  send(data: Uint8Array): void;
  close(code?: number, reason?: string): void;
  addEventListener(type: 'open' | 'message' | 'close' | 'error', listener: (event: WebSocketEventLike) => void): void;
}

/** The fields of the open, message, close and error events the client reads. */
export interface WebSocketEventLike {
  /** message: an ArrayBuffer for a binary message (binaryType 'arraybuffer'), a string for text. */
  data?: unknown;
  /** close */
  code?: number;
  reason?: string;
  /** error (the ws package; browsers give none) */
  message?: string;
}

export type WebSocketConstructor = new (url: string) => WebSocketLike;

/**
 * `given`, else the global WebSocket, else the `ws` package's.
 * @throws OrtexError ERR_CLIENT_CONNECTION when there is none, saying how to get one.
 */
export async function resolveWebSocket(given?: WebSocketConstructor): Promise<WebSocketConstructor> {
  if (given) return given;
  const global = (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
  if (global) return global;
  // A variable, so that TypeScript does not need the package's types and bundlers leave it optional.
  const name = 'ws';
  try {
    const mod = (await import(name)) as { default?: WebSocketConstructor; WebSocket?: WebSocketConstructor };
    const ctor = mod.WebSocket ?? mod.default;
    if (typeof ctor === 'function') return ctor;
  } catch (err) {
    throw connectionError(`No WebSocket implementation: this Node (${process.version}) has no global WebSocket and the ws package could not be loaded (npm install ws), or pass { WebSocket } to OrtexWsClient`, err);
  }
  throw connectionError('No WebSocket implementation: the ws package exports no WebSocket class');
}
