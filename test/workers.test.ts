// `ortex serve --workers N`: the compiled CLI in a child process, a primary supervising N
// worker processes that share one port (SO_REUSEPORT). Real sockets, a fresh connection per
// request (a keep-alive connection stays with one worker), the worker that answered read from
// the x-ortex-worker header. It runs dist/: `npx tsc -p .` builds it.
import { spawnSync } from 'node:child_process';
import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, ROOT, type ServeProcess, startServe } from './fixtures/serve-process.js';

const ROW = new Array(64).fill(0.1);
const BODY = JSON.stringify({ inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 64], data: ROW }] });

interface Answer {
  status: number;
  worker: number;
  body: string;
}

/** One request on a connection of its own (no agent: no keep-alive), so the kernel picks the worker. */
function send(port: number, method: 'GET' | 'POST', path: string, body?: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method, path, agent: false }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode!, worker: Number(res.headers['x-ortex-worker']), body: text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

const infer = (port: number) => send(port, 'POST', '/v2/models/ctr_mlp/infer', BODY);

/** `count` inference requests, `concurrency` at a time. */
async function inferMany(port: number, count: number, concurrency = 8): Promise<Answer[]> {
  const answers: Answer[] = [];
  for (let i = 0; i < count; i += concurrency) {
    answers.push(...(await Promise.all(Array.from({ length: Math.min(concurrency, count - i) }, () => infer(port)))));
  }
  return answers;
}

/** Resolves with the first log line matching, waiting up to `ms`. */
async function logLine(s: ServeProcess, match: (l: Record<string, unknown>) => boolean, ms = 30_000): Promise<Record<string, unknown>> {
  const end = Date.now() + ms;
  for (;;) {
    const line = s.logs.find(match);
    if (line) return line;
    if (Date.now() > end) throw new Error(`no such log line within ${ms} ms: ${JSON.stringify(s.logs.map((l) => l.msg))}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** A counter's value summed over its series, from a Prometheus text exposition. */
function counter(text: string, name: string): number {
  return text.split('\n').filter((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `)).reduce((sum, l) => sum + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
}

const run = (...args: string[]) => spawnSync(process.execPath, [CLI, ...args], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });

