// ortex's clients against a real server: OrtexHttpClient over HTTP (binary and JSON) and
// OrtexWsClient over the WebSocket streaming endpoint; round trips for every datatype,
// pipelining matched by id, the client's own in-flight limit, errors carrying the server's
// code and status, and what the clients do when the connection goes away.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { OrtexHttpClient, OrtexWsClient } from '../src/client/index.js';
import { OrtexError, OrtexTypeError } from '../src/errors.js';
import { silentLogger } from '../src/server/logger.js';
import { OIP_DATATYPES, type OipDatatype, oipToOrtexType } from '../src/server/oip-codec.js';
import { type OrtexServer, createServer } from '../src/server/server.js';
import { Tensor } from '../src/tensor.js';
import { ONE_THREAD, TempRepository, probeConfig } from './fixtures/model-repository.js';
import { OIP_SAMPLES } from './fixtures/oip-samples.js';

const SAMPLES = OIP_SAMPLES as Record<OipDatatype, Tensor['data']>;

const type = (dt: OipDatatype) => oipToOrtexType(dt)!;
const sample = (dt: OipDatatype) => new Tensor(type(dt), SAMPLES[dt] as never, [2, 3]);
const x = (...v: number[]) => ({ x: new Tensor('float64', new Float64Array(v), [v.length, 1]) });
const values = (t: Tensor | undefined) => Array.from(t!.data as Float64Array);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let server: OrtexServer;
let repo: TempRepository;
let httpClient: OrtexHttpClient;
let wsUrl: string;

const held = () => {
  const s = server.repository.acquire('held');
  s.release();
  return s.model;
};

async function waitFor(condition: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 2000 && !condition(); i++) await sleep(5);
  if (!condition()) throw new Error(`timed out waiting for ${what}`);
}

/** A promise's rejection (or a throw), to assert on. */
async function failure(p: Promise<unknown>): Promise<Error & { code?: string; status?: number }> {
  try {
    await p;
  } catch (err) {
    return err as Error & { code?: string; status?: number };
  }
  throw new Error('expected a rejection');
}

/** A plain node:http server answering every request with one status, headers and body. */
async function fakeServer(status: number, body: string, headers: Record<string, string> = {}): Promise<{ url: string; close: () => void }> {
  const s = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(status, { 'content-type': 'application/json', ...headers });
      res.end(body);
    });
  });
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(s.address() as AddressInfo).port}`, close: () => s.close() };
}

beforeAll(async () => {
  repo = await TempRepository.create('ortex-client-');
  await repo.config('probe', probeConfig('probe', 'version_policy { all { } }'));
  await repo.version('probe', 1, 'batch_probe');
  await repo.version('probe', 2, 'batch_probe');
  await repo.config('held', probeConfig('held'));
  await repo.version('held', 1, 'batch_probe');
  for (const dt of OIP_DATATYPES) {
    await repo.config(`identity_${type(dt)}`, undefined);
    await repo.version(`identity_${type(dt)}`, 1, `identity_${type(dt)}`);
  }
  server = createServer({ repository: repo.root, port: 0, modelOptions: ONE_THREAD, logger: silentLogger, metrics: false });
  await server.listen();
  httpClient = new OrtexHttpClient(`http://127.0.0.1:${server.port}/`);
  wsUrl = `ws://127.0.0.1:${server.port}/v2/stream`;
});

afterAll(async () => {
  await server?.close();
  await repo?.dispose();
});

