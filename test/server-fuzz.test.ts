// Fuzz of `ortex serve` over real sockets, HTTP and WebSocket at once. fast-check lanes (3
// HTTP, 2 WebSocket, each with its own seed) send bad requests, each bad in a way certain to
// be refused (test/fixtures/oip-fuzz.ts: malformed and truncated JSON, bytes that are not
// UTF-8, bodies over the limit, arrays nested past any rank, fields of the wrong type, binary
// sections whose Inference-Header-Content-Length or binary_data_size lie, shapes like
// [1000000000, 1000], unknown models and versions, tensors the model does not have, broken
// HTTP framing, malformed stream frames and text messages), and between them valid requests
// made with ortex's own encoder, checked against a direct InferenceSession run or the input.
//
// Every bad request must be answered, within a timeout, with a 4xx among those its kind
// allows and a JSON {"error": "..."} (over WebSocket, an error frame with its id, code and
// status); a valid one with the right outputs. Afterwards the server still answers, its
// pending gauges are back to 0, no 5xx was counted or error logged, and its RSS is back near
// where it was after a warm-up run of the same mix.
//
// The server runs as `ortex serve` in a child process, not in-process: its RSS
// (/proc/<pid>/status VmRSS, read after a full collection it is signalled to make) is then its
// own, while the fuzzer's allocations (bodies of up to 768 KiB, thousands of sockets,
// fast-check's values) would dominate an in-process measurement, and a crash kills the server
// rather than the test runner.
//
// ORTEX_FUZZ_MS sets the time budget (default 15 s, both protocols at once), ORTEX_FUZZ_SEED
// the seed (fixed by default; a failure prints fast-check's counterexample and its path).
import { Buffer } from 'node:buffer';
import net from 'node:net';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { ERROR_CODES, type ErrorCode } from '../src/errors.js';
import { InferenceSession } from '../src/inference-session.js';
import { Tensor } from '../src/tensor.js';
import { HEADER_LENGTH_HEADER, encodeInferRequest, parseInferResponse } from '../src/server/oip-codec.js';
import { FrameKind, encodeFrame, joinFrame, parseFrame, readFrameId } from '../src/server/ws-frame.js';
import { model } from './helpers.js';
import { type BadRequest, CTR_FEATURES, CTR_ROWS, type Reference, TAGGER_LENGTH, TAGGER_ROWS, type ValidCase, badRequest, ctrRows, described, fuzzRepository, taggerRows, validCase } from './fixtures/oip-fuzz.js';
import type { TempRepository } from './fixtures/model-repository.js';
import { parsePrometheusText } from './fixtures/prometheus-text.js';
import { type RawAnswer, rawExchange, requestBytes } from './fixtures/raw-socket.js';
import { GC_NODE_ARGS, collectedRssBytes, lastCollection } from './fixtures/served-memory.js';
import { type ServeProcess, startServe } from './fixtures/serve-process.js';

const BUDGET_MS = Number(process.env.ORTEX_FUZZ_MS ?? 15_000);
const SEED = Number(process.env.ORTEX_FUZZ_SEED ?? 20_260_611);
const WARMUP_MS = 3000;
/** The server's --max-body-bytes (and so its WebSocket maxMessageBytes): small, so bodies over it are cheap. */
const MAX_BODY = 512 * 1024;
const HTTP_LANES = 3;
const WS_LANES = 2;
/** No answer within this long is a hang. */
const ANSWER_TIMEOUT_MS = 10_000;
/**
 * The RSS, read after a full collection in the server (fixtures/served-memory.ts), may end
 * this much above its value after the warm-up: allocator caches and heap pages V8 keeps, a
 * few MiB here. A leak of what the fuzz sends (thousands of requests, bodies of 1 KiB to
 * 768 KiB) would be hundreds of MiB, of a small per-request record (~1 KiB) tens of MiB.
 */
const RSS_TOLERANCE_BYTES = 24 * 1024 * 1024;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Counts of what ran, by protocol and kind. */
type Tally = Map<string, number>;
const count = (tally: Tally, key: string) => tally.set(key, (tally.get(key) ?? 0) + 1);

// ---- checking answers ---------------------------------------------------------------------

/** A JSON {"error": "..."} and nothing else, non-empty. */
function checkErrorBody(text: string, what: string): string {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw new Error(`${what}: the error body is not JSON: ${text.slice(0, 300)}`);
  }
  const keys = typeof v === 'object' && v !== null ? Object.keys(v) : [];
  const message = (v as { error?: unknown }).error;
  if (keys.length !== 1 || typeof message !== 'string' || message.trim() === '') throw new Error(`${what}: expected {"error": "..."} but received ${text.slice(0, 300)}`);
  return message;
}

