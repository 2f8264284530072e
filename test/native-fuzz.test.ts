// Fuzz of the native run paths: test/fixtures/native-fuzz.mjs throws fast-check-generated
// feeds (random dtypes, dims negative/NaN/huge/of the wrong rank, every TypedArray kind,
// DataView, ArrayBuffer, resizable, shared and detached buffers, wrong lengths) at
// InferenceSession#run() and #runSync(), IoBinding (bound buffers resized or detached after
// binding), Model#infer() and the raw native binding, on 13 generated models. It runs in a
// child process so that a crash shows here as a failed test naming its signal and the case
// that caused it, rather than as a dead vitest worker.
//
// ORTEX_FUZZ_MS sets the time budget (default 12 s), ORTEX_FUZZ_SEED the seed (fixed by
// default, so a failure reproduces: the child prints fast-check's counterexample and path).
import { execFile } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const MODELS = fileURLToPath(new URL('../models/out/', import.meta.url));
const SCRIPT = fileURLToPath(new URL('./fixtures/native-fuzz.mjs', import.meta.url));
const BUDGET_MS = Number(process.env.ORTEX_FUZZ_MS ?? 12_000);
const SEED = Number(process.env.ORTEX_FUZZ_SEED ?? 20_260_611);

interface FuzzReport {
  runs: number;
  ms: number;
  lanes: Record<string, number>;
  outcomes: Record<string, number>;
  sane: boolean;
  failure?: string;
}

describe('InferenceSession#run(), #runSync(), IoBinding and Model#infer() under fuzzed feeds', () => {
  it('never crash: each call gives well-formed outputs or throws an Error with an ERR_ code', async () => {
    const lastCase = join(tmpdir(), `ortex-native-fuzz-${process.pid}.json`);
    const { code, signal, stdout, stderr } = await new Promise<{ code: number | null; signal: string | null; stdout: string; stderr: string }>((resolve) => {
      execFile(process.execPath, [SCRIPT, MODELS, String(SEED), String(BUDGET_MS), lastCase], { timeout: BUDGET_MS + 60_000, maxBuffer: 64 * 1024 * 1024 }, (err, out, errOut) => {
        const e = err as (Error & { code?: number; signal?: string }) | null;
        resolve({ code: e ? (typeof e.code === 'number' ? e.code : null) : 0, signal: e?.signal ?? null, stdout: out, stderr: errOut });
      });
    });
    let last = '';
    try {
      last = readFileSync(lastCase, 'utf8');
    } finally {
      rmSync(lastCase, { force: true });
    }
    // A signal (SIGSEGV, SIGABRT) means the addon or ONNX Runtime crashed on the last case.
    expect(signal, `the fuzz process died of ${signal} on the case:\n${last}\nstderr:\n${stderr.slice(-4000)}`).toBeNull();
    const line = stdout.trim().split('\n').pop() ?? '';
    expect(line, `no report (exit ${code}); stderr:\n${stderr.slice(-4000)}`).toMatch(/^\{/);
    const report = JSON.parse(line) as FuzzReport;
    console.log(`native fuzz: ${report.runs} cases in ${report.ms} ms (seed ${SEED}); lanes ${JSON.stringify(report.lanes)}; outcomes ${JSON.stringify(report.outcomes)}`);
    expect(report.failure, report.failure).toBeUndefined();
    expect(code).toBe(0);
    expect(report.sane).toBe(true);
    // Enough of every kind ran for the verdict to mean something.
    expect(report.runs).toBeGreaterThan(BUDGET_MS / 50);
    for (const lane of ['run', 'runGeneral', 'runSync', 'binding', 'bindingAsync', 'model', 'raw', 'rawFast']) {
      expect(report.lanes[lane] ?? 0, lane).toBeGreaterThan(report.runs / 40);
    }
    expect(report.outcomes.ok ?? 0).toBeGreaterThan(report.runs / 10);
    for (const outcome of Object.keys(report.outcomes)) expect(outcome).toMatch(/^(ok|(build:)?ERR_[A-Z0-9_]+)$/);
  }, BUDGET_MS + 90_000);
});
