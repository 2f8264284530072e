// Property test of batch formation: for random queues of requests (rows, priorities) and
// random batcher settings (maxBatchSize, preferred sizes, priority levels), the batches the
// native batcher forms are exactly those of a reference model of its rules, written here
// independently, and every request gets its own rows back. Batch composition is read off the
// batch_probe model: each row learns its batch's size and the sum of x over the batch, and
// x = 4^id per request decodes, digit by digit, into the requests and their row counts.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Tensor, createModel } from '../src/index.js';
import { model } from './helpers.js';

interface Req {
  id: number;
  rows: number;
  priority: number;
}

/**
 * The rules (native/batcher.cc, Scheduler::Form) for requests all queued before the hold is
 * released: take the oldest request of the highest non-empty level; add requests in level
 * order, arrival order within a level, until one does not fit (it and everything after wait);
 * a full batch goes whole; otherwise the longest prefix whose rows are a preferred size goes,
 * else everything gathered.
 */
function referenceBatches(reqs: readonly Req[], max: number, preferred: readonly number[], levels: number): number[][] {
  const queues = Array.from({ length: levels }, (_, l) => reqs.filter((r) => r.priority === l + 1));
  const batches: number[][] = [];
  while (queues.some((q) => q.length > 0)) {
    const gathered: Req[] = [];
    let rows = 0;
    outer: for (const q of queues) {
      for (const r of q) {
        if (rows + r.rows > max) break outer;
        gathered.push(r);
        rows += r.rows;
        if (rows === max) break outer;
      }
    }
    let take = gathered.length;
    if (rows < max) {
      let acc = 0;
      let prefTake = 0;
      gathered.forEach((r, i) => { acc += r.rows; if (preferred.includes(acc)) prefTake = i + 1; });
      if (prefTake > 0) take = prefTake;
    }
    const batch = gathered.slice(0, take);
    for (const r of batch) queues[r.priority - 1]!.splice(queues[r.priority - 1]!.indexOf(r), 1);
    batches.push(batch.map((r) => r.id));
  }
  return batches;
}

const settings = fc
  .record({
    max: fc.integer({ min: 1, max: 8 }),
    levels: fc.integer({ min: 1, max: 3 }),
    preferredMask: fc.integer({ min: 0, max: 255 }),
  })
  .chain(({ max, levels, preferredMask }) =>
    fc.record({
      max: fc.constant(max),
      levels: fc.constant(levels),
      preferred: fc.constant([1, 2, 3, 4, 5, 6, 7, 8].filter((p) => p <= max && preferredMask & (1 << (p - 1)))),
      reqs: fc.array(fc.record({ rows: fc.integer({ min: 1, max: Math.min(3, max) }), priority: fc.integer({ min: 1, max: levels }) }), { minLength: 1, maxLength: 24 }),
    }),
  );

describe('Model batch formation (property)', () => {
  it('forms the batches of the reference rules and answers every request with its own rows', async () => {
    await fc.assert(
      fc.asyncProperty(settings, async ({ max, levels, preferred, reqs }) => {
        const m = await createModel(model('batch_probe'), {
          maxBatchSize: max, preferredBatchSizes: preferred, priorityLevels: levels, maxQueueDelayUs: 0, intraOpNumThreads: 1,
        });
        try {
          const requests: Req[] = reqs.map((r, id) => ({ id, ...r }));
          m.holdUntil(requests.length);
          const order: number[] = [];
          const results = await Promise.all(requests.map((r) =>
            m.infer({ x: new Tensor('float64', new Float64Array(r.rows).fill(4 ** r.id), [r.rows, 1]) }, { priority: r.priority })
              .then((out) => { order.push(r.id); return out; })));
          // Each request: its own rows back, and the batch it ran in.
          const batchOf = new Map<number, string>();
          results.forEach((out, id) => {
            const r = requests[id]!;
            expect(out.y!.dims).toEqual([r.rows, 1]);
            expect(Array.from(out.y!.data as Float64Array)).toEqual(new Array(r.rows).fill(4 ** id));
            let sum = (out.sum!.data as Float64Array)[0]!;
            const members: number[] = [];
            let rows = 0;
            for (let k = 0; sum > 0; k++, sum = Math.floor(sum / 4)) {
              const digit = sum % 4;
              if (digit) {
                expect(digit).toBe(requests[k]!.rows);
                members.push(k);
                rows += digit;
              }
            }
            expect((out.size!.data as Float64Array)[0]).toBe(rows);
            expect(members).toContain(id);
            batchOf.set(id, members.join(','));
          });
          // Batches in the order they completed (one instance: the order they ran).
          const observed: number[][] = [];
          const seen = new Set<string>();
          for (const id of order) {
            const key = batchOf.get(id)!;
            if (!seen.has(key)) { seen.add(key); observed.push(key.split(',').map(Number)); }
          }
          const expected = referenceBatches(requests, max, preferred, levels).map((b) => [...b].sort((a, c) => a - c));
          expect(observed).toEqual(expected);
          expect(m.stats().batches).toBe(expected.length);
        } finally {
          await m.close();
        }
      }),
      { numRuns: 60 },
    );
  });
});
