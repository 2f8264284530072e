/**
 * The WebSocket load generator of the serving benchmark in Node: wrk's part for the streaming
 * endpoint, which wrk cannot speak. bench/serving-trial.ts runs it only when the native one,
 * bench/native/ws_load.cc (same contract, a fraction of the CPU), cannot be built. A closed
 * loop like `wrk -c<connections>`: each connection keeps one request in flight and sends its
 * next when the answer arrives, so that concurrency means the same for both transports.
 *
 *   node dist/bench/ws-load.js '{"url":"ws://127.0.0.1:PORT/v2/stream","connections":64,
 *     "durationS":5,"timeoutS":2,"requestFile":"<file of serving-payloads.ts>"}'
 *
 * Sends the request file's bodies in its order, each as a request frame (ws-frame.ts) of the
 * model its path names, and prints one line, `SERVING_WRK {json}`, in the shape of
 * serving-wrk.lua's summary (bench/serving-trial.ts reads both alike). A request unanswered
 * after timeoutS counts as a timeout and its connection moves on to its next request (a late
 * answer is recognised by its id and dropped); an error frame counts as a non-2xx answer.
 */
import { readFileSync } from 'node:fs';
import WebSocket from 'ws';
import { FrameKind, encodeFrame } from '../src/server/ws-frame.js';
import { Samples, percentile } from './stats.js';

interface LoadConfig {
  url: string;
  connections: number;
  durationS: number;
  timeoutS: number;
  requestFile: string;
}

interface RequestFile {
  model: string;
  bodies: Array<{ body: Buffer; headerLength: number | undefined }>;
  order: number[];
}

/** Reads what bench/serving-payloads.ts writeRequestFile() wrote (its pool and order; no cold or Zipf part). */
function readRequestFile(file: string): RequestFile {
  const bytes = readFileSync(file);
  let at = 0;
  const line = (): string => {
    const nl = bytes.indexOf(0x0a, at);
    if (nl < 0) throw new Error(`${file}: truncated at byte ${at}`);
    const text = bytes.subarray(at, nl).toString('latin1');
    at = nl + 1;
    return text;
  };
  const path = /^path (\S+)$/.exec(line())?.[1];
  const model = path && /^\/v2\/models\/([^/]+)\/infer$/.exec(path)?.[1];
  if (!model) throw new Error(`${file}: expected a path /v2/models/<model>/infer`);
  const count = Number(/^bodies (\d+)$/.exec(line())?.[1]);
  const bodies: RequestFile['bodies'] = [];
  for (let k = 0; k < count; k++) {
    const [headerLength, length] = line().split(' ').map(Number) as [number, number];
    bodies.push({ body: bytes.subarray(at, at + length), headerLength: headerLength === 0 ? undefined : headerLength });
    at += length;
  }
  const order = line().split(' ').slice(2).map(Number);
  return { model: decodeURIComponent(model), bodies, order };
}

async function main(): Promise<void> {
  const config = JSON.parse(process.argv[2] ?? '') as LoadConfig;
  const requests = readRequestFile(config.requestFile);
  // Each body framed once with id 0; a send copies the frame and writes its own id at offset 4.
  const frames = requests.order.map((i) => {
    const b = requests.bodies[i]!;
    const pieces = encodeFrame(FrameKind.request, 0, requests.model, '', b.headerLength === undefined ? { body: b.body } : { body: b.body, headerLength: b.headerLength });
    return pieces.tail ? Buffer.concat([pieces.head, pieces.tail]) : Buffer.from(pieces.head);
  });
  const samples = new Samples();
  const errors = { connect: 0, read: 0, write: 0, status: 0, timeout: 0 };
  let received = 0;
  let bytes = 0;
  let next = 0;
  let running = true;
  const timeoutMs = config.timeoutS * 1000;

  interface Conn { ws: WebSocket; id: number; sentAt: number }
  const conns: Conn[] = [];
  const send = (c: Conn): void => {
    if (!running || c.ws.readyState !== WebSocket.OPEN) return;
    const frame = Buffer.from(frames[next]!);
    next = (next + 1) % frames.length;
    c.id = c.id === 0xffffffff ? 1 : c.id + 1;
    frame.writeUInt32LE(c.id, 4);
    c.sentAt = performance.now();
    c.ws.send(frame, { binary: true }, (err) => {
      if (err) errors.write++;
    });
  };

  await Promise.all(Array.from({ length: config.connections }, () => new Promise<void>((resolve) => {
    const ws = new WebSocket(config.url, { perMessageDeflate: false });
    const c: Conn = { ws, id: 0, sentAt: 0 };
    ws.binaryType = 'nodebuffer';
    ws.on('open', () => {
      conns.push(c);
      resolve();
    });
    ws.on('error', () => {
      errors.connect++;
      resolve();
    });
    ws.on('close', () => {
      if (running) errors.read++;
    });
    ws.on('message', (data: Buffer) => {
      if (data.length < 8 || data.readUInt32LE(4) !== c.id || c.sentAt === 0) return; // late, after its timeout
      samples.push((performance.now() - c.sentAt) * 1000);
      c.sentAt = 0;
      received++;
      bytes += data.length;
      if (data[2] !== FrameKind.response) errors.status++;
      send(c);
    });
  })));

  const startCpu = process.cpuUsage();
  const start = performance.now();
  const watchdog = setInterval(() => {
    const now = performance.now();
    for (const c of conns) {
      if (c.sentAt !== 0 && now - c.sentAt > timeoutMs) {
        errors.timeout++;
        c.sentAt = 0;
        send(c);
      }
    }
  }, 100);
  for (const c of conns) send(c);
  await new Promise((r) => setTimeout(r, config.durationS * 1000));
  running = false;
  const durationMs = performance.now() - start;
  clearInterval(watchdog);
  const cpu = process.cpuUsage(startCpu);
  for (const c of conns) c.ws.terminate();

  const sorted = samples.view().slice().sort();
  const p = (q: number) => (sorted.length === 0 ? 0 : Math.round(percentile(sorted, q / 100)));
  let sum = 0;
  for (const v of sorted) sum += v;
  const summary = {
    requests: received,
    bytes,
    durationUs: Math.round(durationMs * 1000),
    errors,
    latencyUs: {
      p50: p(50), p90: p(90), p95: p(95), p99: p(99), p999: p(99.9),
      mean: sorted.length > 0 ? sum / sorted.length : 0,
      min: sorted.length > 0 ? Math.round(sorted[0]!) : 0,
      max: sorted.length > 0 ? Math.round(sorted[sorted.length - 1]!) : 0,
    },
    cpuS: (cpu.user + cpu.system) / 1e6,
    coldRequests: 0,
  };
  process.stdout.write(`SERVING_WRK ${JSON.stringify(summary)}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