/** A coded refusal: a status it may have, the code's own status, a JSON error. */
function checkRefusal(a: RawAnswer, allowed: readonly number[], what: string): void {
  if (a.timedOut) throw new Error(`${what}: no answer within ${ANSWER_TIMEOUT_MS} ms`);
  if (a.status === 0) throw new Error(`${what}: the connection closed without an answer (${a.error ?? 'no error'})`);
  if (!allowed.includes(a.status)) throw new Error(`${what}: status ${a.status}, expected ${allowed.join(' or ')}: ${a.body.toString('utf8', 0, 500)}`);
  const code = a.headers['ortex-error-code'];
  if (!code || ERROR_CODES[code as ErrorCode] !== a.status) throw new Error(`${what}: error code ${code} does not go with status ${a.status}`);
  checkErrorBody(a.body.toString('utf8'), what);
}

function checkValidAnswer(a: RawAnswer, v: ValidCase, what: string): void {
  if (a.status !== 200) throw new Error(`${what}: status ${a.status} for a valid request: ${a.body.toString('utf8', 0, 500)}${a.timedOut ? ' (timed out)' : ''}`);
  const h = a.headers[HEADER_LENGTH_HEADER];
  v.check(parseInferResponse(a.body, h === undefined ? undefined : Number(h)));
}

// ---- HTTP ------------------------------------------------------------------------------------

/** A path segment percent-encoded byte by byte (encodeURIComponent throws on lone surrogates). */
const segment = (s: string) => [...Buffer.from(s)].map((b) => (/[A-Za-z0-9_.~-]/.test(String.fromCharCode(b)) ? String.fromCharCode(b) : `%${b.toString(16).padStart(2, '0')}`)).join('');
const inferPath = (modelName: string, version: string) => `/v2/models/${segment(modelName)}${version ? `/versions/${segment(version)}` : ''}/infer`;

function inferBytes(b: { model: string; version: string; body: Buffer; headerLength?: string | undefined }): Buffer {
  const headers: Array<[string, string]> = [['Content-Type', 'application/json'], ['Content-Length', String(b.body.byteLength)]];
  if (b.headerLength !== undefined) headers.push(['Inference-Header-Content-Length', b.headerLength]);
  return requestBytes('POST', inferPath(b.model, b.version), headers, b.body);
}

/** What one HTTP case sends, and what it may get back. */
interface HttpCase {
  kind: string;
  pieces: Buffer[];
  /** 'refusal': a coded 4xx among `allowed`; 'framing': a 4xx, a close or silence, never 2xx or 5xx. */
  expect: 'refusal' | 'framing';
  allowed: readonly number[];
  timeoutMs: number;
}

const httpCase = (c: HttpCase, text: string): HttpCase => described(c, () => `${c.kind}: ${text}`);
const fromBad = (b: BadRequest): HttpCase => httpCase({ kind: b.kind, pieces: [inferBytes(b)], expect: 'refusal', allowed: b.allowed, timeoutMs: ANSWER_TIMEOUT_MS }, String((b as unknown as Record<symbol, () => string>)[fc.toStringMethod]!()));

/**
 * Bodies over --max-body-bytes, sent whole as clients do: declared by Content-Length (refused
 * from it) or chunked (refused once past). The 413 must reach the client, not a reset.
 */
const oversizedHttp: fc.Arbitrary<HttpCase> = fc.tuple(fc.integer({ min: 1, max: MAX_BODY / 2 }), fc.boolean()).map(([over, chunked]) => {
  const total = MAX_BODY + over;
  const path = inferPath('probe', '');
  const body = Buffer.alloc(total, 0x20);
  const pieces = chunked
    ? [requestBytes('POST', path, [['Transfer-Encoding', 'chunked']]), Buffer.from(`${total.toString(16)}\r\n`), body, Buffer.from('\r\n0\r\n\r\n')]
    : [requestBytes('POST', path, [['Content-Length', String(total)]]), body];
  return httpCase({ kind: 'oversized', pieces, expect: 'refusal', allowed: [413], timeoutMs: ANSWER_TIMEOUT_MS }, `${chunked ? 'chunked' : 'Content-Length'} body of ${total} bytes`);
});

