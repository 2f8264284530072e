// Admission limits over real sockets (src/server/limits.ts): a request declaring an absurd
// shape is refused before anything is allocated (JSON, binary and WebSocket); elements are
// summed over inputs; a request that could form a batch over the byte bound is refused;
// pending bytes past their bound are refused 503 (deterministically, with batches held by
// holdUntil) instead of the process growing; connections past the limit are refused 503.
// After every refusal a good request succeeds.
import { spawnSync } from 'node:child_process';
import http from 'node:http';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../src/server/logger.js';
import { type OrtexServer, type ServerOptions, createServer } from '../src/server/server.js';
import { FrameKind, encodeFrame, joinFrame } from '../src/server/ws-frame.js';
import { ONE_THREAD, TempRepository, probeConfig } from './fixtures/model-repository.js';
import { RawStream, errorOf, outputsOf } from './fixtures/raw-stream.js';
import { addExpandModel } from './fixtures/stream-models.js';
import { CLI, ROOT } from './fixtures/serve-process.js';
import { raw, type Reply } from './fixtures/raw-http.js';


/** One request on a socket of its own; resolves with what came back once the server closed the connection (rejects if it stays open). */
function rawUntilClosed(port: number, request: string, timeoutMs = 5000): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.write(request));
    let text = '';
    const timer = setTimeout(() => { socket.destroy(); reject(new Error(`the server kept the connection open: ${text}`)); }, timeoutMs);
    socket.on('data', (c: Buffer) => { text += c.toString('latin1'); });
    socket.on('close', () => { clearTimeout(timer); resolve(text); });
    socket.on('error', () => {});
  });
}

function expectRefused(r: Reply, status: number, code: string, message: RegExp): void {
  expect(r.status, r.text).toBe(status);
  expect(r.headers['ortex-error-code']).toBe(code);
  expect(JSON.parse(r.text)).toEqual({ error: expect.stringMatching(message) });
}

const probeJson = (v: number, rows = 1) => JSON.stringify({ inputs: [{ name: 'x', datatype: 'FP64', shape: [rows, 1], data: Array.from({ length: rows }, () => v) }] });

