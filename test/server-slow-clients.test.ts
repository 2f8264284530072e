// Slow and departing clients against `ortex serve` (a child process, so that its RSS and logs
// are its own), over real sockets: slowloris clients dribbling headers or a body a byte at a
// time, clients that hang up mid-body or while their request is queued or running in the
// batcher, clients that stop reading a large response or hang up in the middle of it, and
// clients that send more than the body limit. Meanwhile other clients must be served at their
// usual latency; afterwards nothing may be left: no request pending in a model or in
// admission, no connection held, the RSS (after a collection) back near where it was, no
// error logged.
//
// What protects the server: uWS closes a connection whose request headers or body arrive at
// less than 16 KiB per 10 s; --send-timeout-ms (limits.ts) closes one whose client reads a
// large response slower than that; a body over the limit is read and discarded until the
// client pauses, then refused (http-body.ts).
import { Buffer } from 'node:buffer';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type TempRepository, TempRepository as Repo, probeConfig } from './fixtures/model-repository.js';
import { parsePrometheusText } from './fixtures/prometheus-text.js';
import { rawExchange, requestBytes } from './fixtures/raw-socket.js';
import { GC_NODE_ARGS, collectedRssBytes, lastCollection } from './fixtures/served-memory.js';
import { type ServeProcess, startServe } from './fixtures/serve-process.js';
import { addExpandModel } from './fixtures/stream-models.js';

const MAX_BODY = 1024 * 1024;
/** Short here so the test is quick; the default is 10 s. */
const SEND_TIMEOUT_MS = 3000;
/** expand's answer: 4096 × 4096 UINT8, as binary data. */
const BIG = 4096;
const BIG_BYTES = BIG * BIG;
/** The RSS after a collection may end this much above its baseline (allocator and heap slack); a leak of the responses dropped here would be hundreds of MiB. */
const RSS_TOLERANCE_BYTES = 32 * 1024 * 1024;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let repo: TempRepository;
let serve: ServeProcess;
let rssBaseline = 0;

const probeBody = (v: number) => Buffer.from(JSON.stringify({ inputs: [{ name: 'x', datatype: 'FP64', shape: [1, 1], data: [v] }] }));
const inferRequest = (model: string, body: Buffer, headers: Array<[string, string]> = []) =>
  requestBytes('POST', `/v2/models/${model}/infer`, [['Content-Length', String(body.byteLength)], ...headers], body);
const bigBody = Buffer.from(JSON.stringify({
  inputs: [{ name: 'x', datatype: 'UINT8', shape: [1, 1], data: [7] }, { name: 'shape', datatype: 'INT64', shape: [2], data: [BIG, BIG] }],
  parameters: { binary_data_output: true },
}));

/** One probe request on a connection of its own; its latency in ms (throws unless answered right). */
async function probeOnce(v: number): Promise<number> {
  const a = await rawExchange(serve.port, [inferRequest('probe', probeBody(v))], { timeoutMs: 10_000 });
  if (a.status !== 200) throw new Error(`probe answered ${a.status} ${a.body.toString().slice(0, 200)}${a.timedOut ? ' (timed out)' : ''}`);
  const y = (JSON.parse(a.body.toString()) as { outputs: Array<{ name: string; data: number[] }> }).outputs.find((o) => o.name === 'y')!.data[0];
  if (y !== v) throw new Error(`probe answered y = ${y} for x = ${v}`);
  return a.ms;
}

/** Sequential probe requests until `done` settles; their latencies. */
async function probeWhile(done: Promise<unknown>): Promise<number[]> {
  let over = false;
  void done.finally(() => { over = true; });
  const ms: number[] = [];
  for (let i = 1; !over; i++) ms.push(await probeOnce(i));
  return ms;
}

const quantile = (xs: number[], q: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(q * xs.length))]!;

