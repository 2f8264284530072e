/**
 * The load side of the soak (bench/soak-run.ts starts it): a separate process that drives
 * one server with ortex's own clients, over three transports at once: HTTP with JSON
 * tensors, HTTP with binary tensor data (OrtexHttpClient), and WebSocket (OrtexWsClient).
 * Each transport runs `concurrency` closed loops (a loop sends its next request when the
 * answer arrives); the loops take request tickets from one counter, so the run stops after
 * exactly `requests` requests (or `durationMs`, whichever comes first).
 *
 * Every answer is checked: ctr_mlp's output for each row of the request must match what an
 * independent onnxruntime-node session computes for that row, one row at a time. Most
 * requests carry one row; every `multiRowEvery`-th carries four, so the batcher also splits
 * multi-row requests out of its batches.
 *
 * Messages to the parent (IPC), in order: `ready` (inputs and expectations computed,
 * clients connected), one `window` per `windowMs` of load (latencies of the requests that
 * completed in it, per transport), then `done`. Started as
 *
 *   node dist/bench/soak-load.js '<LoadConfig as JSON>'
 */
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { OrtexHttpClient } from '../src/client/http-client.js';
import { OrtexWsClient } from '../src/client/ws-client.js';
import { Tensor } from '../src/tensor.js';
import { Prng } from '../src/toolkit/prng.js';
import { percentile } from './stats.js';

export const TRANSPORTS = ['http-json', 'http-binary', 'websocket'] as const;
export type Transport = (typeof TRANSPORTS)[number];

export interface LoadConfig {
  /** The server's port on 127.0.0.1. */
  port: number;
  /** The model file the server serves, for the expected answers. */
  modelPath: string;
  /** Requests to send in all (over every transport). */
  requests: number;
  /** Stop sending after this long even if `requests` are not all sent; 0: no limit. */
  durationMs: number;
  /** Closed loops per transport. */
  concurrency: number;
  /** WebSocket connections the WebSocket loops share. */
  wsConnections: number;
  windowMs: number;
  /** Distinct input rows the requests draw from. */
  poolRows: number;
  /** Every n-th request carries 4 rows instead of 1; 0: always 1. */
  multiRowEvery: number;
  /** Largest |answer - expected| accepted per value. */
  tolerance: number;
}

/** One transport's (or every transport's) requests that completed in a window. Latencies in ms. */
export interface WindowFigures {
  count: number;
  errors: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

export interface LoadWindow {
  index: number;
  /** Wall-clock bounds (Date.now()), so the parent can match its RSS samples to the window. */
  startMs: number;
  endMs: number;
  all: WindowFigures;
  transports: Record<Transport, WindowFigures>;
  /** Requests completed since the start, every window so far included. */
  completed: number;
  /** The load process's own RSS, for the record (a leak in the clients would show here). */
  loadRssBytes: number;
}

export interface LoadTotals {
  sent: number;
  completed: number;
  errors: number;
  /** Answers that arrived but did not match the expectation (counted in errors too). */
  wrongAnswers: number;
  /** Rows checked against the expectation. */
  rowsChecked: number;
  perTransport: Record<Transport, { completed: number; errors: number }>;
  /** The first few failures, as `transport: message`. */
  firstErrors: string[];
  /** The slowest requests, slowest first: where a long tail comes from. */
  slowest: SlowRequest[];
  /** Largest |answer - expected| seen over every checked value. */
  maxAbsDiff: number;
  /** Of the checked values, those bit-identical to the single-row expectation. */
  exactValues: number;
  elapsedMs: number;
}

export interface SlowRequest {
  transport: Transport;
  /** The closed loop that sent it (WebSocket loop i uses connection i mod wsConnections). */
  loop: number;
  rows: number;
  /** When it was sent (Date.now()) and how long its answer took. */
  sentAtMs: number;
  ms: number;
}

const SLOWEST_KEPT = 10;

export type LoadMessage =
  | { type: 'ready'; poolRows: number; minExpectedGap: number }
  | { type: 'window'; window: LoadWindow }
  | { type: 'done'; totals: LoadTotals };

const FEATURES = 64;
const MULTI_ROWS = 4;

/** The pool of input rows and, per row, the reference answer from onnxruntime-node. */
async function expectations(modelPath: string, rows: number): Promise<{ pool: Float32Array; expected: Float32Array }> {
  const rng = new Prng(0x50a4);
  const pool = new Float32Array(rows * FEATURES);
  for (let i = 0; i < pool.length; i++) pool[i] = rng.next() * 2 - 1;
  const ort = await import('onnxruntime-node');
  const session = await ort.InferenceSession.create(readFileSync(modelPath), { intraOpNumThreads: 1, interOpNumThreads: 1 });
  const expected = new Float32Array(rows);
  try {
    for (let r = 0; r < rows; r++) {
      const x = new ort.Tensor('float32', pool.slice(r * FEATURES, (r + 1) * FEATURES), [1, FEATURES]);
      expected[r] = (await session.run({ x })).y!.data[0] as number;
    }
  } finally {
    await session.release();
  }
  return { pool, expected };
}

/** The smallest gap between two distinct expected answers: a swapped answer would differ by at least this. */
function minGap(values: Float32Array): number {
  const s = Float32Array.from(values).sort();
  let gap = Infinity;
  for (let i = 1; i < s.length; i++) gap = Math.min(gap, s[i]! - s[i - 1]!);
  return gap;
}

class Window {
  readonly latencies: Record<Transport, number[]> = { 'http-json': [], 'http-binary': [], websocket: [] };
  readonly errors: Record<Transport, number> = { 'http-json': 0, 'http-binary': 0, websocket: 0 };
  constructor(readonly index: number, readonly startMs: number) {}

