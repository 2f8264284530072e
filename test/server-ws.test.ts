// The WebSocket streaming endpoint over real sockets: the frame layout byte by byte, round
// trips for every datatype, 500 requests pipelined on one connection and answered out of
// order, every error path (the connection and other clients keep working), the
// per-connection limits, a slow reader that cannot make the server buffer without bound,
// and graceful shutdown closing with 1001 after the answers in flight.
import { Buffer } from 'node:buffer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../src/server/logger.js';
import { OIP_DATATYPES, type OipDatatype, type OipTensorOut, encodeInferRequest, oipToOrtexType } from '../src/server/oip-codec.js';
import type { RequestRecord } from '../src/server/request-record.js';
import { type OrtexServer, type ServerOptions, createServer } from '../src/server/server.js';
import {
  FRAME_MAGIC,
  FRAME_VERSION,
  FrameKind,
  encodeErrorFrame,
  encodeFrame,
  joinFrame,
  parseFrame,
  readFrameId,
} from '../src/server/ws-frame.js';
import { ONE_THREAD, TempRepository, probeConfig } from './fixtures/model-repository.js';
import { RawStream, errorOf, outputsOf } from './fixtures/raw-stream.js';
import { addExpandModel } from './fixtures/stream-models.js';
import { OIP_SAMPLES } from './fixtures/oip-samples.js';

const SAMPLES = OIP_SAMPLES as Record<OipDatatype, OipTensorOut['data']>;

const identity = (dt: OipDatatype) => `identity_${oipToOrtexType(dt)}`;
const fp64 = (v: number | number[]): InferInput => ({ name: 'x', datatype: 'FP64', shape: [Array.isArray(v) ? v.length : 1, 1], data: new Float64Array(Array.isArray(v) ? v : [v]), binary: true });
type InferInput = OipTensorOut;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let server: OrtexServer;
let repo: TempRepository;
const records: RequestRecord[] = [];

/** A server of its own on a small repository (probe models `probe` and `held`, and `expand`). */
async function ownServer(options: Partial<ServerOptions>): Promise<{ server: OrtexServer; dispose: () => Promise<void> }> {
  const own = await TempRepository.create('ortex-ws-');
  await own.config('probe', probeConfig('probe'));
  await own.version('probe', 1, 'batch_probe');
  await own.config('held', probeConfig('held'));
  await own.version('held', 1, 'batch_probe');
  await addExpandModel(own);
  const s = createServer({ repository: own.root, port: 0, modelOptions: ONE_THREAD, logger: silentLogger, metrics: false, ...options });
  await s.listen();
  return { server: s, dispose: async () => { await s.close(); await own.dispose(); } };
}

const heldModel = (s: OrtexServer, name = 'held') => {
  const servable = s.repository.acquire(name);
  servable.release();
  return servable.model;
};

