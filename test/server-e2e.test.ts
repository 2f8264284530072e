// The HTTP server end to end, over real sockets: every Open Inference Protocol endpoint,
// JSON and binary round trips for every datatype, requested outputs, the repository and
// statistics extensions, every error path with its status (and the server still serving
// after each), large responses to a slow reader, and graceful shutdown draining requests.
import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { numberToBfloat16Bits, numberToFloat16Bits } from '../src/server/float-bits.js';
import { silentLogger } from '../src/server/logger.js';
import {
  OIP_DATATYPES,
  type OipDatatype,
  type OipTensorOut,
  encodeInferRequest,
  oipToOrtexType,
  parseInferResponse,
} from '../src/server/oip-codec.js';
import { RequestRecord } from '../src/server/request-record.js';
import type { Tensor } from '../src/tensor.js';
import { type OrtexServer, createServer } from '../src/server/server.js';
import { ONE_THREAD, TempRepository, probeConfig } from './fixtures/model-repository.js';

const MAX_BODY = 20 * 1024 * 1024;

/** Six values per datatype: what a client sends in JSON and the same values as binary data. */
const SAMPLES: Record<OipDatatype, { json: unknown[]; data: OipTensorOut['data'] }> = {
  BOOL: { json: [true, false, true, true, false, false], data: new Uint8Array([1, 0, 1, 1, 0, 0]) },
  UINT8: { json: [0, 1, 2, 128, 254, 255], data: new Uint8Array([0, 1, 2, 128, 254, 255]) },
  UINT16: { json: [0, 1, 300, 40000, 65534, 65535], data: new Uint16Array([0, 1, 300, 40000, 65534, 65535]) },
  UINT32: { json: [0, 1, 70000, 2 ** 31, 4294967294, 4294967295], data: new Uint32Array([0, 1, 70000, 2 ** 31, 4294967294, 4294967295]) },
  UINT64: { json: [0, 1, 9007199254740991, '9007199254740993', '18446744073709551615', 42], data: new BigUint64Array([0n, 1n, 9007199254740991n, 9007199254740993n, 18446744073709551615n, 42n]) },
  INT8: { json: [-128, -1, 0, 1, 100, 127], data: new Int8Array([-128, -1, 0, 1, 100, 127]) },
  INT16: { json: [-32768, -1, 0, 1, 1000, 32767], data: new Int16Array([-32768, -1, 0, 1, 1000, 32767]) },
  INT32: { json: [-2147483648, -1, 0, 1, 123456, 2147483647], data: new Int32Array([-2147483648, -1, 0, 1, 123456, 2147483647]) },
  INT64: { json: ['-9223372036854775808', -9007199254740991, -1, 0, 1, '9223372036854775807'], data: new BigInt64Array([-9223372036854775808n, -9007199254740991n, -1n, 0n, 1n, 9223372036854775807n]) },
  FP16: { json: [1, -2, 0.5, 65504, 'Infinity', 'NaN'], data: Uint16Array.from([1, -2, 0.5, 65504, Infinity, NaN], numberToFloat16Bits) },
  BF16: { json: [1, -2, 0.5, 3.140625, '-Infinity', 0], data: Uint16Array.from([1, -2, 0.5, 3.140625, -Infinity, 0], numberToBfloat16Bits) },
  FP32: { json: [1.5, -2.25, 0, 2 ** -149, 'NaN', 3.4028234663852886e38], data: new Float32Array([1.5, -2.25, 0, 2 ** -149, NaN, 3.4028234663852886e38]) },
  FP64: { json: [0.1, -1e300, 5e-324, 'Infinity', '-Infinity', 2], data: new Float64Array([0.1, -1e300, 5e-324, Infinity, -Infinity, 2]) },
  BYTES: { json: ['a', '', 'héllo', '日\u0000本', 'x y', '"\\\n'], data: ['a', '', 'héllo', '日\u0000本', 'x y', '"\\\n'] },
};

const identity = (dt: OipDatatype) => `identity_${oipToOrtexType(dt)}`;
const row64 = (v = 0.25) => new Array<number>(64).fill(v);

interface Reply {
  status: number;
  headers: Headers;
  body: Uint8Array;
  json(): any;
}

let server: OrtexServer;
let repo: TempRepository;
const records: RequestRecord[] = [];
const url = (path: string, s = server) => `http://127.0.0.1:${s.port}${path}`;

async function request(path: string, init: RequestInit = {}, s = server): Promise<Reply> {
  const res = await fetch(url(path, s), init);
  const body = new Uint8Array(await res.arrayBuffer());
  return { status: res.status, headers: res.headers, body, json: () => JSON.parse(Buffer.from(body).toString('utf8')) };
}

const get = (path: string, s = server) => request(path, {}, s);
const post = (path: string, body: unknown, headers: Record<string, string> = {}, s = server) =>
  request(path, { method: 'POST', body: typeof body === 'string' || body instanceof Uint8Array ? body : JSON.stringify(body), headers }, s);

/** A binary-extension request (encodeInferRequest), its response parsed. */
async function inferBinary(path: string, req: Parameters<typeof encodeInferRequest>[0], s = server) {
  const { body, headerLength } = encodeInferRequest(req);
  const headers: Record<string, string> = headerLength === undefined ? {} : { 'inference-header-content-length': String(headerLength) };
  const reply = await post(path, body, headers, s);
  expect(reply.status, Buffer.from(reply.body).toString('utf8', 0, 300)).toBe(200);
  const h = reply.headers.get('inference-header-content-length');
  return { reply, response: parseInferResponse(reply.body, h === null ? undefined : Number(h)) };
}

