import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as ort from 'onnxruntime-node';
import onnxProto from 'onnx-proto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildModel, generateModels, MODEL_NAMES } from '../models/generate.js';
import { TOKEN_TAGGER } from '../models/token-tagger.js';
import { InferenceSession, Tensor } from '../src/index.js';

const { onnx } = onnxProto;
const OUT_DIR = fileURLToPath(new URL('../models/out/', import.meta.url));
const modelPath = (name: string): string => join(OUT_DIR, `${name}.onnx`);
const sha256 = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');

type Shape = readonly (number | string)[];
/** A tensor's element type and shape, or 'non-tensor' for sequences, maps and optionals. */
type ValueSignature = readonly [type: string, shape: Shape] | 'non-tensor';
interface Signature {
  inputs: Record<string, ValueSignature>;
  outputs: Record<string, ValueSignature>;
}

const IDENTITY_DTYPES = [
  'float32', 'float64', 'float16', 'bfloat16', 'int8', 'int16', 'int32',
  'int64', 'uint8', 'uint16', 'uint32', 'uint64', 'bool', 'string',
] as const;

/** What each tensor-only model must declare, as onnxruntime-node reports it. */
const SIGNATURES: Record<string, Signature> = {
  ctr_mlp: { inputs: { x: ['float32', ['N', 64]] }, outputs: { y: ['float32', ['N', 1]] } },
  slow_matmul: { inputs: { x: ['float32', [1, 512]] }, outputs: { y: ['float32', [1, 512]] } },
  ...Object.fromEntries(
    IDENTITY_DTYPES.map((t) => [
      `identity_${t}`,
      { inputs: { x: [t, ['A', 'B']] }, outputs: { y: [t, ['A', 'B']] } },
    ]),
  ),
  add_float32: {
    inputs: { x: ['float32', [2, 3]], y: ['float32', [2, 3]] },
    outputs: { z: ['float32', [2, 3]] },
  },
  add_bfloat16: {
    inputs: { x: ['bfloat16', [2, 3]], y: ['bfloat16', [2, 3]] },
    outputs: { z: ['bfloat16', [2, 3]] },
  },
  sequence_construct: {
    inputs: { a: ['float32', [2]], b: ['float32', [2]] },
    outputs: { seq: 'non-tensor' },
  },
  // onnxruntime-node reports an unknown rank as [].
  sequence_at: { inputs: { s: 'non-tensor', i: ['int64', []] }, outputs: { y: ['float32', []] } },
  optional_has: { inputs: { x: 'non-tensor' }, outputs: { y: ['bool', []] } },
  zip_map: { inputs: { x: ['float32', ['N', 3]] }, outputs: { y: 'non-tensor' } },
  map_vectorize: { inputs: { m: 'non-tensor' }, outputs: { y: ['float32', [1, 3]] } },
  batch_probe: {
    inputs: { x: ['float64', ['N', 1]] },
    outputs: { y: ['float64', ['N', 1]], size: ['float64', ['N', 1]], sum: ['float64', ['N', 1]] },
  },
  token_tagger: {
    inputs: { input_ids: ['int64', ['N', 'S']], attention_mask: ['int64', ['N', 'S']] },
    outputs: { tags: ['float32', ['N', 'S', 8]], pooled: ['float32', ['N', 8]] },
  },
  bert_mini: {
    inputs: { input_ids: ['int64', ['N', 'S']], attention_mask: ['int64', ['N', 'S']] },
    outputs: { logits: ['float32', ['N', 65]] },
  },
  dlrm: {
    inputs: { dense: ['float32', ['N', 13]], sparse: ['int64', ['N', 8]] },
    outputs: { y: ['float32', ['N', 1]] },
  },
  cnn_small: {
    inputs: { x: ['float32', ['N', 3, 224, 224]] },
    outputs: { logits: ['float32', ['N', 10]] },
  },
  swiglu_mlp: { inputs: { x: ['float32', ['N', 64]] }, outputs: { logits: ['float32', ['N', 10]] } },
};

