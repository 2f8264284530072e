// optimizeModel() and `ortex optimize` on the generated models: the saved graph loads and
// computes what the original computes, is smaller in nodes, the report says what was fused,
// and the input file is never touched whatever goes wrong.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, statSync, symlinkSync, writeFileSync, copyFileSync, chmodSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import onnxProto from 'onnx-proto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InferenceSession, Tensor } from '../src/index.js';
import { optimizeModel, type OptimizeReport } from '../src/toolkit/optimize.js';
import { CLI, ROOT } from './fixtures/serve-process.js';
import { codeOf, model, randomFloats } from './helpers.js';

const { onnx } = onnxProto;
const tmp = mkdtempSync(join(tmpdir(), 'ortex-optimize-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const sha256 = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');
const nodeCount = (path: string) => onnx.ModelProto.decode(readFileSync(path)).graph!.node.length;
/** Files a run left in `dir` besides the ones expected (temporary files must not stay). */
const leftovers = (dir: string, expected: readonly string[]) => readdirSync(dir).filter((f) => !expected.includes(f));

/** Runs the graph exactly as saved (ORT's own optimizations off) and returns one output. */
async function outputOf(path: string, feeds: Record<string, Tensor>, output: string): Promise<Float32Array> {
  const session = await InferenceSession.create(path, { graphOptimizationLevel: 'disabled' });
  try {
    return (await session.run(feeds))[output]!.data as Float32Array;
  } finally {
    await session.release();
  }
}

function expectClose(actual: Float32Array, expected: Float32Array, tolerance: number): void {
  expect(actual.length).toBe(expected.length);
  let worst = 0;
  for (let k = 0; k < expected.length; k++) worst = Math.max(worst, Math.abs(actual[k]! - expected[k]!));
  expect(worst).toBeLessThan(tolerance);
}

describe('optimizeModel() on bert_mini', () => {
  const input = model('bert_mini');
  const dir = join(tmp, 'bert');
  const N = 2;
  const S = 24;
  const feeds = {
    input_ids: new Tensor('int64', BigInt64Array.from({ length: N * S }, (_, k) => BigInt((k * 7919 + 11) % 30522)), [N, S]),
    // The second sequence is padded after 15 tokens, so the attention mask path is exercised.
    attention_mask: new Tensor('int64', BigInt64Array.from({ length: N * S }, (_, k) => (k < S || k % S < 15 ? 1n : 0n)), [N, S]),
  };
  const hashBefore = sha256(input);
  let report: OptimizeReport;
  let reference: Float32Array;
  beforeAll(async () => {
    mkdirSync(dir);
    reference = await outputOf(input, feeds, 'logits');
    report = await optimizeModel(input, join(dir, 'extended.onnx'));
  });

  it('saves a model that gives the same logits within 1e-4', async () => {
    expectClose(await outputOf(join(dir, 'extended.onnx'), feeds, 'logits'), reference, 1e-4);
  });

  it('reports fewer nodes and the fused operators, at the default level extended', () => {
    expect(report.level).toBe('extended');
    expect(report.format).toBe('onnx');
    expect(report.nodesBefore).toBe(nodeCount(input));
    expect(report.nodesAfter).toBe(nodeCount(join(dir, 'extended.onnx')));
    expect(report.nodesAfter).toBeLessThan(report.nodesBefore);
    const fused = report.opChanges.filter((c) => c.op.startsWith('com.microsoft.') && c.after > c.before);
    expect(fused.length).toBeGreaterThan(0);
    const matmul = report.opChanges.find((c) => c.op === 'MatMul')!;
    expect(matmul.after).toBeLessThan(matmul.before);
    for (const c of report.opChanges) expect(report.summary).toContain(`${c.after > c.before ? '+' : '-'}${Math.abs(c.after - c.before)} ${c.op}`);
    expect(report.bytesBefore).toBe(statSync(input).size);
    expect(report.bytesAfter).toBe(statSync(join(dir, 'extended.onnx')).size);
  });

  it('keeps basic to ONNX operators, and never modifies the input', async () => {
    const basic = await optimizeModel(input, join(dir, 'basic.onnx'), { level: 'basic' });
    expect(basic.opChanges.filter((c) => c.op.includes('.'))).toEqual([]);
    expect(basic.nodesAfter).toBeLessThanOrEqual(basic.nodesBefore);
    expect(basic.nodesAfter).toBeGreaterThan(report.nodesAfter);
    expectClose(await outputOf(join(dir, 'basic.onnx'), feeds, 'logits'), reference, 1e-4);
    expect(sha256(input)).toBe(hashBefore);
    expect(leftovers(dir, ['extended.onnx', 'basic.onnx'])).toEqual([]);
  });
});

describe('optimizeModel() on ctr_mlp', () => {
  const input = model('ctr_mlp');
  const x = new Tensor('float32', randomFloats(8 * 64, 3), [8, 64]);

  it('fuses Gemm and its activation, and writes ORT format for a .ort output', async () => {
    const dir = mkdtempSync(join(tmp, 'ctr-'));
    const onnxOut = await optimizeModel(input, join(dir, 'ctr.onnx'));
    const ortOut = await optimizeModel(input, join(dir, 'ctr.ort'));
    expect(ortOut.format).toBe('ort');
    // ORT format files are flatbuffers tagged 'ORTM' at byte 4, not protobuf.
    expect(readFileSync(join(dir, 'ctr.ort')).subarray(4, 8).toString()).toBe('ORTM');
    expect(onnxOut.opChanges).toContainEqual({ op: 'com.microsoft.FusedGemm', before: 0, after: 3 });
    expect(ortOut.opChanges).toEqual(onnxOut.opChanges);
    expect(ortOut.nodesAfter).toBe(onnxOut.nodesAfter);
    const reference = await outputOf(input, { x }, 'y');
    expectClose(await outputOf(join(dir, 'ctr.onnx'), { x }, 'y'), reference, 1e-6);
    expectClose(await outputOf(join(dir, 'ctr.ort'), { x }, 'y'), reference, 1e-6);
  });
});

describe('optimizeModel() errors', () => {
  const input = model('ctr_mlp');

  it('refuses to write over the input, by path or through a symlink, leaving it unchanged', async () => {
    const dir = mkdtempSync(join(tmp, 'same-'));
    const copy = join(dir, 'model.onnx');
    copyFileSync(input, copy);
    const before = sha256(copy);
    const mtime = statSync(copy).mtimeMs;
    expect(await codeOf(() => optimizeModel(copy, copy))).toBe('ERR_OUTPUT_PATH');
    expect(await codeOf(() => optimizeModel(copy, join(dir, '.', 'model.onnx')))).toBe('ERR_OUTPUT_PATH');
    symlinkSync(copy, join(dir, 'link.onnx'));
    expect(await codeOf(() => optimizeModel(copy, join(dir, 'link.onnx')))).toBe('ERR_OUTPUT_PATH');
    expect(sha256(copy)).toBe(before);
    expect(statSync(copy).mtimeMs).toBe(mtime);
    expect(leftovers(dir, ['model.onnx', 'link.onnx'])).toEqual([]);
  });

  it('fails with ERR_OUTPUT_PATH for a missing output directory, and writes nothing', async () => {
    const err = await optimizeModel(input, join(tmp, 'no', 'such', 'dir', 'out.onnx')).catch((e: Error & { code: string }) => e);
    expect(err).toMatchObject({ code: 'ERR_OUTPUT_PATH', message: expect.stringMatching(/the directory .*no\/such\/dir does not exist/) });
    expect(existsSync(join(tmp, 'no'))).toBe(false);
  });

  it.skipIf(process.getuid?.() === 0)('fails with ERR_OUTPUT_PATH for an output directory it cannot write', async () => {
    const dir = mkdtempSync(join(tmp, 'readonly-'));
    chmodSync(dir, 0o555);
    expect(await codeOf(() => optimizeModel(input, join(dir, 'out.onnx')))).toBe('ERR_OUTPUT_PATH');
  });

  it('refuses a non-ONNX input, a missing one and an unknown level or format', async () => {
    const text = join(tmp, 'readme.onnx');
    writeFileSync(text, '# not a model\n'.repeat(50));
    expect(await codeOf(() => optimizeModel(text, join(tmp, 'a.onnx')))).toBe('ERR_MODEL_NOT_ONNX');
    expect(await codeOf(() => optimizeModel(join(tmp, 'missing.onnx'), join(tmp, 'b.onnx')))).toBe('ERR_MODEL_NOT_FOUND');
    expect(await codeOf(() => optimizeModel(input, join(tmp, 'c.onnx'), { level: 'max' as 'all' }))).toBe('ERR_OPTION_INVALID');
    expect(await codeOf(() => optimizeModel(input, join(tmp, 'd.onnx'), { format: 'tflite' as 'ort' }))).toBe('ERR_OPTION_INVALID');
    for (const f of ['a.onnx', 'b.onnx', 'c.onnx', 'd.onnx']) expect(existsSync(join(tmp, f))).toBe(false);
  });
});

describe('ortex optimize (CLI)', () => {
  const run = (...args: string[]) => spawnSync(process.execPath, [CLI, 'optimize', ...args], { cwd: ROOT, encoding: 'utf8', timeout: 120_000 });
  beforeAll(() => {
    expect(existsSync(CLI), `${CLI} is missing: build with \`npx tsc -p tsconfig.json\``).toBe(true);
    for (const src of ['src/cli/optimize-command.ts', 'src/toolkit/optimize.ts']) {
      const built = `${ROOT}dist/${src.replace(/\.ts$/, '.js')}`;
      expect(statSync(built).mtimeMs, `${built} is older than ${src}: rebuild with \`npx tsc -p tsconfig.json\``).toBeGreaterThanOrEqual(statSync(`${ROOT}${src}`).mtimeMs);
    }
  });

  it('writes the model and prints the report as JSON, exit 0', () => {
    const out = join(tmp, 'cli.onnx');
    const r = run(model('ctr_mlp'), '-o', out, '--level', 'basic', '--json');
    expect(r.status).toBe(0);
    const report = JSON.parse(r.stdout) as OptimizeReport;
    expect(report).toMatchObject({ output: out, level: 'basic', format: 'onnx', nodesBefore: 6, nodesAfter: nodeCount(out) });
  });

  it('prints sizes, node counts and the op changes as text', () => {
    const r = run(model('ctr_mlp'), '--output', join(tmp, 'cli-text.onnx'));
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/level extended, ONNX format/);
    expect(r.stdout).toMatch(/nodes +6 -> 3/);
    expect(r.stdout).toMatch(/\+3 com\.microsoft\.FusedGemm, -3 Gemm/);
  });

  it('exits 1 when the output is the input, 2 for usage errors', () => {
    const dir = mkdtempSync(join(tmp, 'cli-same-'));
    const copy = join(dir, 'model.onnx');
    copyFileSync(model('ctr_mlp'), copy);
    const before = sha256(copy);
    const same = run(copy, '-o', copy);
    expect(same.status).toBe(1);
    expect(same.stderr).toMatch(/ortex: The output path .* is the input model/);
    expect(sha256(copy)).toBe(before);
    const level = run(copy, '-o', join(dir, 'out.onnx'), '--level', 'max');
    expect(level.status).toBe(2);
    expect(level.stderr).toMatch(/Expected one of basic, extended, all for --level but received "max"/);
    expect(run(copy).status).toBe(2); // no -o
    expect(run('-o', join(dir, 'out.onnx')).status).toBe(2); // no model
    expect(run(copy, '-o', join(dir, 'out.onnx'), '--fast').status).toBe(2);
    expect(existsSync(join(dir, 'out.onnx'))).toBe(false);
  });
});