/** Other methods on the inference route, and paths nothing serves. */
const wrongRoute: fc.Arbitrary<HttpCase> = fc.oneof(
  fc.constantFrom('GET', 'PUT', 'DELETE', 'PATCH').map((method) => requestBytes(method, inferPath('probe', ''), [['Content-Length', '2']], Buffer.from('{}'))),
  fc.stringMatching(/^[a-z0-9/]{0,40}$/).map((p) => requestBytes('POST', `/x/${p}`, [['Content-Length', '2']], Buffer.from('{}'))),
).map((bytes) => httpCase({ kind: 'wrongRoute', pieces: [bytes], expect: 'refusal', allowed: [404], timeoutMs: ANSWER_TIMEOUT_MS }, JSON.stringify(bytes.toString('latin1', 0, 200))));

/**
 * Broken HTTP framing around a body that is never a valid request ('{}'): bad or doubled
 * Content-Length, Transfer-Encoding trouble, garbage request lines and headers. uWS answers,
 * closes, or waits for the rest of a request it cannot see the end of (its 10 s idle timeout
 * closes those; test/server-slow-clients.test.ts checks that): no answer within 400 ms counts as waiting.
 */
const httpFraming: fc.Arbitrary<HttpCase> = fc.oneof(
  fc.constantFrom('abc', '-5', '1e3', '99999999999999999999', '5, 5', '0x10', '+2', ' 2 ', '').map((cl) => `POST /v2/models/probe/infer HTTP/1.1\r\nHost: f\r\nConnection: close\r\nContent-Length: ${cl}\r\n\r\n{}`),
  fc.constantFrom('2\r\nContent-Length: 3', '3\r\nContent-Length: 2', '2\r\nTransfer-Encoding: chunked', '2\r\nTransfer-Encoding: gzip').map((h) => `POST /v2/models/probe/infer HTTP/1.1\r\nHost: f\r\nConnection: close\r\nContent-Length: ${h}\r\n\r\n{}`),
  fc.constantFrom('zz', '-1', 'ffffffffffffffffffff', '1;x=y', '2 2', '').map((size) => `POST /v2/models/probe/infer HTTP/1.1\r\nHost: f\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n${size}\r\n{}\r\n0\r\n\r\n`),
  fc.stringMatching(/^[A-Z]{1,12}$/).map((method) => `${method} /v2/models/probe/infer HTTP/1.1\r\nHost: f\r\nConnection: close\r\nContent-Length: 2\r\n\r\n{}`),
  fc.constantFrom('HTTP/1.0', 'HTTP/2.0', 'HTTP/9.9', 'HTTX/1.1', '').map((v) => `POST /v2/models/probe/infer ${v}\r\nHost: f\r\nConnection: close\r\nContent-Length: 2\r\n\r\n{}`),
  fc.constantFrom('NoColon', 'Bad Name: x', 'X-Nul: a\0b', ' folded: continuation', `X-Big: ${'a'.repeat(70_000)}`, Array.from({ length: 300 }, (_, i) => `X-H${i}: ${i}`).join('\r\n')).map((h) => `POST /v2/models/probe/infer HTTP/1.1\r\nHost: f\r\nConnection: close\r\n${h}\r\nContent-Length: 2\r\n\r\n{}`),
  fc.uint8Array({ minLength: 1, maxLength: 200 }).map((bytes) => Buffer.concat([Buffer.from(bytes), Buffer.from('\r\n\r\n')])),
  fc.uint8Array({ minLength: 1, maxLength: 40 }).map((bytes) => Buffer.concat([Buffer.from('POST /v2/models/'), Buffer.from(bytes), Buffer.from('/infer HTTP/1.1\r\nHost: f\r\nConnection: close\r\nContent-Length: 2\r\n\r\n{}')])),
).map((bytes) => {
  const b = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes, 'latin1');
  return httpCase({ kind: 'httpFraming', pieces: [b], expect: 'framing', allowed: [], timeoutMs: 400 }, JSON.stringify(b.toString('latin1', 0, 300)));
});

async function sendHttpCase(port: number, c: HttpCase, tally: Tally): Promise<void> {
  const a = await rawExchange(port, c.pieces, { timeoutMs: c.timeoutMs });
  count(tally, `http:${c.kind}`);
  const what = `HTTP ${c.kind}: ${c.pieces[0]!.toString('latin1', 0, 200)}`;
  if (c.expect === 'refusal') return checkRefusal(a, c.allowed, what);
  // Framing: whatever uWS or ortex does, never a success nor a server error.
  if (a.status >= 200 && a.status < 300) throw new Error(`${what}: answered ${a.status}`);
  if (a.status >= 500) throw new Error(`${what}: answered ${a.status}: ${a.body.toString('utf8', 0, 300)}`);
  if (a.headers['ortex-error-code']) checkRefusal(a, [a.status], what);
  count(tally, `http:framing:${a.status ? a.status : a.closed ? 'closed' : 'waiting'}`);
}