async function expectServing(port: number, model = 'probe'): Promise<void> {
  const r = await raw(port, 'POST', `/v2/models/${model}/infer`, probeJson(7));
  expect(r.status, r.text).toBe(200);
  expect(JSON.parse(r.text).outputs[0].data).toEqual([7]);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function waitFor(condition: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

let repo: TempRepository;

async function start(options: Partial<ServerOptions> = {}): Promise<OrtexServer> {
  const s = createServer({ repository: repo.root, port: 0, modelOptions: ONE_THREAD, logger: silentLogger, metrics: false, ...options });
  await s.listen();
  return s;
}

const modelOf = (s: OrtexServer, name: string) => {
  const servable = s.repository.acquire(name);
  servable.release();
  return servable.model;
};

beforeAll(async () => {
  repo = await TempRepository.create('ortex-limits-');
  await repo.config('probe', probeConfig('probe'));
  await repo.version('probe', 1, 'batch_probe');
  await repo.config('held', probeConfig('held', '', 64));
  await repo.version('held', 1, 'batch_probe');
  await repo.config('ctr', {
    name: 'ctr', max_batch_size: 8,
    input: [{ name: 'x', data_type: 'TYPE_FP32', dims: [64] }],
    output: [{ name: 'y', data_type: 'TYPE_FP32', dims: [1] }],
  });
  await repo.version('ctr', 1, 'ctr_mlp');
  await addExpandModel(repo);
});

afterAll(async () => {
  await repo?.dispose();
});

describe('request elements (maxRequestElements, default 64 Mi)', () => {
  let server: OrtexServer;
  beforeAll(async () => { server = await start(); });
  afterAll(async () => { await server?.close(); });

  const huge = /^Expected at most 67108864 elements for input 'x' but received shape \[1000000000,1000\] \(1000000000000 elements\); send fewer or smaller tensors, or raise --max-request-elements$/;

  it('refuses shape [1000000000, 1000] in JSON, binary and WebSocket requests with 413 before allocating anything', async () => {
    const rss0 = process.memoryUsage().rss;
    const json = JSON.stringify({ inputs: [{ name: 'x', datatype: 'FP32', shape: [1000000000, 1000], data: [1, 2, 3] }] });
    expectRefused(await raw(server.port, 'POST', '/v2/models/ctr/infer', json), 413, 'ERR_REQUEST_TOO_LARGE', huge);
    const header = Buffer.from(JSON.stringify({ inputs: [{ name: 'x', datatype: 'FP32', shape: [1000000000, 1000], parameters: { binary_data_size: 16 } }] }));
    const binary = Buffer.concat([header, Buffer.alloc(16)]);
    expectRefused(await raw(server.port, 'POST', '/v2/models/ctr/infer', binary, { 'inference-header-content-length': String(header.byteLength) }), 413, 'ERR_REQUEST_TOO_LARGE', huge);
    const stream = await RawStream.open(server.port);
    stream.send(joinFrame(encodeFrame(FrameKind.request, 1, 'ctr', '', { body: binary, headerLength: header.byteLength })));
    expect(errorOf(await stream.answer(1))).toEqual({ error: expect.stringMatching(huge), code: 'ERR_REQUEST_TOO_LARGE', status: 413 });
    // Large enough to allocate (100 M FP32 = 400 MB) yet over the limit: refused from the shape, RSS unmoved.
    for (let i = 0; i < 5; i++) {
      const r = await raw(server.port, 'POST', '/v2/models/ctr/infer', JSON.stringify({ inputs: [{ name: 'x', datatype: 'FP32', shape: [1562500, 64], data: [0] }] }));
      expectRefused(r, 413, 'ERR_REQUEST_TOO_LARGE', /100000000 elements/);
    }
    expect(process.memoryUsage().rss - rss0).toBeLessThan(64 * 1024 * 1024);
    stream.request(2, 'probe', { inputs: [{ name: 'x', datatype: 'FP64', shape: [1, 1], data: new Float64Array([2]), binary: true }] });
    expect(Array.from(outputsOf(await stream.answer(2)).outputs[0]!.data as Float64Array)).toEqual([2]);
    stream.close();
    await expectServing(server.port);
  });

  it('sums the elements over the inputs', async () => {
    const s = await start({ limits: { maxRequestElements: 2 } });
    try {
      // expand: x [1,1] (1 element) + shape [2] (2 elements) = 3 > 2, though each fits alone.
      const body = JSON.stringify({ inputs: [{ name: 'x', datatype: 'UINT8', shape: [1, 1], data: [1] }, { name: 'shape', datatype: 'INT64', shape: [2], data: [1, 1] }] });
      expectRefused(await raw(s.port, 'POST', '/v2/models/expand/infer', body), 413, 'ERR_REQUEST_TOO_LARGE',
        /^Expected at most 2 elements in all for the tensors of one message but received 3: input 'shape' with shape \[2\] \(2 elements\) after 1 in the others; send fewer or smaller tensors, or raise --max-request-elements$/);
      await expectServing(s.port);
    } finally {
      await s.close();
    }
  });
});

describe('batch bytes (maxBatchBytes)', () => {
  it('refuses a request whose rows could fill a batch over the bound: bytes a row × max_batch_size', async () => {
    // ctr: 64 FP32 = 256 bytes a row, max_batch_size 8: batches of up to 2048 bytes.
    const s = await start({ limits: { maxBatchBytes: 1024 } });
    try {
      const row = JSON.stringify({ inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 64], data: new Array(64).fill(0.5) }] });
      expectRefused(await raw(s.port, 'POST', '/v2/models/ctr/infer', row), 413, 'ERR_REQUEST_TOO_LARGE',
        /^Expected at most 1024 input bytes in one batch of model 'ctr' but received a request of 256 bytes in 1 rows \(256 bytes a row × max_batch_size 8 = 2048 bytes a batch\); send smaller inputs, lower the model's max_batch_size, or raise --max-batch-bytes$/);
      // probe: 8 bytes a row × 8 = 64 bytes: admitted.
      await expectServing(s.port);
      // expand runs each request alone: its batch is its own 9 bytes.
      const expand = JSON.stringify({ inputs: [{ name: 'x', datatype: 'UINT8', shape: [1, 1], data: [3] }, { name: 'shape', datatype: 'INT64', shape: [2], data: [2, 2] }] });
      expect((await raw(s.port, 'POST', '/v2/models/expand/infer', expand)).status).toBe(200);
    } finally {
      await s.close();
    }
    const fits = await start({ limits: { maxBatchBytes: 2048 } });
    try {
      const rows = JSON.stringify({ inputs: [{ name: 'x', datatype: 'FP32', shape: [8, 64], data: new Array(512).fill(0.5) }] });
      expect((await raw(fits.port, 'POST', '/v2/models/ctr/infer', rows)).status).toBe(200);
    } finally {
      await fits.close();
    }
  });
});