describe('OrtexHttpClient', () => {
  it('reports liveness, readiness and model metadata', async () => {
    expect(httpClient.baseUrl).toBe(`http://127.0.0.1:${server.port}`);
    expect(await httpClient.live()).toBe(true);
    expect(await httpClient.ready()).toBe(true);
    expect(await httpClient.ready('probe', 1)).toBe(true);
    expect(await httpClient.ready('nope')).toBe(false);
    expect(await httpClient.metadata('probe')).toEqual({
      name: 'probe', versions: ['1', '2'], platform: 'onnxruntime_onnx',
      inputs: [{ name: 'x', datatype: 'FP64', shape: [-1, 1] }],
      outputs: [{ name: 'y', datatype: 'FP64', shape: [-1, 1] }, { name: 'size', datatype: 'FP64', shape: [-1, 1] }, { name: 'sum', datatype: 'FP64', shape: [-1, 1] }],
    });
    expect((await httpClient.metadata('probe', '1')).versions).toEqual(['1']);
  });

  for (const binary of [true, false]) {
    it(`round-trips every datatype as ${binary ? 'binary data' : 'JSON'}`, async () => {
      for (const dt of OIP_DATATYPES) {
        const out = await httpClient.infer(`identity_${type(dt)}`, { x: sample(dt) }, { binary });
        expect(Object.keys(out)).toEqual(['y']);
        expect(out.y, dt).toBeInstanceOf(Tensor);
        expect(out.y, dt).toMatchObject({ type: type(dt), dims: [2, 3] });
        expect(out.y!.data, dt).toEqual(SAMPLES[dt]);
      }
    });
  }

  it('asks for a version and some outputs', async () => {
    const out = await httpClient.infer('probe', x(1, 2), { version: 1, outputs: ['sum', 'y'], id: 'a', parameters: { priority: 1 } });
    expect(Object.keys(out)).toEqual(['sum', 'y']);
    expect(values(out.sum)).toEqual([3, 3]);
  });

  it("rejects with the server's code and status, and keeps working", async () => {
    const unknown = await failure(httpClient.infer('nope', x(1)));
    expect(unknown).toBeInstanceOf(OrtexError);
    expect(unknown).toMatchObject({ code: 'ERR_MODEL_NOT_FOUND', status: 404, message: "Unknown model 'nope'" });
    const dtype = await failure(httpClient.infer('probe', { x: new Tensor('float32', new Float32Array([1]), [1, 1]) }));
    expect(dtype).toMatchObject({ code: 'ERR_INPUT_TYPE', status: 400, message: "Expected datatype FP64 for input 'x' of model 'probe' but received FP32" });
    expect(await failure(httpClient.infer('probe', x(1), { outputs: ['nope'] }))).toMatchObject({ code: 'ERR_OUTPUT_NAME', status: 400 });
    expect(await failure(httpClient.metadata('probe', 9))).toMatchObject({ code: 'ERR_MODEL_NOT_FOUND', status: 404 });
    expect(values((await httpClient.infer('probe', x(4))).y)).toEqual([4]);
  });

  it('refuses bad arguments before sending anything', async () => {
    expect(() => new OrtexHttpClient('ftp://host')).toThrow(/Expected an http:\/\/ or https:\/\/ URL for OrtexHttpClient baseUrl but received string "ftp:\/\/host"/);
    expect(() => new OrtexHttpClient('not a url')).toThrow(OrtexTypeError);
    const cases: Array<[Promise<unknown>, RegExp]> = [
      [httpClient.infer('', x(1)), /Expected a model name for infer\(\) model but received string ""/],
      [httpClient.infer('probe', null as never), /Expected an object of named Tensors for infer\(\) inputs but received null/],
      [httpClient.infer('probe', { x: [1, 2] as never }), /Expected a Tensor for infer\(\) input 'x' but received array of length 2/],
      [httpClient.infer('probe', { x: new Tensor('float8e4m3fn', new Uint8Array(1), [1, 1]) }), /Expected a tensor type the Open Inference Protocol carries .* for infer\(\) input 'x' but received float8e4m3fn/],
      [httpClient.infer('probe', x(1), { outputs: 'y' as never }), /Expected an array of output names for infer\(\) options.outputs/],
      [httpClient.infer('probe', x(1), { binary: 'yes' as never }), /Expected a boolean for infer\(\) options.binary/],
      [httpClient.infer('probe', x(1), { version: -1 }), /Expected a version string or number for infer\(\) options.version but received number -1/],
    ];
    for (const [p, message] of cases) {
      const err = await failure(p);
      expect(err).toBeInstanceOf(OrtexTypeError);
      expect(err.code).toBe('ERR_INVALID_ARG');
      expect(err.message).toMatch(message);
    }
  });

  it('rejects with ERR_CLIENT_CONNECTION when the server cannot be reached', async () => {
    const fake = await fakeServer(200, '{}');
    fake.close();
    await sleep(20);
    const err = await failure(new OrtexHttpClient(fake.url).live());
    expect(err).toMatchObject({ code: 'ERR_CLIENT_CONNECTION', status: 503 });
    expect(err.message).toMatch(/^Could not reach http:\/\/127\.0\.0\.1:\d+\/v2\/health\/live: .*ECONNREFUSED/);
  });

  it('maps the status of a server that sends no error code, and refuses an answer it cannot read', async () => {
    const cases: Array<[number, string, Record<string, string>, string, number, string]> = [
      [404, '{"error":"no such model"}', {}, 'ERR_MODEL_NOT_FOUND', 404, 'no such model'],
      [429, '{"error":"busy"}', {}, 'ERR_QUEUE_FULL', 429, 'busy'],
      [418, 'teapot', {}, 'ERR_CLIENT_PROTOCOL', 502, 'teapot'],
      [400, '{"error":"from ortex"}', { 'ortex-error-code': 'ERR_INPUT_SHAPE' }, 'ERR_INPUT_SHAPE', 400, 'from ortex'],
      [200, '{"outputs": 3}', {}, 'ERR_CLIENT_PROTOCOL', 502, 'Could not read the inference response'],
    ];
    for (const [status, body, headers, code, clientStatus, message] of cases) {
      const fake = await fakeServer(status, body, headers);
      try {
        const err = await failure(new OrtexHttpClient(fake.url).infer('m', x(1)));
        expect(err, `${status} ${body}`).toMatchObject({ code, status: clientStatus });
        expect(err.message).toContain(message);
      } finally {
        fake.close();
      }
    }
  });
});

