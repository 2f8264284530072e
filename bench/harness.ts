/**
 * What every benchmark driver needs around its trial processes: which code was measured,
 * the machine it ran on, the rotation that interleaves runners, and reading a trial's answer.
 * (bench/run.ts predates this file and keeps its own copies.)
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { MachineInfo } from './report.js';

export const ROOT = resolve(fileURLToPath(import.meta.url), '../../..');

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