  static figures(latencies: number[], errors: number): WindowFigures {
    if (latencies.length === 0) return { count: 0, errors, p50Ms: NaN, p99Ms: NaN, maxMs: NaN };
    const sorted = Float64Array.from(latencies).sort();
    const round = (v: number) => Math.round(v * 1000) / 1000;
    return { count: sorted.length, errors, p50Ms: round(percentile(sorted, 0.5)), p99Ms: round(percentile(sorted, 0.99)), maxMs: round(sorted[sorted.length - 1]!) };
  }

  close(endMs: number, completed: number): LoadWindow {
    const transports = {} as Record<Transport, WindowFigures>;
    for (const t of TRANSPORTS) transports[t] = Window.figures(this.latencies[t], this.errors[t]);
    const all = Window.figures(TRANSPORTS.flatMap((t) => this.latencies[t]), TRANSPORTS.reduce((n, t) => n + this.errors[t], 0));
    return { index: this.index, startMs: this.startMs, endMs, all, transports, completed, loadRssBytes: process.memoryUsage.rss() };
  }
}

async function run(config: LoadConfig, send: (m: LoadMessage) => Promise<void>): Promise<void> {
  const { pool, expected } = await expectations(config.modelPath, config.poolRows);
  const base = `http://127.0.0.1:${config.port}`;
  const http = new OrtexHttpClient(base);
  const sockets = await Promise.all(Array.from({ length: config.wsConnections }, () => new OrtexWsClient(`ws://127.0.0.1:${config.port}/v2/stream`).connect()));
  await send({ type: 'ready', poolRows: config.poolRows, minExpectedGap: minGap(expected) });

  const totals: LoadTotals = {
    sent: 0,
    completed: 0,
    errors: 0,
    wrongAnswers: 0,
    rowsChecked: 0,
    perTransport: { 'http-json': { completed: 0, errors: 0 }, 'http-binary': { completed: 0, errors: 0 }, websocket: { completed: 0, errors: 0 } },
    firstErrors: [],
    slowest: [],
    maxAbsDiff: 0,
    exactValues: 0,
    elapsedMs: 0,
  };
  const started = Date.now();
  const deadline = config.durationMs > 0 ? started + config.durationMs : Infinity;
  let window = new Window(0, started);
  const flush = () => {
    const now = Date.now();
    void send({ type: 'window', window: window.close(now, totals.completed) });
    window = new Window(window.index + 1, now);
  };
  const timer = setInterval(flush, config.windowMs);

  const fail = (t: Transport, message: string) => {
    totals.errors++;
    totals.perTransport[t].errors++;
    window.errors[t]++;
    if (totals.firstErrors.length < 10) totals.firstErrors.push(`${t}: ${message}`);
  };

  /** Checks an answer against the expectation of rows first..first+rows-1; returns what is wrong, or ''. */
  const check = (out: Record<string, Tensor>, first: number, rows: number): string => {
    const y = out.y;
    if (!y || y.type !== 'float32' || y.dims.length !== 2 || y.dims[0] !== rows || y.dims[1] !== 1) {
      return `expected y float32 [${rows},1] but received ${y ? `${y.type} [${y.dims.join(',')}]` : 'no y'}`;
    }
    const data = y.data as Float32Array;
    for (let i = 0; i < rows; i++) {
      const diff = Math.abs(data[i]! - expected[first + i]!);
      totals.rowsChecked++;
      if (diff === 0) totals.exactValues++;
      if (diff > totals.maxAbsDiff) totals.maxAbsDiff = diff;
      if (!(diff <= config.tolerance)) return `row ${first + i}: expected ${expected[first + i]} but received ${data[i]}`;
    }
    return '';
  };

  const rng = new Prng(0x50a5);
  const call = (t: Transport, loop: number, x: Tensor): Promise<Record<string, Tensor>> => {
    if (t === 'websocket') return sockets[loop % sockets.length]!.infer('ctr_mlp', { x });
    return http.infer('ctr_mlp', { x }, { binary: t === 'http-binary' });
  };

  const loop = async (t: Transport, index: number): Promise<void> => {
    while (totals.sent < config.requests && Date.now() < deadline) {
      const n = totals.sent++;
      const rows = config.multiRowEvery > 0 && n % config.multiRowEvery === config.multiRowEvery - 1 ? MULTI_ROWS : 1;
      const first = rng.int(config.poolRows - rows + 1);
      const x = new Tensor('float32', pool.subarray(first * FEATURES, (first + rows) * FEATURES), [rows, FEATURES]);
      const t0 = performance.now();
      let wrong: string;
      try {
        wrong = check(await call(t, index, x), first, rows);
      } catch (err) {
        const e = err as { code?: string; status?: number; message?: string };
        fail(t, `${e.code ?? ''}${e.status ? ` ${e.status}` : ''} ${e.message ?? String(err)}`.trim());
        continue;
      }
      if (wrong) {
        totals.wrongAnswers++;
        fail(t, wrong);
        continue;
      }
      const ms = performance.now() - t0;
      window.latencies[t].push(ms);
      const slowest = totals.slowest;
      if (slowest.length < SLOWEST_KEPT || ms > slowest[slowest.length - 1]!.ms) {
        slowest.push({ transport: t, loop: index, rows, sentAtMs: Date.now() - ms, ms: Math.round(ms * 1000) / 1000 });
        slowest.sort((a, b) => b.ms - a.ms);
        if (slowest.length > SLOWEST_KEPT) slowest.pop();
      }
      totals.completed++;
      totals.perTransport[t].completed++;
    }
  };

  await Promise.all(TRANSPORTS.flatMap((t) => Array.from({ length: config.concurrency }, (_, i) => loop(t, i))));
  clearInterval(timer);
  flush();
  totals.elapsedMs = Date.now() - started;
  await Promise.all(sockets.map((s) => s.close()));
  await send({ type: 'done', totals });
}

function main(): void {
  const arg = process.argv[2];
  if (!arg || !process.send) throw new TypeError('Expected to be started by bench/soak-run.ts: node dist/bench/soak-load.js \'<LoadConfig as JSON>\' with an IPC channel');
  const config = JSON.parse(arg) as LoadConfig;
  const send = (m: LoadMessage) => new Promise<void>((resolve, reject) => process.send!(m, undefined, undefined, (err) => (err ? reject(err) : resolve())));
  run(config, send).then(
    () => process.disconnect(),
    (err: unknown) => {
      process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
      process.exit(1);
    },
  );
}

// Only as a script: soak-run.ts imports this module for its types and TRANSPORTS.
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) main();
