/**
 * `npm run bench:serving`: HTTP serving under load from wrk, ortex against fastify +
 * onnxruntime-node (issue 4, "Proof → Benchmark"; issue 5, "Serving").
 *
 *   node dist/bench/serving.js [--repeats=N] [--quick] [--only=ctr_mlp] [--rows=id,id] [--concurrency=64] [--pin=0:1] [--out=DIR]
 *
 * --repeats: default 3, or 1 with --quick; --quick: 2 s timed instead of 5 s; --only: one model;
 * --rows: only these rows of SERVING_ROWS (by id); --concurrency: only this one; --out: the
 * directory for serving.json and serving.md, default bench/out;
 * --pin: the CPUs (taskset lists) of the servers and of wrk, default 0:1.
 *
 * Runs every trial of bench/serving-trials.ts through bench/serving-trial.ts, `repeats` times;
 * each trial starts its server in a fresh process pinned to the server CPUs of --pin, and wrk
 * on the others. Within a repeat the rows of a group run back to back, in an order rotated each
 * repeat. Writes bench/out/serving.json and bench/out/serving.md, and prints the Markdown.
 *
 * Needs `npm run build` (dist/ and the addon), `wrk` and `taskset` (Debian: apt-get install
 * wrk util-linux), and two CPUs. The cache row runs only once `ortex serve` has --cache-bytes.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { servingPlots, writePlots } from './plots.js';
import { ROOT, codeState, ensureModels, log, machineInfo, ortexOrtVersion, rotated, spawnTrial } from './harness.js';
import { type ServingGroupResult, type ServingNotes, servingFigures, servingMarkdown } from './serving-report.js';
import { ORTEX_CLI } from './serving-servers.js';
import type { ServingResult } from './serving-trial.js';
import { CONCURRENCIES, type Pinning, QUICK, SERVING_GROUPS, SERVING_ROWS, type ServingRow, rowsFor, servingLabel, servingTrial } from './serving-trials.js';

const TRIAL_JS = resolve(ROOT, 'dist/bench/serving-trial.js');
/** Server start (model load and warm-up) up to 2 min, plus warm-up, settling and the timed run. */
const TRIAL_TIMEOUT_MS = 240_000;

function readArgs(argv: string[]): { repeats: number; quick: boolean; only: string | undefined; rows: string[] | undefined; concurrency: number | undefined; pin: Pinning; out: string } {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: { repeats: { type: 'string' }, quick: { type: 'boolean' }, only: { type: 'string' }, rows: { type: 'string' }, concurrency: { type: 'string' }, pin: { type: 'string' }, out: { type: 'string' } },
      strict: true,
    }));
  } catch (err) {
    throw new TypeError(`Expected --repeats=N, --quick, --only=<model>, --rows=<id,...>, --concurrency=N or --pin=<server cpu>:<wrk cpu>: ${(err as Error).message}`);
  }
  const repeats = values.repeats ?? (values.quick ? '1' : '3');
  if (!/^[1-9]\d*$/.test(repeats)) throw new RangeError(`Expected a positive integer for --repeats but received '${repeats}'`);
  const [server, load, extra] = (values.pin ?? '0:1').split(':');
  if (!server || !load || extra !== undefined) throw new TypeError(`Expected --pin=<server cpu list>:<wrk cpu list> (e.g. 0:1) but received '${values.pin}'`);
  const rows = values.rows?.split(',');
  const unknown = rows?.filter((id) => !SERVING_ROWS.some((r) => r.id === id));
  if (unknown && unknown.length > 0) throw new RangeError(`Expected --rows to name rows of ${SERVING_ROWS.map((r) => r.id).join(', ')} but received ${unknown.join(', ')}`);
  const concurrency = values.concurrency === undefined ? undefined : Number(values.concurrency);
  if (concurrency !== undefined && !CONCURRENCIES.includes(concurrency)) throw new RangeError(`Expected --concurrency to be one of ${CONCURRENCIES.join(', ')} but received '${values.concurrency}'`);
  return { repeats: Number(repeats), quick: values.quick === true, only: values.only, rows, concurrency, pin: { server, load }, out: resolve(ROOT, values.out ?? 'bench/out') };
}

type Args = ReturnType<typeof readArgs>;

