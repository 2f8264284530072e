// customOpsLibraries: sessions that load ops from a shared library built from
// test/fixtures/custom-ops/custom_ops.cc (domain "ortex.test": ScaledAdd, FastRelu).
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { InferenceSession, Tensor } from '../src/index.js';
import {
  buildCustomOpModel,
  buildFastReluModel,
  buildStockScaledAddModel,
  SCALED_ADD_ALPHA,
} from './fixtures/custom-ops/model.js';

// Only the option under test; structurally a subset of InferenceSession's session options.
interface Options {
  customOpsLibraries?: string[];
}

const LIBRARY = fileURLToPath(new URL('../build/Release/libortex_test_custom_ops.so', import.meta.url));

// A missing library is a broken checkout, not a reason to skip: fail and say how to fix it.
function customOpsLibrary(): string {
  if (!existsSync(LIBRARY)) {
    throw new Error(
      `The custom-op test library is not built: ${LIBRARY} does not exist.\n` +
        'Run `npm run build`; it compiles test/fixtures/custom-ops/custom_ops.cc next to ortex.node.',
    );
  }
  return LIBRARY;
}

async function withSession<T>(
  model: Uint8Array,
  options: Options,
  body: (session: InferenceSession) => Promise<T>,
): Promise<T> {
  const session = await InferenceSession.create(model, options);
  try {
    return await body(session);
  } finally {
    await session.release();
  }
}

async function creationError(model: Uint8Array, options: Options): Promise<Error & { code?: unknown }> {
  const session = await InferenceSession.create(model, options).catch((e: unknown) => e);
  if (session instanceof InferenceSession) {
    await session.release();
    throw new Error('expected InferenceSession.create() to reject, but it resolved');
  }
  expect(session).toBeInstanceOf(Error);
  return session as Error & { code?: unknown };
}

// Narrows a fetched value to the float32 tensor every model here returns.
function floatTensor(value: unknown): { dims: readonly number[]; values: number[] } {
  expect(value).toBeInstanceOf(Tensor);
  const tensor = value as Tensor;
  expect(tensor.type).toBe('float32');
  return { dims: tensor.dims, values: Array.from(tensor.data as Float32Array) };
}

describe('customOpsLibraries', () => {
  it('runs ortex.test.ScaledAdd from the library and returns x + alpha*y exactly', async () => {
    const x = Float32Array.of(0.1, -2.5, 3.25, 1e-3, 7, -0.75, 1e20, -1e-20);
    const y = Float32Array.of(10, 0.3, -6.5, 2e-3, -14, 1.5, 3e19, 5e-21);
    // Each element is rounded once from the exact double result, as float32 arithmetic does.
    const expected = Float32Array.from(x, (v, i) => v + SCALED_ADD_ALPHA * y[i]!);

    await withSession(buildCustomOpModel(), { customOpsLibraries: [customOpsLibrary()] }, async (session) => {
      expect(session.inputNames).toEqual(['x', 'y']);
      expect(session.outputNames).toEqual(['z']);
      const out = await session.run({ x: new Tensor('float32', x, [2, 4]), y: new Tensor('float32', y, [2, 4]) });
      const z = floatTensor(out.z);
      expect(z.dims).toEqual([2, 4]);
      expect(z.values).toEqual(Array.from(expected));
    });
  });

  it('runs ortex.test.FastRelu from the same library', async () => {
    const x = Float32Array.of(-1, 0, 2.5, -Infinity, Infinity, -1e-30, 3, -4);
    await withSession(buildFastReluModel(), { customOpsLibraries: [customOpsLibrary()] }, async (session) => {
      const out = await session.run({ x: new Tensor('float32', x, [2, 4]) });
      expect(floatTensor(out.y).values).toEqual([0, 0, 2.5, 0, Infinity, 0, 3, 0]);
    });
  });

  it('rejects a model using ortex.test ops when the library is not given, naming the op', async () => {
    const err = await creationError(buildCustomOpModel(), {});
    expect(err.code).toMatch(/^ERR_/);
    expect(err.message).toMatch(/ScaledAdd|ortex\.test/);
  });

  it('rejects a library path that does not exist, naming the path', async () => {
    const missing = join(tmpdir(), `ortex-no-such-custom-ops-${process.pid}.so`);
    const err = await creationError(buildCustomOpModel(), { customOpsLibraries: [missing] });
    expect(err.code).toMatch(/^ERR_/);
    expect(err.message).toContain(missing);
  });

  it("surfaces a kernel's creation error: ScaledAdd without its alpha attribute", async () => {
    const err = await creationError(buildCustomOpModel({ alpha: null }), { customOpsLibraries: [customOpsLibrary()] });
    expect(err.code).toMatch(/^ERR_/);
    expect(err.message).toContain("ScaledAdd needs a float attribute 'alpha'");
  });

  it("surfaces a kernel's compute error as a run rejection: ScaledAdd does not broadcast", async () => {
    await withSession(buildCustomOpModel(), { customOpsLibraries: [customOpsLibrary()] }, async (session) => {
      const run = session.run({
        x: new Tensor('float32', new Float32Array(8), [2, 4]),
        y: new Tensor('float32', new Float32Array(4), [1, 4]),
      });
      await expect(run).rejects.toMatchObject({
        code: expect.stringMatching(/^ERR_/),
        message: expect.stringContaining('x has shape [2,4] but y has shape [1,4]'),
      });
    });
  });

  // The use case the option exists for: check a hand-written kernel against the stock ops.
  it('matches the stock Mul + Add graph bit for bit on random inputs', async () => {
    const lib = customOpsLibrary();
    // Not a power of two, so alpha*y rounds and a fused multiply-add in the kernel would show.
    const alpha = 0.3;
    const custom = await InferenceSession.create(buildCustomOpModel({ alpha }), { customOpsLibraries: [lib] });
    const stock = await InferenceSession.create(buildStockScaledAddModel(alpha), {});
    try {
      // Any float32 at all, NaN, infinities, subnormals and -0 included.
      const batch = fc.integer({ min: 1, max: 16 }).chain((n) => {
        const rows = fc.float32Array({ minLength: n * 4, maxLength: n * 4 });
        return fc.tuple(fc.constant(n), rows, rows);
      });
      await fc.assert(
        fc.asyncProperty(batch, async ([n, x, y]) => {
          const feeds = { x: new Tensor('float32', x, [n, 4]), y: new Tensor('float32', y, [n, 4]) };
          const [mine, theirs] = await Promise.all([custom.run(feeds), stock.run(feeds)]);
          // toEqual compares numbers with Object.is: NaN matches NaN, -0 does not match +0.
          expect(floatTensor(mine.z)).toEqual(floatTensor(theirs.z));
        }),
        { numRuns: 200 },
      );
    } finally {
      await Promise.all([custom.release(), stock.release()]);
    }
  });
});
