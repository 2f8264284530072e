import { describe, expect, it } from 'vitest';
import * as ortNode from 'onnxruntime-node';
import { InferenceSession, Tensor } from '../src/index.js';
import { model, randomFloats } from './helpers.js';

/**
 * Largest gap between consecutive setImmediate ticks while `work` runs: how long the event
 * loop was unable to serve anything else (a request, a timer, a socket).
 */
async function maxLoopGapMs(work: () => Promise<unknown>): Promise<number> {
  let max = 0;
  let last = performance.now();
  let running = true;
  const tick = () => {
    const now = performance.now();
    max = Math.max(max, now - last);
    last = now;
    if (running) setImmediate(tick);
  };
  setImmediate(tick);
  await work();
  running = false;
  // The gap that ends with this continuation counts too: a binding that blocks the loop
  // shows up here even if no tick got to run after the block.
  return Math.max(max, performance.now() - last);
}

describe('InferenceSession#run() and the event loop', () => {
  it('keeps the event loop turning during a ~150 ms inference (gaps under 5 ms), where onnxruntime-node blocks it', async () => {
    const feeds = { x: new Tensor('float32', randomFloats(512), [1, 512]) };
    const s = await InferenceSession.create(model('slow_matmul'), { intraOpNumThreads: 1 });
    const ref = await ortNode.InferenceSession.create(model('slow_matmul'), { intraOpNumThreads: 1 });
    await s.run(feeds); // warm-up: first-run allocations
    await ref.run(feeds as never);

    // Best of five attempts: another process (or another test file on this 2-core
    // machine) can deschedule the JS thread for a few ms; a binding that blocks the loop
    // shows the whole run time in every attempt, so the minimum still tells them apart.
    const ortexGaps: number[] = [];
    const nodeGaps: number[] = [];
    let runMs = Infinity;
    for (let i = 0; i < 5; i++) {
      const started = performance.now();
      ortexGaps.push(await maxLoopGapMs(() => s.run(feeds)));
      runMs = Math.min(runMs, performance.now() - started);
      nodeGaps.push(await maxLoopGapMs(() => ref.run(feeds as never)));
    }
    const ortexGap = Math.min(...ortexGaps);
    const nodeGap = Math.min(...nodeGaps);

    console.log(`event-loop max gap: ortex ${ortexGap.toFixed(3)} ms, onnxruntime-node ${nodeGap.toFixed(1)} ms, run ${runMs.toFixed(0)} ms`);
    expect(runMs).toBeGreaterThan(30); // the run was long enough to matter
    expect(nodeGap).toBeGreaterThan(20); // the measurement can see a blocked loop
    // Measured apart, the typical largest gap is 0.6 ms (bench/RESULTS.md); 5 ms leaves room for a full suite on two
    // cores (4 ms seen once, best of five) and is still a sixth of the shortest blocking run.
    expect(ortexGap).toBeLessThan(5);
    await s.release();
    await ref.release();
  });
});