describe('pending bytes (maxPendingBytes)', () => {
  it('refuses new requests with 503 ERR_SERVER_OVERLOADED once the held requests fill the bound, then serves them all and the next', async () => {
    // Each request holds its body plus its decoded 8-byte input (a JSON copy).
    const one = Buffer.byteLength(probeJson(1)) + 8;
    const s = await start({ limits: { maxPendingBytes: Math.floor(3.5 * one) } });
    const held = modelOf(s, 'held');
    try {
      held.holdUntil(1000);
      const answers: Array<Promise<Reply>> = [];
      for (let i = 1; i <= 3; i++) {
        answers.push(raw(s.port, 'POST', '/v2/models/held/infer', probeJson(i)));
        await waitFor(() => held.stats().pending === i, `${i} held requests`);
      }
      const refused = await raw(s.port, 'POST', '/v2/models/held/infer', probeJson(4));
      expectRefused(refused, 503, 'ERR_SERVER_OVERLOADED', new RegExp(`^The server holds ${3 * one} bytes of pending requests \\(3 requests\\) and a request of ${one - 8} bytes would pass its limit of ${Math.floor(3.5 * one)} \\(--max-pending-bytes\\); retry shortly$`));
      expect(refused.headers['retry-after']).toBe('1');
      expect(held.stats().pending).toBe(3);
      // Every model is refused while the server is full; over WebSocket too.
      expectRefused(await raw(s.port, 'POST', '/v2/models/probe/infer', probeJson(5)), 503, 'ERR_SERVER_OVERLOADED', /pending requests/);
      const stream = await RawStream.open(s.port);
      stream.request(6, 'probe', { inputs: [{ name: 'x', datatype: 'FP64', shape: [1, 1], data: new Float64Array([6]), binary: true }] });
      expect(errorOf(await stream.answer(6))).toEqual({ error: expect.stringMatching(/pending requests/), code: 'ERR_SERVER_OVERLOADED', status: 503 });
      stream.close();
      held.holdUntil(0);
      const done = await Promise.all(answers);
      expect(done.map((r) => JSON.parse(r.text).outputs[0].data[0])).toEqual([1, 2, 3]);
      await expectServing(s.port);
      await expectServing(s.port, 'held');
    } finally {
      held.holdUntil(0);
      await s.close();
    }
  });

  it('admits one request of any size when nothing is pending', async () => {
    const s = await start({ limits: { maxPendingBytes: 1 } });
    try {
      await expectServing(s.port);
    } finally {
      await s.close();
    }
  });
});

describe('connections (maxConnections)', () => {
  it('refuses a request past the limit with 503 and closes its connection; health checks pass; then serves again', async () => {
    const s = await start({ limits: { maxConnections: 2 } });
    const held = modelOf(s, 'held');
    try {
      held.holdUntil(1000);
      const answers = [raw(s.port, 'POST', '/v2/models/held/infer', probeJson(1)), raw(s.port, 'POST', '/v2/models/held/infer', probeJson(2))];
      await waitFor(() => held.stats().pending === 2, 'two held requests');
      const refused = await raw(s.port, 'POST', '/v2/models/probe/infer', probeJson(3));
      expectRefused(refused, 503, 'ERR_SERVER_OVERLOADED', /^The server is serving its limit of 2 connections \(--max-connections\); retry shortly$/);
      expect(refused.headers['retry-after']).toBe('1');
      // Refused at once, body unread, and the connection closed (a keep-alive client does not hold a slot).
      const body = probeJson(3);
      const answer = await rawUntilClosed(s.port, `POST /v2/models/probe/infer HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\nContent-Length: ${body.length + 1000}\r\n\r\n${body}`);
      expect(answer).toMatch(/^HTTP\/1\.1 503 Service Unavailable\r\n/);
      expect((await raw(s.port, 'GET', '/v2/health/live')).status).toBe(200);
      await expect(RawStream.open(s.port)).rejects.toThrow(/Unexpected server response: 503/);
      held.holdUntil(0);
      expect((await Promise.all(answers)).map((r) => r.status)).toEqual([200, 200]);
      await expectServing(s.port);
      // WebSocket connections count too: two open streams fill the limit.
      const a = await RawStream.open(s.port);
      const b = await RawStream.open(s.port);
      expectRefused(await raw(s.port, 'POST', '/v2/models/probe/infer', probeJson(4)), 503, 'ERR_SERVER_OVERLOADED', /limit of 2 connections/);
      a.close();
      await a.closed;
      await waitFor(() => s.websocket!.stats().connections === 1, 'one stream closed');
      await expectServing(s.port);
      b.close();
    } finally {
      held.holdUntil(0);
      await s.close();
    }
  });
});

describe('ortex serve flags', () => {
  it('lists every limit with its default in --help, and refuses bad values as usage errors', () => {
    const help = spawnSync(process.execPath, [CLI, 'serve', '--help'], { cwd: ROOT, encoding: 'utf8' });
    expect(help.status).toBe(0);
    for (const line of [
      /--max-body-bytes N .*67108864/,
      /--max-request-elements N .*default 67108864/,
      /--max-batch-bytes N .*default 1073741824/,
      /--max-pending-bytes N .*default 2147483648/,
      /--max-connections N .*default 4096/,
      /--send-timeout-ms N .*default 10000/,
      /--ws-max-in-flight N .*default 1024/,
      /--control-token T/, /--tls-cert FILE/, /--tls-key FILE/, /--tls-passphrase P/, /--cors-origin ORIGIN/,
    ]) expect(help.stdout).toMatch(line);
    for (const args of [['--max-connections', '0'], ['--ws-max-in-flight', 'many'], ['--max-pending-bytes=-1'], ['--control-token', 'short'], ['--cors-origin', 'example.com']]) {
      const r = spawnSync(process.execPath, [CLI, 'serve', '--repo', repo.root, ...args], { cwd: ROOT, encoding: 'utf8' });
      expect(r.status, `${args.join(' ')}: ${r.stderr}`).toBe(2);
      expect(r.stderr).toMatch(new RegExp(`ortex: Expected .* for ${args[0]!.split('=')[0]}`));
    }
  });
});