async function expectError(reply: Promise<Reply> | Reply, status: number, message: RegExp): Promise<void> {
  const r = await reply;
  const text = Buffer.from(r.body).toString('utf8');
  expect(r.status, text).toBe(status);
  expect(r.headers.get('content-type')).toBe('application/json');
  const body = JSON.parse(text) as { error: string };
  expect(Object.keys(body)).toEqual(['error']);
  expect(body.error).toMatch(message);
}

/** A good request still succeeds. */
async function expectServing(s = server): Promise<void> {
  const r = await post('/v2/models/ctr/infer', { inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 64], data: row64() }] }, {}, s);
  expect(r.status).toBe(200);
  expect(r.json().outputs[0].shape).toEqual([1, 1]);
}

/** node:http, for what fetch cannot do: hold a response unread, send a body in pieces, reuse one socket. */
function rawRequest(
  options: http.RequestOptions & { port: number },
  send: (req: http.ClientRequest) => void,
  onResponse: (res: http.IncomingMessage) => Promise<Buffer> = collect,
): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', ...options }, (res) => {
      onResponse(res).then((body) => resolve({ status: res.statusCode!, headers: res.headers, body }), reject);
    });
    req.on('error', reject);
    send(req);
  });
}

function collect(res: http.IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    res.on('data', (c: Buffer) => chunks.push(c));
    res.on('end', () => resolve(Buffer.concat(chunks)));
    res.on('error', reject);
  });
}

beforeAll(async () => {
  repo = await TempRepository.create('ortex-e2e-');
  await repo.config('ctr', {
    name: 'ctr',
    max_batch_size: 8,
    input: [{ name: 'x', data_type: 'TYPE_FP32', dims: [64] }],
    output: [{ name: 'y', data_type: 'TYPE_FP32', dims: [1] }],
    dynamic_batching: { max_queue_delay_microseconds: 200 },
  });
  await repo.version('ctr', 1, 'ctr_mlp');
  await repo.config('probe', probeConfig('probe', 'version_policy { all { } } dynamic_batching { default_queue_policy { max_queue_size: 2 } }'));
  await repo.version('probe', 1, 'batch_probe');
  await repo.version('probe', 2, 'batch_probe');
  await repo.config('counted', probeConfig('counted'));
  await repo.version('counted', 1, 'batch_probe');
  for (const dt of OIP_DATATYPES) {
    await repo.config(identity(dt), undefined);
    await repo.version(identity(dt), 1, identity(dt));
  }
  server = createServer({
    repository: repo.root,
    port: 0,
    maxBodyBytes: MAX_BODY,
    modelOptions: ONE_THREAD,
    logger: silentLogger,
    onRequest: (r) => records.push(r),
  });
  await server.listen();
});

afterAll(async () => {
  await server?.close();
  await repo?.dispose();
});

describe('health and metadata', () => {
  it('is live and ready, binds 127.0.0.1, and lists its extensions', async () => {
    expect(server.host).toBe('127.0.0.1');
    expect(server.port).toBeGreaterThan(0);
    expect((await get('/v2/health/live')).json()).toEqual({ live: true });
    const ready = await get('/v2/health/ready');
    expect(ready.status).toBe(200);
    expect(ready.json()).toEqual({ ready: true });
    const meta = await get('/v2');
    expect(meta.headers.get('content-type')).toBe('application/json');
    expect(meta.json()).toEqual({ name: 'ortex', version: expect.stringMatching(/^\d+\.\d+\.\d+/), extensions: expect.arrayContaining(['binary_tensor_data', 'model_repository', 'statistics']) });
  });

  it('describes a model: versions, protocol datatypes, dynamic dims as -1', async () => {
    expect((await get('/v2/models/ctr')).json()).toEqual({
      name: 'ctr', versions: ['1'], platform: 'onnxruntime_onnx',
      inputs: [{ name: 'x', datatype: 'FP32', shape: [-1, 64] }],
      outputs: [{ name: 'y', datatype: 'FP32', shape: [-1, 1] }],
    });
    expect((await get('/v2/models/probe')).json()).toMatchObject({ name: 'probe', versions: ['1', '2'], outputs: [{ name: 'y' }, { name: 'size' }, { name: 'sum' }] });
    expect((await get('/v2/models/probe/versions/1')).json()).toMatchObject({ name: 'probe', versions: ['1'], inputs: [{ name: 'x', datatype: 'FP64', shape: [-1, 1] }] });
    for (const dt of OIP_DATATYPES) {
      expect((await get(`/v2/models/${identity(dt)}`)).json().inputs).toEqual([{ name: 'x', datatype: dt, shape: [-1, -1] }]);
    }
  });

  it('answers model readiness: 200 when ready, 404 for an unknown model or version, 400 for a malformed version', async () => {
    expect((await get('/v2/models/ctr/ready')).json()).toEqual({ name: 'ctr', ready: true });
    expect((await get('/v2/models/probe/versions/2/ready')).status).toBe(200);
    await expectError(get('/v2/models/nope/ready'), 404, /^Unknown model 'nope'$/);
    await expectError(get('/v2/models/probe/versions/9/ready'), 404, /^Unknown version '9' of model 'probe'; ready versions: 1, 2$/);
    await expectError(get('/v2/models/nope'), 404, /Unknown model 'nope'/);
    await expectError(get('/v2/models/probe/versions/x'), 400, /Expected a model version that is a positive integer \(e\.g\. 1\) but received "x"/);
  });
});

