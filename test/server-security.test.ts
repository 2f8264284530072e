// Server security over real sockets: model names and versions that could reach outside the
// repository are refused (HTTP routes, the load API, WebSocket frame headers) before any
// file is touched; the model repository endpoints behind explicit mode and a bearer token;
// HTTPS and WSS with a certificate made by the openssl CLI; CORS off by default and on for
// the configured origins. After every refusal the server still serves a good request.
import { execFileSync, spawn } from 'node:child_process';
import http from 'node:http';
import https from 'node:https';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../src/server/logger.js';
import { encodeInferRequest } from '../src/server/oip-codec.js';
import { type OrtexServer, type ServerOptions, createServer } from '../src/server/server.js';
import { FrameKind, encodeFrame, joinFrame } from '../src/server/ws-frame.js';
import { ONE_THREAD, TempRepository, probeConfig } from './fixtures/model-repository.js';
import { RawStream, errorOf, outputsOf } from './fixtures/raw-stream.js';
import { CLI, ROOT } from './fixtures/serve-process.js';
import { raw, type Reply } from './fixtures/raw-http.js';


const probeRequest = (v = 1) => JSON.stringify({ inputs: [{ name: 'x', datatype: 'FP64', shape: [1, 1], data: [v] }] });

function expectRefused(r: Reply, status: number, code: string, message: RegExp): void {
  expect(r.status, r.text).toBe(status);
  expect(r.headers['ortex-error-code']).toBe(code);
  expect(JSON.parse(r.text)).toEqual({ error: expect.stringMatching(message) });
}

async function expectServing(port: number, client: typeof http | typeof https = http, extra: https.RequestOptions = {}): Promise<void> {
  const r = await raw(port, 'POST', '/v2/models/probe/infer', probeRequest(7), {}, client, extra);
  expect(r.status, r.text).toBe(200);
  expect(JSON.parse(r.text).outputs[0].data).toEqual([7]);
}

let repo: TempRepository;
/** A valid model directory beside the repository, not in it: what a traversal would reach. */
let outside: TempRepository;

async function start(options: Partial<ServerOptions> = {}): Promise<OrtexServer> {
  const s = createServer({ repository: repo.root, port: 0, modelOptions: ONE_THREAD, logger: silentLogger, metrics: false, ...options });
  await s.listen();
  return s;
}

beforeAll(async () => {
  repo = await TempRepository.create('ortex-sec-');
  await repo.config('probe', probeConfig('probe'));
  await repo.version('probe', 1, 'batch_probe');
  outside = await TempRepository.create('ortex-sec-outside-');
  await outside.config('secret', probeConfig('secret'));
  await outside.version('secret', 1, 'batch_probe');
});

afterAll(async () => {
  await repo?.dispose();
  await outside?.dispose();
});