async function waitFor(condition: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

/** A good request on `stream` is answered. */
async function expectServing(stream: RawStream, id: number): Promise<void> {
  stream.request(id, 'probe', { inputs: [fp64(id)], binaryOutputs: true });
  const out = outputsOf(await stream.answer(id));
  expect(Array.from(out.outputs[0]!.data as Float64Array)).toEqual([id]);
}

/** A fresh connection is served too. */
async function expectOthersServed(s = server): Promise<void> {
  const other = await RawStream.open(s.port);
  await expectServing(other, 1);
  other.close();
}

beforeAll(async () => {
  repo = await TempRepository.create('ortex-ws-');
  await repo.config('probe', probeConfig('probe', 'version_policy { all { } }', 64));
  await repo.version('probe', 1, 'batch_probe');
  await repo.version('probe', 2, 'batch_probe');
  await repo.config('held', probeConfig('held'));
  await repo.version('held', 1, 'batch_probe');
  await repo.config('ctr', {
    name: 'ctr', max_batch_size: 8,
    input: [{ name: 'x', data_type: 'TYPE_FP32', dims: [64] }],
    output: [{ name: 'y', data_type: 'TYPE_FP32', dims: [1] }],
  });
  await repo.version('ctr', 1, 'ctr_mlp');
  await repo.config('slow', undefined);
  await repo.version('slow', 1, 'slow_matmul');
  for (const dt of OIP_DATATYPES) {
    await repo.config(identity(dt), undefined);
    await repo.version(identity(dt), 1, identity(dt));
  }
  server = createServer({
    repository: repo.root, port: 0, modelOptions: ONE_THREAD, logger: silentLogger,
    onRequest: (r) => records.push(r),
  });
  await server.listen();
});

afterAll(async () => {
  await server?.close();
  await repo?.dispose();
});

describe('frame layout (ws-frame.ts)', () => {
  it('encodes the documented layout byte by byte, padding the JSON so binary sections start 8-byte aligned', () => {
    const message = encodeInferRequest({ inputs: [{ name: 'x', datatype: 'FP64', shape: [1, 1], data: new Float64Array([3]), binary: true }] });
    const b = Buffer.from(joinFrame(encodeFrame(FrameKind.request, 0x01020304, 'probe', '1', message)));
    expect([b[0], b[1], b[2], b[3]]).toEqual([0x9e, 1, 1, 0]);
    expect(b.readUInt32LE(4)).toBe(0x01020304);
    expect(b.readUInt16LE(8)).toBe(5);
    expect(b.toString('utf8', 10, 15)).toBe('probe');
    expect(b.readUInt16LE(15)).toBe(1);
    expect(b.toString('utf8', 17, 18)).toBe('1');
    const j = b.readUInt32LE(18);
    expect((22 + j) % 8).toBe(0);
    const json = b.toString('utf8', 22, 22 + j);
    expect(json.trimEnd()).toBe(Buffer.from(message.body as Uint8Array).toString('utf8', 0, message.headerLength));
    expect(JSON.parse(json).inputs[0].parameters).toEqual({ binary_data_size: 8 });
    expect(b.readDoubleLE(22 + j)).toBe(3);
    expect(b.byteLength).toBe(22 + j + 8);
    const parsed = parseFrame(b);
    expect(parsed).toMatchObject({ kind: 1, flags: 0, id: 0x01020304, model: 'probe', version: '1', headerLength: j });
    expect(parsed.body.byteLength).toBe(j + 8);
    expect(readFrameId(b)).toBe(0x01020304);
  });

  it('sends a large binary part as a second piece, and a JSON-only message unpadded', () => {
    const big = encodeFrame(FrameKind.response, 9, 'm', '', encodeInferRequest({ inputs: [{ name: 'x', datatype: 'UINT8', shape: [1, 100_000], data: new Uint8Array(100_000).fill(5), binary: true }] }));
    expect(big.tail?.byteLength).toBe(100_000);
    expect(big.byteLength).toBe(big.head.byteLength + 100_000);
    expect(big.head.byteLength % 8).toBe(0);
    const joined = joinFrame(big);
    expect(parseFrame(joined).body.subarray(-100_000).every((v) => v === 5)).toBe(true);
    const json = encodeErrorFrame(3, 'm', '2', { error: 'no', code: 'ERR_MODEL_NOT_FOUND', status: 404 });
    expect(json.tail).toBeUndefined();
    const f = parseFrame(json.head);
    expect(f).toMatchObject({ kind: 3, id: 3, model: 'm', version: '2', headerLength: f.body.byteLength });
    expect(JSON.parse(Buffer.from(f.body).toString())).toEqual({ error: 'no', code: 'ERR_MODEL_NOT_FOUND', status: 404 });
  });

  it('refuses malformed frames naming the field at fault; the id of the error is 0 when none can be read', () => {
    const good = Buffer.from(joinFrame(encodeFrame(FrameKind.request, 77, 'probe', '', { body: '{"inputs":[]}' })));
    const with_ = (offset: number, value: number) => { const b = Buffer.from(good); b[offset] = value; return b; };
    const cases: Array<[string, Uint8Array, RegExp, number]> = [
      ['too short', good.subarray(0, 15), /at least 16 bytes but received 15/, 77],
      ['shorter than an id', good.subarray(0, 6), /at least 16 bytes but received 6/, 0],
      ['bad magic', with_(0, 0x7b), /magic byte 0x9e at offset 0 but received 0x7b/, 0],
      ['bad version', with_(1, 2), /protocol version 1 at offset 1 but received 2/, 0],
      ['bad kind', with_(2, 9), /frame kind of 1 \(request\), 2 \(response\) or 3 \(error\) at offset 2 but received 9/, 77],
      ['a model name past the end', with_(8, 200), /Expected 200 bytes of model name at offset 10/, 77],
      ['a JSON length past the end', Buffer.concat([good.subarray(0, 17), Buffer.from([0xff, 0, 0, 0]), good.subarray(21)]), /JSON header length from 1 to the 13 bytes after it at offset 17 but received 255$/, 77],
      ['a zero JSON length', Buffer.concat([good.subarray(0, 17), Buffer.alloc(4), good.subarray(21)]), /at offset 17 but received 0$/, 77],
      ['a model name that is not UTF-8', Buffer.concat([good.subarray(0, 10), Buffer.from([0xff, 0xfe, 0x41, 0x41, 0x41]), good.subarray(15)]), /Expected UTF-8 for the model name/, 77],
    ];
    for (const [what, bytes, message, id] of cases) {
      expect(() => parseFrame(bytes), what).toThrow(message);
      try { parseFrame(bytes); } catch (err) { expect((err as { code: string }).code, what).toBe('ERR_WS_FRAME'); }
      expect(readFrameId(bytes), what).toBe(id);
    }
  });
});

describe(`ws://host:port/v2/stream round trips`, () => {
  it('answers a request written byte by byte from the README layout, with the layout documented', async () => {
    const stream = await RawStream.open(server.port);
    const json = Buffer.from(JSON.stringify({ inputs: [{ name: 'x', datatype: 'FP64', shape: [2, 1], parameters: { binary_data_size: 16 } }], parameters: { binary_data_output: true } }));
    const head = Buffer.alloc(16 + 5);
    head.writeUInt8(0x9e, 0);
    head.writeUInt8(1, 1);
    head.writeUInt8(1, 2); // request
    head.writeUInt8(0, 3);
    head.writeUInt32LE(42, 4);
    head.writeUInt16LE(5, 8);
    head.write('probe', 10);
    head.writeUInt16LE(0, 15); // latest version
    head.writeUInt32LE(json.byteLength, 17);
    const data = Buffer.alloc(16);
    data.writeDoubleLE(1.5, 0);
    data.writeDoubleLE(-2, 8);
    stream.send(Buffer.concat([head, json, data])); // unpadded: the server copes with misaligned sections
    const answer = await stream.answer(42);
    const bytes = Buffer.from(stream.received.find((r) => r.frame === answer)!.bytes);
    expect([bytes[0], bytes[1], bytes[2], bytes[3]]).toEqual([FRAME_MAGIC, FRAME_VERSION, FrameKind.response, 0]);
    expect(bytes.readUInt32LE(4)).toBe(42);
    expect(answer).toMatchObject({ model: 'probe', version: '2' }); // the version that answered
    const binaryStart = 16 + 5 + 1 + answer.headerLength;
    expect(binaryStart % 8).toBe(0);
    const out = outputsOf(answer);
    expect(out).toMatchObject({ modelName: 'probe', modelVersion: '2' });
    expect(out.outputs.map((o) => [o.name, o.shape, Array.from(o.data as Float64Array)])).toEqual([
      ['y', [2, 1], [1.5, -2]], ['size', [2, 1], [2, 2]], ['sum', [2, 1], [-0.5, -0.5]],
    ]);
    // Aligned sections arrive as views over the received frame, not copies.
    expect((out.outputs[0]!.data as Float64Array).buffer).toBe(answer.body.buffer);
    stream.close();
  });

  it('round-trips every datatype, binary and JSON, on one connection', async () => {
    const stream = await RawStream.open(server.port);
    OIP_DATATYPES.forEach((dt, i) => {
      const input = { name: 'x', datatype: dt, shape: [2, 3], data: SAMPLES[dt] };
      stream.request(2 * i + 1, identity(dt), { inputs: [{ ...input, binary: true }], binaryOutputs: true });
      stream.request(2 * i + 2, identity(dt), { inputs: [input] });
    });
    for (const [i, dt] of OIP_DATATYPES.entries()) {
      const viaBinary = outputsOf(await stream.answer(2 * i + 1)).outputs[0]!;
      expect(viaBinary, dt).toMatchObject({ name: 'y', datatype: dt, shape: [2, 3] });
      expect(viaBinary.data, dt).toEqual(SAMPLES[dt]);
      const viaJson = await stream.answer(2 * i + 2);
      expect(viaJson.headerLength, `${dt}: all JSON`).toBe(viaJson.body.byteLength);
      expect(outputsOf(viaJson).outputs[0]!.data, dt).toEqual(SAMPLES[dt]);
    }
    stream.close();
  });

  it('honours the version, the requested outputs and the JSON id', async () => {
    const stream = await RawStream.open(server.port);
    stream.request(1, 'probe', { id: 'mine', inputs: [fp64([4, 5])], outputs: [{ name: 'sum', binary: true }, { name: 'y' }] }, '1');
    const answer = await stream.answer(1);
    expect(answer.version).toBe('1');
    const out = outputsOf(answer);
    expect(out.id).toBe('mine');
    expect(out.outputs.map((o) => o.name)).toEqual(['sum', 'y']);
    expect(Array.from(out.outputs[0]!.data as Float64Array)).toEqual([9, 9]);
    stream.close();
  });
});

describe('pipelining', () => {
  it('answers 500 requests pipelined on one connection as they finish: one held in its queue comes after the 499 sent after it, every answer matched by id', async () => {
    const held = heldModel(server);
    held.holdUntil(2);
    const stream = await RawStream.open(server.port);
    stream.request(1, 'held', { inputs: [fp64(10)], binaryOutputs: true });
    for (let id = 2; id <= 500; id++) stream.request(id, 'probe', { inputs: [fp64(id * 10)], binaryOutputs: true });
    await stream.count(499);
    expect(stream.received.some((r) => r.frame.id === 1)).toBe(false);
    expect(held.stats().pending).toBe(1);
    stream.request(501, 'held', { inputs: [fp64(5010)], binaryOutputs: true }); // the second: the hold lets both go
    await stream.count(501);
    const order = stream.received.map((r) => r.frame.id);
    expect(new Set(order).size).toBe(501);
    expect(order.indexOf(1)).toBeGreaterThanOrEqual(499);
    for (const { frame } of stream.received) expect(Array.from(outputsOf(frame).outputs[0]!.data as Float64Array), `id ${frame.id}`).toEqual([frame.id * 10]);
    stream.close();
  });

  it('answers fast requests (ctr_mlp, ~20 µs) sent after a slow one (slow_matmul, ~150 ms) first', async () => {
    const stream = await RawStream.open(server.port);
    stream.request(1, 'slow', { inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 512], data: new Float32Array(512).fill(0.5), binary: true }], binaryOutputs: true });
    const row = new Float32Array(64).fill(0.25);
    for (let id = 2; id <= 21; id++) stream.request(id, 'ctr', { inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 64], data: row, binary: true }], binaryOutputs: true });
    await stream.count(21);
    const order = stream.received.map((r) => r.frame.id);
    expect(order.at(-1)).toBe(1);
    expect(outputsOf(stream.received.at(-1)!.frame).outputs[0]!.shape).toEqual([1, 512]);
    const ys = stream.received.slice(0, 20).map((r) => (outputsOf(r.frame).outputs[0]!.data as Float32Array)[0]);
    expect(new Set(ys).size).toBe(1); // same input, same answer, whichever batch it ran in
    stream.close();
  });

  it('answers a request held in its model queue after later requests to another model (holdUntil)', async () => {
    const held = heldModel(server);
    const stream = await RawStream.open(server.port);
    held.holdUntil(2);
    stream.request(1, 'held', { inputs: [fp64(1)], binaryOutputs: true });
    await waitFor(() => held.stats().pending === 1, 'the held request to queue');
    stream.request(2, 'probe', { inputs: [fp64(2)], binaryOutputs: true });
    await stream.answer(2);
    expect(stream.received.map((r) => r.frame.id)).toEqual([2]);
    stream.request(3, 'held', { inputs: [fp64(3)], binaryOutputs: true }); // the second: the hold lets both go
    expect(Array.from(outputsOf(await stream.answer(1)).outputs[0]!.data as Float64Array)).toEqual([1]);
    expect(Array.from(outputsOf(await stream.answer(3)).outputs[0]!.data as Float64Array)).toEqual([3]);
    stream.close();
  });
});