describe('POST /v2/models/{m}/infer', () => {
  it('runs a JSON request, flat or nested data, and answers with the version that ran it', async () => {
    const flat = await post('/v2/models/ctr/infer', { id: 'req-1', inputs: [{ name: 'x', datatype: 'FP32', shape: [2, 64], data: [...row64(0.5), ...row64(-0.5)] }] });
    expect(flat.status).toBe(200);
    expect(flat.headers.get('content-type')).toBe('application/json');
    expect(flat.headers.get('inference-header-content-length')).toBeNull();
    const out = flat.json();
    expect(out).toMatchObject({ model_name: 'ctr', model_version: '1', id: 'req-1', outputs: [{ name: 'y', datatype: 'FP32', shape: [2, 1] }] });
    const [a, b] = out.outputs[0].data as number[];
    expect(a).toBeGreaterThan(0);
    expect(a).toBeLessThan(1);
    expect(a).not.toBe(b);
    const nested = await post('/v2/models/ctr/infer', { inputs: [{ name: 'x', datatype: 'FP32', shape: [2, 64], data: [row64(0.5), row64(-0.5)] }] });
    expect(nested.json().outputs[0].data).toEqual([a, b]);
    const versioned = await post('/v2/models/probe/versions/1/infer', { inputs: [{ name: 'x', datatype: 'FP64', shape: [1, 1], data: [7] }] });
    expect(versioned.json()).toMatchObject({ model_name: 'probe', model_version: '1' });
    expect((await post('/v2/models/probe/infer', { inputs: [{ name: 'x', datatype: 'FP64', shape: [1, 1], data: [7] }] })).json().model_version).toBe('2');
  });

  it('gives the same answer in binary as in JSON', async () => {
    const data = new Float32Array(128).map((_, i) => Math.sin(i));
    const viaJson = (await post('/v2/models/ctr/infer', { inputs: [{ name: 'x', datatype: 'FP32', shape: [2, 64], data: Array.from(data) }] })).json();
    const { reply, response } = await inferBinary('/v2/models/ctr/infer', { inputs: [{ name: 'x', datatype: 'FP32', shape: [2, 64], data, binary: true }], binaryOutputs: true });
    expect(reply.headers.get('content-type')).toBe('application/octet-stream');
    expect(Number(reply.headers.get('inference-header-content-length'))).toBeGreaterThan(0);
    expect(response.outputs[0]!.shape).toEqual([2, 1]);
    expect(Array.from(response.outputs[0]!.data as Float32Array)).toEqual(viaJson.outputs[0].data);
  });

  for (const dt of OIP_DATATYPES) {
    it(`round-trips ${dt} in JSON and in binary`, async () => {
      const { json, data } = SAMPLES[dt];
      const viaJson = await post(`/v2/models/${identity(dt)}/infer`, { inputs: [{ name: 'x', datatype: dt, shape: [2, 3], data: [json.slice(0, 3), json.slice(3)] }] });
      expect(viaJson.status, Buffer.from(viaJson.body).toString()).toBe(200);
      expect(viaJson.json().outputs).toEqual([{ name: 'y', datatype: dt, shape: [2, 3], data: json }]);
      const { response } = await inferBinary(`/v2/models/${identity(dt)}/infer`, { inputs: [{ name: 'x', datatype: dt, shape: [2, 3], data, binary: true }], binaryOutputs: true });
      expect(response.outputs[0]).toMatchObject({ name: 'y', datatype: dt, shape: [2, 3] });
      expect(response.outputs[0]!.data).toEqual(data);
      // binary in, JSON out
      const { response: mixed } = await inferBinary(`/v2/models/${identity(dt)}/infer`, { inputs: [{ name: 'x', datatype: dt, shape: [2, 3], data, binary: true }] });
      expect(mixed.outputs[0]!.data).toEqual(response.outputs[0]!.data);
    });
  }

  it('answers with the requested outputs only, in the order asked, each in JSON or binary as asked', async () => {
    const { reply, response } = await inferBinary('/v2/models/probe/infer', {
      inputs: [{ name: 'x', datatype: 'FP64', shape: [2, 1], data: new Float64Array([1, 2]) }],
      outputs: [{ name: 'sum' }, { name: 'y', binary: true }],
    });
    const header = JSON.parse(Buffer.from(reply.body).toString('utf8', 0, Number(reply.headers.get('inference-header-content-length'))));
    expect(header.outputs).toEqual([
      { name: 'sum', datatype: 'FP64', shape: [2, 1], data: [3, 3] },
      { name: 'y', datatype: 'FP64', shape: [2, 1], parameters: { binary_data_size: 16 } },
    ]);
    expect(response.outputs.map((o) => o.name)).toEqual(['sum', 'y']);
    expect(Array.from(response.outputs[1]!.data as Float64Array)).toEqual([1, 2]);
    // binary_data_output for all, overridden per output
    const all = await inferBinary('/v2/models/probe/infer', {
      inputs: [{ name: 'x', datatype: 'FP64', shape: [1, 1], data: new Float64Array([4]) }],
      outputs: [{ name: 'size', binary: false }, { name: 'y' }],
      binaryOutputs: true,
    });
    const head = JSON.parse(Buffer.from(all.reply.body).toString('utf8', 0, Number(all.reply.headers.get('inference-header-content-length'))));
    expect(head.outputs.map((o: { data?: unknown; parameters?: unknown }) => ('data' in o ? 'json' : 'binary'))).toEqual(['json', 'binary']);
  });

  it('streams a large response to a slow reader intact (tryEnd / onWritable)', async () => {
    const side = 4096; // 16 MiB of uint8 in and out
    const data = new Uint8Array(side * side).map((_, i) => (i * 7) & 0xff);
    const { body, headerLength } = encodeInferRequest({ inputs: [{ name: 'x', datatype: 'UINT8', shape: [side, side], data, binary: true }], binaryOutputs: true });
    const reply = await rawRequest(
      { port: server.port, method: 'POST', path: '/v2/models/identity_uint8/infer', headers: { 'inference-header-content-length': String(headerLength), 'content-length': String(body.byteLength) } },
      (req) => req.end(body),
      async (res) => {
        res.pause();
        await new Promise((r) => setTimeout(r, 300)); // let the server's socket fill up
        res.resume();
        return collect(res);
      },
    );
    expect(reply.status).toBe(200);
    const out = parseInferResponse(reply.body, Number(reply.headers['inference-header-content-length']));
    expect(out.outputs[0]!.shape).toEqual([side, side]);
    expect(Buffer.compare(Buffer.from(out.outputs[0]!.data as Uint8Array), Buffer.from(data))).toBe(0);
    await expectServing();
  });

  it('passes the request parameters priority and timeout to the batcher', async () => {
    const r = await post('/v2/models/probe/infer', { parameters: { priority: 1, timeout: 1_000_000 }, inputs: [{ name: 'x', datatype: 'FP64', shape: [1, 1], data: [1] }] });
    expect(r.status).toBe(200);
    await expectError(post('/v2/models/probe/infer', { parameters: { priority: 2 }, inputs: [{ name: 'x', datatype: 'FP64', shape: [1, 1], data: [1] }] }), 400, /Expected an integer from 1 to 1 \(priorityLevels\) for priority but received number 2/);
    await expectError(post('/v2/models/probe/infer', { parameters: { timeout: -5 }, inputs: [{ name: 'x', datatype: 'FP64', shape: [1, 1], data: [1] }] }), 400, /parameters\.timeout/);
  });
});

