/**
 * `npm run bench:full`: every benchmark, one after the other, then every plot.
 *
 *   npm run bench:full [-- <flags for every benchmark, e.g. --quick>]
 *
 * Runs each script of BENCHES that package.json defines (`npm run <script>`), in that order,
 * so that no two benchmarks share the machine; a script not defined yet is reported and
 * skipped, and a failed one does not stop the rest. Then redraws all plots from bench/out/
 * (bench/plots.ts). Exits non-zero when any benchmark failed. The serving benchmark alone
 * takes about 13 minutes here and wants a quiet machine.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { ROOT, log } from './harness.js';

/** The benchmarks, in the order they run: the one list to extend when a `bench:*` script is added. */
// The cache's Zipf workload is part of bench:serving (its ortex-json-zipf rows).
export const BENCHES: readonly string[] = ['bench', 'bench:batching', 'bench:serving', 'bench:soak'];

function main(): void {
  const flags = process.argv.slice(2);
  const scripts = (JSON.parse(readFileSync(resolve(ROOT, 'package.json'), 'utf8')) as { scripts?: Record<string, string> }).scripts ?? {};
  const started = Date.now();
  const outcome: string[] = [];
  let failed = 0;
  for (const name of BENCHES) {
    if (scripts[name] === undefined) {
      outcome.push(`${name}: not in package.json, skipped`);
      continue;
    }
    log(`bench:full: npm run ${name}${flags.length > 0 ? ` -- ${flags.join(' ')}` : ''}`);
    const t0 = Date.now();
    // The latency bench's every-model matrix (its default is the headline set, under 5 minutes).
    const own = name === 'bench' ? ['--full'] : [];
    const args = [...own, ...flags];
    const r = spawnSync('npm', ['run', name, ...(args.length > 0 ? ['--', ...args] : [])], { cwd: ROOT, stdio: 'inherit' });
    const s = ((Date.now() - t0) / 1000).toFixed(0);
    if (r.status === 0) outcome.push(`${name}: done in ${s} s`);
    else {
      failed++;
      outcome.push(`${name}: FAILED (${r.error ? r.error.message : r.signal ? `killed by ${r.signal}` : `exit ${r.status}`}) after ${s} s`);
    }
  }
  const plots = spawnSync(process.execPath, [resolve(ROOT, 'dist/bench/plots.js')], { cwd: ROOT, stdio: 'inherit' });
  outcome.push(`plots: ${plots.status === 0 ? 'redrawn in bench/out/' : 'FAILED'}`);
  log(`\nbench:full: ${((Date.now() - started) / 1000).toFixed(0)} s in all\n${outcome.map((o) => `- ${o}`).join('\n')}`);
  if (failed > 0 || plots.status !== 0) process.exitCode = 1;
}

main();
