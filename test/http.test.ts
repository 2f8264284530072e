// The uWebSockets.js helpers on a bare app over real sockets: abort safety (nothing is
// written after the client went away, and the process survives it), body assembly and its
// limit, corked JSON and binary writers, and the one error mapper (unknown errors: 500, logged).
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OrtexError } from '../src/errors.js';
import { HttpContext, type HttpExchange, route } from '../src/server/http.js';
import type { Logger } from '../src/server/logger.js';
import { type TemplatedApp, type UsListenSocket, loadUws } from '../src/server/uws.js';

const uws = loadUws();
const logged: Array<[string, string]> = [];
const logger: Logger = {
  debug: () => {}, info: () => {},
  warn: (_f, m) => logged.push(['warn', m]),
  error: (_f, m) => logged.push(['error', m]),
};
const ctx = new HttpContext(logger, 1024);
const ended: HttpExchange[] = [];
let app: TemplatedApp;
let socket: UsListenSocket;
let port: number;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

beforeAll(async () => {
  app = uws.App();
  const slow = route(ctx, '/slow/:ms', {}, async (ex) => {
    ex.onEnd((e) => ended.push(e));
    await sleep(Number(ex.params[0]));
    ex.sendJson(200, { late: true }); // after an abort: must be a no-op, not a crash
  });
  app.get('/slow/:ms', slow);
  app.post('/echo', route(ctx, '/echo', { body: true, headers: ['x-tag'] }, async (ex) => {
    const body = await ex.body();
    ex.send(200, body, 'application/octet-stream', [['x-tag', ex.headers['x-tag']!], ['x-length', String(body.byteLength)]]);
  }));
  app.get('/fail/:kind', route(ctx, '/fail/:kind', {}, (ex) => {
    if (ex.params[0] === 'coded') throw new OrtexError('ERR_QUEUE_FULL', 'the queue is full');
    if (ex.params[0] === 'async') return Promise.reject(new TypeError('undefined is not a function'));
    throw new Error('a plain bug');
  }));
  socket = await new Promise<UsListenSocket>((resolve, reject) => app.listen('127.0.0.1', 0, (s) => (s ? resolve(s) : reject(new Error('listen')))));
  port = uws.us_socket_local_port(socket as never);
});

afterAll(() => {
  uws.us_listen_socket_close(socket);
  (app as TemplatedApp & { close?: () => void }).close?.();
});

/**
 * Sends raw bytes on a fresh connection; resolves with everything read until the server
 * closes or `ms` passes (the client then hangs up, mid-request if the server had not answered).
 */
function raw(data: string | Buffer, ms = 300): Promise<string> {
  return new Promise((resolve) => {
    const c = net.connect(port, '127.0.0.1', () => c.write(data));
    let got = '';
    c.on('data', (d) => (got += d.toString()));
    c.on('error', () => {});
    c.on('close', () => resolve(got));
    setTimeout(() => { c.destroy(); resolve(got); }, ms);
  });
}

describe('route() and HttpExchange', () => {
  it('writes nothing after the client went away, and reports the exchange as aborted', async () => {
    const before = ctx.open;
    expect(await raw('GET /slow/50 HTTP/1.1\r\nHost: x\r\n\r\n', 10)).toBe('');
    await sleep(120);
    expect(ended).toHaveLength(1);
    expect(ended[0]!.aborted).toBe(true);
    expect(ended[0]!.status).toBe(0);
    expect(ctx.open).toBe(before);
    const ok = await fetch(`http://127.0.0.1:${port}/slow/1`);
    expect(await ok.json()).toEqual({ late: true });
  });

  it('assembles a body from its chunks and answers binary data with extra headers', async () => {
    const body = Buffer.alloc(1000, 7);
    const res = await fetch(`http://127.0.0.1:${port}/echo`, { method: 'POST', body, headers: { 'x-tag': 'abc' } });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/octet-stream');
    expect(res.headers.get('x-tag')).toBe('abc');
    expect(res.headers.get('x-length')).toBe('1000');
    expect(Buffer.from(await res.arrayBuffer()).equals(body)).toBe(true);
  });

  it('refuses a body over the limit with 413 and closes the connection', async () => {
    // The client sends part of its body, then waits: the 413 comes once it has paused for
    // DRAIN_IDLE_MS (what it sends until then is read and discarded, see http-body.ts).
    const t0 = performance.now();
    const reply = await raw(`POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1025\r\n\r\n${'a'.repeat(100)}`, 5000);
    expect(performance.now() - t0).toBeGreaterThan(900);
    expect(reply).toMatch(/^HTTP\/1\.1 413 Payload Too Large\r\n/);
    expect(reply).toMatch(/\r\nConnection: close\r\n/i);
    expect(reply).toContain('{"error":"Expected a request body of at most 1024 bytes but received a Content-Length of 1025"}');
  });

  it('survives a client that closes mid-body', async () => {
    const before = ctx.open;
    expect(await raw(`POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 500\r\n\r\n${'a'.repeat(100)}`, 10)).toBe('');
    await sleep(50);
    expect(ctx.open).toBe(before);
    expect((await fetch(`http://127.0.0.1:${port}/echo`, { method: 'POST', body: 'ok' })).status).toBe(200);
  });

  it('maps coded errors to their status, and unknown ones to 500 with a log entry', async () => {
    logged.length = 0;
    const coded = await fetch(`http://127.0.0.1:${port}/fail/coded`);
    expect(coded.status).toBe(429);
    expect(await coded.json()).toEqual({ error: 'the queue is full' });
    expect(logged).toEqual([]);
    const plain = await fetch(`http://127.0.0.1:${port}/fail/plain`);
    expect(plain.status).toBe(500);
    expect(await plain.json()).toEqual({ error: 'a plain bug' });
    const rejected = await fetch(`http://127.0.0.1:${port}/fail/async`);
    expect(rejected.status).toBe(500);
    expect(logged).toEqual([
      ['error', 'unexpected error answered with 500: a plain bug'],
      ['error', 'unexpected error answered with 500: undefined is not a function'],
    ]);
  });

  it('tells idle() once every exchange is answered', async () => {
    const pending = fetch(`http://127.0.0.1:${port}/slow/60`);
    await sleep(20);
    expect(ctx.open).toBe(1);
    let idle = false;
    const waiting = ctx.idle().then(() => { idle = true; });
    await sleep(10);
    expect(idle).toBe(false);
    await (await pending).json();
    await waiting;
    expect(idle).toBe(true);
    expect(ctx.open).toBe(0);
  });
});