describe('errors', () => {
  const ctrInput = (over: Record<string, unknown> = {}) => ({ inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 64], data: row64(), ...over }] });
  const cases: Array<[string, () => Promise<Reply>, number, RegExp]> = [
    ['malformed JSON', () => post('/v2/models/ctr/infer', '{"inputs": ['), 400, /Expected JSON for the inference request but received malformed JSON/],
    ['a JSON array', () => post('/v2/models/ctr/infer', '[]'), 400, /Expected a JSON object for the inference request but received array/],
    ['no inputs', () => post('/v2/models/ctr/infer', {}), 400, /Expected an array of input tensors for inputs/],
    ['an unknown model', () => post('/v2/models/nope/infer', ctrInput()), 404, /^Unknown model 'nope'$/],
    ['an unknown version', () => post('/v2/models/ctr/versions/3/infer', ctrInput()), 404, /^Unknown version '3' of model 'ctr'; ready versions: 1$/],
    ['a bad URL encoding', () => post('/v2/models/%E0%A4%A/infer', ctrInput()), 400, /Expected a URL-encoded model name/],
    ['a wrong input name', () => post('/v2/models/ctr/infer', ctrInput({ name: 'z' })), 400, /^Unknown input 'z' for model 'ctr'; its inputs are: x$/],
    ['a missing input', () => post('/v2/models/ctr/infer', { inputs: [] }), 400, /Missing input 'x'/],
    ['a wrong datatype', () => post('/v2/models/ctr/infer', ctrInput({ datatype: 'FP64' })), 400, /^Expected datatype FP32 for input 'x' of model 'ctr' but received FP64$/],
    ['an unknown datatype', () => post('/v2/models/ctr/infer', ctrInput({ datatype: 'FLOAT' })), 400, /Expected one of BOOL, .* for input 'x' datatype but received string "FLOAT"/],
    ['a wrong shape', () => post('/v2/models/ctr/infer', ctrInput({ shape: [1, 63], data: new Array(63).fill(0) })), 400, /Expected dims \[N,64\] for input 'x' but received \[1,63\]/],
    ['a wrong rank', () => post('/v2/models/ctr/infer', ctrInput({ shape: [64] })), 400, /Expected rank 2/],
    ['more rows than max_batch_size', () => post('/v2/models/ctr/infer', ctrInput({ shape: [9, 64], data: new Array(9 * 64).fill(0) })), 400, /A request of 9 rows exceeds the model's maxBatchSize of 8/],
    ['a data length that disagrees with the shape', () => post('/v2/models/ctr/infer', ctrInput({ data: [1, 2, 3] })), 400, /Expected 64 elements of FP32 data for input 'x' with shape \[1,64\] but received 3/],
    ['a value of the wrong kind', () => post('/v2/models/ctr/infer', ctrInput({ data: [...row64().slice(1), 'x'] })), 400, /Expected a number .* for input 'x' data\[63\] but received string "x"/],
    ['an unknown requested output', () => post('/v2/models/ctr/infer', { ...ctrInput(), outputs: [{ name: 'z' }] }), 400, /^Unknown output 'z' for model 'ctr'; its outputs are: y$/],
    ['a classification request', () => post('/v2/models/ctr/infer', { ...ctrInput(), outputs: [{ name: 'y', parameters: { classification: 2 } }] }), 400, /the classification extension is not supported/],
    ['an unknown route', () => get('/v3/things'), 404, /^No route for GET \/v3\/things/],
    ['GET on the infer route', () => get('/v2/models/ctr/infer'), 404, /No route for GET \/v2\/models\/ctr\/infer/],
    ['load in none mode', () => post('/v2/repository/models/ctr/load', ''), 400, /only available in explicit model control mode; this repository runs in none mode/],
    ['stats of an unknown model', () => get('/v2/models/nope/stats'), 404, /Unknown model 'nope'/],
  ];
  for (const [what, send, status, message] of cases) {
    it(`answers ${what} with ${status}, and keeps serving`, async () => {
      await expectError(send(), status, message);
      await expectServing();
    });
  }

  const binary = (declared: number, sent: number, headerLength?: (n: number) => number) => {
    const head = Buffer.from(JSON.stringify({ inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 64], parameters: { binary_data_size: declared } }] }));
    const body = Buffer.concat([head, Buffer.alloc(sent)]);
    return post('/v2/models/ctr/infer', body, { 'inference-header-content-length': String(headerLength ? headerLength(head.byteLength) : head.byteLength) });
  };
  const binaryCases: Array<[string, () => Promise<Reply>, RegExp]> = [
    ['a binary_data_size that disagrees with the shape', () => binary(100, 100), /Expected binary_data_size 256 \(64 elements of FP32\) for input 'x' but received binary_data_size 100/],
    ['a binary section longer than the body', () => binary(256, 200), /Expected binary_data_size 256 for input 'x' to fit in the body but received 200 bytes of binary data left/],
    ['bytes left after the binary sections', () => binary(256, 300), /Expected 256 bytes of binary data after the JSON header .* but received 300/],
    ['a header length past the body', () => binary(256, 256, (n) => n + 10_000), /Inference-Header-Content-Length header/],
    ['a header length that is not a number', () => binary(256, 256, () => Number.NaN), /Inference-Header-Content-Length header but received number NaN/],
    ['binary data without the header length', () => post('/v2/models/ctr/infer', { inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 64], parameters: { binary_data_size: 256 } }] }), /Expected an Inference-Header-Content-Length header for input 'x' with binary_data_size 256/],
  ];
  for (const [what, send, message] of binaryCases) {
    it(`answers ${what} with 400, and keeps serving`, async () => {
      await expectError(send(), 400, message);
      await expectServing();
    });
  }

  it('answers a body over the limit with 413 from its Content-Length, keeping none of it, and closes the connection', async () => {
    const reply = await rawRequest(
      { port: server.port, method: 'POST', path: '/v2/models/ctr/infer', headers: { 'content-length': String(MAX_BODY + 1) } },
      (req) => req.write(Buffer.alloc(1024)), // the rest never comes: answered once the client has paused (DRAIN_IDLE_MS)
    );
    expect(reply.status).toBe(413);
    expect(reply.headers.connection).toBe('close');
    expect(JSON.parse(reply.body.toString()).error).toBe(`Expected a request body of at most ${MAX_BODY} bytes but received a Content-Length of ${MAX_BODY + 1}`);
    await expectServing();
  });

  it('answers a chunked body that grows past the limit with 413 once the client pauses', async () => {
    // One byte past the limit, and the body left open: the answer must not wait for its end (only for a pause).
    const reply = await rawRequest({ port: server.port, method: 'POST', path: '/v2/models/ctr/infer', headers: { 'transfer-encoding': 'chunked' } }, (req) => {
      const chunk = Buffer.alloc(1024 * 1024);
      for (let sent = 0; sent < MAX_BODY; sent += chunk.byteLength) req.write(chunk);
      req.write(Buffer.alloc(1));
    });
    expect(reply.status).toBe(413);
    expect(reply.headers.connection).toBe('close');
    expect(JSON.parse(reply.body.toString()).error).toMatch(new RegExp(`^Expected a request body of at most ${MAX_BODY} bytes but received at least ${MAX_BODY + 1} bytes$`));
    await expectServing();
  });

  it('answers a full queue with 429 and a queue timeout with 504, then serves the queued requests', async () => {
    const probe = server.repository.acquire('probe');
    probe.release();
    probe.model.holdUntil(1000);
    const one = (v: number, parameters?: object) => post('/v2/models/probe/infer', { parameters, inputs: [{ name: 'x', datatype: 'FP64', shape: [1, 1], data: [v] }] });
    const queued = [one(1), one(2)];
    for (let i = 0; i < 200 && probe.model.stats().pending < 2; i++) await new Promise((r) => setTimeout(r, 5));
    await expectError(one(3), 429, /queue/i);
    probe.model.holdUntil(0);
    const answered = await Promise.all(queued);
    expect(answered.map((r) => r.json().outputs[0].data[0])).toEqual([1, 2]);
    probe.model.holdUntil(1000);
    await expectError(one(4, { timeout: 20_000 }), 504, /waited in the queue past its timeout of 20000 µs/);
    probe.model.holdUntil(0);
    await expectServing();
  });

  it('keeps serving good clients while bad ones send garbage at the same time', async () => {
    const bad = Array.from({ length: 30 }, (_, i) => post('/v2/models/ctr/infer', i % 3 === 0 ? '{' : i % 3 === 1 ? { inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 64], data: [1] }] } : Buffer.alloc(64, 0xff)));
    const good = Array.from({ length: 30 }, () => post('/v2/models/ctr/infer', { inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 64], data: row64() }] }));
    const [b, g] = await Promise.all([Promise.all(bad), Promise.all(good)]);
    expect(b.every((r) => r.status === 400)).toBe(true);
    expect(g.every((r) => r.status === 200)).toBe(true);
  });
});