describe('errors: an error frame for the request, and the connection and other clients keep working', () => {
  const valid = () => Buffer.from(joinFrame(encodeFrame(FrameKind.request, 9, 'probe', '', encodeInferRequest({ inputs: [fp64(1)] }))));
  const frame = (model: string, version: string, body: string | Uint8Array, headerLength?: number, id = 9) =>
    joinFrame(encodeFrame(FrameKind.request, id, model, version, headerLength === undefined ? { body } : { body, headerLength }));
  const ok = { inputs: [fp64(1)] };
  const cases: Array<[string, () => Uint8Array | string, number, string, number, RegExp]> = [
    ['an unknown model', () => frame('nope', '', JSON.stringify(ok)), 9, 'ERR_MODEL_NOT_FOUND', 404, /^Unknown model 'nope'$/],
    ['an unknown version', () => frame('probe', '7', JSON.stringify(ok)), 9, 'ERR_MODEL_NOT_FOUND', 404, /^Unknown version '7' of model 'probe'; ready versions: 1, 2$/],
    ['a wrong input datatype', () => frame('probe', '', JSON.stringify({ inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 1], data: [1] }] })), 9, 'ERR_INPUT_TYPE', 400, /Expected datatype FP64 for input 'x' of model 'probe' but received FP32/],
    ['a wrong input name', () => frame('probe', '', JSON.stringify({ inputs: [{ name: 'z', datatype: 'FP64', shape: [1, 1], data: [1] }] })), 9, 'ERR_INPUT_NAME', 400, /Unknown input 'z'/],
    ['a wrong shape', () => frame('probe', '', JSON.stringify({ inputs: [{ name: 'x', datatype: 'FP64', shape: [1, 2], data: [1, 2] }] })), 9, 'ERR_INPUT_SHAPE', 400, /Expected dims/],
    ['malformed JSON', () => frame('probe', '', '{"inputs": ['), 9, 'ERR_REQUEST_JSON', 400, /malformed JSON/],
    ['binary sizes that disagree with the header', () => {
      const json = Buffer.from(JSON.stringify({ inputs: [{ name: 'x', datatype: 'FP64', shape: [1, 1], parameters: { binary_data_size: 16 } }] }));
      return frame('probe', '', Buffer.concat([json, Buffer.alloc(8)]), json.byteLength);
    }, 9, 'ERR_REQUEST_INVALID', 400, /binary_data_size 8 \(1 elements of FP64\)|to fit in the body/],
    ['bad magic', () => { const b = valid(); b[0] = 0x42; return b; }, 0, 'ERR_WS_FRAME', 400, /magic byte 0x9e at offset 0 but received 0x42/],
    ['a protocol version from the future', () => { const b = valid(); b[1] = 7; return b; }, 0, 'ERR_WS_FRAME', 400, /protocol version 1 at offset 1 but received 7/],
    ['a truncated header', () => valid().subarray(0, 12), 9, 'ERR_WS_FRAME', 400, /at least 16 bytes but received 12/],
    ['a header cut before the JSON length', () => valid().subarray(0, 17), 9, 'ERR_WS_FRAME', 400, /^Expected a 4-byte JSON header length at offset 17 but received a frame of 17 bytes$/],
    ['a text message', () => '{"inputs": []}', 0, 'ERR_WS_FRAME', 400, /Expected a binary message .* but received a text message/],
    ['a response frame sent to the server', () => joinFrame(encodeFrame(FrameKind.response, 9, 'probe', '', { body: '{}' })), 9, 'ERR_WS_FRAME', 400, /Expected a request frame \(kind 1\) but received kind 2/],
    ['request id 0', () => frame('probe', '', JSON.stringify(ok), undefined, 0), 0, 'ERR_WS_FRAME', 400, /request id from 1 to 4294967295 but received 0 \(reserved\)/],
    ['an empty model name', () => frame('', '', JSON.stringify(ok)), 9, 'ERR_WS_FRAME', 400, /Expected a model name but received an empty one/],
  ];
  let stream: RawStream;
  let next = 1000;
  beforeAll(async () => { stream = await RawStream.open(server.port); });
  afterAll(() => stream.close());

  for (const [what, bytes, id, code, status, message] of cases) {
    it(`answers ${what} with ${status} ${code} (id ${id})`, async () => {
      stream.send(bytes());
      const err = errorOf(await stream.answer(id));
      expect(err).toEqual({ error: expect.stringMatching(message), code, status });
      await expectServing(stream, next++);
      await expectOthersServed();
    });
  }

  it('records every streamed request for the observers, with transport websocket', async () => {
    records.length = 0;
    const s = await RawStream.open(server.port);
    s.request(5, 'probe', { inputs: [fp64(5)] });
    s.request(6, 'nope', { inputs: [fp64(5)] });
    await s.answer(5);
    await s.answer(6);
    await waitFor(() => records.length === 2, 'two records');
    const ok5 = records.find((r) => r.model === 'probe')!;
    expect(ok5).toMatchObject({ transport: 'websocket', version: '', status: 200, code: undefined, aborted: false, rows: 1 });
    expect(ok5.bytesIn).toBeGreaterThan(16);
    expect(ok5.bytesOut).toBeGreaterThan(16);
    const marks = [ok5.startMs, ok5.bodyMs, ok5.inputMs, ok5.inferEndMs, ok5.outputMs, ok5.endMs];
    expect([...marks].sort((a, b) => a - b)).toEqual(marks);
    expect(records.find((r) => r.model === 'nope')).toMatchObject({ transport: 'websocket', status: 404, code: 'ERR_MODEL_NOT_FOUND' });
    s.close();
  });
});