describe('OrtexWsClient', () => {
  let client: OrtexWsClient;
  beforeAll(async () => {
    client = await new OrtexWsClient(wsUrl).connect();
  });
  afterAll(async () => {
    await client?.close();
  });

  for (const binary of [true, false]) {
    it(`round-trips every datatype as ${binary ? 'binary data' : 'JSON'}`, async () => {
      const answers = await Promise.all(OIP_DATATYPES.map((dt) => client.infer(`identity_${type(dt)}`, { x: sample(dt) }, { binary })));
      answers.forEach((out, i) => {
        const dt = OIP_DATATYPES[i]!;
        expect(out.y, dt).toMatchObject({ type: type(dt), dims: [2, 3] });
        expect(out.y!.data, dt).toEqual(SAMPLES[dt]);
      });
    });
  }

  it('pipelines 300 requests on one connection, each promise settled by its own answer, in the order they finish', async () => {
    const model = held();
    model.holdUntil(2);
    const finished: number[] = [];
    const first = client.infer('held', x(-1)).then((out) => { finished.push(-1); return out; });
    await waitFor(() => model.stats().pending === 1, 'the held request');
    const rest = Array.from({ length: 298 }, (_, i) => client.infer('probe', x(i), { version: i % 2 ? 1 : 2 }).then((out) => { finished.push(i); return out; }));
    const answers = await Promise.all(rest);
    answers.forEach((out, i) => expect(values(out.y)).toEqual([i]));
    expect(finished).not.toContain(-1); // still held: overtaken by 298 requests sent after it
    const last = client.infer('held', x(-2));
    expect(values((await first).y)).toEqual([-1]);
    expect(values((await last).y)).toEqual([-2]);
    expect(client.inFlight).toBe(0);
  });

  it('keeps at most maxInFlight requests on the wire and queues the rest in the client', async () => {
    const small = await new OrtexWsClient(wsUrl, { maxInFlight: 4 }).connect();
    const model = held();
    model.holdUntil(1000);
    try {
      const all = Array.from({ length: 50 }, (_, i) => small.infer('held', x(i)));
      await waitFor(() => model.stats().pending === 4, 'four held requests');
      await sleep(30);
      expect([small.inFlight, small.queued, model.stats().pending]).toEqual([4, 46, 4]);
      model.holdUntil(0);
      const answers = await Promise.all(all);
      answers.forEach((out, i) => expect(values(out.y)).toEqual([i]));
      expect([small.inFlight, small.queued]).toEqual([0, 0]);
    } finally {
      model.holdUntil(0);
      await small.close();
    }
  });

  it("rejects with the server's code and status, and the connection keeps serving", async () => {
    const unknown = await failure(client.infer('nope', x(1)));
    expect(unknown).toBeInstanceOf(OrtexError);
    expect(unknown).toMatchObject({ code: 'ERR_MODEL_NOT_FOUND', status: 404, message: "Unknown model 'nope'" });
    expect(await failure(client.infer('probe', x(1), { version: 3 }))).toMatchObject({ code: 'ERR_MODEL_NOT_FOUND', status: 404, message: "Unknown version '3' of model 'probe'; ready versions: 1, 2" });
    expect(await failure(client.infer('probe', { x: new Tensor('int32', new Int32Array([1]), [1, 1]) }))).toMatchObject({ code: 'ERR_INPUT_TYPE', status: 400 });
    expect(await failure(client.infer('probe', { x: new Tensor('float64', new Float64Array(2), [1, 2]) }))).toMatchObject({ code: 'ERR_INPUT_SHAPE', status: 400 });
    expect(await failure(client.infer('probe', x(1), { parameters: { priority: 9 } }))).toMatchObject({ code: 'ERR_INVALID_ARG', status: 400, message: expect.stringMatching(/for priority but received number 9/) });
    expect(await failure(client.infer('probe', x(1), { outputs: ['y', 'y'] }))).toMatchObject({ code: 'ERR_REQUEST_INVALID', status: 400 });
    const err = await failure(client.infer('probe', { x: [1] as never }));
    expect(err).toMatchObject({ code: 'ERR_INVALID_ARG', message: expect.stringMatching(/Expected a Tensor for infer\(\) input 'x'/) });
    expect(values((await client.infer('probe', x(8))).y)).toEqual([8]);
    expect(client.inFlight).toBe(0);
  });

  it('refuses a URL that is not ws://, options out of range, and infer() before connect()', async () => {
    expect(() => new OrtexWsClient('http://127.0.0.1/v2/stream')).toThrow(/Expected a ws:\/\/ or wss:\/\/ URL for OrtexWsClient url/);
    expect(() => new OrtexWsClient(wsUrl, { maxInFlight: 0 })).toThrow(/Expected a positive integer for OrtexWsClient options.maxInFlight but received number 0/);
    const idle = new OrtexWsClient(wsUrl);
    expect(await failure(idle.infer('probe', x(1)))).toMatchObject({ code: 'ERR_CLIENT_CONNECTION', message: `Not connected to ${wsUrl}: call connect() first` });
    expect(await idle.close()).toEqual({ code: 1000, reason: '' });
  });

  it('rejects connect() with ERR_CLIENT_CONNECTION when nothing listens, or the path is wrong', async () => {
    const fake = await fakeServer(200, '{}');
    fake.close();
    await sleep(20);
    const refused = await failure(new OrtexWsClient(fake.url.replace('http', 'ws')).connect());
    expect(refused).toMatchObject({ code: 'ERR_CLIENT_CONNECTION', message: expect.stringMatching(/^Could not open ws:\/\/127\.0\.0\.1:\d+\/: .*ECONNREFUSED/) });
    const wrongPath = await failure(new OrtexWsClient(`ws://127.0.0.1:${server.port}/v2/nope`).connect());
    expect(wrongPath).toMatchObject({ code: 'ERR_CLIENT_CONNECTION', message: expect.stringMatching(/Unexpected server response: 404/) });
  });

  it('runs on the WebSocket class it is given', async () => {
    let made = 0;
    class Counted extends WebSocket {
      constructor(url: string) {
        super(url);
        made++;
      }
    }
    const own = await new OrtexWsClient(wsUrl, { WebSocket: Counted }).connect();
    expect(values((await own.infer('probe', x(3))).y)).toEqual([3]);
    expect(made).toBe(1);
    await own.close();
  });

  it('rejects the requests still unanswered with ERR_CLIENT_CONNECTION when closed', async () => {
    const own = await new OrtexWsClient(wsUrl).connect();
    const model = held();
    model.holdUntil(1000);
    try {
      const pending = own.infer('held', x(1));
      await waitFor(() => model.stats().pending === 1, 'the held request');
      expect(await own.close(4000, 'bye')).toEqual({ code: 4000, reason: 'bye' });
      expect(await failure(pending)).toMatchObject({ code: 'ERR_CLIENT_CONNECTION', message: expect.stringMatching(/closed \(code 4000 "bye"\) with 1 request\(s\) unanswered/) });
      expect(await failure(own.infer('probe', x(1)))).toMatchObject({ code: 'ERR_CLIENT_CONNECTION', message: expect.stringMatching(/is closed \(code 4000\)/) });
    } finally {
      model.holdUntil(0);
    }
  });
});