describe('statistics extension', () => {
  it("reports per version in Triton's shape: counts, durations and batch sizes", async () => {
    const one = (data: unknown, shape: number[], datatype = 'FP64') => post('/v2/models/counted/infer', { inputs: [{ name: 'x', datatype, shape, data }] });
    expect((await one([1], [1, 1])).status).toBe(200);
    expect((await one([1, 2], [2, 1])).status).toBe(200);
    expect((await one([1], [1, 1], 'FP32')).status).toBe(400);
    const stats = (await get('/v2/models/counted/stats')).json();
    expect(stats).toEqual({
      model_stats: [{
        name: 'counted',
        version: '1',
        last_inference: expect.any(Number),
        inference_count: 3,
        execution_count: 2,
        inference_stats: {
          success: { count: 2, ns: expect.any(Number) },
          fail: { count: 1, ns: expect.any(Number) },
          queue: { count: 2, ns: expect.any(Number) },
          compute_input: { count: 2, ns: expect.any(Number) },
          compute_infer: { count: 2, ns: expect.any(Number) },
          compute_output: { count: 2, ns: expect.any(Number) },
          cache_hit: { count: 0, ns: 0 },
          cache_miss: { count: 0, ns: 0 },
        },
        batch_stats: [
          { batch_size: 1, compute_input: { count: 1, ns: expect.any(Number) }, compute_infer: { count: 1, ns: expect.any(Number) }, compute_output: { count: 1, ns: expect.any(Number) } },
          { batch_size: 2, compute_input: { count: 1, ns: expect.any(Number) }, compute_infer: { count: 1, ns: expect.any(Number) }, compute_output: { count: 1, ns: expect.any(Number) } },
        ],
        memory_usage: [],
      }],
    });
    const s = stats.model_stats[0].inference_stats;
    expect(s.success.ns).toBeGreaterThan(s.compute_input.ns);
    // Executions are timed per batch size, by phase; the run itself takes real time.
    const perSize = stats.model_stats[0].batch_stats as Array<{ compute_infer: { ns: number } }>;
    for (const b of perSize) expect(b.compute_infer.ns).toBeGreaterThan(0);
    expect(perSize.reduce((a, b) => a + b.compute_infer.ns, 0)).toBe(s.compute_infer.ns);
    expect(stats.model_stats[0].last_inference).toBeLessThanOrEqual(Date.now());
    expect((await get('/v2/models/counted/versions/1/stats')).json()).toEqual(stats);
    const all = (await get('/v2/models/stats')).json().model_stats.map((m: { name: string; version: string }) => `${m.name}/${m.version}`);
    expect(all).toEqual(expect.arrayContaining(['counted/1', 'ctr/1', 'probe/1', 'probe/2', 'identity_float32/1']));
    expect(all).toHaveLength(4 + OIP_DATATYPES.length);
    await expectError(get('/v2/models/counted/versions/7/stats'), 404, /Unknown version '7'/);
  });

  it('hands every inference request record to onRequest, with its timings in order', async () => {
    records.length = 0;
    await post('/v2/models/counted/infer', { inputs: [{ name: 'x', datatype: 'FP64', shape: [1, 1], data: [3] }] });
    await post('/v2/models/nope/infer', { inputs: [] });
    await new Promise((r) => setTimeout(r, 10));
    expect(records).toHaveLength(2);
    const [ok, missing] = records;
    expect(ok).toMatchObject({ transport: 'http', model: 'counted', version: '', status: 200, code: undefined, aborted: false, rows: 1, binaryIn: false });
    expect(ok!.servable?.name).toBe('counted');
    expect(ok!.bytesIn).toBeGreaterThan(0);
    expect(ok!.bytesOut).toBeGreaterThan(0);
    const marks = [ok!.startMs, ok!.bodyMs, ok!.inputMs, ok!.inferEndMs, ok!.outputMs, ok!.endMs];
    expect([...marks].sort((a, b) => a - b)).toEqual(marks);
    expect(missing).toMatchObject({ model: 'nope', status: 404, code: 'ERR_MODEL_NOT_FOUND', servable: undefined, inputMs: 0 });
  });
});

