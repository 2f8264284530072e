/**
 * `npm run bench:workers`: requests/s of `ortex serve --workers N` as N grows, under load from
 * wrk, and the scaling ratio req/s with N workers ÷ req/s with 1 (issue 7, "Scale-out").
 *
 *   node dist/bench/workers.js [--repeats=N] [--quick] [--max-workers=N] [--pin=0-5:6-7] [--concurrency=256] [--model=ctr_mlp] [--out=DIR]
 *
 * --repeats: default 3; --quick: 2 s timed instead of 5 s; --max-workers: the largest N, default
 * the number of server CPUs but at least 2; N runs 1, 2, 4, ... below it, then it;
 * --pin: the CPUs (taskset lists) of the server processes and of wrk; default on C CPUs: wrk
 * gets the last max(1, floor(C / 4)), the servers the rest (on 2 CPUs, 0:1);
 * --concurrency: wrk's connections, the same for every N, so every N gets the same offered
 * load (default 256); --model: ctr_mlp (default) or bert_mini; --out: the directory for
 * workers.json and workers.md, default bench/out.
 *
 * Each trial starts a fresh `ortex serve --workers N --port P --metrics-port 0`, as it ships
 * (node with SERVE_NODE_FLAGS), its whole process tree pinned to the server CPUs; waits for the
 * primary's 'workers ready' line; checks one answer; warms up with wrk for 1 s; waits until the
 * tree is idle; runs wrk for the timed run with one thread per wrk CPU, the tree's CPU time read
 * from /proc around it and each worker's ortex_request_success_total read from its own /metrics
 * before and after; then SIGTERM, and the primary must exit 0. The trials run from this process
 * (it only orchestrates: the servers and wrk are fresh processes every trial) with the pieces
 * of bench/serving-trial.ts (runLoad and bench/serving-wrk.lua, probe, settle), the request
 * bodies of bench/serving-payloads.ts (batch 1, JSON) and the repository of
 * bench/serving-servers.ts (ctr_mlp: the bundled configuration, models/repository/, dynamic
 * batching). Within a repeat the worker counts run in an order rotated each repeat.
 *
 * Writes bench/out/workers.json and bench/out/workers.md, and prints the Markdown. Exits 1 when
 * a trial failed or a check (no non-2xx, no socket errors, exit status 0, no restarted worker)
 * did not hold.
 *
 * More workers than server CPUs is not scaling: with one server CPU (the default split on a
 * 2-CPU machine) N = 2 measures what a second process sharing the core costs, and the report
 * says so. Needs `npm run build`, `wrk` and `taskset` (Debian: apt-get install wrk util-linux).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { SERVE_NODE_FLAGS } from '../src/cli/node-flags.js';
import { ROOT, codeState, ensureModels, log, machineInfo, ortexOrtVersion, rotated } from './harness.js';
import { type MachineInfo, cell, machineLines, num, ratioText } from './report.js';
import { requestPlan, writeRequestFile } from './serving-payloads.js';
import { metricSum } from './soak-memory.js';
import { ORTEX_CLI, buildRepository } from './serving-servers.js';
import { Server, type ServingResult, cpuSecondsOf, freePort, probe, runLoad, send, settle, timedFigures } from './serving-trial.js';
import { ORTEX_CONFIGS, type Pinning, QUICK, SERVING_GROUPS, SERVING_ROWS, type ServingTrial } from './serving-trials.js';
import { type Ratio, type Spread, ratioOf, spread } from './stats.js';

const READY_TIMEOUT_MS = 120_000;
/** The serving bench's row whose bodies and checks these trials use. */
const ROW = SERVING_ROWS.find((r) => r.id === 'ortex-json')!;

/** One worker count, as data: a serving trial of the 'ortex-json' row, plus N and wrk's threads. */
interface WorkersTrial extends ServingTrial {
  readonly workers: number;
  /** wrk -t: one per wrk CPU. */
  readonly loadThreads: number;
}