// onnxruntime-node 1.30 cannot describe a bfloat16 input or output
// ("Unsupported data type: 16") even though ONNX Runtime itself loads and
// runs those models, so their signatures are read from the model proto.
const ORT_NODE_BFLOAT16_ERROR = /Unsupported data type: 16/;

const ELEM_TYPE_NAMES: Record<number, string> = { 16: 'bfloat16' };

function signatureFromProto(bytes: Uint8Array): Signature {
  const graph = onnx.ModelProto.decode(bytes).graph!;
  const read = (values: onnxProto.onnx.IValueInfoProto[]): Signature['inputs'] =>
    Object.fromEntries(
      values.map((v) => {
        const t = v.type!.tensorType!;
        const shape = t.shape!.dim!.map((d) => (d.dimParam ? d.dimParam : Number(d.dimValue)));
        return [v.name!, [ELEM_TYPE_NAMES[t.elemType!] ?? String(t.elemType), shape]];
      }),
    );
  return { inputs: read(graph.input!), outputs: read(graph.output!) };
}

function signatureFromSession(session: ort.InferenceSession): Signature {
  const read = (meta: readonly ort.InferenceSession.ValueMetadata[]): Signature['inputs'] =>
    Object.fromEntries(
      meta.map((m) => [m.name, m.isTensor ? [m.type, m.shape] : 'non-tensor']),
    );
  return { inputs: read(session.inputMetadata), outputs: read(session.outputMetadata) };
}

describe('buildModel()', () => {
  it('gives identical bytes on every call', () => {
    for (const name of MODEL_NAMES) {
      expect(sha256(buildModel(name)), name).toBe(sha256(buildModel(name)));
    }
  });

  it('rejects an unknown model name', () => {
    expect(() => buildModel('no_such_model')).toThrow(RangeError);
  });
});

describe('generateModels()', () => {
  let dirs: string[] = [];
  beforeAll(async () => {
    dirs = [await mkdtemp(join(tmpdir(), 'ortex-models-')), await mkdtemp(join(tmpdir(), 'ortex-models-'))];
  });
  afterAll(async () => {
    await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
  });

  it('writes byte-identical files on two runs', async () => {
    const [a, b] = await Promise.all(dirs.map((d) => generateModels(d)));
    expect(a!.map((m) => m.name)).toEqual([...MODEL_NAMES]);
    for (const [k, model] of a!.entries()) {
      const [bytesA, bytesB] = await Promise.all([readFile(model.path), readFile(b![k]!.path)]);
      expect(bytesA.length, model.name).toBe(model.bytes);
      expect(sha256(bytesA), model.name).toBe(sha256(bytesB));
    }
  });

  it('writes only the models named in `only`', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ortex-models-only-'));
    dirs.push(dir);
    const written = await generateModels(dir, { only: ['ctr_mlp', 'add_float32'] });
    expect(written.map((m) => m.name)).toEqual(['ctr_mlp', 'add_float32']);
    expect((await readdir(dir)).sort()).toEqual(['add_float32.onnx', 'ctr_mlp.onnx']);
  });

  it('rejects an unknown name in `only` before writing anything', async () => {
    const dir = join(tmpdir(), `ortex-models-never-${process.pid}`);
    await expect(generateModels(dir, { only: ['ctr_mlp', 'nope'] })).rejects.toThrow(RangeError);
    await expect(readdir(dir)).rejects.toThrow();
  });
});

describe('generated models in onnxruntime-node', () => {
  it('declares a signature for every model the test knows', () => {
    expect(Object.keys(SIGNATURES).sort()).toEqual([...MODEL_NAMES].sort());
  });

  for (const [name, expected] of Object.entries(SIGNATURES)) {
    it(`${name} loads with the expected inputs and outputs`, async () => {
      let session: ort.InferenceSession;
      try {
        session = await ort.InferenceSession.create(modelPath(name));
      } catch (err) {
        if (!ORT_NODE_BFLOAT16_ERROR.test(String(err))) throw err;
        expect(signatureFromProto(await readFile(modelPath(name)))).toEqual(expected);
        return;
      }
      try {
        expect(signatureFromSession(session)).toEqual(expected);
      } finally {
        await session.release();
      }
    });
  }
});

