/**
 * The frames of ortex's WebSocket streaming protocol (ws://host:port/v2/stream), both
 * directions, for the server (ws.ts) and the client (src/client/ws-client.ts). One binary
 * WebSocket message is one frame; all integers are little-endian:
 *
 *   offset      size  field
 *   0           1     magic 0x9E
 *   1           1     protocol version, 1
 *   2           1     kind: 1 request (client → server), 2 response, 3 error (server → client)
 *   3           1     flags: reserved, 0 (receivers ignore them)
 *   4           4     request id, u32: chosen by the client, echoed in the answer (0: see below)
 *   8           2     M, u16: byte length of the model name
 *   10          M     model name, UTF-8
 *   10+M        2     V, u16: byte length of the model version
 *   12+M        V     model version, UTF-8 ('' for the latest ready version)
 *   12+M+V      4     J, u32: byte length of the JSON inference header (at least 1)
 *   16+M+V      J     JSON inference header, exactly as the body of Triton's binary tensor
 *                     extension (a request's `inputs`, a response's `outputs`, each tensor in
 *                     JSON `data` or with `parameters.binary_data_size`); for an error frame
 *                     {"error": message, "code": "ERR_…", "status": http status}
 *   16+M+V+J    …     the binary tensor sections, in the order the JSON lists them
 *
 * So the part from offset 16+M+V on is byte for byte an HTTP binary-extension body whose
 * Inference-Header-Content-Length is J, and it is read and written by oip-codec.ts.
 * Senders may pad the JSON with spaces (counted in J) so that the binary sections start at a
 * multiple of 8 from the start of the frame: ortex does, so that receivers can make typed
 * views over tensor data without copying it. Request id 0 is reserved: the server answers a
 * frame it cannot read an id from (too short, wrong magic or version, a text message) with
 * an error frame of id 0.
 */

import { Buffer } from 'node:buffer';
import { type ErrorCode, OrtexError } from '../errors.js';
import type { EncodedMessage } from './oip-types.js';

export const FRAME_MAGIC = 0x9e;
export const FRAME_VERSION = 1;
/** Bytes of a frame before the JSON header when model name and version are empty. */
export const FRAME_FIXED_BYTES = 16;
/** Where the streaming endpoint listens by default. */
export const STREAM_PATH = '/v2/stream';

export const FrameKind = { request: 1, response: 2, error: 3 } as const;
export type FrameKind = (typeof FrameKind)[keyof typeof FrameKind];

const MAX_U16 = 0xffff;
const MAX_U32 = 0xffffffff;
/** A binary part up to this size is copied into the frame's first piece rather than sent as a second fragment. */
const JOIN_TAIL_BELOW = 64 * 1024;
const SPACE = 0x20;

/** A frame as read: its fixed fields, and the message after them as views over the frame. */
export interface StreamFrame {
  kind: FrameKind;
  flags: number;
  id: number;
  model: string;
  version: string;
  /** J: the JSON header's byte length, at the start of `body`. */
  headerLength: number;
  /** The JSON header and the binary sections (an HTTP binary-extension body). */
  body: Uint8Array;
}

/**
 * A frame ready to send, in one or two pieces: `head` (fixed fields and JSON header) and,
 * for a large binary part, `tail`, sent as a second WebSocket fragment so that response
 * tensors are not copied once more just to put a header in front of them.
 */
export interface FramePieces {
  head: Uint8Array;
  tail?: Uint8Array;
  /** Bytes of the whole frame. */
  byteLength: number;
}

/** What an error frame's JSON carries. */
export interface FrameErrorBody {
  error: string;
  code: ErrorCode;
  status: number;
}

const frameError = (message: string): OrtexError => new OrtexError('ERR_WS_FRAME', message);
const utf8 = new TextDecoder('utf-8', { fatal: true });

function nameBytes(value: string, what: string): Buffer {
  const bytes = Buffer.from(value, 'utf8');
  if (bytes.byteLength > MAX_U16) throw new OrtexError('ERR_INVALID_ARG', `Expected at most ${MAX_U16} bytes of UTF-8 for the ${what} but received ${bytes.byteLength}`);
  return bytes;
}

/**
 * Encodes a frame around an encoded inference message (oip-codec.ts), padding its JSON
 * header so that the binary sections start 8-byte aligned.
 * @throws OrtexError ERR_INVALID_ARG for an id outside 0..2^32-1 or a name over 65535 bytes.
 * @example
 * const frame = encodeFrame(FrameKind.request, 7, 'ctr', '', encodeInferRequest({ inputs, binaryOutputs: true }));
 * socket.send(joinFrame(frame));
 */