interface WorkersResult extends ServingResult {
  /** Which repeat (from 0): results of two worker counts with the same repeat ran in the same round. */
  repeat: number;
  workerPids: number[];
  /** Inference requests each worker answered over the timed run (its ortex_request_success_total, after − before). */
  workerRequests: number[];
  /** How the primary exited after SIGTERM: code 0 expected. */
  exit: { code: number | null; signal: string | null };
}

/** A taskset CPU list ("0-5,7") as CPU numbers. */
function cpuList(list: string): number[] {
  const out: number[] = [];
  for (const part of list.split(',')) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part.trim());
    if (!m) throw new TypeError(`Expected a CPU list such as 0-5,7 but received '${list}'`);
    for (let c = Number(m[1]); c <= Number(m[2] ?? m[1]); c++) out.push(c);
  }
  return [...new Set(out)].sort((a, b) => a - b);
}

/** CPU numbers as a taskset list, runs written as ranges: [0, 1, 2, 5] → "0-2,5". */
function listText(list: readonly number[]): string {
  const parts: string[] = [];
  for (let i = 0; i < list.length; i++) {
    let j = i;
    while (j + 1 < list.length && list[j + 1] === list[j]! + 1) j++;
    parts.push(j === i ? `${list[i]}` : `${list[i]}-${list[j]}`);
    i = j;
  }
  return parts.join(',');
}

/** The CPUs this process may run on (its affinity, which taskset children inherit), else 0 .. cpus() - 1. */
function allowedCpus(): number[] {
  const line = /^Cpus_allowed_list:\s*(\S+)/m.exec(readFileSync('/proc/self/status', 'utf8'))?.[1];
  return line ? cpuList(line) : cpus().map((_, i) => i);
}

/** How many physical cores `list` spans (distinct SMT sibling sets), or NaN when sysfs does not say. */
function physicalCores(list: readonly number[]): number {
  try {
    return new Set(list.map((c) => readFileSync(`/sys/devices/system/cpu/cpu${c}/topology/thread_siblings_list`, 'utf8').trim())).size;
  } catch {
    return NaN;
  }
}

/** 1, 2, 4, ... below `max`, then `max`. */
function workerCounts(max: number): number[] {
  const counts: number[] = [];
  for (let n = 1; n < max; n *= 2) counts.push(n);
  counts.push(max);
  return counts;
}

function readArgs(argv: string[]) {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        repeats: { type: 'string' }, quick: { type: 'boolean' }, 'max-workers': { type: 'string' }, pin: { type: 'string' },
        concurrency: { type: 'string' }, model: { type: 'string' }, out: { type: 'string' },
      },
      strict: true,
    }));
  } catch (err) {
    throw new TypeError(`Expected --repeats=N, --quick, --max-workers=N, --pin=<server cpus>:<wrk cpus>, --concurrency=N, --model=<name> or --out=DIR: ${(err as Error).message}`);
  }
  const positive = (flag: string, v: string) => {
    if (!/^[1-9]\d*$/.test(v)) throw new RangeError(`Expected a positive integer for --${flag} but received '${v}'`);
    return Number(v);
  };
  let pin: Pinning;
  if (values.pin !== undefined) {
    const [server, load, extra] = values.pin.split(':');
    if (!server || !load || extra !== undefined) throw new TypeError(`Expected --pin=<server cpu list>:<wrk cpu list> (e.g. 0-5:6-7) but received '${values.pin}'`);
    pin = { server, load };
  } else {
    const all = allowedCpus();
    if (all.length < 2) throw new RangeError(`Expected at least 2 CPUs (one for the servers, one for wrk) but this process may use ${all.length}`);
    const loadCount = Math.max(1, Math.floor(all.length / 4));
    pin = { server: listText(all.slice(0, -loadCount)), load: listText(all.slice(-loadCount)) };
  }
  const serverCpus = cpuList(pin.server);
  const loadCpus = cpuList(pin.load);
  const shared = serverCpus.filter((c) => loadCpus.includes(c));
  if (shared.length > 0) throw new RangeError(`Expected --pin to give the servers and wrk different CPUs but both have ${listText(shared)}`);
  const model = values.model ?? 'ctr_mlp';
  const group = SERVING_GROUPS.find((g) => g.model.name === model && ORTEX_CONFIGS[model] !== undefined);
  if (!group) throw new RangeError(`Expected --model to be one of ${Object.keys(ORTEX_CONFIGS).join(', ')} but received '${model}'`);
  const concurrency = positive('concurrency', values.concurrency ?? '256');
  if (concurrency < loadCpus.length) throw new RangeError(`Expected --concurrency of at least the ${loadCpus.length} wrk threads (one per wrk CPU) but received ${concurrency}`);
  return {
    repeats: positive('repeats', values.repeats ?? '3'),
    quick: values.quick === true,
    maxWorkers: values['max-workers'] === undefined ? Math.max(2, serverCpus.length) : positive('max-workers', values['max-workers']),
    pin,
    serverCpus,
    loadCpus,
    concurrency,
    group,
    out: resolve(ROOT, values.out ?? 'bench/out'),
  };
}