async function sendValidHttp(port: number, v: ValidCase, tally: Tally): Promise<void> {
  const headers: Array<[string, string]> = [['Content-Length', String(v.body.byteLength)]];
  if (v.headerLength !== undefined) headers.push(['Inference-Header-Content-Length', String(v.headerLength)]);
  const a = await rawExchange(port, [requestBytes('POST', inferPath(v.model, ''), headers, v.body)], { timeoutMs: ANSWER_TIMEOUT_MS });
  checkValidAnswer(a, v, `HTTP valid ${v.model}`);
  count(tally, 'http:valid');
}

// ---- WebSocket -------------------------------------------------------------------------------

/** One connection, one message at a time: each sent message's answer is the next one received. */
class SequentialStream {
  readonly #socket: WebSocket;
  #inbox: Uint8Array[] = [];
  #waiting: ((m: Uint8Array | null) => void) | undefined;
  closed: { code: number; reason: string } | undefined;

  private constructor(socket: WebSocket) {
    this.#socket = socket;
    socket.binaryType = 'arraybuffer';
    socket.on('message', (data: ArrayBuffer) => {
      const m = new Uint8Array(data);
      if (this.#waiting) this.#take(m);
      else this.#inbox.push(m);
    });
    socket.on('close', (code, reason) => {
      this.closed = { code, reason: reason.toString() };
      this.#take(null);
    });
    socket.on('error', () => {});
  }

  #take(m: Uint8Array | null): void {
    const w = this.#waiting;
    this.#waiting = undefined;
    w?.(m);
  }

  static open(port: number): Promise<SequentialStream> {
    const socket = new WebSocket(`ws://127.0.0.1:${port}/v2/stream`, { maxPayload: 0 });
    return new Promise((resolve, reject) => {
      socket.once('open', () => resolve(new SequentialStream(socket)));
      socket.once('error', reject);
    });
  }

  /** Sends, then resolves with the next message (null if the connection closed first). */
  async exchange(data: Uint8Array | string, timeoutMs = ANSWER_TIMEOUT_MS): Promise<Uint8Array | null> {
    if (this.closed) return null;
    this.#socket.send(data, { binary: typeof data !== 'string' });
    const queued = this.#inbox.shift();
    if (queued) return queued;
    let timer: NodeJS.Timeout | undefined;
    try {
      return await new Promise<Uint8Array | null>((resolve, reject) => {
        this.#waiting = resolve;
        timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
      });
    } finally {
      clearTimeout(timer);
      this.#waiting = undefined;
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    const done = new Promise((r) => this.#socket.once('close', r));
    this.#socket.close();
    await done;
  }
}

/** What one WebSocket case sends, and the id and statuses its error frame must carry. */
interface WsCase {
  kind: string;
  data: Uint8Array | string;
  id: number;
  allowed: readonly number[];
}

/**
 * A request frame around a (bad) body, J taken from its Inference-Header-Content-Length where
 * that is a byte count, else the whole body. encodeFrame pads the first J bytes with spaces
 * (counted in J); a body bad with its header length stays bad with the padding.
 */
function frameOf(b: BadRequest, id: number): WsCase {
  const n = b.headerLength === undefined ? Number.NaN : Number(b.headerLength);
  const j = Number.isSafeInteger(n) && n >= 0 && n <= b.body.byteLength ? n : b.body.byteLength;
  const data = joinFrame(encodeFrame(FrameKind.request, id, b.model, b.version, { body: b.body, headerLength: j }));
  return { kind: b.kind, data, id, allowed: b.allowed };
}

/** A valid request frame for `v`, the base of the header mutations. */
function validFrame(v: ValidCase, id: number): Buffer {
  return Buffer.from(joinFrame(encodeFrame(FrameKind.request, id, v.model, '', { body: v.body, headerLength: v.headerLength })));
}

/** Frames whose fixed fields are broken: magic, version, kind, id 0, lengths that lie, a name that is not UTF-8, a cut anywhere. */
const frameHeader = (valid: fc.Arbitrary<ValidCase>): fc.Arbitrary<(id: number) => WsCase> => fc.tuple(valid, fc.oneof(
  fc.integer({ min: 0, max: 255 }).filter((x) => x !== 0x9e).map((x) => (f: Buffer) => { f[0] = x; }),
  fc.integer({ min: 0, max: 255 }).filter((x) => x !== 1).map((x) => (f: Buffer) => { f[1] = x; }),
  fc.integer({ min: 0, max: 255 }).filter((x) => x !== 1).map((x) => (f: Buffer) => { f[2] = x; }),
  fc.constant((f: Buffer) => { f.writeUInt32LE(0, 4); }),
  fc.integer({ min: 0, max: 0xffff }).map((x) => (f: Buffer) => { if (f.readUInt16LE(8) !== x) f.writeUInt16LE(x, 8); else f.writeUInt16LE(0, 8); }),
  fc.integer({ min: 1, max: 0xffff }).map((x) => (f: Buffer) => { const m = f.readUInt16LE(8); f.writeUInt16LE(x, 10 + m); }),
  fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 2 ** 32 - 1 })).map((x) => (f: Buffer) => {
    const m = f.readUInt16LE(8);
    const at = 12 + m + f.readUInt16LE(10 + m);
    const real = f.readUInt32LE(at);
    f.writeUInt32LE(x === real ? 0 : x, at);
  }),
  fc.constant((f: Buffer) => { f.fill(0xff, 10, 10 + f.readUInt16LE(8)); }),
)).map(([v, mutate]) => (id: number) => {
  const f = validFrame(v, id);
  mutate(f);
  return { kind: 'frameHeader', data: f, id: readFrameId(f), allowed: [400, 404, 413] };
});