/** Checks the tools and the build, and finds out which rows this build can run (the rest, with the reason). */
function preflight(args: Args, models: readonly string[]): { notes: ServingNotes } {
  const wrk = spawnSync('wrk', ['--version'], { encoding: 'utf8' });
  if (wrk.error) throw new Error('bench: wrk is not installed (Debian: apt-get install wrk)');
  for (const cpu of [args.pin.server, args.pin.load]) {
    const t = spawnSync('taskset', ['-c', cpu, 'true'], { encoding: 'utf8' });
    if (t.error || t.status !== 0) throw new Error(`bench: cannot pin to CPU ${cpu} with taskset: ${(t.stderr || t.error?.message || '').trim()} (see --pin)`);
  }
  if (!existsSync(ORTEX_CLI) || !existsSync(TRIAL_JS)) throw new Error(`bench: ${ORTEX_CLI} or ${TRIAL_JS} is missing; run \`npm run build\` first`);
  ensureModels(SERVING_GROUPS.filter((g) => models.includes(g.model.name)).map((g) => g.model.path));
  const help = spawnSync(process.execPath, [ORTEX_CLI, 'serve', '--help'], { encoding: 'utf8', cwd: ROOT });
  const skippedRows: Record<string, string> = {};
  for (const row of SERVING_ROWS) {
    if (row.cache && !help.stdout.includes('--cache-bytes')) {
      skippedRows[row.id] = '`ortex serve --help` lists no --cache-bytes: the server does not expose the response cache yet';
    }
  }
  const fastifyVersion = JSON.parse(readFileSync(resolve(ROOT, 'node_modules/fastify/package.json'), 'utf8')).version as string;
  const wrkVersion = `wrk ${wrk.stdout.split(' ')[1] ?? '?'}`;
  return { notes: { pin: args.pin, smtSiblings: { server: siblings(args.pin.server), load: siblings(args.pin.load) }, wrkVersion, fastifyVersion, skippedRows } };
}

/** The hardware threads sharing a core with `cpu` (a single CPU number), from sysfs; '?' when unknown. */
function siblings(cpu: string): string {
  try {
    return readFileSync(`/sys/devices/system/cpu/cpu${Number(cpu)}/topology/thread_siblings_list`, 'utf8').trim();
  } catch {
    return '?';
  }
}

function describe(r: ServingResult): string {
  const e = r.wrk.errors;
  const errors = e.status + e.timeout + e.connect + e.read + e.write;
  return (
    `${r.reqPerSec.toFixed(0)} req/s, p50 ${(r.wrk.latencyUs.p50 / 1000).toFixed(2)} ms, p99 ${(r.wrk.latencyUs.p99 / 1000).toFixed(2)} ms, ` +
    `server ${r.serverCpuCores.toFixed(2)} cores, wrk ${r.loadCpuCores.toFixed(2)} cores` +
    (errors > 0 ? `, ${e.status} non-2xx, ${e.timeout} timeouts, ${e.connect + e.read + e.write} socket errors` : '')
  );
}

async function main(): Promise<void> {
  const args = readArgs(process.argv.slice(2));
  const started = Date.now();
  const loadAvgStart = loadavg();
  const code = codeState();
  const groups = SERVING_GROUPS
    .filter((g) => (!args.only || g.model.name === args.only) && (args.concurrency === undefined || g.concurrency === args.concurrency))
    .map((g) => (args.quick ? { ...g, ...QUICK } : g));
  if (groups.length === 0) throw new RangeError(`Expected --only to name one of ${[...new Set(SERVING_GROUPS.map((g) => g.model.name))].join(', ')} but received '${args.only}'`);
  const { notes } = preflight(args, groups.map((g) => g.model.name));
  const repeats = args.repeats;
  const runnable = (row: ServingRow) => notes.skippedRows[row.id] === undefined && (!args.rows || args.rows.includes(row.id));

  const results: ServingGroupResult[] = groups.map((g) => ({
    label: servingLabel(g),
    model: g.model.name,
    concurrency: g.concurrency,
    warmupS: g.warmupS,
    durationS: g.durationS,
    timeoutS: g.timeoutS,
    poolSize: g.poolSize,
    rows: rowsFor(g.model.name, g.concurrency, runnable),
    repeats: {},
    missing: {},
  }));

  for (let rep = 0; rep < repeats; rep++) {
    groups.forEach((g, gi) => {
      const res = results[gi]!;
      for (const row of rotated(res.rows, rep + gi)) {
        const tag = `bench: [${rep + 1}/${repeats}] ${res.label} ${row.id}`;
        const out = spawnTrial<ServingResult>(TRIAL_JS, servingTrial(g, row, args.pin), { label: `${res.label} ${row.id}`, timeoutMs: TRIAL_TIMEOUT_MS });
        if (!out.ok) {
          res.missing[row.id] = out.reason;
          log(`${tag}: not run (${out.reason})`);
          continue;
        }
        (res.repeats[row.id] ??= []).push(out.result);
        log(`${tag}: ${describe(out.result)}`);
      }
    });
  }

  const info = machineInfo({ started, loadAvgStart, repeats, ortexOrt: await ortexOrtVersion(), code });
  const figures = results.flatMap(servingFigures);
  const md = servingMarkdown(info, figures, results, notes);
  const outDir = args.out;
  mkdirSync(outDir, { recursive: true });
  writeFileSync(resolve(outDir, 'serving.json'), `${JSON.stringify({ info, notes, groups: results, figures }, null, 2)}\n`);
  writeFileSync(resolve(outDir, 'serving.md'), md);
  process.stdout.write(md);
  const plots = await writePlots(servingPlots({ info, figures }), outDir);
  log(`bench: wrote ${resolve(outDir, 'serving.json')}, serving.md and ${plots.length} plots in ${info.seconds.toFixed(0)} s`);
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
