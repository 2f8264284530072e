// Memory stays flat over many sessions and runs. Each check runs test/fixtures/leak-check.mjs
// in a fresh `node --expose-gc` (a forced collection is what makes two RSS samples
// comparable, and vitest's forks do not expose gc), which imports the compiled dist/.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';

const MODELS = fileURLToPath(new URL('../models/out/', import.meta.url));
const SCRIPT = fileURLToPath(new URL('./fixtures/leak-check.mjs', import.meta.url));
const DIST_INDEX = fileURLToPath(new URL('../dist/src/index.js', import.meta.url));

interface Sample {
  at: number;
  rssBytes: number;
  anonBytes?: number;
  fileBytes?: number;
}

interface LeakReport {
  phase: string;
  warmAt: number;
  warmRssBytes: number;
  finalRssBytes: number;
  aborted: boolean;
  samples: Sample[];
  wrongOutputs?: number;
  sessions?: number;
  models?: number;
  requests?: number;
  warmNativeBytes?: number;
  finalNativeBytes?: number;
  runs?: number;
  runSync?: number;
  run?: number;
  outputBytes?: number;
  sumOfOutputBytes?: number;
  ms: number;
}

const MiB = 1024 * 1024;
const mib = (bytes: number) => `${(bytes / MiB).toFixed(1)} MiB`;

/** The report as text for assertion messages: every sample, so a failure shows the trend. */
function describeReport(r: LeakReport): string {
  const rows = r.samples.map((s) => `  after ${s.at}: ${mib(s.rssBytes)}` + (s.anonBytes ? ` (anon ${mib(s.anonBytes)}, file ${mib(s.fileBytes ?? 0)})` : ''));
  return [`${r.phase}: after warm-up (${r.warmAt}) ${mib(r.warmRssBytes)}, final ${mib(r.finalRssBytes)}${r.aborted ? ', ABORTED at the 1 GiB ceiling' : ''}`, ...rows].join('\n');
}

function leakCheck(phase: 'sessions' | 'runs' | 'outputs' | 'tight-sync' | 'models' | 'batched'): Promise<LeakReport> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, ['--expose-gc', SCRIPT, phase, MODELS], { timeout: 55_000, maxBuffer: 16 * MiB }, (err, stdout, stderr) => {
      if (err) reject(new Error(`leak-check.mjs ${phase} failed (${err.message}); stderr:\n${stderr}`));
      else resolve(JSON.parse(stdout) as LeakReport);
    });
  });
}

beforeAll(() => {
  if (!existsSync(DIST_INDEX)) {
    throw new Error(`The compiled package is missing: ${DIST_INDEX} does not exist.\nRun \`npx tsc -p tsconfig.json\` (npm ci runs it in prepare), then re-run the tests.`);
  }
});

describe('InferenceSession.create() and #release()', () => {
  it('keep RSS within 10 % over 1,000 sessions each created, run and released', async () => {
    const r = await leakCheck('sessions');
    const report = describeReport(r);
    expect(r.aborted, report).toBe(false);
    expect(r.sessions).toBe(1250); // 250 of warm-up, then the 1,000 measured
    expect(r.wrongOutputs).toBe(0);
    expect(r.finalRssBytes, report).toBeLessThanOrEqual(r.warmRssBytes * 1.1);
  });
});

describe('InferenceSession#run() and #runSync()', () => {
  it('keep RSS within 10 % over 100,000 runs, half runSync and half run() with 64 in flight', async () => {
    const r = await leakCheck('runs');
    const report = describeReport(r);
    expect(r.aborted, report).toBe(false);
    expect({ runs: r.runs, runSync: r.runSync, run: r.run, wrongOutputs: r.wrongOutputs }).toEqual({ runs: 100_000, runSync: 50_000, run: 50_000, wrongOutputs: 0 });
    expect(r.finalRssBytes, report).toBeLessThanOrEqual(r.warmRssBytes * 1.1);
  });
});

describe('output tensors', () => {
  it('are freed once unreachable: 20,000 runs with a 1 MiB output grow RSS by under 2 % of the bytes they return', async () => {
    // No gc() here: ordinary collection and the ArrayBuffer finalizer must do it. Left
    // unfreed, the 18,000 outputs after warm-up would add about 18 GiB.
    const r = await leakCheck('outputs');
    const report = describeReport(r);
    expect(r.aborted, report).toBe(false);
    expect(r.runs).toBe(20_000);
    expect(r.outputBytes).toBe(MiB);
    const producedAfterWarmUp = (r.runs! - r.warmAt) * r.outputBytes!;
    expect(r.finalRssBytes - r.warmRssBytes, report).toBeLessThan(0.02 * producedAfterWarmUp);
  });

  it('stay bounded in a runSync() loop that never yields: 3,000 runs with a 1 MiB output', async () => {
    // Zero-copy outputs are released by finalizers that wait for the event loop; past a
    // budget (256 MiB) ortex copies outputs into GC-managed memory instead.
    const r = await leakCheck('tight-sync');
    const report = describeReport(r);
    expect(r.aborted, report).toBe(false);
    expect(r.wrongOutputs).toBe(0);
    expect(r.peakRssBytes! - r.warmRssBytes, report).toBeLessThan(768 * MiB);
  });
});

describe('createModel() and Model#close()', () => {
  it('keep RSS within 10 % over 300 batched models (2 instances each) created, fed and closed', async () => {
    const r = await leakCheck('models');
    const report = describeReport(r);
    expect(r.aborted, report).toBe(false);
    expect(r.models).toBe(400);
    expect(r.wrongOutputs).toBe(0);
    expect(r.finalRssBytes, report).toBeLessThanOrEqual(r.warmRssBytes * 1.1);
  });
});

describe('Model#infer()', () => {
  it('keeps RSS within 10 % over 200,000 batched requests with 256 in flight (after 100,000 of warm-up)', async () => {
    const r = await leakCheck('batched');
    const report = describeReport(r);
    expect(r.aborted, report).toBe(false);
    expect({ requests: r.requests, wrongOutputs: r.wrongOutputs }).toEqual({ requests: 300_000, wrongOutputs: 0 });
    // Native memory (RSS less the V8 heap, which grows its spaces once to this allocation rate).
    expect(r.finalNativeBytes!, report).toBeLessThanOrEqual(r.warmNativeBytes! * 1.1);
    expect(r.finalRssBytes, report).toBeLessThanOrEqual(r.warmRssBytes * 1.25);
  });
});
