/**
 * `npm run bench:soak`: a million requests (by default) to `ortex serve` over HTTP JSON, HTTP
 * binary and WebSocket, checking every answer, while the server's RSS and the latency
 * percentiles are followed window by window (bench/soak-run.ts). Writes bench/out/soak.json
 * and soak.md, prints the summary; exits 1 when a request failed or the server did not shut
 * down cleanly.
 *
 *   node dist/bench/soak.js [--requests N] [--duration S] [--concurrency N] [--window S] [--pin] [--server-node-flag F]... [--no-server-node-flags]
 *
 * --requests N          requests in all (default 1000000)
 * --duration S          stop after S seconds (alone: run for S seconds, whatever the count)
 * --concurrency N       closed loops per transport (default 16)
 * --window S            latency window in seconds (default 5)
 * --pin                 server on CPU 0, load on CPU 1 (taskset)
 * --server-node-flag F  a flag for the server's node in place of those `ortex serve` ships with
 *                       (src/cli/node-flags.ts), e.g. --server-node-flag=--max-semi-space-size=32 (repeatable)
 * --no-server-node-flags  the server's node with V8's defaults
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { ROOT, log } from './harness.js';
import { soakMarkdown, soakVerdicts } from './soak-report.js';
import { type SoakOptions, runSoak } from './soak-run.js';

const hasTaskset = () => spawnSync('/bin/sh', ['-c', 'command -v taskset']).status === 0;

function parseArgs(argv: readonly string[]): SoakOptions {
  const o: SoakOptions = {};
  const count = (flag: string, v: string | undefined) => {
    if (!v || !/^[1-9]\d*$/.test(v)) throw new TypeError(`Expected a positive integer for ${flag} but received ${JSON.stringify(v)}`);
    return Number(v);
  };
  const nodeFlags: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const eq = argv[i]!.indexOf('=');
    const flag = eq < 0 ? argv[i]! : argv[i]!.slice(0, eq);
    const inline = eq < 0 ? undefined : argv[i]!.slice(eq + 1);
    const value = () => inline ?? argv[++i];
    if (flag === '--requests') o.requests = count(flag, value());
    else if (flag === '--duration') o.durationMs = count(flag, value()) * 1000;
    else if (flag === '--concurrency') o.concurrency = count(flag, value());
    else if (flag === '--window') o.windowMs = count(flag, value()) * 1000;
    else if (flag === '--pin') {
      if (!hasTaskset()) throw new Error('--pin needs taskset (util-linux) on PATH');
      o.pin = { server: '0', load: '1' };
    } else if (flag === '--server-node-flag') {
      const f = value();
      if (!f?.startsWith('--')) throw new TypeError(`Expected a node flag (--...) for --server-node-flag but received ${JSON.stringify(f)}`);
      nodeFlags.push(f);
    } else if (flag === '--no-server-node-flags') o.serverNodeFlags = [];
    else throw new TypeError(`Expected --requests N, --duration S, --concurrency N, --window S, --pin, --server-node-flag F or --no-server-node-flags but received '${argv[i]}'`);
  }
  if (nodeFlags.length > 0) {
    if (o.serverNodeFlags) throw new TypeError('Expected --server-node-flag F or --no-server-node-flags but received both');
    o.serverNodeFlags = nodeFlags;
  }
  return o;
}

async function main(): Promise<void> {
  const options = parseArgs(process.argv.slice(2));
  const result = await runSoak({ ...options, log });
  const out = resolve(ROOT, 'bench/out');
  mkdirSync(out, { recursive: true });
  writeFileSync(resolve(out, 'soak.json'), `${JSON.stringify(result, null, 1)}\n`);
  const md = soakMarkdown(result);
  writeFileSync(resolve(out, 'soak.md'), md);
  process.stdout.write(md.slice(0, md.indexOf('\n## Windows')) + '\n');
  log(`soak: wrote ${resolve(out, 'soak.json')} and soak.md`);
  const v = soakVerdicts(result);
  if (!v.errors || result.summary.serverExit !== 0) process.exitCode = 1;
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
