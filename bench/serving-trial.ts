/**
 * Runs ONE serving trial and prints its result as one JSON line on stdout:
 *
 *   node dist/bench/serving-trial.js '<ServingTrial as JSON>'
 *
 * In order: writes the request bodies for wrk; starts the server in a fresh process pinned to
 * `pin.server`; waits until GET /v2/health/ready answers 200; checks one request's answer;
 * warms up with wrk for `warmupS`; waits until the server is idle again (what the warm-up left
 * queued must not run inside the timed window); runs wrk for `durationS`, pinned to
 * `pin.load`, with the server's CPU time read from /proc around it; stops the server with
 * SIGTERM. bench/serving.ts spawns this once per trial per repeat. WebSocket rows use
 * bench/native/ws_load.cc (build/Release/ortex_ws_load, built here if absent) in place of wrk,
 * or bench/ws-load.ts when it cannot be built.
 *
 * bench/workers.ts imports its pieces (Server, runLoad, probe, settle, ...) and runs its trials
 * in its own process; imported, this file runs no trial, but it does install its SIGTERM/SIGINT
 * handler, which kills the servers and load generators started through it.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { createServer as createNetServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseInferResponse } from '../src/server/oip-codec.js';
import { ROOT, log, nativeTool, trialMain } from './harness.js';
import { metricSum } from './soak-memory.js';
import { type RequestPlan, requestPlan, writeRequestFile } from './serving-payloads.js';
import { serverCommand } from './serving-servers.js';
import type { ServingTrial } from './serving-trials.js';

const WRK_LUA = resolve(ROOT, 'bench/serving-wrk.lua');
const WS_LOAD_JS = resolve(ROOT, 'dist/bench/ws-load.js');
const READY_TIMEOUT_MS = 120_000;
const SETTLE_TIMEOUT_MS = 30_000;
const CLOCK_TICKS = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout) || 100;

/** What serving-wrk.lua's done() prints. Times in µs. */
export interface WrkSummary {
  requests: number;
  bytes: number;
  durationUs: number;
  errors: { connect: number; read: number; write: number; status: number; timeout: number };
  latencyUs: { p50: number; p90: number; p95: number; p99: number; p999: number; mean: number; min: number; max: number };
  /** CPU time of the wrk process, user + system. */
  cpuS: number;
  coldRequests: number;
}

export interface ServingResult {
  wrk: WrkSummary;
  reqPerSec: number;
  /** The server's CPU time over the timed run divided by its length, in cores (at most 1 when pinned to one). */
  serverCpuCores: number;
  /** wrk's CPU time over its run, in cores: near 1, wrk and not the server may be the limit. */
  loadCpuCores: number;
  /** How long the server took to go idle after the warm-up; -1 when it never did within 30 s. */
  settleMs: number;
  /** The probe request: its response size and the first values of its first output. */
  probe: { status: number; responseBytes: number; firstValues: number[] };
  /** Rows with the response cache: its hits over the timed run, from the server's /metrics. */
  cache?: { hitRatio: number; encodedHitRatio: number };
  /** The program that drove the load (absent in results from before it was recorded, when WebSocket rows used ws-load.ts). */
  loadGenerator?: LoadGenerator;
}

/**
 * What drives a row's load: wrk for HTTP; for WebSocket, bench/native/ws_load.cc, or
 * bench/ws-load.ts (Node, the `ws` client, which may itself be the limit from concurrency 16 on)
 * when the native one cannot be built.
 */
export type LoadGenerator = 'wrk' | 'ortex_ws_load' | 'ws-load.ts';

/** The server and wrk processes this trial started, and its scratch directory: cleaned up if the driver's timeout ends the trial. */
const children = new Set<ChildProcess>();
let scratchDir: string | undefined;
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => {
    for (const child of children) child.kill('SIGKILL');
    if (scratchDir) rmSync(scratchDir, { recursive: true, force: true });
    process.exit(1);
  });
}

function track<C extends ChildProcess>(child: C): C {
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

/** User + system CPU seconds of process `pid` so far (all its threads), from /proc. */
export function cpuSecondsOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
}

export class Server {
  readonly child: ChildProcess;
  stderr = '';
  constructor(argv: string[]) {
    this.child = track(spawn(argv[0]!, argv.slice(1), { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] }));
    this.child.stderr!.setEncoding('utf8').on('data', (s: string) => {
      this.stderr = (this.stderr + s).slice(-4000);
    });
  }
  get exited(): boolean {
    return this.child.exitCode !== null || this.child.signalCode !== null;
  }
  failure(what: string): Error {
    const how = this.child.exitCode !== null ? `exit ${this.child.exitCode}` : `signal ${this.child.signalCode}`;
    return new Error(`${what}: the server stopped (${how}); its stderr ends:\n${this.stderr.trim().split('\n').slice(-8).join('\n')}`);
  }
  /** User + system CPU seconds of the server process so far (all its threads). */
  cpuSeconds(): number {
    return cpuSecondsOf(this.child.pid!);
  }
  async stop(): Promise<void> {
    if (this.exited) return;
    const gone = new Promise<void>((r) => this.child.once('exit', () => r()));
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 10_000);
    await gone;
    clearTimeout(timer);
  }
}