describe('per-connection limits', () => {
  it('answers a message over maxMessageBytes with 413 and stays open; past twice that uWS drops the connection, and only it', async () => {
    const { server: s, dispose } = await ownServer({ websocket: { maxMessageBytes: 64 * 1024 } });
    try {
      const stream = await RawStream.open(s.port);
      const big = (n: number, id: number) => joinFrame(encodeFrame(FrameKind.request, id, 'probe', '', encodeInferRequest({ inputs: [{ name: 'x', datatype: 'FP64', shape: [n, 1], data: new Float64Array(n), binary: true }] })));
      stream.send(big(10_000, 3)); // 80 KB
      expect(errorOf(await stream.answer(3))).toEqual({ error: expect.stringMatching(/^Expected a message of at most 65536 bytes but received 80\d{3}$/), code: 'ERR_REQUEST_TOO_LARGE', status: 413 });
      await expectServing(stream, 4);
      const bystander = await RawStream.open(s.port);
      stream.send(big(20_000, 5)); // 160 KB: over uWS's maxPayloadLength
      expect((await stream.closed).code).toBe(1006);
      await expectServing(bystander, 6);
      await expectOthersServed(s);
      bystander.close();
    } finally {
      await dispose();
    }
  });

  it('answers a request beyond maxInFlight with 429 ERR_WS_IN_FLIGHT while the client reads, and serves the others', async () => {
    const { server: s, dispose } = await ownServer({ websocket: { maxInFlight: 4 } });
    try {
      const held = heldModel(s);
      held.holdUntil(1000);
      const stream = await RawStream.open(s.port);
      for (let id = 1; id <= 3; id++) stream.request(id, 'held', { inputs: [fp64(id)] });
      await waitFor(() => held.stats().pending === 3, 'three held requests');
      stream.request(4, 'probe', { inputs: [fp64(4)] }); // the fourth in flight: answered
      await stream.answer(4);
      stream.request(5, 'held', { inputs: [fp64(5)] });
      await waitFor(() => held.stats().pending === 4, 'four held requests');
      stream.request(6, 'probe', { inputs: [fp64(6)] }); // a fifth
      expect(errorOf(await stream.answer(6))).toEqual({ error: expect.stringMatching(/^Expected at most 4 requests and 268435456 bytes in flight on one connection but received one more \(\d+ bytes\) with 4 requests and \d+ bytes unanswered$/), code: 'ERR_WS_IN_FLIGHT', status: 429 });
      held.holdUntil(0);
      for (const id of [1, 2, 3, 5]) expect(Array.from(outputsOf(await stream.answer(id)).outputs[0]!.data as Float64Array)).toEqual([id]);
      await expectServing(stream, 7);
      stream.close();
    } finally {
      await dispose();
    }
  });

  it('closes with 1008 a client that stays over the limit while its answers wait unread', async () => {
    const highWater = 64 * 1024;
    const { server: s, dispose } = await ownServer({ websocket: { maxInFlight: 2, highWaterBytes: highWater } });
    try {
      const stream = await RawStream.open(s.port);
      stream.socket.pause();
      // 16 MiB answers: more than the kernel's socket buffers take, so uWS has to hold some.
      const expand = (id: number) => stream.request(id, 'expand', { inputs: [{ name: 'x', datatype: 'UINT8', shape: [1, 1], data: new Uint8Array([id]), binary: true }, { name: 'shape', datatype: 'INT64', shape: [2], data: new BigInt64Array([4096n, 4096n]), binary: true }], binaryOutputs: true });
      expand(1);
      expand(2);
      await waitFor(() => s.websocket!.stats().bufferedBytes >= highWater, 'answers backed up behind the unread socket');
      for (let id = 3; id <= 5; id++) expand(id);
      stream.socket.resume();
      expect(await stream.closed).toEqual({ code: 1008, reason: 'too many requests in flight while answers wait to be read' });
      expect(stream.received[0]!.frame.id).toBe(1);
      await expectOthersServed(s);
    } finally {
      await dispose();
    }
  });

  it('refuses bad websocket options, and can be turned off', async () => {
    expect(() => createServer({ repository: repo.root, metrics: false, websocket: { maxInFlight: 0 } })).toThrow(/Expected an integer from 1 to 1048576 for websocket.maxInFlight but received 0/);
    expect(() => createServer({ repository: repo.root, metrics: false, websocket: { idleTimeoutSeconds: 3 } })).toThrow(/Expected 0 or an integer from 8 to 960 for websocket.idleTimeoutSeconds but received 3/);
    expect(() => createServer({ repository: repo.root, metrics: false, websocket: { path: 'stream' } })).toThrow(/Expected a path starting with "\/" for websocket.path/);
    const { server: s, dispose } = await ownServer({ websocket: false });
    try {
      expect(s.websocket).toBeUndefined();
      await expect(RawStream.open(s.port)).rejects.toThrow(/Unexpected server response: 404/);
    } finally {
      await dispose();
    }
  });
});