async function gauges(): Promise<Record<string, number[]>> {
  const a = await rawExchange(serve.port, [requestBytes('GET', '/metrics', [])]);
  const m = parsePrometheusText(a.body.toString());
  const out: Record<string, number[]> = {};
  for (const name of ['ortex_pending_requests', 'ortex_executing_requests', 'ortex_server_pending_bytes', 'ortex_server_pending_requests', 'ortex_server_connections']) {
    out[name] = (m.get(name)?.samples ?? []).map((s) => s.value);
  }
  return out;
}

/** Waits until nothing is pending anywhere and the only connection is the scrape's own. */
async function expectNothingHeld(timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let g = await gauges();
  const idle = () => g.ortex_pending_requests!.every((x) => x === 0) && g.ortex_executing_requests!.every((x) => x === 0)
    && g.ortex_server_pending_bytes![0] === 0 && g.ortex_server_pending_requests![0] === 0 && g.ortex_server_connections![0] === 1;
  while (!idle() && Date.now() < deadline) {
    await sleep(100);
    g = await gauges();
  }
  expect(g).toEqual({
    ortex_pending_requests: g.ortex_pending_requests!.map(() => 0),
    ortex_executing_requests: g.ortex_executing_requests!.map(() => 0),
    ortex_server_pending_bytes: [0],
    ortex_server_pending_requests: [0],
    ortex_server_connections: [1],
  });
}

/** A socket that sends `prefix`, then `bytes` one at a time every `everyMs`; what happened once the server closes it (or we give up after `giveUpMs`). */
function dribble(prefix: Buffer, bytes: Buffer, everyMs: number, giveUpMs: number): Promise<{ closedAfterMs: number; sent: number; answer: string }> {
  return new Promise((resolve) => {
    const t0 = Date.now();
    const socket = net.connect(serve.port, '127.0.0.1', () => socket.write(prefix));
    let sent = 0;
    let answer = '';
    const tick = setInterval(() => { if (sent < bytes.byteLength && !socket.destroyed) socket.write(bytes.subarray(sent, ++sent)); }, everyMs);
    const give = setTimeout(() => socket.destroy(), giveUpMs);
    socket.on('data', (d: Buffer) => { answer += d.toString('latin1'); });
    socket.on('error', () => {});
    socket.on('close', () => {
      clearInterval(tick);
      clearTimeout(give);
      resolve({ closedAfterMs: Date.now() - t0, sent, answer });
    });
  });
}

/** Requests the big answer and reads `readBytes` of it (Infinity: all) before hanging up; 0: never reads. */
function bigReader(readBytes: number): { socket: net.Socket; done: Promise<{ received: Buffer; closedByServer: boolean }> } {
  const socket = net.connect(serve.port, '127.0.0.1', () => socket.write(inferRequest('expand', bigBody)));
  const chunks: Buffer[] = [];
  let received = 0;
  if (readBytes === 0) socket.pause();
  const done = new Promise<{ received: Buffer; closedByServer: boolean }>((resolve) => {
    let byUs = false;
    socket.on('data', (d: Buffer) => {
      chunks.push(d);
      received += d.byteLength;
      if (readBytes > 0 && received >= readBytes && Number.isFinite(readBytes)) {
        byUs = true;
        socket.destroy();
      }
    });
    socket.on('error', () => {});
    socket.on('close', () => resolve({ received: Buffer.concat(chunks), closedByServer: !byUs }));
  });
  return { socket, done };
}