/** Valid frames cut short anywhere. */
const frameCut = (valid: fc.Arbitrary<ValidCase>): fc.Arbitrary<(id: number) => WsCase> => fc.tuple(valid, fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true })).map(([v, at]) => (id: number) => {
  const f = validFrame(v, id);
  const cut = f.subarray(0, Math.floor(at * f.byteLength));
  return { kind: 'frameCut', data: cut, id: readFrameId(cut), allowed: [400] };
});

const wsGarbage: fc.Arbitrary<(id: number) => WsCase> = fc.uint8Array({ maxLength: 64 }).map((bytes) => () => ({ kind: 'wsGarbage', data: bytes, id: readFrameId(bytes), allowed: [400, 404] }));
const wsText: fc.Arbitrary<(id: number) => WsCase> = fc.string({ unit: 'grapheme', maxLength: 64 }).map((text) => () => ({ kind: 'wsText', data: text, id: 0, allowed: [400] }));
/** Messages over maxMessageBytes (but under uWS's own limit of twice that): a 413 frame, the connection kept. */
const wsOversized: fc.Arbitrary<(id: number) => WsCase> = fc.integer({ min: 1, max: MAX_BODY / 2 }).map((over) => (id: number) => {
  const body = Buffer.alloc(MAX_BODY + over, 0x20);
  body[0] = 0x7b; // '{'
  const data = Buffer.from(joinFrame(encodeFrame(FrameKind.request, id, 'probe', '', { body })));
  return { kind: 'wsOversized', data, id, allowed: [413] };
});

function checkErrorFrame(bytes: Uint8Array | null, c: WsCase): void {
  const what = `WebSocket ${c.kind} (${typeof c.data === 'string' ? 'text' : Buffer.from(c.data).toString('hex', 0, 48)})`;
  if (!bytes) throw new Error(`${what}: the connection closed instead of an answer`);
  const frame = parseFrame(bytes);
  if (frame.kind !== FrameKind.error) throw new Error(`${what}: answered with a frame of kind ${frame.kind}`);
  if (frame.id !== c.id) throw new Error(`${what}: error frame for id ${frame.id}, expected ${c.id}`);
  const e = JSON.parse(Buffer.from(frame.body.buffer, frame.body.byteOffset, frame.headerLength).toString('utf8')) as { error?: unknown; code?: unknown; status?: unknown };
  if (typeof e.error !== 'string' || e.error === '') throw new Error(`${what}: error frame without a message`);
  if (!c.allowed.includes(e.status as number)) throw new Error(`${what}: status ${String(e.status)} (${String(e.code)}: ${e.error}), expected ${c.allowed.join(' or ')}`);
  if (ERROR_CODES[e.code as ErrorCode] !== e.status) throw new Error(`${what}: code ${String(e.code)} does not go with status ${String(e.status)}`);
}

