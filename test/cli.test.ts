// The `ortex` command, as `npm start` runs it: the compiled CLI in a child process serving
// the bundled repository (its model file generated on start), answering health and
// inference over a real socket, and exiting 0 after a graceful shutdown on SIGTERM/SIGINT.
// It runs dist/: `npm ci` (or `npx tsc -p .`) builds it.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync, statSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { SERVE_NODE_FLAGS } from '../src/cli/node-flags.js';
import { CLI, ROOT, startServe } from './fixtures/serve-process.js';

const BUNDLED_MODEL = `${ROOT}models/repository/ctr_mlp/1/model.onnx`;
const start = startServe;

const run = (...args: string[]) => spawnSync(process.execPath, [CLI, ...args], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });

beforeAll(() => {
  expect(existsSync(CLI), `${CLI} is missing: build with \`npx tsc -p .\``).toBe(true);
  for (const src of ['src/cli/ortex.ts', 'src/cli/serve-options.ts', 'src/server/server.ts', 'src/server/routes.ts', 'src/server/http.ts']) {
    const built = `${ROOT}dist/${src.replace(/\.ts$/, '.js')}`;
    expect(statSync(built).mtimeMs, `${built} is older than ${src}: rebuild with \`npx tsc -p .\``).toBeGreaterThanOrEqual(statSync(`${ROOT}${src}`).mtimeMs);
  }
});

describe('ortex serve (npm start)', () => {
  it('generates the bundled model, serves it, and exits 0 on SIGTERM after a graceful shutdown', async () => {
    rmSync(BUNDLED_MODEL, { force: true });
    const s = await start([]);
    try {
      expect(existsSync(BUNDLED_MODEL)).toBe(true);
      expect(s.logs.find((l) => l.msg === "generated the bundled repository's model files")).toBeDefined();
      expect(s.logs.find((l) => l.msg === 'listening')).toMatchObject({ host: '127.0.0.1', mode: 'none' });
      const base = `http://127.0.0.1:${s.port}`;
      const ready = await fetch(`${base}/v2/health/ready`);
      expect(ready.status).toBe(200);
      expect(await (await fetch(`${base}/v2/models/ctr_mlp`)).json()).toMatchObject({ name: 'ctr_mlp', versions: ['1'], inputs: [{ name: 'x', datatype: 'FP32', shape: [-1, 64] }] });
      const infer = await fetch(`${base}/v2/models/ctr_mlp/infer`, {
        method: 'POST',
        body: JSON.stringify({ inputs: [{ name: 'x', datatype: 'FP32', shape: [2, 64], data: new Array(128).fill(0.1) }] }),
      });
      expect(infer.status).toBe(200);
      const out = (await infer.json()) as { outputs: Array<{ name: string; shape: number[]; data: number[] }> };
      expect(out.outputs[0]).toMatchObject({ name: 'y', shape: [2, 1] });
      expect(out.outputs[0]!.data[0]).toBeGreaterThan(0);
      expect(out.outputs[0]!.data[0]).toBeLessThan(1);
      s.child.kill('SIGTERM');
      expect(await s.exited).toBe(0);
      expect(s.logs.map((l) => l.msg)).toEqual(expect.arrayContaining(['shutting down: finishing requests in flight', 'model version unloaded', 'server closed']));
    } finally {
      s.child.kill('SIGKILL');
    }
  });

  it('exits 0 on SIGINT too, in explicit mode with a model loaded at start', async () => {
    const s = await start(['--model-control-mode', 'explicit', '--load-model', 'ctr_mlp', '--log-level', 'info']);
    try {
      expect((await fetch(`http://127.0.0.1:${s.port}/v2/models/ctr_mlp/ready`)).status).toBe(200);
      s.child.kill('SIGINT');
      expect(await s.exited).toBe(0);
    } finally {
      s.child.kill('SIGKILL');
    }
  });

  it('exits 2 on a usage error, saying what was expected', () => {
    const badPort = run('serve', '--port', 'eighty');
    expect(badPort.status).toBe(2);
    expect(badPort.stderr).toMatch(/Expected an integer from 0 to 65535 for --port but received "eighty"/);
    const badMode = run('serve', '--model-control-mode', 'sometimes');
    expect(badMode.status).toBe(2);
    expect(badMode.stderr).toMatch(/Expected one of none, explicit, poll for --model-control-mode/);
    expect(run('serve', '--frobnicate').status).toBe(2);
    expect(run('serve', '--load-model', 'm').stderr).toMatch(/--load-model needs --model-control-mode explicit/);
    expect(run('frobnicate').status).toBe(2);
  });

  it('exits 1 when it cannot serve, and prints help and version', () => {
    const missing = run('serve', '--repo', '/nonexistent/repository', '--port', '0', '--log-level', 'silent');
    expect(missing.status).toBe(1);
    expect(missing.stderr).toMatch(/ortex: Expected a model repository directory at \/nonexistent\/repository/);
    const help = run('serve', '--help');
    expect(help.status).toBe(0);
    expect(help.stdout).toMatch(/--model-control-mode M/);
    expect(run('--version').stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
  });
});

describe("the node flags `ortex serve` ships with (src/cli/node-flags.ts)", () => {
  const firstLine = readFileSync(CLI, 'utf8').split('\n', 1)[0]!;

  it("are the CLI's first line and npm start's (the Dockerfile's: test/deploy-manifests.test.ts)", () => {
    expect(firstLine).toBe(`#!/usr/bin/env -S node ${SERVE_NODE_FLAGS.join(' ')}`);
    const pkg = JSON.parse(readFileSync(`${ROOT}package.json`, 'utf8')) as { scripts: Record<string, string> };
    expect(pkg.scripts.start).toBe(`node ${SERVE_NODE_FLAGS.join(' ')} dist/src/cli/ortex.js serve`);
  });

  it('are what node runs with, in the primary and each worker, when the CLI runs as a program', async () => {
    // What the kernel runs for `ortex serve ...` (npm's bin link): the interpreter line's
    // program with the rest of the line as one argument, then the script and its arguments.
    const [program, rest] = [firstLine.slice(2, firstLine.indexOf(' ')), firstLine.slice(firstLine.indexOf(' ') + 1)];
    const s = await startServe(['--workers', '2'], 'workers ready', [], [program, rest]);
    try {
      const pids = [s.child.pid!, ...(s.ready.workers as number[])];
      expect(pids).toHaveLength(3);
      for (const pid of pids) {
        const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
        expect(argv.slice(1, 1 + SERVE_NODE_FLAGS.length), `node's flags in process ${pid}: ${argv.join(' ')}`).toEqual(SERVE_NODE_FLAGS);
        expect(argv[1 + SERVE_NODE_FLAGS.length]).toBe(CLI);
      }
    } finally {
      s.child.kill('SIGTERM');
      await s.exited;
    }
  });
});