describe('repository extension', () => {
  it('indexes the repository, optionally only what is ready', async () => {
    const index = (await post('/v2/repository/index', '')).json();
    expect(index).toContainEqual({ name: 'ctr', version: '1', state: 'READY' });
    expect(index).toContainEqual({ name: 'probe', version: '2', state: 'READY' });
    expect((await post('/v2/repository/index', { ready: true })).json()).toHaveLength(index.length);
    await expectError(post('/v2/repository/index', '{'), 400, /malformed JSON/);
    await expectError(post('/v2/repository/index', { ready: 'yes' }), 400, /Expected true or false for "ready"/);
  });

  it('loads and unloads models in explicit mode', async () => {
    const own = await TempRepository.create('ortex-explicit-');
    await own.config('m', probeConfig('m'));
    await own.version('m', 1, 'batch_probe');
    await own.config('broken', probeConfig('broken'));
    await own.brokenVersion('broken', 1);
    const s = createServer({ repository: own.root, port: 0, modelControlMode: 'explicit', modelOptions: ONE_THREAD, logger: silentLogger });
    try {
      await s.listen();
      const infer = () => post('/v2/models/m/infer', { inputs: [{ name: 'x', datatype: 'FP64', shape: [1, 1], data: [2] }] }, {}, s);
      expect((await get('/v2/health/ready', s)).status).toBe(200);
      await expectError(infer(), 404, /Unknown model 'm'/);
      expect((await post('/v2/repository/index', '', {}, s)).json()).toEqual([
        { name: 'broken', state: 'UNAVAILABLE', reason: 'not loaded' },
        { name: 'm', state: 'UNAVAILABLE', reason: 'not loaded' },
      ]);
      const loaded = await post('/v2/repository/models/m/load', '', {}, s);
      expect(loaded.status).toBe(200);
      expect(loaded.json()).toEqual({});
      expect((await infer()).json().outputs[0].data).toEqual([2]);
      expect((await post('/v2/repository/models/m/unload', { parameters: { unload_dependents: false } }, {}, s)).status).toBe(200);
      await expectError(infer(), 503, /Model 'm' is not ready: unloaded/);
      await expectError(get('/v2/models/m/ready', s), 503, /not ready/);
      await expectError(post('/v2/repository/models/nope/load', '', {}, s), 404, /Unknown model 'nope'/);
      await expectError(post('/v2/repository/models/broken/load', '', {}, s), 422, /Could not load version 1 of model 'broken': .*broken\/1\/model\.onnx: it is not a valid ONNX model/);
      expect((await get('/v2/health/ready', s)).status).toBe(200); // a failed load leaves the server ready
      expect((await post('/v2/repository/index', '', {}, s)).json()).toContainEqual({ name: 'broken', version: '1', state: 'UNAVAILABLE', reason: expect.stringMatching(/not a valid ONNX model/) });
      await expectError(post('/v2/repository/models/m/load', { parameters: { config: '{}' } }, {}, s), 400, /Expected no parameters config/);
      expect((await post('/v2/repository/models/m/load', '', {}, s)).status).toBe(200);
      expect((await infer()).status).toBe(200);
    } finally {
      await s.close();
      await own.dispose();
    }
  });
});

