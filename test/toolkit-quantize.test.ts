// quantizeModel() and `ortex quantize` on generated models: the outputs load and run in ortex,
// are smaller, stay accurate, use ORT's fused integer kernels, and bad input fails cleanly
// without touching the input file.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import onnxProto from 'onnx-proto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InferenceSession } from '../src/inference-session.js';
import { compareModels } from '../src/toolkit/compare.js';
import { quantizeModel, type QuantizeReport } from '../src/toolkit/quantize.js';
import { int8Sensitivity } from '../src/toolkit/sensitivity.js';
import { DataType, GraphBuilder, tensorType } from '../models/builder.js';
import { CLI } from './fixtures/serve-process.js';
import { codeOf, model } from './helpers.js';

const { onnx } = onnxProto;
const tmp = mkdtempSync(join(tmpdir(), 'ortex-quantize-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const out = (name: string) => join(tmp, name);
const sha = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');
const opsOf = (path: string) => onnx.ModelProto.decode(readFileSync(path)).graph!.node.map((n) => n.opType);
/** Few samples and runs: the tests check behaviour; bench/RESULTS.md has the measured figures. */
const quick = { random: 64, latencyRuns: 5, warmup: 1, dims: { S: 16 } };

describe('quantizeModel() --int8 on bert_mini (transformer encoder)', () => {
  const input = model('bert_mini');
  let before: string;
  let report: QuantizeReport;
  beforeAll(async () => {
    before = sha(input);
    report = await quantizeModel(input, out('bert_int8.onnx'), { int8: { reduceRange: true } });
  });

  it('quantizes every constant-weight MatMul and Gemm and the embedding Gather, and says why the rest stay float', () => {
    const of = (op: string) => report.int8!.quantized.filter((q) => q.opType === op);
    // 24 constant-weight MatMuls, of which each layer's query, key and value (3 x 4) went into
    // that layer's fused attention.
    expect(of('MatMul')).toHaveLength(12);
    expect(of('Attention')).toHaveLength(4);
    expect(report.int8!.attentions.map((a) => a.projections.length)).toEqual([3, 3, 3, 3]);
    expect(report.int8!.merged).toEqual([]);
    expect(report.int8!.gelus).toHaveLength(4);
    expect(of('Gemm')).toHaveLength(2);
    expect(of('Gather').map((q) => q.weight)).toEqual(['embeddings.word']);
    // The attention score/context MatMuls multiply two activations; they went into the fused
    // attention, which computes them in float.
    expect(report.int8!.skipped.filter((s) => s.opType === 'MatMul')).toHaveLength(0);
    expect(report.int8!.attentions.flatMap((a) => a.nodes)).toHaveLength(4 * 19);
    expect(report.int8!.skipped.every((s) => s.reason.length > 0)).toBe(true);
  });

  it('writes a model under 30% of the float32 bytes, leaving the input untouched', () => {
    expect(report.sizeRatio).toBeLessThan(0.3);
    expect(report.output.bytes).toBe(readFileSync(out('bert_int8.onnx')).length);
    expect(sha(input)).toBe(before);
  });

  it('is fused by ONNX Runtime into DynamicQuantizeMatMul / MatMulIntegerToFloat and QAttention, with no MatMulInteger left', () => {
    const fused = report.int8!.fusion!.fused;
    expect((fused['com.microsoft.DynamicQuantizeMatMul'] ?? 0) + (fused['com.microsoft.MatMulIntegerToFloat'] ?? 0)).toBe(14);
    expect(fused['com.microsoft.QAttention']).toBe(4);
    expect(report.int8!.fusion!.unfused).toEqual({});
  });

  it('runs in ortex and agrees with the float32 model on the top class', async () => {
    const r = await compareModels(input, out('bert_int8.onnx'), quick);
    expect(r.outputs[0]!.top1Agreement).toBeGreaterThanOrEqual(0.95);
    expect(r.outputs[0]!.cosine).toBeGreaterThan(0.999);
    expect(r.sizeRatio).toBeCloseTo(report.sizeRatio, 5);
  });
});

describe('graph rewrites before INT8: attention fused, sibling MatMuls merged, GELU fused', () => {
  it('computes exactly what the unmerged, unfused INT8 model computes, with fewer kernels', async () => {
    const plain = await quantizeModel(model('bert_mini'), out('bert_plain.onnx'), { int8: { reduceRange: true, mergeSiblings: false, fuseGelu: false, fuseAttention: false } });
    const merged = await quantizeModel(model('bert_mini'), out('bert_merged.onnx'), { int8: { reduceRange: true, fuseAttention: false }, checkFusion: false });
    expect(merged.int8!.merged.map((m) => m.nodes.length)).toEqual([3, 3, 3, 3]);
    expect(opsOf(out('bert_merged.onnx')).filter((op) => op === 'Split')).toHaveLength(4);
    expect(plain.int8!.merged).toEqual([]);
    expect(plain.int8!.gelus).toEqual([]);
    expect(opsOf(out('bert_plain.onnx'))).toContain('Erf');
    const ops = opsOf(out('bert_int8.onnx'));
    expect(ops).not.toContain('Erf');
    expect(ops.filter((op) => op === 'Gelu')).toHaveLength(4);
    expect(ops.filter((op) => op === 'QAttention')).toHaveLength(4);
    // Per-channel scales keep each column's scale, and the activation is quantized the same
    // way once as thrice: the merge changes no number. The fused Gelu is the same function.
    for (const rewritten of ['bert_merged.onnx', 'bert_int8.onnx']) {
      const r = await compareModels(out('bert_plain.onnx'), out(rewritten), quick);
      expect(r.outputs[0]!.maxAbsError).toBeLessThan(1e-5);
      expect(r.outputs[0]!.top1Agreement).toBe(1);
    }
  });

  it('fuses each way exporters write the erf GELU, and leaves alone a look-alike with other constants or a step the graph outputs', async () => {
    type Variant = 'mul-then-half' | 'half-first' | 'div' | 'not-gelu' | 'scaled-exposed' | 'half-exposed';
    const build = (variant: Variant) => {
      const g = new GraphBuilder('gelu_' + variant);
      const x = g.input('x', tensorType(DataType.FLOAT, ['N', 8]));
      const c = (name: string, v: number) => g.floats(name, [], new Float32Array([v]));
      const scaled = variant === 'div' ? g.op('Div', [x, c('sqrt2', Math.SQRT2)]) : g.op('Mul', [c('inv_sqrt2', variant === 'not-gelu' ? 0.6 : Math.SQRT1_2), x]);
      const plusOne = g.op('Add', [c('one', 1), g.op('Erf', [scaled])]);
      const halfFirst = variant === 'half-first' || variant === 'half-exposed';
      const halfX = halfFirst ? g.op('Mul', [x, c('half', 0.5)]) : undefined;
      const y = halfX !== undefined
        ? g.op('Mul', [halfX, plusOne])
        : g.op('Mul', [c('half', 0.5), g.op('Mul', [plusOne, x])]);
      // A step of the GELU that is also a graph output must survive: no fusion.
      if (variant === 'scaled-exposed') g.output(scaled, tensorType(DataType.FLOAT, ['N', 8]));
      if (variant === 'half-exposed') g.output(halfX!, tensorType(DataType.FLOAT, ['N', 8]));
      // A MatMul after it, so there is something to quantize.
      g.node('MatMul', [y, g.floats('w', [8, 4], Float32Array.from({ length: 32 }, (_, i) => Math.sin(i)))], { outputs: ['y'] });
      g.output('y', tensorType(DataType.FLOAT, ['N', 4]));
      const path = out(`gelu_${variant}.onnx`);
      writeFileSync(path, g.encode());
      return path;
    };
    const data = Float32Array.from({ length: 3 * 8 }, (_, i) => (i - 12) / 3);
    const feeds = { x: { type: 'float32', data, dims: [3, 8] } } as const;
    for (const variant of ['mul-then-half', 'half-first', 'div', 'not-gelu', 'scaled-exposed', 'half-exposed'] as const) {
      const path = build(variant);
      const r = await quantizeModel(path, out(`gelu_${variant}.int8.onnx`), { int8: true, checkFusion: false });
      const ops = opsOf(out(`gelu_${variant}.int8.onnx`));
      if (variant === 'not-gelu' || variant.endsWith('-exposed')) {
        expect(r.int8!.gelus).toEqual([]);
        expect(ops).toContain('Erf');
        const s = await InferenceSession.create(out(`gelu_${variant}.int8.onnx`));
        expect(s.outputNames).toHaveLength(variant === 'not-gelu' ? 1 : 2);
        await s.release();
        continue;
      }
      expect(r.int8!.gelus).toHaveLength(1);
      expect(r.int8!.gelus[0]!.nodes).toHaveLength(5);
      expect(ops).not.toContain('Erf');
      const a = await InferenceSession.create(path);
      const b = await InferenceSession.create(out(`gelu_${variant}.int8.onnx`));
      const [ya, yb] = [(await a.run(feeds)).y!.data as Float32Array, (await b.run(feeds)).y!.data as Float32Array];
      for (let i = 0; i < ya.length; i++) expect(Math.abs(ya[i]! - yb[i]!)).toBeLessThan(0.05);
      await a.release();
      await b.release();
    }
  });
});

describe('quantizeModel() --int8 on ctr_mlp (MLP of Gemms)', () => {
  it('keeps the click probability within 0.02 of float32', async () => {
    await quantizeModel(model('ctr_mlp'), out('ctr_int8.onnx'), { int8: { reduceRange: true } });
    const r = await compareModels(model('ctr_mlp'), out('ctr_int8.onnx'), { random: 256, latencyRuns: 3, warmup: 1 });
    expect(r.outputs[0]!.maxAbsError).toBeLessThan(0.02);
    expect(r.outputs[0]!.top1Agreement).toBeNull(); // one output column: no classes to agree on
  });

  it('honours per-tensor scales, op-type selection and node exclusion', async () => {
    const perTensor = await quantizeModel(model('ctr_mlp'), out('ctr_pt.onnx'), { int8: { perChannel: false }, checkFusion: false });
    const scales = onnx.ModelProto.decode(readFileSync(out('ctr_pt.onnx'))).graph!.initializer.filter((t) => t.name.endsWith('_scale'));
    expect(scales.length).toBe(3);
    expect(scales.every((t) => t.dims.length === 0)).toBe(true);
    expect(perTensor.int8!.quantized).toHaveLength(3);

    const excluded = await quantizeModel(model('ctr_mlp'), out('ctr_ex.onnx'), { int8: { excludeNodes: ['Gemm_node_2'] }, checkFusion: false });
    expect(excluded.int8!.quantized.map((q) => q.name)).toEqual(['Gemm_node_0', 'Gemm_node_1']);
    expect(excluded.int8!.skipped).toEqual([{ name: 'Gemm_node_2', opType: 'Gemm', reason: 'node excluded' }]);
    expect(opsOf(out('ctr_ex.onnx')).filter((op) => op === 'Gemm')).toHaveLength(1);

    const gatherOnly = await quantizeModel(model('bert_mini'), out('bert_gather.onnx'), { int8: { opTypes: ['Gather'] }, checkFusion: false });
    expect(gatherOnly.int8!.quantized.map((q) => q.opType)).toEqual(['Gather']);
  });

  it('stores uint8 weights with zero point 128 when asked, and they still run', async () => {
    await quantizeModel(model('ctr_mlp'), out('ctr_u8.onnx'), { int8: { weightType: 'uint8' } });
    const m = onnx.ModelProto.decode(readFileSync(out('ctr_u8.onnx')));
    const q = m.graph!.initializer.filter((t) => t.name.endsWith('_quantized'));
    expect(q.every((t) => t.dataType === DataType.UINT8)).toBe(true);
    const r = await compareModels(model('ctr_mlp'), out('ctr_u8.onnx'), { random: 128, latencyRuns: 3, warmup: 1 });
    expect(r.outputs[0]!.maxAbsError).toBeLessThan(0.02);
  });
});

describe('quantizeModel() --fp16', () => {
  it('halves bert_mini, keeps int64 inputs and float32 logits, and keeps the top class', async () => {
    const report = await quantizeModel(model('bert_mini'), out('bert_fp16.onnx'), { fp16: true });
    expect(report.sizeRatio).toBeLessThan(0.52);
    expect(report.fp16!.float16Nodes).toBeGreaterThan(100);
    const s = await InferenceSession.create(out('bert_fp16.onnx'));
    expect(s.inputMetadata.map((m) => m.isTensor && m.type)).toEqual(['int64', 'int64']);
    expect(s.outputMetadata.map((m) => m.isTensor && m.type)).toEqual(['float32']);
    await s.release();
    const r = await compareModels(model('bert_mini'), out('bert_fp16.onnx'), quick);
    expect(r.outputs[0]!.top1Agreement).toBeGreaterThanOrEqual(0.98);
    expect(r.outputs[0]!.maxAbsError).toBeLessThan(0.05);
  });

  it('makes float inputs float16 without keepIoTypes, and keeps blocked ops in float32 behind casts', async () => {
    await quantizeModel(model('ctr_mlp'), out('ctr_fp16_io.onnx'), { fp16: { keepIoTypes: false } });
    const s = await InferenceSession.create(out('ctr_fp16_io.onnx'));
    expect(s.inputMetadata[0]!.isTensor && s.inputMetadata[0]!.type).toBe('float16');
    await s.release();

    const report = await quantizeModel(model('ctr_mlp'), out('ctr_fp16_block.onnx'), { fp16: { blockOps: ['Sigmoid'] } });
    expect(report.fp16!.blocked).toEqual([{ name: 'Sigmoid_node_0', opType: 'Sigmoid', reason: 'op type blocked' }]);
    const graph = onnx.ModelProto.decode(readFileSync(out('ctr_fp16_block.onnx'))).graph!;
    const sigmoid = graph.node.find((n) => n.opType === 'Sigmoid')!;
    const cast = graph.node.find((n) => n.output[0] === sigmoid.input[0])!;
    expect(cast.opType).toBe('Cast');
    expect(Number(cast.attribute[0]!.i)).toBe(DataType.FLOAT);
    const r = await compareModels(model('ctr_mlp'), out('ctr_fp16_block.onnx'), { random: 64, latencyRuns: 3, warmup: 1 });
    expect(r.outputs[0]!.maxAbsError).toBeLessThan(0.01);
  });

  it('keeps a node whose weight overflows float16 in float32, and the model stays exact there', async () => {
    const g = new GraphBuilder('big_weight');
    const x = g.input('x', tensorType(DataType.FLOAT, ['N', 2]));
    const big = g.floats('big', [2, 2], Float32Array.from([1e5, 0, 0, 1]));
    const y = g.op('MatMul', [x, big]);
    g.node('Relu', [y], { outputs: ['y'] });
    g.output('y', tensorType(DataType.FLOAT, ['N', 2]));
    writeFileSync(out('big.onnx'), g.encode());
    const report = await quantizeModel(out('big.onnx'), out('big_fp16.onnx'), { fp16: true });
    expect(report.fp16!.blocked[0]!.reason).toMatch(/big has 1 values beyond float16's ±65504/);
    const s = await InferenceSession.create(out('big_fp16.onnx'));
    const { y: result } = s.runSync({ x: { type: 'float32', data: Float32Array.from([1, 2]), dims: [1, 2] } });
    expect(Array.from(result!.data as Float32Array)).toEqual([1e5, 2]);
    await s.release();
  });
});

describe('int8Sensitivity() on swiglu_mlp (SwiGLU block with outlier activations)', () => {
  it('singles out the down projection, and excluding it restores the accuracy INT8 destroyed', async () => {
    const report = await int8Sensitivity(model('swiglu_mlp'), { reduceRange: true, samples: 64 });
    expect(report.whole[0]!.top1Agreement!).toBeLessThan(0.5);
    expect(report.nodes[0]).toMatchObject({ name: 'mlp.down_proj', outlier: true });
    expect(report.nodes.filter((n) => n.outlier).map((n) => n.name)).toEqual(['mlp.down_proj']);

    await quantizeModel(model('swiglu_mlp'), out('sw_all.onnx'), { int8: { reduceRange: true } });
    await quantizeModel(model('swiglu_mlp'), out('sw_ex.onnx'), { int8: { reduceRange: true, excludeNodes: ['mlp.down_proj'] } });
    const all = await compareModels(model('swiglu_mlp'), out('sw_all.onnx'), { random: 500, latencyRuns: 3, warmup: 1 });
    const ex = await compareModels(model('swiglu_mlp'), out('sw_ex.onnx'), { random: 500, latencyRuns: 3, warmup: 1 });
    expect(all.outputs[0]!.top1Agreement!).toBeLessThan(0.3);
    expect(ex.outputs[0]!.top1Agreement!).toBeGreaterThan(0.95);
  });
});

describe('quantizeModel() on bad input', () => {
  it('refuses a file that is not ONNX, a missing file and an unknown op type or node', async () => {
    writeFileSync(out('text.onnx'), 'this is not a model\n'.repeat(20));
    expect(await codeOf(() => quantizeModel(out('text.onnx'), out('x.onnx'), { int8: true }))).toBe('ERR_MODEL_NOT_ONNX');
    expect(await codeOf(() => quantizeModel(out('missing.onnx'), out('x.onnx'), { int8: true }))).toBe('ERR_MODEL_NOT_FOUND');
    expect(await codeOf(() => quantizeModel(model('ctr_mlp'), out('x.onnx'), { int8: { opTypes: ['Softmax'] } }))).toBe('ERR_QUANTIZE_OP');
    expect(await codeOf(() => quantizeModel(model('ctr_mlp'), out('x.onnx'), { int8: { excludeNodes: ['nope'] } }))).toBe('ERR_QUANTIZE_OP');
    expect(await codeOf(() => quantizeModel(model('ctr_mlp'), out('x.onnx'), {}))).toBe('ERR_OPTION_INVALID');
  });

  it('refuses an opset older than 11 for INT8, naming the opset', async () => {
    const m = onnx.ModelProto.decode(readFileSync(model('ctr_mlp')));
    m.opsetImport[0]!.version = 9;
    writeFileSync(out('opset9.onnx'), onnx.ModelProto.encode(m).finish());
    await expect(quantizeModel(out('opset9.onnx'), out('x.onnx'), { int8: true })).rejects.toMatchObject({ code: 'ERR_MODEL_OPSET', message: expect.stringMatching(/opset 9/) });
  });

  it('refuses to write over its input or into a missing directory, and leaves the input as it was', async () => {
    const before = sha(model('ctr_mlp'));
    expect(await codeOf(() => quantizeModel(model('ctr_mlp'), model('ctr_mlp'), { int8: true }))).toBe('ERR_OUTPUT_PATH');
    expect(await codeOf(() => quantizeModel(model('ctr_mlp'), join(tmp, 'no/such/dir/x.onnx'), { fp16: true }))).toBe('ERR_OUTPUT_PATH');
    expect(sha(model('ctr_mlp'))).toBe(before);
  });
});

describe('ortex quantize / ortex compare (CLI)', () => {
  const run = (...args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });

  it('quantizes, reports as JSON, and exits 0', () => {
    const r = run('quantize', model('ctr_mlp'), '-o', out('cli.onnx'), '--int8', '--reduce-range', '--json');
    expect(r.status).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(report.int8.quantized).toHaveLength(3);
    expect(report.int8.fusion.unfused).toEqual({});
  });

  it('prints the sensitivity table with the outlier named', () => {
    const r = run('quantize', model('swiglu_mlp'), '--int8', '--reduce-range', '--sensitivity', '--samples', '32');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/mlp\.down_proj <-- outlier/);
    expect(r.stdout).toMatch(/try --exclude mlp\.down_proj/);
  });

  it('exits 2 on usage errors and 1 with the message on bad models', () => {
    expect(run('quantize', model('ctr_mlp'), '-o', out('u.onnx')).status).toBe(2); // neither --int8 nor --fp16
    expect(run('quantize', model('ctr_mlp'), '-o', out('u.onnx'), '--int8', '--weight-type', 'int4').status).toBe(2);
    expect(run('compare', model('ctr_mlp')).status).toBe(2);
    const bad = run('quantize', join(tmp, 'missing.onnx'), '-o', out('u.onnx'), '--int8');
    expect(bad.status).toBe(1);
    expect(bad.stderr).toMatch(/does not exist/);
  });

  it('compares two models as JSON, asking for symbolic sizes it cannot guess', () => {
    const r = run('compare', model('ctr_mlp'), out('cli.onnx'), '--random', '64', '--runs', '5', '--json');
    expect(r.status).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(report.samples).toBe(64);
    expect(report.latency.map((l: { batch: number }) => l.batch)).toEqual([1, 32]);
    const needDim = run('compare', model('bert_mini'), out('bert_int8.onnx'), '--random', '8');
    expect(needDim.status).toBe(1);
    expect(needDim.stderr).toMatch(/--dim S=64/);
  });
});