describe('ctr_mlp', () => {
  it('predicts probabilities strictly inside (0, 1)', async () => {
    const session = await ort.InferenceSession.create(modelPath('ctr_mlp'));
    const n = 8;
    const x = Float32Array.from({ length: n * 64 }, (_, k) => Math.sin(k) * 3);
    const { y } = await session.run({ x: new ort.Tensor('float32', x, [n, 64]) });
    expect(y!.dims).toEqual([n, 1]);
    for (const p of y!.data as Float32Array) {
      expect(p).toBeGreaterThan(0);
      expect(p).toBeLessThan(1);
    }
    await session.release();
  });
});

describe('add_float32', () => {
  it('adds elementwise', async () => {
    const session = await ort.InferenceSession.create(modelPath('add_float32'));
    const x = new ort.Tensor('float32', Float32Array.of(1, 2, 3, 4, 5, 6), [2, 3]);
    const y = new ort.Tensor('float32', Float32Array.of(10, 20, 30, 40, 50, 60), [2, 3]);
    const { z } = await session.run({ x, y });
    expect([...(z!.data as Float32Array)]).toEqual([11, 22, 33, 44, 55, 66]);
    await session.release();
  });
});

describe('slow_matmul', () => {
  it('returns finite values for a [1,512] input, and takes a while doing it', async () => {
    const session = await ort.InferenceSession.create(modelPath('slow_matmul'), { intraOpNumThreads: 1 });
    const x = new ort.Tensor('float32', Float32Array.from({ length: 512 }, (_, k) => Math.cos(k)), [1, 512]);
    await session.run({ x }); // warm-up: the first run allocates
    const started = performance.now();
    const { y } = await session.run({ x });
    const elapsedMs = performance.now() - started;
    expect(y!.dims).toEqual([1, 512]);
    expect((y!.data as Float32Array).every(Number.isFinite)).toBe(true);
    // Tuned to ~150 ms on one core; only a floor is checked, since a loaded
    // machine is slower, never faster. Too fast and it proves nothing about
    // the event loop.
    expect(elapsedMs).toBeGreaterThan(30);
    await session.release();
  });
});

describe('bert_mini', () => {
  const N = 2;
  const S = 64;
  const KEPT = 40;
  let session: ort.InferenceSession;
  beforeAll(async () => {
    session = await ort.InferenceSession.create(modelPath('bert_mini'));
  });
  afterAll(async () => {
    await session.release();
  });

  const run = async (ids: BigInt64Array, mask: BigInt64Array): Promise<ort.Tensor> => {
    const feeds = {
      input_ids: new ort.Tensor('int64', ids, [N, S]),
      attention_mask: new ort.Tensor('int64', mask, [N, S]),
    };
    return (await session.run(feeds)).logits!;
  };
  const ids = BigInt64Array.from({ length: N * S }, (_, k) => BigInt((k * 7919) % 30522));
  const padded = BigInt64Array.from({ length: N * S }, (_, k) => (k % S < KEPT ? 1n : 0n));

  it('gives finite [N,65] logits for N=2, S=64', async () => {
    const logits = await run(ids, padded);
    expect(logits.dims).toEqual([N, 65]);
    expect((logits.data as Float32Array).every(Number.isFinite)).toBe(true);
  });

  it('ignores the tokens that attention_mask pads out', async () => {
    const otherPadding = ids.map((id, k) => (k % S < KEPT ? id : 5n));
    const a = (await run(ids, padded)).data as Float32Array;
    const b = (await run(otherPadding, padded)).data as Float32Array;
    for (let k = 0; k < a.length; k++) expect(b[k]).toBeCloseTo(a[k]!, 5);
  });
});

