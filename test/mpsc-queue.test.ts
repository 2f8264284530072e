// The batcher's lock-free request queue and its parker (native/mpsc_queue.h, native/parker.h),
// stressed by test/native/mpsc_stress.cc: P producer threads, one consumer that parks when
// the queue is empty, checked for exactly-once delivery, per-producer FIFO order, payloads
// published before the push, node reuse, and no lost wake-up (a watchdog in the program fails
// a consumer that sleeps while items wait). fast-check picks the producers, items and seed;
// each run is a child process with a timeout, so a hang or a crash fails the property.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

// Beside the addon under test: build/Release, or build-asan/Release when ORTEX_ADDON points there.
const BIN_DIR = process.env.ORTEX_ADDON ? dirname(process.env.ORTEX_ADDON) : fileURLToPath(new URL('../build/Release/', import.meta.url));
const STRESS = join(BIN_DIR, 'ortex_mpsc_stress');
const RUN_TIMEOUT_MS = 15_000;

interface StressReport {
  ok: boolean;
  producers: number;
  items: number;
  seed: number;
  pool: number;
  consumed?: number;
  parks?: number;
  timedParks?: number;
  notReady?: number;
  ms: number;
  error?: string;
}

function stress(producers: number, items: number, seed: number): Promise<StressReport> {
  if (!existsSync(STRESS)) {
    throw new Error(`The queue stress program is not built: ${STRESS} does not exist.\nRun \`npm run build\`; CMakeLists.txt compiles test/native/mpsc_stress.cc next to ortex.node.`);
  }
  return new Promise((resolve, reject) => {
    execFile(STRESS, [String(producers), String(items), String(seed)], { timeout: RUN_TIMEOUT_MS, killSignal: 'SIGKILL' }, (err, stdout, stderr) => {
      const line = stdout.trim().split('\n').at(-1) ?? '';
      try {
        resolve(JSON.parse(line) as StressReport);
      } catch {
        const why = err?.killed ? `killed after ${RUN_TIMEOUT_MS} ms (hung)` : `exit ${err?.code ?? 0}${err?.signal ? `, signal ${err.signal}` : ''}`;
        reject(new Error(`ortex_mpsc_stress ${producers} ${items} ${seed}: ${why}, no report.\nstdout: ${stdout}\nstderr: ${stderr}`));
      }
    });
  });
}

describe('MpscQueue and Parker (native/mpsc_queue.h, native/parker.h)', () => {
  it('deliver every item exactly once, in each producer\'s order, and never sleep through a push', async () => {
    const seen = { runs: 0, parks: 0, notReady: 0, pools: new Set<number>() };
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 8 }), fc.integer({ min: 1, max: 20_000 }), fc.nat(), async (producers, items, seed) => {
        const r = await stress(producers, items, seed);
        expect(r, r.error).toMatchObject({ ok: true, producers, items, seed, consumed: producers * items });
        seen.runs++;
        seen.parks += r.parks!;
        seen.notReady += r.notReady!;
        seen.pools.add(r.pool === items ? -1 : r.pool);
      }),
      {
        numRuns: 25,
        // The edges first (they count towards numRuns): one item; one producer; the most of
        // everything; one item from each of many producers.
        examples: [[1, 1, 0], [1, 20_000, 1], [8, 20_000, 3], [8, 1, 6]],
        // Failures depend on timing, not on the size of the input: shrinking would only
        // re-run lucky interleavings. The failing seed is in the report.
        endOnFailure: true,
      },
    );
    // The interesting paths were taken: the consumer parked (so wake-ups were needed) and
    // caught pushes mid-way (Pop empty-handed while Empty() is false).
    expect(seen.runs).toBe(25);
    expect(seen.parks).toBeGreaterThan(0);
    expect(seen.notReady).toBeGreaterThan(0);
    expect(seen.pools.size).toBeGreaterThan(1);
  });

  it('rejects malformed arguments with a usage message', async () => {
    await expect(stress(0, 1, 1)).rejects.toThrow(/usage/);
  });
});