describe('InferMiddleware and onRequest (where a cache and metrics plug in)', () => {
  it('runs layers around the model call, outermost first; a layer may answer without the model', async () => {
    const own = await TempRepository.create('ortex-mw-');
    await own.config('m', probeConfig('m'));
    await own.version('m', 1, 'batch_probe');
    const order: string[] = [];
    const stored = new Map<string, Record<string, Tensor>>();
    const logged: Array<[string, object, string]> = [];
    const logger = {
      debug: () => {}, info: () => {},
      warn: (f: object, m: string) => logged.push(['warn', f, m]),
      error: (f: object, m: string) => logged.push(['error', f, m]),
    };
    const s = createServer({
      repository: own.root, port: 0, modelOptions: ONE_THREAD, logger,
      middleware: [
        async (call, next) => {
          order.push('outer');
          if (call.request.parameters?.explode) throw new Error('a bug in a layer');
          if (call.request.parameters?.nothing) return Promise.reject(null);
          return next(call);
        },
        async (call, next) => {
          // A toy response cache keyed by the JSON of the first input's values.
          order.push('cache');
          const key = JSON.stringify(Array.from(call.feeds.x!.data as Float64Array));
          const hit = stored.get(key);
          call.record.cache = hit ? 'hit' : 'miss';
          if (hit) return hit;
          const out = await next(call);
          stored.set(key, out);
          return out;
        },
      ],
    });
    try {
      await s.listen();
      const body = (v: number, parameters?: object) => ({ parameters, inputs: [{ name: 'x', datatype: 'FP64', shape: [1, 1], data: [v] }] });
      const first = (await post('/v2/models/m/infer', body(5), {}, s)).json();
      const second = (await post('/v2/models/m/infer', body(5), {}, s)).json();
      expect(second).toEqual(first);
      expect(order).toEqual(['outer', 'cache', 'outer', 'cache']);
      const m = s.repository.acquire('m');
      m.release();
      expect(m.model.stats().completed).toBe(1); // the second came from the cache
      const stats = (await get('/v2/models/m/stats', s)).json().model_stats[0].inference_stats;
      expect(stats.cache_hit.count).toBe(1);
      expect(stats.cache_miss.count).toBe(1);
      expect(stats.success.count).toBe(2);
      // An error without a code is a bug: 500, and logged with its stack.
      await expectError(post('/v2/models/m/infer', body(1, { explode: true }), {}, s), 500, /^a bug in a layer$/);
      expect(logged).toHaveLength(1);
      expect(logged[0]![0]).toBe('error');
      expect(logged[0]![2]).toMatch(/unexpected error answered with 500: a bug in a layer/);
      expect((logged[0]![1] as { err: Error }).err.stack).toMatch(/server-e2e\.test\.ts/);
      expect((await post('/v2/models/m/infer', body(2), {}, s)).status).toBe(200);
      // A layer that rejects with null fails its request, over HTTP and through server.infer().
      await expectError(post('/v2/models/m/infer', body(3, { nothing: true }), {}, s), 500, /failed without a reason/);
      const record = new RequestRecord('http', performance.now());
      await expect(s.infer('m', '', Buffer.from(JSON.stringify(body(3, { nothing: true }))), undefined, record)).rejects.toMatchObject({ code: 'ERR_INTERNAL' });
    } finally {
      await s.close();
      await own.dispose();
    }
  });
});

describe('graceful shutdown', () => {
  it('stops accepting, turns not ready, answers new requests 503, finishes the requests in flight, then closes', async () => {
    const own = await TempRepository.create('ortex-drain-');
    await own.config('m', probeConfig('m'));
    await own.version('m', 1, 'batch_probe');
    const s = createServer({ repository: own.root, port: 0, modelOptions: ONE_THREAD, logger: silentLogger });
    await s.listen();
    const port = s.port;
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      // One kept-alive connection, opened before shutdown.
      expect((await rawRequest({ port, agent, path: '/v2/health/live' }, (req) => req.end())).status).toBe(200);
      const m = s.repository.acquire('m');
      m.release();
      m.model.holdUntil(1000);
      const inFlight = [1, 2, 3].map((v) => post('/v2/models/m/infer', { inputs: [{ name: 'x', datatype: 'FP64', shape: [1, 1], data: [v] }] }, {}, s));
      for (let i = 0; i < 200 && m.model.stats().pending < 3; i++) await new Promise((r) => setTimeout(r, 5));
      expect(m.model.stats().pending).toBe(3);
      let closed = false;
      const closing = s.close().then(() => { closed = true; });
      expect(s.ready).toBe(false);
      const ready = await rawRequest({ port, agent, path: '/v2/health/ready' }, (req) => req.end());
      expect(ready.status).toBe(503);
      expect(ready.headers.connection).toBe('close');
      expect(JSON.parse(ready.body.toString()).error).toBe('The server is shutting down');
      await expect(fetch(`http://127.0.0.1:${port}/v2/health/live`)).rejects.toThrow(); // no new connections
      await new Promise((r) => setTimeout(r, 50));
      expect(closed).toBe(false); // still waiting for the three requests
      m.model.holdUntil(0);
      const answers = await Promise.all(inFlight);
      expect(answers.map((r) => r.status)).toEqual([200, 200, 200]);
      expect(answers.map((r) => r.json().outputs[0].data[0])).toEqual([1, 2, 3]);
      await closing;
      expect(closed).toBe(true);
      expect(await m.model.infer({}).catch((e: { code: string }) => e.code)).toBe('ERR_MODEL_CLOSED');
    } finally {
      agent.destroy();
      await s.close();
      await own.dispose();
    }
  });

  it('answers an infer that arrives on an open connection while draining with 503', async () => {
    const own = await TempRepository.create('ortex-drain-');
    await own.config('m', probeConfig('m'));
    await own.version('m', 1, 'batch_probe');
    const s = createServer({ repository: own.root, port: 0, modelOptions: ONE_THREAD, logger: silentLogger });
    await s.listen();
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      expect((await rawRequest({ port: s.port, agent, path: '/v2/health/live' }, (req) => req.end())).status).toBe(200);
      const m = s.repository.acquire('m');
      m.release();
      m.model.holdUntil(1000);
      const held = post('/v2/models/m/infer', { inputs: [{ name: 'x', datatype: 'FP64', shape: [1, 1], data: [1] }] }, {}, s);
      for (let i = 0; i < 200 && m.model.stats().pending < 1; i++) await new Promise((r) => setTimeout(r, 5));
      const closing = s.close();
      const body = JSON.stringify({ inputs: [{ name: 'x', datatype: 'FP64', shape: [1, 1], data: [1] }] });
      const late = await rawRequest({ port: s.port, agent, method: 'POST', path: '/v2/models/m/infer', headers: { 'content-length': String(Buffer.byteLength(body)) } }, (req) => req.end(body));
      expect(late.status).toBe(503);
      expect(JSON.parse(late.body.toString()).error).toMatch(/shutting down/);
      m.model.holdUntil(0);
      expect((await held).status).toBe(200);
      await closing;
    } finally {
      agent.destroy();
      await s.close();
      await own.dispose();
    }
  });
});