describe('backpressure', () => {
  it('holds a slow reader to the high-water mark: answers wait, later requests are not run, then everything is delivered', async () => {
    const highWater = 1024 * 1024;
    const maxRunning = 4;
    const { server: s, dispose } = await ownServer({ websocket: { highWaterBytes: highWater, maxRunning } });
    try {
      const expand = heldModel(s, 'expand');
      const side = 2048; // 4 MiB per answer
      const n = 64; // 256 MiB of answers in all
      const stream = await RawStream.open(s.port);
      stream.socket.pause();
      global.gc?.();
      const rssBefore = process.memoryUsage().rss;
      for (let id = 1; id <= n; id++) {
        stream.request(id, 'expand', { inputs: [{ name: 'x', datatype: 'UINT8', shape: [1, 1], data: new Uint8Array([id]), binary: true }, { name: 'shape', datatype: 'INT64', shape: [2], data: new BigInt64Array([BigInt(side), BigInt(side)]), binary: true }], binaryOutputs: true });
      }
      await waitFor(() => s.websocket!.stats().inFlight > 0 && s.websocket!.stats().running === 0 && s.websocket!.stats().waiting > 0, 'the connection to back up');
      await sleep(300); // time enough to run everything, were it run
      const stats = s.websocket!.stats();
      const frameBytes = side * side + 512;
      expect(stats.bufferedBytes).toBeLessThanOrEqual(highWater + frameBytes);
      expect(stats.peakHeldBytes).toBeLessThanOrEqual(highWater + (maxRunning + 1) * frameBytes);
      expect(stats.waiting).toBeGreaterThan(n / 2); // not run while the client does not read
      expect(expand.stats().completed).toBeLessThan(n / 2);
      const rssGrowth = process.memoryUsage().rss - rssBefore;
      expect(rssGrowth).toBeLessThan(128 * 1024 * 1024); // half of what buffering every answer would take
      stream.socket.resume();
      await stream.count(n, 60_000);
      for (const { frame } of stream.received) {
        const y = outputsOf(frame).outputs[0]!;
        expect(y.shape).toEqual([side, side]);
        const data = y.data as Uint8Array;
        expect([data[0], data[side * side - 1]]).toEqual([frame.id, frame.id]);
      }
      expect(new Set(stream.received.map((r) => r.frame.id)).size).toBe(n);
      expect(s.websocket!.stats()).toMatchObject({ inFlight: 0, waiting: 0, queuedAnswers: 0 });
      stream.close();
    } finally {
      await dispose();
    }
  });
});