beforeAll(async () => {
  repo = await Repo.create('ortex-slow-');
  await repo.config('probe', probeConfig('probe', 'dynamic_batching { max_queue_delay_microseconds: 100 }'));
  await repo.version('probe', 1, 'batch_probe');
  // Requests wait in its queue up to 1.5 s for a batch of 8.
  await repo.config('held', probeConfig('held', 'dynamic_batching { max_queue_delay_microseconds: 1500000 }'));
  await repo.version('held', 1, 'batch_probe');
  // About 150 ms a run, one at a time: one running, the rest queued.
  await repo.config('slow', undefined);
  await repo.version('slow', 1, 'slow_matmul');
  await addExpandModel(repo);
  serve = await startServe(['--repo', repo.root, '--max-body-bytes', String(MAX_BODY), '--send-timeout-ms', String(SEND_TIMEOUT_MS)], 'ready', GC_NODE_ARGS);
  // Warm-up at the peaks the tests reach (20 big answers at once: ONNX Runtime's arena keeps
  // what it grew to), so that the baseline is the steady state.
  for (let i = 0; i < 20; i++) await probeOnce(i);
  const warm = Array.from({ length: 20 }, () => bigReader(Infinity));
  for (const w of warm) expect((await w.done).received.byteLength).toBeGreaterThan(BIG_BYTES);
  await rawExchange(serve.port, [inferRequest('slow', Buffer.from(JSON.stringify({ inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 512], data: new Array(512).fill(0.5) }] })))], { timeoutMs: 10_000 });
  rssBaseline = await collectedRssBytes(serve);
}, 120_000);

afterAll(async () => {
  if (serve && serve.child.exitCode === null) {
    serve.child.kill('SIGTERM');
    await serve.exited;
  }
  await repo?.dispose();
});