describe('dlrm', () => {
  it('predicts probabilities strictly inside (0, 1)', async () => {
    const session = await ort.InferenceSession.create(modelPath('dlrm'));
    const n = 4;
    const dense = Float32Array.from({ length: n * 13 }, (_, k) => Math.sin(k));
    const sparse = BigInt64Array.from({ length: n * 8 }, (_, k) => BigInt((k * 37) % 1000));
    const { y } = await session.run({
      dense: new ort.Tensor('float32', dense, [n, 13]),
      sparse: new ort.Tensor('int64', sparse, [n, 8]),
    });
    expect(y!.dims).toEqual([n, 1]);
    for (const p of y!.data as Float32Array) {
      expect(p).toBeGreaterThan(0);
      expect(p).toBeLessThan(1);
    }
    await session.release();
  });
});

describe('cnn_small', () => {
  it('gives finite [N,10] logits for a batch of two 224x224 images', async () => {
    const session = await ort.InferenceSession.create(modelPath('cnn_small'));
    const n = 2;
    const x = Float32Array.from({ length: n * 3 * 224 * 224 }, (_, k) => Math.sin(k * 0.01));
    const { logits } = await session.run({ x: new ort.Tensor('float32', x, [n, 3, 224, 224]) });
    expect(logits!.dims).toEqual([n, 10]);
    expect((logits!.data as Float32Array).every(Number.isFinite)).toBe(true);
    await session.release();
  });
});

describe('batch_probe', () => {
  let session: InferenceSession;
  beforeAll(async () => {
    session = await InferenceSession.create(modelPath('batch_probe'));
  });
  afterAll(async () => {
    await session.release();
  });

  const run = async (x: Float64Array): Promise<Record<'y' | 'size' | 'sum', Tensor>> => {
    const out = await session.run({ x: new Tensor('float64', x, [x.length, 1]) });
    return { y: out.y as Tensor, size: out.size as Tensor, sum: out.sum as Tensor };
  };

  it('tells every row the batch size and the sum of the batch', async () => {
    const x = Float64Array.of(1, 2, 4, 8, 16);
    const { y, size, sum } = await run(x);
    for (const t of [y, size, sum]) expect(t.dims).toEqual([5, 1]);
    expect([...(y.data as Float64Array)]).toEqual([...x]);
    expect([...(size.data as Float64Array)]).toEqual([5, 5, 5, 5, 5]);
    expect([...(sum.data as Float64Array)]).toEqual([31, 31, 31, 31, 31]);
  });

  it('reports a batch of one as itself', async () => {
    const { y, size, sum } = await run(Float64Array.of(64));
    expect([...(y.data as Float64Array)]).toEqual([64]);
    expect([...(size.data as Float64Array)]).toEqual([1]);
    expect([...(sum.data as Float64Array)]).toEqual([64]);
  });

  it('sums 52 distinct powers of two exactly, so the sum names every row', async () => {
    // Scrambled order: the set of rows must not depend on where each sits.
    const exponents = Array.from({ length: 52 }, (_, k) => (k * 19) % 52);
    const x = Float64Array.from(exponents, (e) => 2 ** e);
    const { size, sum } = await run(x);
    expect(new Set(size.data as Float64Array)).toEqual(new Set([52]));
    const total = (sum.data as Float64Array)[0]!;
    expect(total).toBe(2 ** 52 - 1);
    expect(new Set(sum.data as Float64Array)).toEqual(new Set([total]));
    const members = exponents.filter((e) => (BigInt(total) >> BigInt(e)) & 1n).length;
    expect(members).toBe(52);
  });
});