describe('ortex serve --workers 2', () => {
  let s: ServeProcess;
  let workers: number[];

  beforeAll(async () => {
    s = await startServe(['--workers', '2', '--metrics-port', '0'], 'workers ready');
    workers = s.ready.workers as number[];
  });
  afterAll(() => {
    s?.child.kill('SIGKILL');
  });

  it('starts two worker processes on one port (--port 0: picked by the parent), each loading its own model', () => {
    expect(workers).toHaveLength(2);
    expect(new Set(workers).size).toBe(2);
    expect(workers).not.toContain(s.child.pid);
    const listening = s.logs.filter((l) => l.msg === 'listening');
    expect(listening.map((l) => l.pid).sort()).toEqual([...workers].sort());
    expect(listening.every((l) => l.port === s.port && s.port > 0)).toBe(true);
    // Each worker loads the model before it binds the port (loadBeforeListen), the parent none.
    for (const pid of workers) {
      const log = s.logs.filter((l) => l.pid === pid).map((l) => l.msg);
      expect(log.indexOf('model version loaded')).toBeGreaterThanOrEqual(0);
      expect(log.indexOf('model version loaded')).toBeLessThan(log.indexOf('listening'));
    }
    expect(s.logs.filter((l) => l.pid === s.child.pid).map((l) => l.msg)).not.toContain('model version loaded');
  });

  it('spreads fresh connections over both workers, and each counts its own requests in its own metrics', async () => {
    const answers = await inferMany(s.port, 200);
    expect(answers.filter((a) => a.status !== 200)).toEqual([]);
    const y = (JSON.parse(answers[0]!.body) as { outputs: Array<{ name: string; shape: number[]; data: number[] }> }).outputs[0]!;
    expect(y).toMatchObject({ name: 'y', shape: [1, 1] });
    const byWorker = new Map<number, number>();
    for (const a of answers) byWorker.set(a.worker, (byWorker.get(a.worker) ?? 0) + 1);
    expect([...byWorker.keys()].sort()).toEqual([...workers].sort());

    // --metrics-port 0: each worker has a metrics port of its own, and counts what it answered.
    const ready = s.logs.filter((l) => l.msg === 'worker ready');
    for (const pid of workers) {
      const metricsPort = ready.find((l) => l.workerPid === pid)!.metricsPort as number;
      expect(metricsPort).toBeGreaterThan(0);
      const scrape = await send(metricsPort, 'GET', '/metrics');
      expect(scrape.status).toBe(200);
      expect(counter(scrape.body, 'ortex_request_success_total')).toBe(byWorker.get(pid));
    }
  });

  it('restarts a worker that dies while the other keeps serving, with no failed request', async () => {
    const [victim, survivor] = workers as [number, number];
    process.kill(victim, 'SIGKILL');
    await logLine(s, (l) => l.msg === 'worker exited: restarting it' && l.workerPid === victim);
    expect(alive(victim)).toBe(false);
    // Until the replacement is ready, the survivor answers everything.
    const during: Answer[] = [];
    let replacement: Record<string, unknown> | undefined;
    while (!(replacement = s.logs.find((l) => l.msg === 'worker ready' && !workers.includes(l.workerPid as number)))) {
      during.push(...(await inferMany(s.port, 4, 4)));
    }
    expect(during.length).toBeGreaterThan(0);
    expect(during.filter((a) => a.status !== 200)).toEqual([]);
    const fresh = replacement.workerPid as number;
    expect(alive(fresh)).toBe(true);
    expect(during.some((a) => a.worker === survivor)).toBe(true);
    const after = await inferMany(s.port, 100);
    expect(after.filter((a) => a.status !== 200)).toEqual([]);
    expect([...new Set(after.map((a) => a.worker))].sort()).toEqual([survivor, fresh].sort());
    workers = [survivor, fresh];
  });

  it('on SIGTERM, forwards it, lets every worker drain, and exits 0', async () => {
    s.child.kill('SIGTERM');
    expect(await s.exited).toBe(0);
    for (const pid of workers) {
      expect(alive(pid)).toBe(false);
      // The workers write to the parent's stderr: their last lines may still be on the way.
      await logLine(s, (l) => l.pid === pid && l.msg === 'server closed', 5000);
    }
    const exits = s.logs.filter((l) => l.msg === 'worker exited');
    expect(exits.map((l) => l.workerPid).sort()).toEqual([...workers].sort());
    expect(exits.every((l) => l.code === 0)).toBe(true);
  });
});

describe('ortex serve --workers: usage and start failures', () => {
  it('serves from the one process by default: no parent, no worker header', async () => {
    const s = await startServe([]);
    try {
      const a = await infer(s.port);
      expect(a.status).toBe(200);
      expect(Number.isNaN(a.worker)).toBe(true);
      expect(s.logs.map((l) => l.msg)).not.toContain('starting workers');
    } finally {
      s.child.kill('SIGKILL');
    }
  });

  it('exits 2 on a bad --workers, saying what was expected', () => {
    expect(run('serve', '--workers', '-1').status).toBe(2);
    for (const bad of ['0', 'two', '257']) {
      const r = run('serve', '--workers', bad);
      expect(r.status).toBe(2);
      expect(r.stderr).toMatch(/Expected an integer from 1 to 256 for --workers/);
    }
    const r = run('serve', '--workers', '2', '--metrics-port', '65535');
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/--metrics-port 65535 with --workers 2: worker i serves metrics on 65535 \+ i, past port 65535/);
    expect(run('serve', '--help').stdout).toMatch(/--workers N/);
  });

  it('exits 1 when the workers cannot start, leaving no process behind', () => {
    const r = run('serve', '--workers', '2', '--port', '0', '--repo', '/nonexistent/repository');
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/Expected a model repository directory at \/nonexistent\/repository/);
    expect(r.stderr).toMatch(/a worker exited before the server was ready: stopping/);
    const pids = r.stderr.split('\n').filter((l) => l.startsWith('{')).map((l) => (JSON.parse(l) as { pid: number }).pid);
    for (const pid of new Set(pids)) expect(alive(pid)).toBe(false);
  });
});