describe('model names and versions', () => {
  let server: OrtexServer;
  beforeAll(async () => { server = await start({ modelControlMode: 'explicit', startupModels: ['probe'] }); });
  afterAll(async () => { await server?.close(); });

  // The directory of `outside` relative to the repository: ../ortex-sec-outside-XXXX/secret
  const escape = () => `../${outside.root.split('/').pop()}/secret`;
  const badNames: Array<[string, () => string]> = [
    ['"..%2F..%2Fetc"', () => '..%2F..%2Fetc'],
    ['"%2e%2e"', () => '%2e%2e'],
    ['a relative path to a real model outside the repository, encoded', () => encodeURIComponent(escape())],
    ['the same with %2e%2e', () => escape().replace(/\.\./g, '%2e%2e').replace(/\//g, '%2F')],
    ['an absolute path', () => encodeURIComponent(join(outside.root, 'secret'))],
    ['a NUL', () => 'probe%00'],
    ['a backslash', () => '..%5Csecret'],
    ['a hidden name', () => '.probe'],
    ['a name of 129 characters', () => 'a'.repeat(129)],
    ['a name of 1000 characters', () => 'b'.repeat(1000)],
  ];
  const routes: Array<[string, string, (name: string) => string]> = [
    ['infer', 'POST', (n) => `/v2/models/${n}/infer`],
    ['versioned infer', 'POST', (n) => `/v2/models/${n}/versions/1/infer`],
    ['metadata', 'GET', (n) => `/v2/models/${n}`],
    ['ready', 'GET', (n) => `/v2/models/${n}/ready`],
    ['stats', 'GET', (n) => `/v2/models/${n}/stats`],
    ['load', 'POST', (n) => `/v2/repository/models/${n}/load`],
    ['unload', 'POST', (n) => `/v2/repository/models/${n}/unload`],
  ];
  for (const [what, name] of badNames) {
    it(`refuses ${what} with 400 ERR_MODEL_NAME on every route, and loads nothing from outside`, async () => {
      for (const [, method, path] of routes) {
        const r = await raw(server.port, method, path(name()), method === 'POST' && path('').endsWith('/infer') ? probeRequest() : '');
        expectRefused(r, 400, 'ERR_MODEL_NAME', /^Expected a model name of 1 to 128 letters, digits, '_', '\.' or '-' \(not starting with '\.' or '-', without '\.\.'\) but received /);
      }
      expect(server.repository.servables().map((s) => s.name)).toEqual(['probe']);
      await expectServing(server.port);
    });
  }

  it('names at most 64 characters of what it received, with its length', async () => {
    const r = await raw(server.port, 'GET', `/v2/models/${'c'.repeat(300)}`);
    expect(JSON.parse(r.text).error).toMatch(new RegExp(`received "${'c'.repeat(64)}… \\(300 characters\\)"$`));
  });

  it('refuses versions that are not positive integers with 400 ERR_MODEL_VERSION', async () => {
    for (const v of ['0', '-1', '01', '1.0', 'x', '%2e%2e', '..%2F1', '1%00', '99999999999999999']) {
      for (const path of [`/v2/models/probe/versions/${v}`, `/v2/models/probe/versions/${v}/ready`]) {
        expectRefused(await raw(server.port, 'GET', path), 400, 'ERR_MODEL_VERSION', /^Expected a model version that is a positive integer \(e\.g\. 1\) but received /);
      }
      expectRefused(await raw(server.port, 'POST', `/v2/models/probe/versions/${v}/infer`, probeRequest()), 400, 'ERR_MODEL_VERSION', /positive integer/);
    }
    await expectServing(server.port);
  });

  it('still serves names with dots, dashes and underscores, and answers 404 for a good name it does not have', async () => {
    expectRefused(await raw(server.port, 'GET', '/v2/models/my-model_v1.2'), 404, 'ERR_MODEL_NOT_FOUND', /^Unknown model 'my-model_v1\.2'$/);
    expectRefused(await raw(server.port, 'POST', '/v2/repository/models/my-model_v1.2/load'), 404, 'ERR_MODEL_NOT_FOUND', /has no directory of that name/);
  });

  it('refuses bad names and versions in WebSocket frame headers with an error frame, and the connection keeps serving', async () => {
    const stream = await RawStream.open(server.port);
    const body = encodeInferRequest({ inputs: [{ name: 'x', datatype: 'FP64', shape: [1, 1], data: new Float64Array([1]), binary: true }] });
    const cases: Array<[string, string, string]> = [
      [escape(), '', 'ERR_MODEL_NAME'],
      ['..', '', 'ERR_MODEL_NAME'],
      [join(outside.root, 'secret'), '', 'ERR_MODEL_NAME'],
      ['probe\u0000', '', 'ERR_MODEL_NAME'],
      ['d'.repeat(5000), '', 'ERR_MODEL_NAME'],
      ['probe', '0', 'ERR_MODEL_VERSION'],
      ['probe', '../1', 'ERR_MODEL_VERSION'],
    ];
    let id = 1;
    for (const [model, version, code] of cases) {
      stream.send(joinFrame(encodeFrame(FrameKind.request, id, model, version, body)));
      const answer = await stream.answer(id);
      expect(errorOf(answer)).toEqual({ error: expect.stringMatching(/^Expected a model (name|version)/), code, status: 400 });
      expect(answer.model).toBe(''); // not echoed back
      id++;
    }
    stream.request(id, 'probe', { inputs: [{ name: 'x', datatype: 'FP64', shape: [1, 1], data: new Float64Array([5]), binary: true }], binaryOutputs: true });
    expect(Array.from(outputsOf(await stream.answer(id)).outputs[0]!.data as Float64Array)).toEqual([5]);
    stream.close();
    expect(server.repository.servables().map((s) => s.name)).toEqual(['probe']);
  });

  it('skips repository directories whose names clients could not send, with a warning', async () => {
    const own = await TempRepository.create('ortex-sec-names-');
    await own.config('good', probeConfig('good'));
    await own.version('good', 1, 'batch_probe');
    await own.config('bad name', probeConfig('bad name'));
    await own.version('bad name', 1, 'batch_probe');
    const warnings: string[] = [];
    const logger = { ...silentLogger, warn: (_o: unknown, msg: string) => { warnings.push(msg); } };
    const s = createServer({ repository: own.root, port: 0, modelOptions: ONE_THREAD, logger: logger as typeof silentLogger, metrics: false });
    try {
      await s.listen();
      expect(s.repository.servables().map((x) => x.name)).toEqual(['good']);
      expect(warnings).toContainEqual(expect.stringMatching(/skipping a model directory whose name is not allowed/));
      expect(JSON.parse((await raw(s.port, 'POST', '/v2/repository/index')).text)).toEqual([{ name: 'good', version: '1', state: 'READY' }]);
    } finally {
      await s.close();
      await own.dispose();
    }
  });
});

describe('model control', () => {
  const TOKEN = 'a-control-token-0123456789abcdef';

  it('refuses load and unload outside explicit mode (400 ERR_REPOSITORY_MODE); the index stays available, as in Triton', async () => {
    for (const mode of ['none', 'poll'] as const) {
      const s = await start({ modelControlMode: mode, pollIntervalMs: 60_000 });
      try {
        for (const action of ['load', 'unload']) {
          expectRefused(await raw(s.port, 'POST', `/v2/repository/models/probe/${action}`), 400, 'ERR_REPOSITORY_MODE', new RegExp(`only available in explicit model control mode; this repository runs in ${mode} mode`));
        }
        expect((await raw(s.port, 'POST', '/v2/repository/index')).status).toBe(200);
        expect(s.repository.servables().map((x) => x.name)).toEqual(['probe']); // unload did nothing
        await expectServing(s.port);
      } finally {
        await s.close();
      }
    }
  });

  it('requires the bearer token for index, load and unload when one is set; inference stays open', async () => {
    const s = await start({ modelControlMode: 'explicit', controlToken: TOKEN });
    try {
      const paths = ['/v2/repository/index', '/v2/repository/models/probe/load', '/v2/repository/models/probe/unload'];
      for (const path of paths) {
        for (const [headers, message] of [
          [{}, /need a bearer token: send "Authorization: Bearer <token>"/],
          [{ authorization: `Bearer ${TOKEN}x` }, /does not match the server's control token/],
          [{ authorization: `Bearer ${TOKEN.slice(0, -1)}` }, /does not match/],
          [{ authorization: `Basic ${Buffer.from(`u:${TOKEN}`).toString('base64')}` }, /received another scheme/],
        ] as Array<[Record<string, string>, RegExp]>) {
          const r = await raw(s.port, 'POST', path, '{}', headers);
          expectRefused(r, 401, 'ERR_CONTROL_UNAUTHORIZED', message);
          expect(r.headers['www-authenticate']).toBe('Bearer realm="ortex model control"');
        }
      }
      expect(s.repository.servables()).toEqual([]); // nothing was loaded by the refused requests
      const auth = { authorization: `Bearer ${TOKEN}` };
      expect((await raw(s.port, 'POST', '/v2/repository/models/probe/load', '', auth)).status).toBe(200);
      await expectServing(s.port); // no token needed to infer
      expect(JSON.parse((await raw(s.port, 'POST', '/v2/repository/index', '', { authorization: `bearer  ${TOKEN}` })).text)).toEqual([{ name: 'probe', version: '1', state: 'READY' }]);
      // Without the token, a client learns nothing, not even which names exist.
      expectRefused(await raw(s.port, 'POST', '/v2/repository/models/nope/load'), 401, 'ERR_CONTROL_UNAUTHORIZED', /bearer token/);
      expect((await raw(s.port, 'POST', '/v2/repository/models/probe/unload', '', auth)).status).toBe(200);
      expectRefused(await raw(s.port, 'POST', '/v2/models/probe/infer', probeRequest()), 503, 'ERR_MODEL_NOT_READY', /unloaded/);
    } finally {
      await s.close();
    }
  });

  it('refuses a token too short to be a secret', () => {
    expect(() => createServer({ repository: repo.root, metrics: false, controlToken: 'short' })).toThrow(/Expected a control token of 16 to 4096 printable ASCII characters/);
    expect(() => createServer({ repository: repo.root, metrics: false, controlToken: 'has a space in it 0123' })).toThrow(/without spaces/);
  });
});

const hasOpenssl = (() => {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

describe.skipIf(!hasOpenssl)('TLS (skipped when the openssl CLI is missing: node cannot make X.509 certificates itself)', () => {
  let dir: string;
  let cert: string;
  let key: string;
  let server: OrtexServer;
  const openssl = (...args: string[]) => execFileSync('openssl', args, { stdio: 'ignore' });

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ortex-tls-'));
    cert = join(dir, 'cert.pem');
    key = join(dir, 'key.pem');
    openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '2', '-subj', '/CN=localhost',
      '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost');
    openssl('genrsa', '-out', join(dir, 'other-key.pem'), '2048');
    openssl('pkey', '-in', key, '-out', join(dir, 'encrypted-key.pem'), '-aes256', '-passout', 'pass:secret-passphrase');
    server = await start({ tls: { certFile: cert, keyFile: key } });
  });
  afterAll(async () => {
    await server?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('serves HTTPS that a client trusting the certificate verifies, and refuses plain HTTP on that port', async () => {
    expect(server.tls).toBe(true);
    const ca = readFileSync(cert);
    const r = await raw(server.port, 'GET', '/v2/health/ready', '', {}, https, { ca, servername: 'localhost' });
    expect(r.status).toBe(200);
    await expectServing(server.port, https, { ca });
    // A client that does not trust the certificate stops at the handshake.
    await expect(raw(server.port, 'GET', '/v2/health/ready', '', {}, https)).rejects.toThrow(/self[- ]signed certificate/);
    await expect(raw(server.port, 'GET', '/v2/health/ready')).rejects.toThrow();
    await expectServing(server.port, https, { ca });
  });

  it('streams over WSS', async () => {
    const socket = new WebSocket(`wss://127.0.0.1:${server.port}/v2/stream`, { ca: readFileSync(cert) });
    socket.binaryType = 'arraybuffer';
    await new Promise((resolve, reject) => { socket.once('open', resolve); socket.once('error', reject); });
    const frame = joinFrame(encodeFrame(FrameKind.request, 3, 'probe', '', encodeInferRequest({ inputs: [{ name: 'x', datatype: 'FP64', shape: [1, 1], data: new Float64Array([4]), binary: true }], binaryOutputs: true })));
    const answer = new Promise<ArrayBuffer>((resolve) => socket.once('message', (d: ArrayBuffer) => resolve(d)));
    socket.send(frame);
    const { parseFrame } = await import('../src/server/ws-frame.js');
    const parsed = parseFrame(new Uint8Array(await answer));
    expect(parsed.id).toBe(3);
    expect(Array.from(outputsOf(parsed).outputs[0]!.data as Float64Array)).toEqual([4]);
    socket.close();
  });

  it('names the file and the problem when it cannot use the certificate or key', () => {
    const tls = (certFile: string, keyFile: string, passphrase?: string) => () =>
      createServer({ repository: repo.root, metrics: false, tls: { certFile, keyFile, ...(passphrase !== undefined && { passphrase }) } });
    expect(tls(join(dir, 'missing.pem'), key)).toThrow(new RegExp(`Could not read the TLS certificate file ${join(dir, 'missing.pem')}: no such file`));
    expect(tls(cert, join(dir, 'missing.pem'))).toThrow(/Could not read the TLS key file .*missing\.pem: no such file/);
    expect(tls(dir, key)).toThrow(/Could not read the TLS certificate file .*: it is a directory/);
    expect(tls(key, key)).toThrow(/holds no PEM certificate/);
    expect(tls(cert, join(dir, 'other-key.pem'))).toThrow(/The TLS key .*other-key\.pem does not belong to the certificate .*cert\.pem \(subject CN=localhost\)/);
    expect(tls(cert, join(dir, 'encrypted-key.pem'))).toThrow(/the key is encrypted: give its passphrase \(--tls-passphrase or ORTEX_TLS_PASSPHRASE\)/);
    expect(tls(cert, join(dir, 'encrypted-key.pem'), 'wrong')).toThrow(/the passphrase does not decrypt it/);
    expect(tls(cert, join(dir, 'encrypted-key.pem'), 'secret-passphrase')).not.toThrow();
    try {
      tls(cert, join(dir, 'missing.pem'))();
    } catch (err) {
      expect((err as { code: string }).code).toBe('ERR_SERVER_TLS');
    }
  });

  it('serves HTTPS with an encrypted key and its passphrase', async () => {
    const s = await start({ tls: { certFile: cert, keyFile: join(dir, 'encrypted-key.pem'), passphrase: 'secret-passphrase' } });
    try {
      await expectServing(s.port, https, { ca: readFileSync(cert) });
    } finally {
      await s.close();
    }
  });

  it('ortex serve: --tls-cert without --tls-key is a usage error (2); a missing file a clear startup error (1)', async () => {
    const run = (args: string[]) => new Promise<{ code: number | null; stderr: string }>((resolve) => {
      const child = spawn(process.execPath, [CLI, 'serve', '--port', '0', '--repo', repo.root, ...args], { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      child.stderr!.on('data', (c: Buffer) => { stderr += c.toString(); });
      child.on('exit', (code) => resolve({ code, stderr }));
    });
    const alone = await run(['--tls-cert', cert]);
    expect(alone.code).toBe(2);
    expect(alone.stderr).toMatch(/--tls-cert and --tls-key go together: received only --tls-cert/);
    const missing = await run(['--tls-cert', cert, '--tls-key', join(dir, 'nope.pem')]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/^ortex: Could not read the TLS key file .*nope\.pem: no such file$/m);
    expect(missing.stderr).not.toMatch(/\n\s+at /); // a message, not a stack trace
  });
});

describe('CORS and browser origins', () => {
  it('by default binds 127.0.0.1, sends no CORS headers, does not answer preflights, and refuses browser WebSockets', async () => {
    const s = await start();
    try {
      expect(s.host).toBe('127.0.0.1');
      const r = await raw(s.port, 'GET', '/v2/health/ready', '', { origin: 'https://evil.example' });
      expect(r.status).toBe(200);
      expect(Object.keys(r.headers).filter((h) => h.startsWith('access-control-'))).toEqual([]);
      const pre = await raw(s.port, 'OPTIONS', '/v2/models/probe/infer', '', { origin: 'https://evil.example', 'access-control-request-method': 'POST' });
      expect(pre.status).toBe(404);
      expect(pre.headers['access-control-allow-origin']).toBeUndefined();
      // A browser page would open this WebSocket with its Origin: refused before the upgrade.
      const socket = new WebSocket(`ws://127.0.0.1:${s.port}/v2/stream`, { origin: 'https://evil.example' });
      await expect(new Promise((resolve, reject) => { socket.once('open', resolve); socket.once('error', reject); })).rejects.toThrow(/Unexpected server response: 403/);
      // A client without an Origin (not a browser) is served.
      const stream = await RawStream.open(s.port);
      stream.close();
      await expectServing(s.port);
    } finally {
      await s.close();
    }
  });

  it('with corsOrigins: allows those origins on every answer (errors too), answers preflights, accepts their WebSockets', async () => {
    const s = await start({ corsOrigins: ['https://app.example', 'http://localhost:3000'] });
    try {
      const ok = await raw(s.port, 'POST', '/v2/models/probe/infer', probeRequest(), { origin: 'https://app.example' });
      expect(ok.status).toBe(200);
      expect(ok.headers['access-control-allow-origin']).toBe('https://app.example');
      expect(ok.headers.vary).toBe('Origin');
      expect(ok.headers['access-control-expose-headers']).toMatch(/inference-header-content-length/);
      const err = await raw(s.port, 'GET', '/v2/models/nope', '', { origin: 'http://localhost:3000' });
      expect(err.status).toBe(404);
      expect(err.headers['access-control-allow-origin']).toBe('http://localhost:3000');
      const other = await raw(s.port, 'GET', '/v2/health/ready', '', { origin: 'https://evil.example' });
      expect(other.headers['access-control-allow-origin']).toBeUndefined();
      const pre = await raw(s.port, 'OPTIONS', '/v2/models/probe/infer', '', { origin: 'https://app.example', 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type,inference-header-content-length' });
      expect(pre.status).toBe(204);
      expect(pre.headers).toMatchObject({
        'access-control-allow-origin': 'https://app.example',
        'access-control-allow-methods': 'GET, POST, OPTIONS',
        'access-control-allow-headers': 'content-type, inference-header-content-length, authorization',
        'access-control-max-age': '600',
      });
      const preOther = await raw(s.port, 'OPTIONS', '/v2/models/probe/infer', '', { origin: 'https://evil.example', 'access-control-request-method': 'POST' });
      expect(preOther.headers['access-control-allow-origin']).toBeUndefined();
      const socket = new WebSocket(`ws://127.0.0.1:${s.port}/v2/stream`, { origin: 'https://app.example' });
      await new Promise((resolve, reject) => { socket.once('open', resolve); socket.once('error', reject); });
      socket.close();
      const evil = new WebSocket(`ws://127.0.0.1:${s.port}/v2/stream`, { origin: 'https://evil.example' });
      await expect(new Promise((resolve, reject) => { evil.once('open', resolve); evil.once('error', reject); })).rejects.toThrow(/403/);
      await expectServing(s.port);
    } finally {
      await s.close();
    }
  });

  it('refuses origins that are not scheme://host[:port]', () => {
    expect(() => createServer({ repository: repo.root, metrics: false, corsOrigins: ['app.example'] })).toThrow(/Expected '\*' or an origin such as https:\/\/app\.example:8443/);
    expect(() => createServer({ repository: repo.root, metrics: false, corsOrigins: ['https://app.example/path'] })).toThrow(/no path/);
  });
});
