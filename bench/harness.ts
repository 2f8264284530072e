/**
 * What every benchmark driver needs around its trial processes: which code was measured,
 * the machine it ran on, the rotation that interleaves runners, and reading a trial's answer.
 * (bench/run.ts predates this file and keeps its own copies.)
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { cpus, loadavg } from 'node:os';
import { resolve } from 'node:path';
import { packageRoot } from '../src/package-info.js';
import type { MachineInfo } from './report.js';

/** The package's root, whether this runs compiled (dist/bench/) or from source (bench/, in the CI tests). */
export const ROOT = packageRoot();

export function log(msg: string): void {
  process.stderr.write(`${msg}\n`);
}

/** A trial prints its result as the last line of its stdout. */
export function lastJsonLine(stdout: string): unknown {
  const line = stdout.trim().split('\n').pop() ?? '';
  return JSON.parse(line);
}

/** Rotates the order of a repeat's runners by `by`, so none always runs first. */
export function rotated<T>(items: readonly T[], by: number): T[] {
  if (items.length === 0) return [];
  const k = by % items.length;
  return [...items.slice(k), ...items.slice(0, k)];
}

export const sleep = (ms: number) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);

/** Which code was measured: the commit, whether src/ or native/ had local changes, the addon's hash. */
export function codeState(): MachineInfo['code'] {
  const git = (...a: string[]) => spawnSync('git', a, { cwd: ROOT, encoding: 'utf8' }).stdout?.trim() ?? '';
  const addon = resolve(ROOT, 'build/Release/ortex.node');
  return {
    commit: git('rev-parse', '--short', 'HEAD') || 'unknown',
    dirty: git('status', '--porcelain', '--untracked-files=no', 'src', 'native').length > 0,
    addonSha256: existsSync(addon) ? createHash('sha256').update(readFileSync(addon)).digest('hex').slice(0, 12) : 'missing',
  };
}

/** The machine and versions, once the trials are done (`started` and `loadAvgStart` from before them). */
export function machineInfo(o: { started: number; loadAvgStart: number[]; repeats: number; ortexOrt: string; code: MachineInfo['code'] }): MachineInfo {
  return {
    date: new Date().toISOString(),
    cpu: cpus()[0]?.model ?? 'unknown',
    cores: cpus().length,
    node: process.version,
    ort: JSON.parse(readFileSync(resolve(ROOT, 'node_modules/onnxruntime-node/package.json'), 'utf8')).version,
    ortexOrt: o.ortexOrt,
    code: o.code,
    loadAvgStart: o.loadAvgStart,
    loadAvgEnd: loadavg(),
    repeats: o.repeats,
    seconds: (Date.now() - o.started) / 1000,
  };
}

/** Generates models/out/ when any of `paths` (relative to the root) is missing. */
export function ensureModels(paths: readonly string[]): void {
  if (paths.every((p) => existsSync(resolve(ROOT, p)))) return;
  log('bench: generating models into models/out/ ...');
  const r = spawnSync(process.execPath, [resolve(ROOT, 'dist/models/generate.js')], { cwd: ROOT, stdio: ['ignore', 'ignore', 'inherit'] });
  if (r.status !== 0) throw new Error('bench: `node dist/models/generate.js` failed; run `npm run build` first');
}

/** A trial process's answer, or why there is none (`missing`: it exited with the "not in this build" status). */
export type TrialOutcome<R> = { ok: true; result: R } | { ok: false; missing: boolean; reason: string };

function spawnTrialOnce<R>(script: string, trial: unknown, timeoutMs: number, missingStatus: number | undefined): TrialOutcome<R> {
  const r = spawnSync(process.execPath, [script, JSON.stringify(trial)], { encoding: 'utf8', cwd: ROOT, timeout: timeoutMs });
  if (r.status === 0) return { ok: true, result: lastJsonLine(r.stdout) as R };
  const firstLine = r.stderr.trim().split('\n').find((l) => l.trim().length > 0) ?? '';
  const reason = r.signal ? `killed by ${r.signal}${r.error ? ` (${r.error.message})` : ''}` : `exit ${r.status}: ${firstLine}`;
  return { ok: false, missing: missingStatus !== undefined && r.status === missingStatus, reason };
}