describe('graceful shutdown', () => {
  it('answers the requests in flight, refuses new ones with 503, then closes every connection with 1001', async () => {
    const { server: s, dispose } = await ownServer({});
    try {
      const held = heldModel(s);
      held.holdUntil(1000);
      const busy = await RawStream.open(s.port);
      const idle = await RawStream.open(s.port);
      for (let id = 1; id <= 3; id++) busy.request(id, 'held', { inputs: [fp64(id)] });
      await waitFor(() => held.stats().pending === 3, 'three held requests');
      let closed = false;
      const closing = s.close().then(() => { closed = true; });
      expect(await idle.closed).toEqual({ code: 1001, reason: 'server shutting down' });
      busy.request(4, 'probe', { inputs: [fp64(4)] });
      expect(errorOf(await busy.answer(4))).toEqual({ error: 'The server is shutting down and accepts no new requests', code: 'ERR_SERVER_DRAINING', status: 503 });
      await expect(RawStream.open(s.port)).rejects.toThrow(); // no new connections
      await sleep(50);
      expect(closed).toBe(false);
      held.holdUntil(0);
      for (let id = 1; id <= 3; id++) expect(Array.from(outputsOf(await busy.answer(id)).outputs[0]!.data as Float64Array)).toEqual([id]);
      expect(await busy.closed).toEqual({ code: 1001, reason: 'server shutting down' });
      expect(busy.received.map((r) => r.frame.id)).toEqual([4, 1, 2, 3]); // every answer before the close
      await closing;
      expect(closed).toBe(true);
    } finally {
      await dispose();
    }
  });

  it('closes with 1001 after the drain timeout a connection whose requests never finish', async () => {
    const { server: s, dispose } = await ownServer({ drainTimeoutMs: 200 });
    try {
      const held = heldModel(s);
      held.holdUntil(1000);
      const stream = await RawStream.open(s.port);
      stream.request(1, 'held', { inputs: [fp64(1)] });
      await waitFor(() => held.stats().pending === 1, 'a held request');
      const closing = s.close();
      expect((await stream.closed).code).toBe(1001);
      held.holdUntil(0);
      await closing;
    } finally {
      await dispose();
    }
  });
});
