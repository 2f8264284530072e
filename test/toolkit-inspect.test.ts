// inspectModel() and `ortex inspect` on the generated models: what users read off the report
// (feeds, parameters, largest weights, node names for --exclude, what blocks INT8) checked
// against an independent decode of the same file with onnx-proto.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import onnxProto from 'onnx-proto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inspectModel, type InspectReport } from '../src/toolkit/inspect.js';
import { CLI, ROOT } from './fixtures/serve-process.js';
import { codeOf, model } from './helpers.js';

const { onnx } = onnxProto;
const tmp = mkdtempSync(join(tmpdir(), 'ortex-inspect-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const decode = (path: string) => onnx.ModelProto.decode(readFileSync(path));
const elements = (t: { dims?: unknown[] | null }) => (t.dims ?? []).reduce<number>((a, d) => a * Number(d), 1);

/** ctr_mlp, changed by `edit`, written to tmp/`name`. */
function ctrMlpVariant(name: string, edit: (m: ReturnType<typeof decode>) => void): string {
  const m = decode(model('ctr_mlp'));
  edit(m);
  const path = join(tmp, name);
  writeFileSync(path, onnx.ModelProto.encode(m).finish());
  return path;
}

describe('inspectModel() on bert_mini', () => {
  const path = model('bert_mini');
  const decoded = decode(path);
  const graph = decoded.graph!;
  const initializerNames = new Set(graph.initializer.map((t) => t.name));
  let report: InspectReport;
  beforeAll(async () => {
    report = await inspectModel(path);
  });

  it('reports the two int64 inputs with their symbolic shapes, and the logits', () => {
    expect(report.inputs).toEqual([
      { name: 'input_ids', dtype: 'int64', shape: ['N', 'S'] },
      { name: 'attention_mask', dtype: 'int64', shape: ['N', 'S'] },
    ]);
    expect(report.outputs).toEqual([{ name: 'logits', dtype: 'float', shape: ['N', 65] }]);
    expect(report.opsets).toEqual([{ domain: 'ai.onnx', version: 17 }]);
    expect(report.irVersion).toBe(Number(decoded.irVersion));
    expect(report.fileBytes).toBe(statSync(path).size);
  });

  it('counts parameters as the sum over initializers, by dtype', () => {
    const count = graph.initializer.reduce((a, t) => a + elements(t), 0);
    const bytes = graph.initializer.reduce((a, t) => a + t.rawData.length, 0);
    expect(report.parameters.count).toBe(count);
    expect(report.parameters.bytes).toBe(bytes);
    expect(report.parameters.initializers).toBe(graph.initializer.length);
    const floats = graph.initializer.filter((t) => t.dataType === onnx.TensorProto.DataType.FLOAT);
    expect(report.parameters.byDtype[0]).toEqual({ dtype: 'float', count: floats.reduce((a, t) => a + elements(t), 0), bytes: floats.reduce((a, t) => a + t.rawData.length, 0), initializers: floats.length });
    expect(report.parameters.byDtype.reduce((a, d) => a + d.count, 0)).toBe(count);
  });

  it('lists the 30522x256 word embedding as the largest initializer, ten by default', () => {
    expect(report.largestInitializers).toHaveLength(10);
    expect(report.largestInitializers[0]).toEqual({ name: 'embeddings.word', dtype: 'float', shape: [30522, 256], elements: 30522 * 256, bytes: 30522 * 256 * 4 });
    const sizes = report.largestInitializers.map((t) => t.bytes);
    expect(sizes).toEqual([...sizes].sort((a, b) => b - a));
  });

  it('counts operators to the node count', () => {
    expect(report.nodeCount).toBe(graph.node.length);
    expect(report.operators.reduce((a, o) => a + o.count, 0)).toBe(graph.node.length);
    expect(report.operators.find((o) => o.op === 'MatMul')?.count).toBe(graph.node.filter((n) => n.opType === 'MatMul').length);
  });

  it('lists the attention activation x activation MatMuls as not quantizable, with the reason', () => {
    const attention = graph.node.filter((n) => n.opType === 'MatMul' && !initializerNames.has(n.input[1]!)).map((n) => n.name);
    expect(attention).toHaveLength(8); // scores and context, in each of 4 layers
    const q = report.quantization;
    for (const name of attention) {
      expect(q.candidates.find((c) => c.name === name)).toEqual({
        name,
        opType: 'MatMul',
        weight: '',
        weightBytes: 0,
        quantizable: false,
        reason: 'weight is not a constant (activation x activation)',
      });
    }
    expect(q.candidates.find((c) => c.weight === 'embeddings.word')).toMatchObject({ opType: 'Gather', quantizable: true, weightBytes: 30522 * 256 * 4 });
    expect(q.blockers).toEqual([]);
  });

  it('summarizes quantizable nodes and the share of parameter bytes they cover', () => {
    const candidates = graph.node.filter((n) => ['MatMul', 'Gemm', 'Gather', 'Conv'].includes(n.opType!));
    const constantWeight = candidates.filter((n) => initializerNames.has(n.input[n.opType === 'Gather' ? 0 : 1]!));
    const weightBytes = new Set(constantWeight.map((n) => n.input[n.opType === 'Gather' ? 0 : 1]!));
    const covered = [...weightBytes].reduce((a, w) => a + graph.initializer.find((t) => t.name === w)!.rawData.length, 0);
    const q = report.quantization;
    expect(q.candidates).toHaveLength(candidates.length);
    expect(q.quantizableNodes).toBe(constantWeight.length);
    expect(q.quantizableBytes).toBe(covered);
    expect(q.summary).toBe(`${constantWeight.length} of ${candidates.length} candidate nodes quantizable, covering ${((100 * covered) / report.parameters.bytes).toFixed(1)}% of parameter bytes`);
  });

  it('is plain JSON data, and lists nodes and every initializer only when asked', async () => {
    expect(JSON.parse(JSON.stringify(report))).toEqual(report);
    expect(report.nodes).toBeUndefined();
    const full = await inspectModel(path, { nodes: true, all: true });
    expect(full.largestInitializers).toHaveLength(graph.initializer.length);
    expect(full.nodes).toHaveLength(graph.node.length);
    expect(full.nodes![0]).toEqual({ name: graph.node[0]!.name, opType: graph.node[0]!.opType, inputs: graph.node[0]!.input, outputs: graph.node[0]!.output });
  });
});

describe('inspectModel() model-level quantization blockers', () => {
  it('reports every Gemm of ctr_mlp as quantizable, and no blocker', async () => {
    const r = await inspectModel(model('ctr_mlp'));
    expect(r.inputs).toEqual([{ name: 'x', dtype: 'float', shape: ['N', 64] }]);
    expect(r.quantization.candidates.map((c) => [c.opType, c.quantizable])).toEqual([['Gemm', true], ['Gemm', true], ['Gemm', true]]);
    expect(r.quantization.summary).toMatch(/^3 of 3 candidate nodes quantizable, covering 99\.\d% of parameter bytes$/);
  });

  it('blames an opset older than 11 for every candidate', async () => {
    const path = ctrMlpVariant('opset10.onnx', (m) => {
      m.opsetImport[0]!.version = 10;
    });
    const q = (await inspectModel(path)).quantization;
    expect(q.blockers).toEqual([expect.stringMatching(/imports ONNX opset 10; INT8 quantization needs 11 or later.*version_converter/)]);
    expect(q.quantizableNodes).toBe(0);
    expect(q.candidates.every((c) => !c.quantizable && /opset 10/.test(c.reason!))).toBe(true);
    expect(q.summary).toMatch(/^0 of 3 candidate nodes quantizable, covering 0\.0%/);
  });

  it('names float16 weights as a blocker even when they reach the Gemm through a Cast', async () => {
    const path = ctrMlpVariant('fp16.onnx', (m) => {
      const w = m.graph!.initializer.find((t) => t.name === 'fc2.weight')!;
      w.name = 'fc2.weight_fp16';
      w.dataType = onnx.TensorProto.DataType.FLOAT16;
      w.rawData = new Uint8Array(w.rawData.length / 2);
      const cast = onnx.NodeProto.create({
        name: 'cast_fc2',
        opType: 'Cast',
        input: ['fc2.weight_fp16'],
        output: ['fc2.weight'],
        attribute: [onnx.AttributeProto.create({ name: 'to', type: onnx.AttributeProto.AttributeType.INT, i: onnx.TensorProto.DataType.FLOAT })],
      });
      m.graph!.node.unshift(cast);
    });
    const q = (await inspectModel(path)).quantization;
    expect(q.blockers).toEqual([expect.stringMatching(/^1 initializer is stored as float16 \(131072 bytes\), not float32/)]);
    expect(q.candidates.find((c) => c.name === 'Gemm_node_1')).toMatchObject({ quantizable: false, reason: 'weight is not a constant (activation x activation)' });
  });

  it('still reports on a model ONNX Runtime cannot load, naming that as the blocker', async () => {
    const path = ctrMlpVariant('custom-op.onnx', (m) => {
      m.graph!.node[1]!.domain = 'com.example';
      m.opsetImport.push(onnx.OperatorSetIdProto.create({ domain: 'com.example', version: 1 }));
    });
    const r = await inspectModel(path);
    expect(r.operators).toContainEqual({ op: 'com.example.Relu', count: 1 });
    expect(r.quantization.blockers).toEqual([expect.stringMatching(/^ONNX Runtime cannot load the model to infer value types: .*com\.example:Relu/)]);
    expect(r.quantization.quantizableNodes).toBe(0);
  });

  it('reads weights stored as external data and names it', async () => {
    const external = join(tmp, 'weights.bin');
    const chunks: Uint8Array[] = [];
    let offset = 0;
    const path = ctrMlpVariant('external.onnx', (m) => {
      for (const t of m.graph!.initializer) {
        chunks.push(t.rawData);
        t.externalData = [
          onnx.StringStringEntryProto.create({ key: 'location', value: 'weights.bin' }),
          onnx.StringStringEntryProto.create({ key: 'offset', value: String(offset) }),
          onnx.StringStringEntryProto.create({ key: 'length', value: String(t.rawData.length) }),
        ];
        offset += t.rawData.length;
        t.rawData = new Uint8Array(0);
        t.dataLocation = onnx.TensorProto.DataLocation.EXTERNAL;
      }
    });
    writeFileSync(external, Buffer.concat(chunks));
    const [r, inline] = await Promise.all([inspectModel(path), inspectModel(model('ctr_mlp'))]);
    expect(r.parameters).toEqual(inline.parameters);
    expect(r.fileBytes).toBe(statSync(path).size + offset);
    expect(r.quantization.blockers).toEqual([expect.stringMatching(new RegExp(`^${offset} bytes of weights are stored as external data`))]);
    expect(r.quantization.quantizableNodes).toBe(3);
  });
});

describe('inspectModel() errors', () => {
  it('refuses a text file with ERR_MODEL_NOT_ONNX and a missing one with ERR_MODEL_NOT_FOUND', async () => {
    const text = join(tmp, 'notes.onnx');
    writeFileSync(text, 'these are not the weights you are looking for\n'.repeat(10));
    expect(await codeOf(() => inspectModel(text))).toBe('ERR_MODEL_NOT_ONNX');
    expect(await codeOf(() => inspectModel(join(tmp, 'missing.onnx')))).toBe('ERR_MODEL_NOT_FOUND');
  });
});

describe('ortex inspect (CLI)', () => {
  const run = (...args: string[]) => spawnSync(process.execPath, [CLI, 'inspect', ...args], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
  beforeAll(() => {
    expect(existsSync(CLI), `${CLI} is missing: build with \`npx tsc -p tsconfig.json\``).toBe(true);
    for (const src of ['src/cli/inspect-command.ts', 'src/toolkit/inspect.ts', 'src/toolkit/inspect-format.ts', 'src/toolkit/int8-readiness.ts']) {
      const built = `${ROOT}dist/${src.replace(/\.ts$/, '.js')}`;
      expect(statSync(built).mtimeMs, `${built} is older than ${src}: rebuild with \`npx tsc -p tsconfig.json\``).toBeGreaterThanOrEqual(statSync(`${ROOT}${src}`).mtimeMs);
    }
  });

  it('prints the report as JSON with --json --nodes, exit 0', () => {
    const r = run(model('ctr_mlp'), '--json', '--nodes');
    expect(r.status).toBe(0);
    const report = JSON.parse(r.stdout) as InspectReport;
    expect(report.inputs).toEqual([{ name: 'x', dtype: 'float', shape: ['N', 64] }]);
    expect(report.nodes!.map((n) => n.name)).toEqual(decode(model('ctr_mlp')).graph!.node.map((n) => n.name));
  });

  it('prints text sections naming the blockers', () => {
    const r = run(model('bert_mini'));
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^input_ids +int64 +\[N, S\]$/m);
    expect(r.stdout).toMatch(/^embeddings\.word +float +\[30522, 256\] +31\.25 MB$/m);
    expect(r.stdout).toMatch(/candidate nodes quantizable, covering/);
    expect(r.stdout).toMatch(/weight is not a constant \(activation x activation\)/);
  });

  it('exits 1 with the message for a bad model, 2 for a usage error', () => {
    const missing = run(join(tmp, 'missing.onnx'));
    expect(missing.status).toBe(1);
    expect(missing.stderr).toMatch(/ortex: Model file .*missing\.onnx does not exist/);
    expect(run().status).toBe(2);
    expect(run(model('ctr_mlp'), '--frobnicate').status).toBe(2);
    expect(run(model('ctr_mlp'), model('bert_mini')).status).toBe(2);
  });
});