describe('token_tagger', () => {
  const { vocab, dim } = TOKEN_TAGGER;
  let session: InferenceSession;
  let table: Float32Array;
  beforeAll(async () => {
    session = await InferenceSession.create(modelPath('token_tagger'));
    // The expected values come from the model's own weights, read from its bytes.
    const graph = onnx.ModelProto.decode(await readFile(modelPath('token_tagger'))).graph!;
    const raw = graph.initializer!.find((t) => t.name === 'embedding')!.rawData!;
    const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
    table = Float32Array.from({ length: vocab * dim }, (_, k) => view.getFloat32(k * 4, true));
  });
  afterAll(async () => {
    await session.release();
  });

  /** Runs a batch whose rows are [id, mask] pairs of equal length. */
  const run = async (rows: readonly (readonly [number, number])[][]): Promise<{ tags: Tensor; pooled: Tensor }> => {
    const n = rows.length;
    const s = rows[0]!.length;
    const ids = BigInt64Array.from(rows.flat(), ([id]) => BigInt(id));
    const mask = BigInt64Array.from(rows.flat(), ([, m]) => BigInt(m));
    const out = await session.run({
      input_ids: new Tensor('int64', ids, [n, s]),
      attention_mask: new Tensor('int64', mask, [n, s]),
    });
    return { tags: out.tags as Tensor, pooled: out.pooled as Tensor };
  };

  /** The same computation in plain JS (float64 sums). */
  const expected = (row: readonly (readonly [number, number])[]): { tags: number[]; pooled: number[] } => {
    const tags = row.flatMap(([id, m]) => Array.from({ length: dim }, (_, d) => table[id * dim + d]! * m));
    const count = row.reduce((acc, [, m]) => acc + m, 0);
    const pooled = Array.from({ length: dim }, (_, d) =>
      row.reduce((acc, _pos, p) => acc + tags[p * dim + d]!, 0) / Math.max(count, 1),
    );
    return { tags, pooled };
  };

  const pad = (row: readonly (readonly [number, number])[], s: number): [number, number][] => [
    ...row.map(([id, m]) => [id, m] as [number, number]),
    ...Array.from({ length: s - row.length }, () => [0, 0] as [number, number]),
  ];

  const rowA: [number, number][] = [[17, 1], [999, 1], [0, 1], [512, 1], [3, 1]];
  const rowB: [number, number][] = [[42, 1], [7, 1], [42, 1], [100, 0], [101, 0]];
  const rowC: [number, number][] = [[5, 0], [6, 0], [7, 0], [8, 0], [9, 0]];

  it('gives masked embeddings and their masked mean, as computed in plain JS', async () => {
    const { tags, pooled } = await run([rowA, rowB, rowC]);
    expect(tags.dims).toEqual([3, 5, dim]);
    expect(pooled.dims).toEqual([3, dim]);
    const tagData = tags.data as Float32Array;
    const pooledData = pooled.data as Float32Array;
    for (const [r, row] of [rowA, rowB, rowC].entries()) {
      const want = expected(row);
      // A Gather times a 0/1 mask is exact in float32.
      expect([...tagData.subarray(r * 5 * dim, (r + 1) * 5 * dim)]).toEqual(want.tags.map(Math.fround));
      for (let d = 0; d < dim; d++) expect(pooledData[r * dim + d]).toBeCloseTo(want.pooled[d]!, 5);
    }
    // An all-padding row pools to 0, not NaN.
    expect([...pooledData.subarray(2 * dim)]).toEqual(new Array(dim).fill(0));
  });

  it('gives the same pooled values and real-position tags whatever the padding', async () => {
    const ragged: [number, number][][] = [rowA.slice(0, 2), rowB.slice(0, 3), rowA, [[250, 1]]];
    const alone = await Promise.all(ragged.map((row) => run([row])));
    for (const s of [5, 6, 9, 33]) {
      const { tags, pooled } = await run(ragged.map((row) => pad(row, s)));
      for (const [r, row] of ragged.entries()) {
        const one = alone[r]!;
        const realTags = (tags.data as Float32Array).subarray(r * s * dim, (r * s + row.length) * dim);
        expect([...realTags], `row ${r}, S=${s}`).toEqual([...(one.tags.data as Float32Array)]);
        const padTags = (tags.data as Float32Array).subarray((r * s + row.length) * dim, (r + 1) * s * dim);
        expect(padTags.every((v) => v === 0), `row ${r}, S=${s}`).toBe(true);
        const rowPooled = (pooled.data as Float32Array).subarray(r * dim, (r + 1) * dim);
        expect([...rowPooled], `row ${r}, S=${s}`).toEqual([...(one.pooled.data as Float32Array)]);
      }
    }
  });
});