describe('createServer() options', () => {
  it('refuses bad options and a repository that does not exist', async () => {
    expect(() => createServer({ repository: '' })).toThrow(/Expected \{ repository/);
    expect(() => createServer({ repository: repo.root, port: 70000 })).toThrow(/Expected an integer from 0 to 65535 for port but received 70000/);
    expect(() => createServer({ repository: repo.root, modelControlMode: 'sometimes' as 'none' })).toThrow(/Expected one of none, explicit, poll for modelControlMode/);
    const s = createServer({ repository: '/nonexistent/repo', port: 0, logger: silentLogger });
    await expect(s.listen()).rejects.toMatchObject({ code: 'ERR_MODEL_NOT_FOUND' });
  });

  it('refuses to start when a model fails to load, listing every failure (failOnLoadError)', async () => {
    const own = await TempRepository.create('ortex-fail-');
    await own.config('a', 'max_batch_size: x');
    await own.config('b', probeConfig('b'));
    await own.brokenVersion('b', 1);
    try {
      const s = createServer({ repository: own.root, port: 0, modelOptions: ONE_THREAD, logger: silentLogger });
      const err = await s.listen().then(() => undefined, (e: { code: string; message: string }) => e);
      expect(err).toMatchObject({ code: 'ERR_MODEL_CONFIG', message: expect.stringMatching(/^2 model load\(s\) failed:\n- .*a\/config\.pbtxt.*\n- Could not load version 1 of model 'b'/) });
      const lenient = createServer({ repository: own.root, port: 0, modelOptions: ONE_THREAD, logger: silentLogger, failOnLoadError: false });
      await lenient.listen();
      await expectError(get('/v2/health/ready', lenient), 503, /^Not every model is ready: a, b/);
      await lenient.close();
    } finally {
      await own.dispose();
    }
  });

  it('cancels a queued request whose client went away (cancelOnDisconnect), and records it as aborted', async () => {
    const own = await TempRepository.create('ortex-cancel-');
    await own.config('m', probeConfig('m'));
    await own.version('m', 1, 'batch_probe');
    const seen: RequestRecord[] = [];
    const s = createServer({ repository: own.root, port: 0, modelOptions: ONE_THREAD, logger: silentLogger, cancelOnDisconnect: true, onRequest: (r) => seen.push(r) });
    try {
      await s.listen();
      const m = s.repository.acquire('m');
      m.release();
      m.model.holdUntil(1000);
      const client = new AbortController();
      const body = JSON.stringify({ inputs: [{ name: 'x', datatype: 'FP64', shape: [1, 1], data: [1] }] });
      const gone = fetch(url('/v2/models/m/infer', s), { method: 'POST', body, signal: client.signal }).catch((e: Error) => e);
      for (let i = 0; i < 200 && m.model.stats().pending < 1; i++) await new Promise((r) => setTimeout(r, 5));
      client.abort();
      expect(await gone).toBeInstanceOf(Error);
      for (let i = 0; i < 200 && m.model.stats().rejected.cancelled < 1; i++) await new Promise((r) => setTimeout(r, 5));
      expect(m.model.stats()).toMatchObject({ pending: 0, rejected: { cancelled: 1 } });
      expect(seen).toHaveLength(1);
      expect(seen[0]).toMatchObject({ model: 'm', aborted: true, status: 0 });
      m.model.holdUntil(0);
      expect((await post('/v2/models/m/infer', body, {}, s)).status).toBe(200);
    } finally {
      await s.close();
      await own.dispose();
    }
  });

  it('refuses a port that is taken', async () => {
    const s = createServer({ repository: repo.root, port: server.port, logger: silentLogger });
    await expect(s.listen()).rejects.toMatchObject({ code: 'ERR_SERVER_LISTEN', message: expect.stringMatching(/Could not listen on 127\.0\.0\.1:\d+/) });
  });
});