const delay = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const s = createNetServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const address = s.address();
      s.close(() => (typeof address === 'object' && address ? resolvePort(address.port) : reject(new Error('no port'))));
    });
  });
}

/** One request on a connection of its own. */
export function send(port: number, method: string, path: string, headers: Record<string, string>, body?: Buffer) {
  return new Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: Buffer }>((resolveReply, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, method, path, headers: { ...headers, connection: 'close' }, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolveReply({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.setTimeout(10_000, () => req.destroy(new Error(`${method} ${path}: no answer in 10 s`)));
    req.on('error', reject);
    req.end(body);
  });
}

async function waitReady(server: Server, port: number): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (server.exited) throw server.failure('starting');
    const reply = await send(port, 'GET', '/v2/health/ready', {}).catch(() => undefined);
    if (reply?.status === 200) return;
    await delay(100);
  }
  throw new Error(`the server was not ready after ${READY_TIMEOUT_MS / 1000} s`);
}

/** Sends the first body and checks the answer is a batch-1 inference response (any 200 for the constant server). */
export async function probe(port: number, plan: RequestPlan, trial: ServingTrial): Promise<ServingResult['probe']> {
  const first = plan.bodies[0]!;
  const headers: Record<string, string> = first.headerLength === undefined
    ? { 'content-type': 'application/json' }
    : { 'content-type': 'application/octet-stream', 'inference-header-content-length': String(first.headerLength) };
  const reply = await send(port, 'POST', plan.path, headers, first.body);
  if (reply.status !== 200) throw new Error(`the probe request got ${reply.status}: ${reply.body.toString('utf8').slice(0, 300)}`);
  const result = { status: reply.status, responseBytes: reply.body.length, firstValues: [] as number[] };
  if (trial.row.server === 'uws-constant') return result;
  const lengthHeader = reply.headers['inference-header-content-length'];
  if (trial.row.protocol === 'binary' && lengthHeader === undefined) throw new Error('the probe asked for binary outputs but the response has no Inference-Header-Content-Length');
  const parsed = parseInferResponse(new Uint8Array(reply.body), lengthHeader === undefined ? undefined : Number(lengthHeader));
  const out = parsed.outputs[0];
  if (!out || out.shape[0] !== 1) throw new Error(`the probe's response has no batch-1 output: ${reply.body.toString('utf8').slice(0, 300)}`);
  result.firstValues = Array.from(out.data as ArrayLike<number>).slice(0, 3).map(Number);
  return result;
}

let wsLoad: { generator: LoadGenerator; argv: string[] } | undefined;

/**
 * The WebSocket load generator: build/Release/ortex_ws_load, built on first use if absent (as
 * bench/run.ts builds ortex_raw_run), else bench/ws-load.ts, said on stderr. Decided once per process.
 */
function wsLoadCommand(): { generator: LoadGenerator; argv: string[] } {
  if (wsLoad) return wsLoad;
  const binary = nativeTool('ortex_ws_load', 'the WebSocket load generator');
  if (!binary) log('bench: ortex_ws_load could not be built; the WebSocket rows use bench/ws-load.ts (Node, the `ws` client), which may be the limit from concurrency 16 on');
  wsLoad = binary ? { generator: 'ortex_ws_load', argv: [binary] } : { generator: 'ws-load.ts', argv: [process.execPath, WS_LOAD_JS] };
  return wsLoad;
}

/** Which program runLoad() runs for `trial` (for WebSocket, building ortex_ws_load first if it is absent). */
export function loadGeneratorOf(trial: ServingTrial): LoadGenerator {
  return trial.row.transport === 'websocket' ? wsLoadCommand().generator : 'wrk';
}

/**
 * The load generator of the row's transport (wrk, or loadGeneratorOf()'s for WebSocket), pinned,
 * for `seconds`, its cold values or Zipf ids (if any) from `coldOffset` on; resolves with its
 * summary line. `threads`: wrk's -t (each thread runs its share of the connections on its own core).
 */