/**
 * Runs `node <script> '<trial as JSON>'` and reads its last stdout line. A failed trial is
 * retried once after a pause: on a shared checkout the addon may be mid-rebuild.
 */
export function spawnTrial<R>(script: string, trial: unknown, o: { label: string; timeoutMs: number; missingStatus?: number }): TrialOutcome<R> {
  const first = spawnTrialOnce<R>(script, trial, o.timeoutMs, o.missingStatus);
  if (first.ok || first.missing) return first;
  log(`bench: ${o.label} failed (${first.reason}); retrying in 5 s`);
  sleep(5_000);
  return spawnTrialOnce<R>(script, trial, o.timeoutMs, o.missingStatus);
}

/**
 * The body of a trial script: parses the trial of kind `kind` from argv[2], runs it, prints
 * the result as one JSON line; on failure prints the stack and exits with `exitStatus(err)`.
 */
export function trialMain<T extends { kind: string }>(kind: T['kind'], run: (trial: T) => Promise<unknown>, exitStatus: (err: unknown) => number = () => 1): void {
  const go = async () => {
    const arg = process.argv[2];
    if (!arg) throw new TypeError(`Expected a trial as JSON: node ${process.argv[1]} '{"kind":"${kind}",...}'`);
    const trial = JSON.parse(arg) as T;
    if (trial.kind !== kind) throw new TypeError(`Expected a '${kind}' trial but received '${String(trial.kind)}'`);
    process.stdout.write(`${JSON.stringify(await run(trial))}\n`);
  };
  go().catch((err: unknown) => {
    process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(exitStatus(err));
  });
}

/** The flags every benchmark driver takes. */
export interface BenchArgs {
  repeats: number;
  quick: boolean;
  only?: string;
  /** Every trial rather than the headline set (where a bench has both). */
  full: boolean;
}

/** Parses `--repeats=N`, `--quick`, `--only=<model>` and `--full`; throws on anything else. */
export function parseBenchArgs(argv: readonly string[], defaultRepeats: number): BenchArgs {
  const args: BenchArgs = { repeats: defaultRepeats, quick: false, full: false };
  for (const a of argv) {
    const [key, value] = a.split('=', 2) as [string, string | undefined];
    if (key === '--repeats' && value && /^[1-9]\d*$/.test(value)) args.repeats = Number(value);
    else if (key === '--quick') args.quick = true;
    else if (key === '--only' && value) args.only = value;
    else if (key === '--full' && value === undefined) args.full = true;
    else throw new TypeError(`Expected --repeats=N, --quick, --only=<model> or --full but received '${a}'`);
  }
  return args;
}

/** The ONNX Runtime version ortex's addon reports, or 'unknown' when it does not load. */
export async function ortexOrtVersion(): Promise<string> {
  try {
    return (await import('../src/index.js')).env.versions.onnxruntime;
  } catch {
    return 'unknown';
  }
}

/**
 * A native helper of the benchmarks (a CMakeLists.txt target: ortex_raw_run, ortex_ws_load,
 * ortex_raw_bench, whose file is ortex_raw_bench.node): its path under build/, built with
 * cmake-js first if it is absent; undefined when it cannot be built (the caller says what it
 * does without it).
 */
export function nativeTool(target: string, what: string, file = target): string | undefined {
  const candidates = [`build/Release/${file}`, `build/${file}`].map((p) => resolve(ROOT, p));
  const found = () => candidates.find((p) => existsSync(p));
  if (found()) return found();
  log(`bench: building ${what} (cmake-js, target ${target}) ...`);
  spawnSync('npx', ['cmake-js', 'compile', '--out', 'build', '-T', target], { cwd: ROOT, stdio: ['ignore', 'ignore', 'inherit'] });
  return found();
}

/** The raw C loop inside this process: bench/native/raw_loop_addon.cc says what each method does. */
export interface RawLoop {
  time(samplesUs: Float64Array, offset: number, count: number): void;
  bindCall(): () => void;
  release(): void;
}

/** build/Release/ortex_raw_bench.node, the addon that makes RawLoops. */
export function rawLoopAddon(): { RawLoop: new (modelPath: string, batch: number, intraOpThreads: number, seqLen: number) => RawLoop } {
  return createRequire(import.meta.url)(resolve(ROOT, 'build/Release/ortex_raw_bench.node')) as ReturnType<typeof rawLoopAddon>;
}