describe('ortex serve with slow and departing clients', () => {
  it('serves others at their usual latency while 200 slowloris clients dribble headers or a body, and closes those within uWS\'s 10 s timeout', async () => {
    const before: number[] = [];
    for (let i = 0; i < 30; i++) before.push(await probeOnce(i));
    const body = probeBody(1);
    const headers = Buffer.from(`POST /v2/models/probe/infer HTTP/1.1\r\nHost: slow\r\nContent-Length: ${body.byteLength}\r\n\r\n`);
    // 100 send their headers (then body) a byte every 250 ms; 100 send their headers whole, then the body so.
    const headerPhase = Array.from({ length: 100 }, () => dribble(Buffer.alloc(0), Buffer.concat([headers, body]), 250, 25_000));
    const bodyPhase = Array.from({ length: 100 }, () => dribble(headers, body, 250, 25_000));
    await sleep(2000);
    const during = await gauges();
    const all = Promise.all([...headerPhase, ...bodyPhase]);
    const latencies = await probeWhile(all);
    const outcomes = await all;
    const closedAfter = outcomes.map((o) => o.closedAfterMs);
    console.log(`slowloris: ${outcomes.length} connections closed after ${Math.min(...closedAfter)}-${Math.max(...closedAfter)} ms (${outcomes.filter((o) => o.answer).length} answered); ` +
      `probe latency before p50 ${quantile(before, 0.5).toFixed(1)} ms, during ${latencies.length} requests p50 ${quantile(latencies, 0.5).toFixed(1)} ms p99 ${quantile(latencies, 0.99).toFixed(1)} ms max ${Math.max(...latencies).toFixed(1)} ms; ` +
      `connections held during: ${during.ortex_server_connections}`);
    // The body dribblers hold a request each (the scrape is one more); the header dribblers none yet.
    expect(during.ortex_server_connections![0]).toBeGreaterThanOrEqual(101);
    // Closed by the server (not our 25 s give-up), none answered (the requests never completed).
    expect(Math.max(...closedAfter)).toBeLessThan(20_000);
    expect(Math.min(...closedAfter)).toBeGreaterThan(5_000);
    expect(outcomes.filter((o) => o.answer !== '')).toEqual([]);
    expect(outcomes.every((o) => o.sent < o.closedAfterMs / 250 + 2)).toBe(true);
    // Others were served meanwhile, at their usual latency.
    expect(latencies.length).toBeGreaterThan(100);
    expect(quantile(latencies, 0.5)).toBeLessThan(quantile(before, 0.5) * 5 + 10);
    expect(Math.max(...latencies)).toBeLessThan(1000);
    await expectNothingHeld();
  }, 60_000);

  it('gives back everything held by clients that hang up mid-body, or while their request is queued or running', async () => {
    const hangUps: Array<Promise<unknown>> = [];
    // Mid-body: half of a 200 kB body, then gone.
    for (let i = 0; i < 50; i++) {
      const body = Buffer.alloc(200_000, 0x20);
      hangUps.push(rawExchange(serve.port, [requestBytes('POST', '/v2/models/probe/infer', [['Content-Length', String(body.byteLength)]]), body.subarray(0, 100_000)], { timeoutMs: 100 }));
    }
    // Queued: 'held' waits up to 1.5 s for a batch; they hang up after 100 ms.
    for (let i = 0; i < 6; i++) hangUps.push(rawExchange(serve.port, [inferRequest('held', probeBody(i))], { timeoutMs: 100 }));
    // Running and queued: 'slow' runs one request at a time, ~150 ms each.
    const slowBody = Buffer.from(JSON.stringify({ inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 512], data: new Array(512).fill(0.25) }] }));
    for (let i = 0; i < 6; i++) hangUps.push(rawExchange(serve.port, [inferRequest('slow', slowBody)], { timeoutMs: 100 }));
    await sleep(300);
    const during = await gauges();
    const latencies = await probeWhile(sleep(1500));
    await Promise.all(hangUps);
    console.log(`hang-ups: pending during ${during.ortex_pending_requests}, executing ${during.ortex_executing_requests}, server pending ${during.ortex_server_pending_requests} requests / ${during.ortex_server_pending_bytes} bytes; probe p50 ${quantile(latencies, 0.5).toFixed(1)} ms max ${Math.max(...latencies).toFixed(1)} ms`);
    // Some were still queued or running when their clients left (they run to the end: cancelOnDisconnect is off).
    expect(during.ortex_server_pending_requests![0]).toBeGreaterThan(0);
    expect(Math.max(...latencies)).toBeLessThan(1000);
    await expectNothingHeld();
    // The server still answers those models.
    expect((await rawExchange(serve.port, [inferRequest('held', probeBody(3))], { timeoutMs: 10_000 })).status).toBe(200);
    expect((await rawExchange(serve.port, [inferRequest('slow', slowBody)], { timeoutMs: 10_000 })).status).toBe(200);
  }, 60_000);

  it('cuts off clients that stop reading a large response after --send-timeout-ms, lets those that hang up mid-response go, and serves readers whole', async () => {
    const stalled = Array.from({ length: 10 }, () => bigReader(0));
    // They hold their answers (and a connection each) until --send-timeout-ms passes without progress...
    const t0 = Date.now();
    let held = 0;
    while (held < 11 && Date.now() - t0 < SEND_TIMEOUT_MS) held = (await gauges()).ortex_server_connections![0]!;
    expect(held).toBe(11);
    const halfway = Array.from({ length: 5 }, () => bigReader(64 * 1024));
    const readers = Array.from({ length: 5 }, () => bigReader(Infinity));
    for (const r of readers) {
      const { received } = await r.done;
      const header = received.indexOf('\r\n\r\n');
      const payload = received.subarray(received.byteLength - BIG_BYTES);
      expect(received.toString('latin1', 0, 15)).toBe('HTTP/1.1 200 OK');
      expect(payload.every((b) => b === 7)).toBe(true);
      expect(header).toBeGreaterThan(0);
    }
    for (const h of halfway) expect((await h.done).closedByServer).toBe(false);
    await expectNothingHeld(SEND_TIMEOUT_MS * 3 + 2000);
    const cutAfterMs = Date.now() - t0;
    // ...then the server closes them: reading now, each finds part of its answer and the end.
    for (const s of stalled) s.socket.resume();
    const got = await Promise.all(stalled.map((s) => s.done));
    console.log(`stalled readers cut off after ~${cutAfterMs} ms, each having received ${Math.min(...got.map((g) => g.received.byteLength))}-${Math.max(...got.map((g) => g.received.byteLength))} of ${BIG_BYTES} bytes`);
    for (const g of got) {
      expect(g.closedByServer).toBe(true);
      expect(g.received.byteLength).toBeLessThan(BIG_BYTES);
    }
    expect(cutAfterMs).toBeGreaterThanOrEqual(SEND_TIMEOUT_MS);
  }, 60_000);

  it('answers 413 to clients sending more than the body limit, instead of resetting them, and cuts off one that never stops', async () => {
    const over = Buffer.alloc(8 * MAX_BODY, 0x20);
    const whole = await Promise.all([
      ...Array.from({ length: 4 }, () => rawExchange(serve.port, [requestBytes('POST', '/v2/models/probe/infer', [['Content-Length', String(over.byteLength)]]), over], { timeoutMs: 10_000 })),
      ...Array.from({ length: 2 }, () => rawExchange(serve.port, [requestBytes('POST', '/v2/models/probe/infer', [['Transfer-Encoding', 'chunked']]), Buffer.from(`${over.byteLength.toString(16)}\r\n`), over, Buffer.from('\r\n0\r\n\r\n')], { timeoutMs: 10_000 })),
    ]);
    for (const a of whole) {
      expect(a.status, a.error).toBe(413);
      expect(a.headers['ortex-error-code']).toBe('ERR_REQUEST_TOO_LARGE');
      expect(JSON.parse(a.body.toString())).toEqual({ error: expect.stringMatching(/^Expected a request body of at most 1048576 bytes/) });
    }
    // One that sends its headers and a little, then waits for the answer: it comes after a pause.
    const waiting = await rawExchange(serve.port, [requestBytes('POST', '/v2/models/probe/infer', [['Content-Length', String(over.byteLength)]]), over.subarray(0, 1024)], { timeoutMs: 10_000 });
    expect(waiting.status).toBe(413);
    expect(waiting.ms).toBeGreaterThan(900);
    expect(waiting.ms).toBeLessThan(5000);
    // One that streams without end is cut off after the drain limits (64 MiB or 5 s). (uWS
    // itself closes a connection declaring a Content-Length of 1 GiB or more at once.)
    const endless = await new Promise<{ ms: number; sent: number }>((resolve) => {
      const t0 = Date.now();
      const socket = net.connect(serve.port, '127.0.0.1');
      let sent = 0;
      const chunk = Buffer.alloc(256 * 1024, 0x20);
      const pump = () => {
        while (!socket.destroyed && socket.write(chunk)) sent += chunk.byteLength;
        if (Date.now() - t0 > 15_000) socket.destroy();
      };
      socket.on('connect', () => {
        socket.write(requestBytes('POST', '/v2/models/probe/infer', [['Content-Length', String(512 * 1024 ** 2)]]));
        pump();
      });
      socket.on('drain', pump);
      socket.on('error', () => {});
      socket.on('close', () => resolve({ ms: Date.now() - t0, sent }));
    });
    console.log(`endless body cut off after ${endless.ms} ms and ${(endless.sent / 2 ** 20).toFixed(0)} MiB`);
    expect(endless.ms).toBeLessThan(8000);
    expect(endless.sent).toBeGreaterThan(32 * 2 ** 20); // read and discarded, not reset at once
    await expectNothingHeld();
  }, 60_000);

  it('ends where it started: RSS back near its baseline after a collection, no error logged, still serving', async () => {
    await probeOnce(42);
    const rss = await collectedRssBytes(serve);
    console.log(`RSS after a collection: baseline ${(rssBaseline / 2 ** 20).toFixed(1)} MiB, now ${(rss / 2 ** 20).toFixed(1)} MiB (${lastCollection(serve)})`);
    expect(rss - rssBaseline).toBeLessThan(RSS_TOLERANCE_BYTES);
    expect(serve.logs.filter((l) => (l.level as number) >= 40)).toEqual([]);
    expect(serve.child.exitCode).toBeNull();
  });
});