async function sendValidWs(stream: SequentialStream, v: ValidCase, id: number, tally: Tally): Promise<void> {
  const bytes = await stream.exchange(validFrame(v, id));
  if (!bytes) throw new Error(`WebSocket valid ${v.model}: the connection closed (${JSON.stringify(stream.closed)})`);
  const frame = parseFrame(bytes);
  if (frame.kind !== FrameKind.response || frame.id !== id) {
    throw new Error(`WebSocket valid ${v.model}: frame kind ${frame.kind} id ${frame.id} (expected a response to ${id}): ${Buffer.from(frame.body).toString('utf8', 0, 300)}`);
  }
  v.check(parseInferResponse(frame.body, frame.headerLength === frame.body.byteLength ? undefined : frame.headerLength));
  count(tally, 'ws:valid');
}

// ---- the run -----------------------------------------------------------------------------------

let repo: TempRepository;
let serve: ServeProcess;
let reference: Reference;

beforeAll(async () => {
  repo = await fuzzRepository();
  const ctr = await InferenceSession.create(model('ctr_mlp'), { intraOpNumThreads: 1 });
  const { y } = await ctr.run({ x: new Tensor('float32', ctrRows(), [CTR_ROWS, CTR_FEATURES]) });
  const tagger = await InferenceSession.create(model('token_tagger'), { intraOpNumThreads: 1 });
  const rows = taggerRows();
  const { tags, pooled } = await tagger.run({ input_ids: new Tensor('int64', rows.ids, [TAGGER_ROWS, TAGGER_LENGTH]), attention_mask: new Tensor('int64', rows.mask, [TAGGER_ROWS, TAGGER_LENGTH]) });
  const copy = (t: unknown) => Float32Array.from((t as Tensor).data as Float32Array);
  reference = { ctr: copy(y), tags: copy(tags), pooled: copy(pooled) };
  await ctr.release();
  await tagger.release();
  serve = await startServe(['--repo', repo.root, '--max-body-bytes', String(MAX_BODY)], 'ready', GC_NODE_ARGS);
});

afterAll(async () => {
  if (serve && serve.child.exitCode === null) {
    serve.child.kill('SIGTERM');
    await serve.exited;
  }
  await repo?.dispose();
});

/** Runs every lane for `ms`; rejects with the first lane's failure (fast-check's report). */
async function fuzz(ms: number, seed: number, tally: Tally): Promise<void> {
  const port = serve.port;
  const valid = validCase(reference);
  const maybeValid = fc.oneof({ weight: 2, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: valid });
  const settings = (lane: number) => ({ seed: seed + lane, numRuns: 1_000_000_000, interruptAfterTimeLimit: ms, markInterruptAsFailure: false, endOnFailure: true });
  const httpCase = fc.oneof(
    { weight: 9, arbitrary: badRequest(MAX_BODY).map(fromBad) },
    { weight: 1, arbitrary: oversizedHttp },
    { weight: 1, arbitrary: wrongRoute },
    { weight: 1, arbitrary: httpFraming },
  );
  const httpLane = (lane: number) => fc.assert(fc.asyncProperty(httpCase, maybeValid, async (c, v) => {
    await sendHttpCase(port, c, tally);
    if (v) await sendValidHttp(port, v, tally);
  }), settings(lane));

  const wsCase = fc.oneof(
    { weight: 9, arbitrary: badRequest(MAX_BODY).map((b) => described((id: number) => frameOf(b, id), () => String((b as unknown as Record<symbol, () => string>)[fc.toStringMethod]!()))) },
    { weight: 2, arbitrary: frameHeader(valid) },
    { weight: 1, arbitrary: frameCut(valid) },
    { weight: 1, arbitrary: wsGarbage },
    { weight: 1, arbitrary: wsText },
    { weight: 1, arbitrary: wsOversized },
  );
  const wsLane = async (lane: number) => {
    const stream = await SequentialStream.open(port);
    let id = 0;
    try {
      await fc.assert(fc.asyncProperty(wsCase, maybeValid, async (make, v) => {
        const c = make(++id);
        checkErrorFrame(await stream.exchange(c.data), c);
        count(tally, `ws:${c.kind}`);
        if (v) await sendValidWs(stream, v, ++id, tally);
      }), settings(lane));
    } finally {
      await stream.close();
    }
  };
  await Promise.all([
    ...Array.from({ length: HTTP_LANES }, (_, i) => httpLane(i)),
    ...Array.from({ length: WS_LANES }, (_, i) => wsLane(HTTP_LANES + i)),
  ]);
}

