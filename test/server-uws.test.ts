import { describe, expect, it } from 'vitest';
import { OrtexError } from '../src/errors.js';
import { type UsListenSocket, loadUws, loadUwsFrom } from '../src/server/uws.js';

describe('loadUws()', () => {
  it('loads the native uWebSockets.js binary, not the pure-Node fallback', () => {
    const uws = loadUws();
    expect(typeof uws.App).toBe('function');
    expect(typeof uws.us_listen_socket_close).toBe('function');
    // The fallback is plain JS; the native binary has no JS source behind App().
    expect(Function.prototype.toString.call(uws.App)).toContain('[native code]');
    expect(loadUws()).toBe(uws);
  });

  it('serves a GET on 127.0.0.1 that fetch() reads, then closes the listen socket', async () => {
    const uws = loadUws();
    const app = uws.App().get('/hello/:name', (res, req) => {
      const name = req.getParameter(0);
      // closeConnection so fetch's keep-alive socket does not outlive the test
      res.writeStatus('200 OK').writeHeader('content-type', 'text/plain').end(`hello ${name}`, true);
    });
    const socket = await new Promise<UsListenSocket>((resolve, reject) => {
      app.listen('127.0.0.1', 0, (s) => (s ? resolve(s) : reject(new Error('listen failed'))));
    });
    try {
      const port = uws.us_socket_local_port(socket);
      expect(port).toBeGreaterThan(0);
      const reply = await fetch(`http://127.0.0.1:${port}/hello/ortex`);
      expect(reply.status).toBe(200);
      expect(reply.headers.get('content-type')).toBe('text/plain');
      expect(await reply.text()).toBe('hello ortex');
    } finally {
      uws.us_listen_socket_close(socket);
    }
  });
});

describe('loadUwsFrom()', () => {
  it('throws ERR_SERVER_UWS_LOAD with the possible causes and the loader message', () => {
    let caught: unknown;
    try {
      loadUwsFrom('/nonexistent/uws_linux_x64_115.node');
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(OrtexError);
    const err = caught as OrtexError;
    expect(err.code).toBe('ERR_SERVER_UWS_LOAD');
    expect(err.status).toBe(500);
    expect(err.message).toContain('Could not load uWebSockets.js from /nonexistent/uws_linux_x64_115.node');
    expect(err.message).toContain('Cannot find module');
    expect(err.message).toContain('Possible causes:');
    expect(err.message).toMatch(/not installed \(the binary is not there\)/);
    expect(err.message).toMatch(/platform or architecture/);
    expect(err.message).toMatch(/Node ABI not 115/);
    expect(err.message).toMatch(/glibc/);
  });
});
