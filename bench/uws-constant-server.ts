/**
 * The ceiling of the serving benchmark's set-up: uWebSockets.js (the build ortex serves on,
 * loaded the way ortex loads it) reading each POST body and answering a constant response of
 * ctr_mlp's shape. No model, no parsing: what the pinned core and wrk allow at all.
 *
 *   node dist/bench/uws-constant-server.js --port 8002
 *
 * Prints `listening <port>` on stdout; SIGTERM exits.
 */
import { parseArgs } from 'node:util';
import { loadUws } from '../src/server/uws.js';

const RESPONSE = '{"model_name":"ctr_mlp","model_version":"1","outputs":[{"name":"y","datatype":"FP32","shape":[1,1],"data":[0.5]}]}';

const { values } = parseArgs({ options: { port: { type: 'string' } } });
const port = Number(values.port);
if (!Number.isInteger(port) || port < 0 || port > 65535) throw new TypeError(`Expected --port N but received ${String(values.port)}`);

const uws = loadUws();
uws
  .App()
  .get('/*', (res) => {
    res.cork(() => {
      res.writeHeader('content-type', 'application/json').end('{"ready":true}');
    });
  })
  .post('/*', (res) => {
    // The body is read to its end, as any real handler must, and dropped.
    let aborted = false;
    res.onAborted(() => {
      aborted = true;
    });
    res.onData((_chunk, isLast) => {
      if (!isLast || aborted) return;
      res.cork(() => {
        res.writeHeader('content-type', 'application/json').end(RESPONSE);
      });
    });
  })
  .listen('127.0.0.1', port, (socket) => {
    if (!socket) {
      process.stderr.write(`uws-constant-server: could not listen on 127.0.0.1:${port}\n`);
      process.exit(1);
    }
    process.stdout.write(`listening ${uws.us_socket_local_port(socket as unknown as Parameters<typeof uws.us_socket_local_port>[0])}\n`);
  });

process.once('SIGTERM', () => process.exit(0));