async function scrape(): Promise<Map<string, ReturnType<typeof parsePrometheusText> extends Map<string, infer F> ? F : never>> {
  const a = await rawExchange(serve.port, [requestBytes('GET', '/metrics', [])]);
  expect(a.status).toBe(200);
  return parsePrometheusText(a.body.toString('utf8'));
}
const gauge = (m: Awaited<ReturnType<typeof scrape>>, name: string) => (m.get(name)?.samples ?? []).map((s) => s.value);

describe('ortex serve under fuzzed HTTP and WebSocket requests', () => {
  it('answers every bad request with a coded 4xx and a JSON error, keeps answering valid ones correctly, and ends where it started', async () => {
    const warm: Tally = new Map();
    await fuzz(WARMUP_MS, SEED + 1000, warm);
    const rssBefore = await collectedRssBytes(serve);

    const tally: Tally = new Map();
    const t0 = performance.now();
    await fuzz(BUDGET_MS, SEED, tally);
    const ms = performance.now() - t0;
    const rssAfter = await collectedRssBytes(serve);

    // Still serving, both ways.
    const v = fc.sample(validCase(reference), { seed: SEED, numRuns: 8 });
    for (const c of v) await sendValidHttp(serve.port, c, tally);
    const stream = await SequentialStream.open(serve.port);
    for (const [i, c] of v.entries()) await sendValidWs(stream, c, i + 1, tally);
    await stream.close();

    const rows = [...tally].sort(([a], [b]) => a.localeCompare(b));
    const total = (prefix: string) => rows.filter(([k]) => k.startsWith(prefix) && !k.startsWith(`${prefix}framing:`)).reduce((n, [, c]) => n + c, 0);
    console.log(`server fuzz: ${Math.round(ms)} ms (seed ${SEED}), ${total('http:')} HTTP and ${total('ws:')} WebSocket exchanges; RSS ${(rssBefore / 2 ** 20).toFixed(1)} -> ${(rssAfter / 2 ** 20).toFixed(1)} MiB (${lastCollection(serve)}); warm-up ${[...warm.values()].reduce((a, b) => a + b, 0)}\n${rows.map(([k, n]) => `  ${k}: ${n}`).join('\n')}`);

    // Every kind ran, often enough to mean something.
    for (const kind of ['malformedJson', 'nonUtf8', 'truncatedBody', 'deepNesting', 'wrongTypes', 'binaryLies', 'hugeShape', 'wrongTensor', 'unknownModel', 'taggerTensors']) {
      expect(tally.get(`http:${kind}`) ?? 0, `http:${kind}`).toBeGreaterThan(BUDGET_MS / 1000);
      expect(tally.get(`ws:${kind}`) ?? 0, `ws:${kind}`).toBeGreaterThan(BUDGET_MS / 1000);
    }
    for (const kind of ['http:oversized', 'http:wrongRoute', 'http:httpFraming', 'http:valid', 'ws:frameHeader', 'ws:frameCut', 'ws:wsGarbage', 'ws:wsText', 'ws:wsOversized', 'ws:valid']) {
      expect(tally.get(kind) ?? 0, kind).toBeGreaterThan(BUDGET_MS / 1000);
    }

    // Nothing left behind: no request pending in a model or in admission, no connection but the scrape's.
    let m = await scrape();
    for (let i = 0; i < 50 && gauge(m, 'ortex_server_connections')[0] !== 1; i++) {
      await sleep(100);
      m = await scrape();
    }
    expect(gauge(m, 'ortex_pending_requests').every((x) => x === 0)).toBe(true);
    expect(gauge(m, 'ortex_executing_requests').every((x) => x === 0)).toBe(true);
    expect(gauge(m, 'ortex_server_pending_bytes')).toEqual([0]);
    expect(gauge(m, 'ortex_server_pending_requests')).toEqual([0]);
    expect(gauge(m, 'ortex_server_connections')).toEqual([1]);
    // No request answered 5xx, none logged as an error.
    const failures = m.get('ortex_request_failure_total')?.samples ?? [];
    expect(failures.filter((s) => Number(s.labels.code) >= 500)).toEqual([]);
    expect(failures.length).toBeGreaterThan(5);
    expect(serve.logs.filter((l) => (l.level as number) >= 40)).toEqual([]);
    expect(serve.child.exitCode).toBeNull();
    expect(rssAfter - rssBefore).toBeLessThan(RSS_TOLERANCE_BYTES);
  }, BUDGET_MS + WARMUP_MS + 60_000);

  it('closes a WebSocket connection that breaks the WebSocket protocol itself, and goes on serving the others', async () => {
    // Raw frames after a hand-made upgrade: what the `ws` client would never send.
    const mask = Buffer.from([1, 2, 3, 4]);
    const masked = (opcode: number, payload: Buffer, fin = true, rsv = 0) => {
      const len = payload.byteLength;
      const head = len < 126 ? Buffer.from([(fin ? 0x80 : 0) | rsv | opcode, 0x80 | len]) : Buffer.from([(fin ? 0x80 : 0) | rsv | opcode, 0x80 | 126, len >> 8, len & 0xff]);
      const body = Buffer.from(payload.map((b, i) => b ^ mask[i % 4]!));
      return Buffer.concat([head, mask, body]);
    };
    const cases: Array<[string, Buffer]> = [
      // (uWS does not insist on the mask: it reads the next 4 bytes as one and passes the message on.)
      ['an unmasked frame', Buffer.concat([Buffer.from([0x82, 3]), Buffer.from('abcdefg')])],
      ['a reserved opcode', masked(0x3, Buffer.from('abc'))],
      ['RSV1 without compression', masked(0x2, Buffer.from('abc'), true, 0x40)],
      ['a ping over 125 bytes', masked(0x9, Buffer.alloc(126))],
      ['a fragmented ping', masked(0x9, Buffer.from('a'), false)],
      ['a continuation without a start', masked(0x0, Buffer.from('abc'))],
      ['a close frame with code 999', masked(0x8, Buffer.from([0x03, 0xe7]))],
      ['a close frame of one byte', masked(0x8, Buffer.from([0x03]))],
      ['a 64-bit length with its top bit set', Buffer.concat([Buffer.from([0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 0]), mask])],
      ['a length over the message limit', Buffer.concat([Buffer.from([0x82, 0xff, 0, 0, 0, 0, 0x7f, 0xff, 0xff, 0xff]), mask])],
    ];
    const good = await SequentialStream.open(serve.port);
    const v = fc.sample(validCase(reference), { seed: SEED + 7, numRuns: cases.length });
    const closedIn: string[] = [];
    for (const [i, [what, frame]] of cases.entries()) {
      const outcome = await new Promise<string>((resolve) => {
        const socket = net.connect(serve.port, '127.0.0.1');
        let upgraded = false;
        let received = Buffer.alloc(0);
        const timer = setTimeout(() => { socket.destroy(); resolve('still open after 5 s'); }, 5000);
        socket.on('connect', () => socket.write('GET /v2/stream HTTP/1.1\r\nHost: f\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n'));
        socket.on('data', (chunk: Buffer) => {
          received = Buffer.concat([received, chunk]);
          if (!upgraded) {
            const end = received.indexOf('\r\n\r\n');
            if (end < 0) return;
            upgraded = true;
            if (!received.toString('latin1').startsWith('HTTP/1.1 101')) resolve(`no upgrade: ${received.toString('latin1', 0, 60)}`);
            received = received.subarray(end + 4);
            socket.write(frame);
          }
          // A server frame: a binary message (an ortex error frame) or a close.
          if (received.byteLength >= 2 && (received[0]! & 0x0f) === 0x2) {
            const len = received[1]! & 0x7f;
            const at = len === 126 ? 4 : 2;
            const size = len === 126 ? received.readUInt16BE(2) : len;
            if (received.byteLength < at + size) return;
            const f = parseFrame(received.subarray(at, at + size));
            const e = JSON.parse(Buffer.from(f.body).toString('utf8', 0, f.headerLength)) as { code: string };
            clearTimeout(timer);
            socket.destroy();
            resolve(`error frame ${f.id} ${e.code}`);
          }
        });
        socket.on('error', () => {});
        socket.on('close', () => { clearTimeout(timer); resolve('closed'); });
      });
      closedIn.push(`${what}: ${outcome}`);
      // The other connection is unaffected.
      await sendValidWs(good, v[i]!, i + 1, new Map());
    }
    await good.close();
    console.log(`WebSocket protocol violations:\n${closedIn.map((s) => `  ${s}`).join('\n')}`);
    expect(closedIn).toEqual(cases.map(([what]) => (what === 'an unmasked frame' ? expect.stringMatching(/^an unmasked frame: (closed|error frame 0 ERR_WS_FRAME)$/) : `${what}: closed`)));
    expect(serve.logs.filter((l) => (l.level as number) >= 40)).toEqual([]);
  }, 120_000);
});