export function runLoad(trial: ServingTrial, port: number, requestFile: string, seconds: number, coldOffset = 0, threads = 1): Promise<WrkSummary> {
  const argv = trial.row.transport === 'websocket'
    ? ['-c', trial.pin.load, ...wsLoadCommand().argv, JSON.stringify({
      url: `ws://127.0.0.1:${port}/v2/stream`, connections: trial.concurrency, durationS: seconds, timeoutS: trial.timeoutS, requestFile,
    })]
    : ['-c', trial.pin.load, 'wrk', `-t${threads}`, `-c${trial.concurrency}`, `-d${seconds}s`, '--timeout', `${trial.timeoutS}s`, '-s', WRK_LUA, `http://127.0.0.1:${port}`];
  return new Promise((resolveRun, reject) => {
    const env = { ...process.env, SERVING_REQUESTS: requestFile, SERVING_COLD_OFFSET: String(coldOffset) };
    const child = track(spawn('taskset', argv, { env, stdio: ['ignore', 'pipe', 'pipe'] }));
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => (out += s));
    child.stderr.setEncoding('utf8').on('data', (s: string) => (err += s));
    child.on('error', reject);
    child.on('exit', (code) => {
      const line = out.split('\n').find((l) => l.startsWith('SERVING_WRK '));
      if (code !== 0 || !line) return reject(new Error(`${argv.slice(2).join(' ')} failed (exit ${code}): ${(err || out).trim().slice(0, 500)}`));
      resolveRun(JSON.parse(line.slice('SERVING_WRK '.length)) as WrkSummary);
    });
  });
}

/** The response cache's hit and encoded-hit counts, from the server's /metrics. */
async function cacheCounts(port: number): Promise<{ hits: number; misses: number; encodedHits: number; shared: number }> {
  const text = (await send(port, 'GET', '/metrics', {})).body.toString('utf8');
  const value = (name: string) => metricSum(text, name);
  return { hits: value('ortex_cache_hits_total'), misses: value('ortex_cache_misses_total'), encodedHits: value('ortex_cache_encoded_hits_total'), shared: value('ortex_cache_shared_total') };
}

/** Waits until the server used under 10 % of a core over 200 ms; resolves with the time taken, or -1. */
export async function settle(server: Server): Promise<number> {
  const start = Date.now();
  let last = server.cpuSeconds();
  while (Date.now() - start < SETTLE_TIMEOUT_MS) {
    await delay(200);
    if (server.exited) throw server.failure('after the warm-up');
    const now = server.cpuSeconds();
    if (now - last < 0.02) return Date.now() - start;
    last = now;
  }
  return -1;
}

/** The figures of a timed run: wrk's summary, and the rates over its length of requests and of server and wrk CPU. */
export function timedFigures(wrk: WrkSummary, serverCpuSeconds: number, settleMs: number, probe: ServingResult['probe']): ServingResult {
  const seconds = wrk.durationUs / 1e6;
  return { wrk, reqPerSec: wrk.requests / seconds, serverCpuCores: serverCpuSeconds / seconds, loadCpuCores: wrk.cpuS / seconds, settleMs, probe };
}

async function runTrial(trial: ServingTrial): Promise<ServingResult> {
  const scratch = mkdtempSync(join(tmpdir(), 'ortex-serving-'));
  scratchDir = scratch;
  let server: Server | undefined;
  try {
    // The constant server's answer does not depend on the body: one body, wrk's static request.
    const pool = trial.row.server === 'uws-constant' ? 1 : trial.poolSize;
    const plan = requestPlan(trial.model, trial.row.protocol, pool, trial.row.cache?.repeatShare, trial.row.zipf);
    const requestFile = join(scratch, 'requests.bin');
    writeRequestFile(requestFile, plan);
    // Before the server starts, so that a build of the load generator is not inside the trial.
    const loadGenerator = loadGeneratorOf(trial);
    const port = await freePort();
    server = new Server(serverCommand(trial, port, scratch));
    await waitReady(server, port);
    const checked = await probe(port, plan, trial);
    await runLoad(trial, port, requestFile, trial.warmupS);
    const settleMs = await settle(server);
    const cached = trial.row.cache ? await cacheCounts(port) : undefined;
    const cpuBefore = server.cpuSeconds();
    // The timed run starts halfway through the cold values or Zipf ids: none of the warm-up's.
    const offset = plan.zipf ? plan.zipf.length / 2 : plan.cold ? Math.floor(plan.cold.span / 2) : 0;
    const wrk = await runLoad(trial, port, requestFile, trial.durationS, offset);
    if (server.exited) throw server.failure('during the timed run');
    const result: ServingResult = { ...timedFigures(wrk, server.cpuSeconds() - cpuBefore, settleMs, checked), loadGenerator };
    if (cached) {
      const after = await cacheCounts(port);
      const answered = after.hits + after.misses + after.shared - (cached.hits + cached.misses + cached.shared);
      result.cache = { hitRatio: (after.hits - cached.hits) / answered, encodedHitRatio: (after.encodedHits - cached.encodedHits) / answered };
    }
    return result;
  } finally {
    await server?.stop();
    rmSync(scratch, { recursive: true, force: true });
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) trialMain<ServingTrial>('serving', runTrial);