type Args = ReturnType<typeof readArgs>;

/**
 * `ortex serve --workers N`, its child the primary: follows the primary's log lines (its own
 * and its workers', who share its stderr) for the workers' pids and metrics ports; its CPU time
 * is the primary's plus every worker's. With N = 1 there is no primary (`ortex serve` serves
 * from the one process, as without --workers): the child is the only worker.
 */
class WorkersServer extends Server {
  /** Resolves on the primary's 'workers ready' line (N = 1: the server's 'ready'); rejects if it exits or is not ready in time. */
  readonly ready: Promise<void>;
  /** The processes serving: the workers, or with N = 1 the child itself. */
  workerPids: number[] = [];
  /** Each worker's own /metrics port, in the order of workerPids. */
  metricsPorts: number[] = [];
  /** 'worker exited: restarting it' lines: a restarted worker spoils the trial. */
  restarts = 0;
  #partial = '';
  readonly #metricsPortOf = new Map<number, number>();

  constructor(argv: string[], workers: number) {
    super(argv);
    const readyLine = workers === 1 ? 'ready' : 'workers ready';
    this.ready = new Promise((resolveReady, reject) => {
      const timer = setTimeout(() => reject(new Error(`no '${readyLine}' line within ${READY_TIMEOUT_MS / 1000} s`)), READY_TIMEOUT_MS);
      this.child.once('exit', () => {
        clearTimeout(timer);
        reject(this.failure('starting'));
      });
      this.child.stderr!.on('data', (s: string) => {
        this.#partial += s;
        let nl: number;
        while ((nl = this.#partial.indexOf('\n')) >= 0) {
          const line = this.#partial.slice(0, nl);
          this.#partial = this.#partial.slice(nl + 1);
          let entry: Record<string, unknown>;
          try {
            entry = JSON.parse(line) as Record<string, unknown>;
          } catch {
            continue;
          }
          if (entry.msg === 'worker ready') this.#metricsPortOf.set(entry.workerPid as number, entry.metricsPort as number);
          else if (entry.msg === 'worker exited: restarting it') this.restarts++;
          else if (entry.msg === readyLine && (workers > 1 || entry.pid === this.child.pid)) {
            if (workers === 1) this.#metricsPortOf.set(this.child.pid!, entry.metricsPort as number);
            this.workerPids = workers === 1 ? [this.child.pid!] : (entry.workers as number[]);
            this.metricsPorts = this.workerPids.map((pid) => this.#metricsPortOf.get(pid) ?? 0);
            clearTimeout(timer);
            if (this.metricsPorts.includes(0)) reject(new Error(`a worker reported no metrics port: ${JSON.stringify([...this.#metricsPortOf])}`));
            else resolveReady();
          }
        }
      });
    });
  }

  override cpuSeconds(): number {
    if (this.restarts > 0) throw new Error(`a worker exited and was restarted; the server's stderr ends:\n${this.stderr.trim().split('\n').slice(-8).join('\n')}`);
    const pids = new Set([this.child.pid!, ...this.workerPids]);
    return [...pids].reduce((sum, pid) => sum + cpuSecondsOf(pid), 0);
  }

  /** Each worker's ortex_request_success_total, in the order of workerPids. */
  successCounts(): Promise<number[]> {
    return Promise.all(this.metricsPorts.map(async (port) => metricSum((await send(port, 'GET', '/metrics', {})).body.toString('utf8'), 'ortex_request_success_total') || 0));
  }

  /** SIGTERM (SIGKILL after 10 s), and how the primary exited. */
  async stopped(): Promise<WorkersResult['exit']> {
    await this.stop();
    return { code: this.child.exitCode, signal: this.child.signalCode };
  }
}

/** The scratch directory of the running trial, removed even when a signal ends this process (serving-trial.ts's handler exits). */
let scratchDir: string | undefined;
process.on('exit', () => {
  if (scratchDir) rmSync(scratchDir, { recursive: true, force: true });
});

async function runWorkersTrial(trial: WorkersTrial, repeat: number): Promise<WorkersResult> {
  const scratch = (scratchDir = mkdtempSync(join(tmpdir(), 'ortex-workers-')));
  let server: WorkersServer | undefined;
  try {
    const plan = requestPlan(trial.model, trial.row.protocol, trial.poolSize);
    const requestFile = join(scratch, 'requests.bin');
    writeRequestFile(requestFile, plan);
    const repo = buildRepository(join(scratch, 'repository'), trial);
    const port = await freePort();
    server = new WorkersServer([
      'taskset', '-c', trial.pin.server, process.execPath, ...SERVE_NODE_FLAGS, ORTEX_CLI, 'serve',
      '--workers', String(trial.workers), '--port', String(port), '--metrics-port', '0', '--repo', repo,
    ], trial.workers);
    await server.ready;
    const checked = await probe(port, plan, trial);
    await runLoad(trial, port, requestFile, trial.warmupS, 0, trial.loadThreads);
    const settleMs = await settle(server);
    const before = await server.successCounts();
    const cpuBefore = server.cpuSeconds();
    const wrk = await runLoad(trial, port, requestFile, trial.durationS, 0, trial.loadThreads);
    if (server.exited) throw server.failure('during the timed run');
    const figures = timedFigures(wrk, server.cpuSeconds() - cpuBefore, settleMs, checked);
    const after = await server.successCounts();
    const workerPids = server.workerPids;
    const exit = await server.stopped();
    return {
      repeat,
      ...figures,
      workerPids,
      workerRequests: after.map((n, i) => n - before[i]!),
      exit,
    };
  } finally {
    await server?.stop();
    rmSync(scratch, { recursive: true, force: true });
    scratchDir = undefined;
  }
}

interface WorkersCountResult {
  workers: number;
  results: WorkersResult[];
  /** Why a repeat produced no result. */
  failures: string[];
}

interface WorkersFigures {
  workers: number;
  repeats: number;
  reqPerSec: Spread;
  p50Ms: Spread;
  p99Ms: Spread;
  /** req/s ÷ req/s with 1 worker, paired by repeat. */
  vsOne?: Ratio;
  /** Per repeat, each worker's share of the timed run's requests, largest first. */
  shares: number[][];
  serverCpuCores: Spread;
  loadCpuCores: Spread;
  /** Summed over repeats. */
  non2xx: number;
  timeouts: number;
  socketErrors: number;
  /** Exits other than code 0, e.g. "code 1" or "signal SIGKILL". */
  badExits: string[];
}

function figuresOf(c: WorkersCountResult, one: WorkersCountResult | undefined): WorkersFigures | undefined {
  const reps = c.results;
  if (reps.length === 0) return undefined;
  const sum = (f: (r: WorkersResult) => number) => reps.reduce((a, r) => a + f(r), 0);
  const f: WorkersFigures = {
    workers: c.workers,
    repeats: reps.length,
    reqPerSec: spread(reps.map((r) => r.reqPerSec)),
    p50Ms: spread(reps.map((r) => r.wrk.latencyUs.p50 / 1000)),
    p99Ms: spread(reps.map((r) => r.wrk.latencyUs.p99 / 1000)),
    shares: reps.map((r) => {
      const total = r.workerRequests.reduce((a, n) => a + n, 0);
      return r.workerRequests.map((n) => n / total).sort((a, b) => b - a);
    }),
    serverCpuCores: spread(reps.map((r) => r.serverCpuCores)),
    loadCpuCores: spread(reps.map((r) => r.loadCpuCores)),
    non2xx: sum((r) => r.wrk.errors.status),
    timeouts: sum((r) => r.wrk.errors.timeout),
    socketErrors: sum((r) => r.wrk.errors.connect + r.wrk.errors.read + r.wrk.errors.write),
    badExits: reps.filter((r) => r.exit.code !== 0).map((r) => (r.exit.signal ? `signal ${r.exit.signal}` : `code ${r.exit.code}`)),
  };
  if (one && c.workers !== 1) {
    // Pairs only repeats both counts completed: repeat i of each ran in the same round.
    const paired = reps.filter((r) => one.results.some((o) => o.repeat === r.repeat));
    const base = paired.map((r) => one.results.find((o) => o.repeat === r.repeat)!.reqPerSec);
    if (paired.length > 0) f.vsOne = ratioOf(paired.map((r) => r.reqPerSec), base);
  }
  return f;
}

interface WorkersNotes {
  pin: Pinning;
  serverCpus: number;
  loadCpus: number;
  serverPhysicalCores: number;
  loadThreads: number;
  concurrency: number;
  model: string;
  warmupS: number;
  durationS: number;
  timeoutS: number;
  poolSize: number;
  wrkVersion: string;
}

const pct = (x: number) => `${Math.round(100 * x)}`;
const countCell = (n: number) => (n === 0 ? '0' : `**${n}**`);

/** Each repeat's shares, "52 / 48 %"; past 4 workers the smallest and largest, "11–14 % each". */
function shareText(shares: number[][]): string {
  return shares.map((s) => (s.length <= 4 ? `${s.map(pct).join(' / ')} %` : `${pct(s[s.length - 1]!)}–${pct(s[0]!)} % each`)).join('; ');
}

function cpusText(n: number): string {
  return `${n} server CPU${n === 1 ? '' : 's'}`;
}

function workersTable(figures: WorkersFigures[], counts: WorkersCountResult[], notes: WorkersNotes): string {
  const lines = [
    '| workers | req/s | p50 ms | p99 ms | req/s ÷ 1 worker | requests per worker (% of the timed run, each repeat) | server CPU (cores) | wrk CPU (cores) | non-2xx / timeouts / socket errors | exit on SIGTERM |',
    '|---|---|---|---|---|---|---|---|---|---|',
  ];
  for (const c of counts) {
    const f = figures.find((x) => x.workers === c.workers);
    const label = c.workers > notes.serverCpus ? `${c.workers} (on ${cpusText(notes.serverCpus)})` : `${c.workers}`;
    if (!f) {
      lines.push(`| ${label} | not run (see below) | | | | | | | | |`);
      continue;
    }
    lines.push(
      `| ${label} | ${cell(f.reqPerSec)} | ${cell(f.p50Ms)} | ${cell(f.p99Ms)} | ${c.workers === 1 ? '1' : ratioText(f.vsOne)} | ${shareText(f.shares)} | ` +
        `${cell(f.serverCpuCores)} | ${cell(f.loadCpuCores)} | ${countCell(f.non2xx)} / ${countCell(f.timeouts)} / ${countCell(f.socketErrors)} | ` +
        `${f.badExits.length === 0 ? '0' : `**${f.badExits.join(', ')}**`} |`,
    );
  }
  return lines.join('\n');
}

/** What the figures do and do not show: the scaling figure where there are CPUs for it, and plainly when there are not. */
function scalingLines(figures: WorkersFigures[], notes: WorkersNotes): string[] {
  const lines: string[] = [];
  const s = notes.serverCpus;
  const scaled = figures.filter((f) => f.workers > 1 && f.workers <= s && f.vsOne);
  for (const f of scaled) {
    lines.push(`- ${f.workers} workers on ${cpusText(s)}: ${ratioText(f.vsOne)} the requests/s of 1 worker (at most ${f.workers}× if each worker used a whole CPU)`);
  }
  const over = figures.filter((f) => f.workers > s);
  if (over.length > 0) {
    const ns = over.map((f) => f.workers).join(', ');
    const one = figures.find((f) => f.workers === 1);
    lines.push(
      `- **Not a scaling figure:** with ${cpusText(s)}, N = ${ns} ran more worker processes than the servers had CPUs, so there was no more CPU ` +
        `for the extra workers to use (server CPU ${over.map((f) => `${num(f.serverCpuCores.median)} cores at N = ${f.workers}`).join(', ')}` +
        `${one ? `, ${num(one.serverCpuCores.median)} at N = 1` : ''}). The ratio to 1 worker (${over.map((f) => `N = ${f.workers}: ${ratioText(f.vsOne)}`).join(', ')}) ` +
        `shows what splitting ${s === 1 ? 'the one core' : 'the same cores'} between more processes does — context switches, more event loops, ` +
        'each worker\'s batcher forming batches from its share of the requests — not how ortex scales.',
    );
  }
  if (scaled.length === 0) {
    lines.push(
      `- This run has no scaling figure: the servers had ${cpusText(s)}. It shows that \`--workers\` serves under load (the checks below); ` +
        'the scaling figure needs a machine with more CPUs (by default this bench gives wrk a quarter of them and the servers the rest, and runs N up to the server CPUs).',
    );
  }
  const wrkBound = figures.filter((f) => f.loadCpuCores.median >= 0.9 * notes.loadCpus);
  if (wrkBound.length > 0) {
    lines.push(`- wrk used ≥ 90 % of its ${notes.loadCpus} CPU${notes.loadCpus === 1 ? '' : 's'} at N = ${wrkBound.map((f) => f.workers).join(', ')}: the load generator may be the limit there, and the ratio may understate the server.`);
  }
  return lines;
}

function checkLines(figures: WorkersFigures[], counts: WorkersCountResult[]): { lines: string[]; ok: boolean } {
  const lines: string[] = [];
  const verdict = (ok: boolean) => (ok ? 'held' : '**did not hold**');
  const errors = figures.filter((f) => f.non2xx + f.socketErrors > 0);
  lines.push(`- no non-2xx answer and no socket error in any timed run: ${verdict(errors.length === 0)}${errors.length > 0 ? ` (N = ${errors.map((f) => f.workers).join(', ')})` : ''}`);
  const timeouts = figures.filter((f) => f.timeouts > 0);
  lines.push(`- no request past wrk's --timeout: ${timeouts.length === 0 ? 'held' : `**${timeouts.map((f) => `${f.timeouts} at N = ${f.workers}`).join(', ')}**`}`);
  const bad = figures.filter((f) => f.badExits.length > 0);
  lines.push(`- the primary exits 0 after SIGTERM (every worker drained and exited 0): ${verdict(bad.length === 0)}${bad.length > 0 ? ` (N = ${bad.map((f) => `${f.workers}: ${f.badExits.join(', ')}`).join('; ')})` : ''}`);
  const idle = figures.filter((f) => f.workers > 1 && f.shares.some((s) => s[s.length - 1] === 0));
  lines.push(`- every worker answered part of every timed run (the kernel spread the connections over all of them): ${verdict(idle.length === 0)}${idle.length > 0 ? ` (N = ${idle.map((f) => f.workers).join(', ')})` : ''}`);
  const failed = counts.filter((c) => c.failures.length > 0);
  for (const c of failed) lines.push(`- **N = ${c.workers}: ${c.failures.length} trial${c.failures.length === 1 ? '' : 's'} failed:** ${c.failures.join('; ')}`);
  return { lines, ok: errors.length === 0 && bad.length === 0 && failed.length === 0 };
}

function workersMarkdown(info: MachineInfo, figures: WorkersFigures[], counts: WorkersCountResult[], notes: WorkersNotes): { md: string; ok: boolean } {
  const checks = checkLines(figures, counts);
  const config = notes.model === 'ctr_mlp' ? 'the bundled configuration, models/repository/ctr_mlp/config.pbtxt (dynamic batching)' : 'bench/serving-trials.ts\'s configuration';
  const md = [
    '# ortex serve --workers N: requests/s as workers are added (issue 7, "Scale-out")',
    '',
    ...machineLines(info),
    `- ${info.repeats} repeat${info.repeats === 1 ? '' : 's'} per worker count, each with a fresh server process tree, counts in an order rotated each repeat; total ${info.seconds.toFixed(0)} s`,
    `- \`node ${SERVE_NODE_FLAGS.join(' ')} dist/src/cli/ortex.js serve --workers N --metrics-port 0\`, the primary and its workers pinned to CPU ${notes.pin.server} ` +
      `(${cpusText(notes.serverCpus)}, ${Number.isNaN(notes.serverPhysicalCores) ? 'physical cores unknown' : `${notes.serverPhysicalCores} physical core${notes.serverPhysicalCores === 1 ? '' : 's'}`}); ` +
      `${notes.wrkVersion} pinned to CPU ${notes.pin.load}: \`wrk -t${notes.loadThreads} -c${notes.concurrency}\`, the same ${notes.concurrency} connections for every N, a closed loop (each connection sends its next request when the answer arrives)`,
    `- ${notes.model}, ${config}, and the same model file as models/out/${notes.model}.onnx; HTTP JSON requests, batch 1, wrk cycling through ${notes.poolSize} distinct bodies encoded by ortex's client encoder`,
    `- each trial: ${notes.warmupS} s warm-up, wait until the process tree is idle, ${notes.durationS} s timed; wrk --timeout ${notes.timeoutS} s (a timed-out request has no latency sample); then SIGTERM to the primary`,
    '- 1 worker is `ortex serve` as without --workers: one process, no primary; from 2 on, a primary (which serves nothing) forks the workers',
    '- every figure: median over repeats (min–max); "÷ 1 worker" is the ratio of the medians (min–max of the per-repeat ratios, repeat i of each count having run in the same round)',
    '- requests per worker: each worker\'s own ortex_request_success_total (its --metrics-port listener) over the timed run; a keep-alive connection stays with the worker that accepted it, so this is how the kernel (SO_REUSEPORT) spread wrk\'s connections',
    '- server CPU: user + system CPU time of the primary and all its workers over the timed run, in cores (at most the server CPUs); wrk CPU likewise for wrk',
    '',
    '## Requests/s versus workers',
    '',
    workersTable(figures, counts, notes),
    '',
    '## What this shows',
    '',
    ...scalingLines(figures, notes),
    '',
    '## Checks',
    '',
    ...checks.lines,
    '',
  ].join('\n');
  return { md, ok: checks.ok };
}

/** Checks the tools and the build; answers wrk's version. */
function preflight(args: Args): string {
  const wrk = spawnSync('wrk', ['--version'], { encoding: 'utf8' });
  if (wrk.error) throw new Error('bench: wrk is not installed (Debian: apt-get install wrk)');
  for (const list of [args.pin.server, args.pin.load]) {
    const t = spawnSync('taskset', ['-c', list, 'true'], { encoding: 'utf8' });
    if (t.error || t.status !== 0) throw new Error(`bench: cannot pin to CPU ${list} with taskset: ${(t.stderr || t.error?.message || '').trim()} (see --pin)`);
  }
  if (!existsSync(ORTEX_CLI)) throw new Error(`bench: ${ORTEX_CLI} is missing; run \`npm run build\` first`);
  ensureModels([args.group.model.path]);
  return `wrk ${wrk.stdout.split(' ')[1] ?? '?'}`;
}

function describe(r: WorkersResult): string {
  const e = r.wrk.errors;
  const total = r.workerRequests.reduce((a, n) => a + n, 0);
  return (
    `${r.reqPerSec.toFixed(0)} req/s, p50 ${(r.wrk.latencyUs.p50 / 1000).toFixed(2)} ms, p99 ${(r.wrk.latencyUs.p99 / 1000).toFixed(2)} ms, ` +
    `server ${r.serverCpuCores.toFixed(2)} cores, wrk ${r.loadCpuCores.toFixed(2)} cores, per worker ${r.workerRequests.map((n) => pct(n / total)).join('/')} %, ` +
    `${e.status} non-2xx, ${e.timeout} timeouts, ${e.connect + e.read + e.write} socket errors, exit ${r.exit.signal ?? r.exit.code}`
  );
}

async function main(): Promise<void> {
  const args = readArgs(process.argv.slice(2));
  const started = Date.now();
  const loadAvgStart = loadavg();
  const code = codeState();
  const wrkVersion = preflight(args);
  const group = { ...args.group, concurrency: args.concurrency, ...(args.quick ? QUICK : {}) };
  const counts: WorkersCountResult[] = workerCounts(args.maxWorkers).map((workers) => ({ workers, results: [], failures: [] }));
  if (args.maxWorkers > args.serverCpus.length) {
    log(`bench: up to ${args.maxWorkers} workers on ${cpusText(args.serverCpus.length)}: the counts past ${args.serverCpus.length} measure sharing, not scaling`);
  }

  for (let rep = 0; rep < args.repeats; rep++) {
    for (const c of rotated(counts, rep)) {
      const trial: WorkersTrial = { kind: 'serving', row: ROW, pin: args.pin, ...group, workers: c.workers, loadThreads: args.loadCpus.length };
      const tag = `bench: [${rep + 1}/${args.repeats}] ${group.model.name} c${group.concurrency} --workers ${c.workers}`;
      try {
        const r = await runWorkersTrial(trial, rep);
        c.results.push(r);
        log(`${tag}: ${describe(r)}`);
      } catch (err) {
        const reason = (err as Error).message.split('\n')[0]!;
        c.failures.push(`repeat ${rep + 1}: ${reason}`);
        log(`${tag}: failed (${(err as Error).message})`);
      }
    }
  }

  const info = machineInfo({ started, loadAvgStart, repeats: args.repeats, ortexOrt: await ortexOrtVersion(), code });
  const notes: WorkersNotes = {
    pin: args.pin,
    serverCpus: args.serverCpus.length,
    loadCpus: args.loadCpus.length,
    serverPhysicalCores: physicalCores(args.serverCpus),
    loadThreads: args.loadCpus.length,
    concurrency: group.concurrency,
    model: group.model.name,
    warmupS: group.warmupS,
    durationS: group.durationS,
    timeoutS: group.timeoutS,
    poolSize: group.poolSize,
    wrkVersion,
  };
  const one = counts.find((c) => c.workers === 1);
  const figures = counts.flatMap((c) => figuresOf(c, one) ?? []);
  const { md, ok } = workersMarkdown(info, figures, counts, notes);
  mkdirSync(args.out, { recursive: true });
  writeFileSync(resolve(args.out, 'workers.json'), `${JSON.stringify({ info, notes, counts, figures }, null, 2)}\n`);
  writeFileSync(resolve(args.out, 'workers.md'), md);
  process.stdout.write(md);
  log(`bench: wrote ${resolve(args.out, 'workers.json')} and workers.md in ${info.seconds.toFixed(0)} s`);
  if (!ok) {
    log('bench: a trial failed or a check did not hold (see the Checks section)');
    process.exitCode = 1;
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