export function encodeFrame(kind: FrameKind, id: number, model: string, version: string, message: EncodedMessage, flags = 0): FramePieces {
  if (!Number.isInteger(id) || id < 0 || id > MAX_U32) throw new OrtexError('ERR_INVALID_ARG', `Expected a request id from 0 to ${MAX_U32} but received ${id}`);
  const m = nameBytes(model, 'model name');
  const v = nameBytes(version, 'model version');
  const body = typeof message.body === 'string' ? Buffer.from(message.body, 'utf8') : message.body;
  const jsonLength = message.headerLength ?? body.byteLength;
  const binary = body.subarray(jsonLength);
  const start = FRAME_FIXED_BYTES + m.byteLength + v.byteLength;
  const pad = binary.byteLength === 0 ? 0 : (8 - ((start + jsonLength) % 8)) % 8;
  if (jsonLength + pad > MAX_U32) throw new OrtexError('ERR_INVALID_ARG', `Expected a JSON header of at most ${MAX_U32} bytes but received ${jsonLength}`);
  const join = binary.byteLength < JOIN_TAIL_BELOW;
  const headLength = start + jsonLength + pad + (join ? binary.byteLength : 0);
  const head = Buffer.allocUnsafe(headLength);
  head[0] = FRAME_MAGIC;
  head[1] = FRAME_VERSION;
  head[2] = kind;
  head[3] = flags;
  head.writeUInt32LE(id, 4);
  head.writeUInt16LE(m.byteLength, 8);
  head.set(m, 10);
  head.writeUInt16LE(v.byteLength, 10 + m.byteLength);
  head.set(v, 12 + m.byteLength);
  head.writeUInt32LE(jsonLength + pad, start - 4);
  head.set(body.subarray(0, jsonLength), start);
  head.fill(SPACE, start + jsonLength, start + jsonLength + pad);
  if (join) {
    head.set(binary, start + jsonLength + pad);
    return { head, byteLength: headLength };
  }
  return { head, tail: binary, byteLength: headLength + binary.byteLength };
}

/** An error frame: `{"error", "code", "status"}` for request `id` (0 when it could not be read). */
export function encodeErrorFrame(id: number, model: string, version: string, error: FrameErrorBody): FramePieces {
  return encodeFrame(FrameKind.error, id, model, version, { body: JSON.stringify(error) });
}

/** The frame in one buffer (for senders that cannot send fragments, such as a browser WebSocket). */
export function joinFrame(frame: FramePieces): Uint8Array {
  if (!frame.tail) return frame.head;
  const out = Buffer.allocUnsafe(frame.byteLength);
  out.set(frame.head, 0);
  out.set(frame.tail, frame.head.byteLength);
  return out;
}

/**
 * The request id of a frame, or 0 when the frame is too short for one or is not a frame of
 * this protocol version (wrong magic or version): the id an error about it is answered with.
 */
export function readFrameId(bytes: Uint8Array): number {
  if (bytes.byteLength < 8 || bytes[0] !== FRAME_MAGIC || bytes[1] !== FRAME_VERSION) return 0;
  return new DataView(bytes.buffer, bytes.byteOffset, 8).getUint32(4, true);
}

function readName(bytes: Uint8Array, view: DataView, at: number, what: string): { value: string; next: number } {
  if (at + 2 > bytes.byteLength) throw frameError(`Expected a 2-byte ${what} length at offset ${at} but received a frame of ${bytes.byteLength} bytes`);
  const length = view.getUint16(at, true);
  const end = at + 2 + length;
  if (end > bytes.byteLength) throw frameError(`Expected ${length} bytes of ${what} at offset ${at + 2} but received a frame of ${bytes.byteLength} bytes`);
  try {
    return { value: utf8.decode(bytes.subarray(at + 2, end)), next: end };
  } catch {
    throw frameError(`Expected UTF-8 for the ${what} but received bytes that are not`);
  }
}

/**
 * Reads a frame. The body is a view over `bytes`: keep them unchanged while it is in use.
 * @throws OrtexError ERR_WS_FRAME (400) naming the field at fault: too short, wrong magic or
 *   version, unknown kind, a length running past the end, a name that is not UTF-8.
 * @example
 * const frame = parseFrame(new Uint8Array(event.data));
 * const response = parseInferResponse(frame.body, frame.headerLength);
 */
export function parseFrame(bytes: Uint8Array): StreamFrame {
  if (bytes.byteLength < FRAME_FIXED_BYTES) throw frameError(`Expected a frame of at least ${FRAME_FIXED_BYTES} bytes but received ${bytes.byteLength}`);
  if (bytes[0] !== FRAME_MAGIC) throw frameError(`Expected the magic byte 0x${FRAME_MAGIC.toString(16)} at offset 0 but received 0x${bytes[0]!.toString(16).padStart(2, '0')}`);
  if (bytes[1] !== FRAME_VERSION) throw frameError(`Expected protocol version ${FRAME_VERSION} at offset 1 but received ${bytes[1]}`);
  const kind = bytes[2]!;
  if (kind !== FrameKind.request && kind !== FrameKind.response && kind !== FrameKind.error) {
    throw frameError(`Expected a frame kind of 1 (request), 2 (response) or 3 (error) at offset 2 but received ${kind}`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const id = view.getUint32(4, true);
  const model = readName(bytes, view, 8, 'model name');
  const version = readName(bytes, view, model.next, 'model version');
  const at = version.next;
  if (at + 4 > bytes.byteLength) throw frameError(`Expected a 4-byte JSON header length at offset ${at} but received a frame of ${bytes.byteLength} bytes`);
  const headerLength = view.getUint32(at, true);
  const body = bytes.subarray(at + 4);
  if (headerLength < 1 || headerLength > body.byteLength) {
    throw frameError(`Expected a JSON header length from 1 to the ${body.byteLength} bytes after it at offset ${at} but received ${headerLength}`);
  }
  return { kind: kind as FrameKind, flags: bytes[3]!, id, model: model.value, version: version.value, headerLength, body };
}