describe('both clients against a server shutting down', () => {
  it('answers what was in flight, then the WebSocket client sees 1001 and the HTTP client 503 / no connection', async () => {
    const own = await TempRepository.create('ortex-client-');
    await own.config('held', probeConfig('held'));
    await own.version('held', 1, 'batch_probe');
    const s = createServer({ repository: own.root, port: 0, modelOptions: ONE_THREAD, logger: silentLogger, metrics: false });
    await s.listen();
    try {
      const model = s.repository.acquire('held');
      model.release();
      model.model.holdUntil(1000);
      const ws = await new OrtexWsClient(`ws://127.0.0.1:${s.port}/v2/stream`).connect();
      const viaHttp = new OrtexHttpClient(`http://127.0.0.1:${s.port}`);
      const inFlight = [ws.infer('held', x(1)), ws.infer('held', x(2)), viaHttp.infer('held', x(3))];
      await waitFor(() => model.model.stats().pending === 3, 'three held requests');
      const closing = s.close();
      expect(await failure(ws.infer('held', x(4)))).toMatchObject({ code: 'ERR_SERVER_DRAINING', status: 503 });
      expect(await failure(viaHttp.live())).toMatchObject({ code: 'ERR_CLIENT_CONNECTION' });
      model.model.holdUntil(0);
      expect((await Promise.all(inFlight)).map((out) => values(out.y))).toEqual([[1], [2], [3]]);
      expect(await ws.closed).toEqual({ code: 1001, reason: 'server shutting down' });
      await closing;
      expect(await failure(ws.infer('held', x(5)))).toMatchObject({ code: 'ERR_CLIENT_CONNECTION' });
    } finally {
      await s.close();
      await own.dispose();
    }
  });
});
