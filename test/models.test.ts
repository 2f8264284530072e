import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as ort from 'onnxruntime-node';
import onnxProto from 'onnx-proto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildModel, generateModels, MODEL_NAMES } from '../models/generate.js';

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
