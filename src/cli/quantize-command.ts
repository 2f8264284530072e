/**
 * `ortex quantize model.onnx -o out.onnx --int8|--fp16 [options]`, and with `--sensitivity`
 * the per-node INT8 error report.
 */
import { DEFAULT_FP16_BLOCK_OPS } from '../toolkit/fp16.js';
import { quantizeModel, type QuantizeReport } from '../toolkit/quantize.js';
import { int8Sensitivity, type SensitivityReport } from '../toolkit/sensitivity.js';
import { formatBytes, formatNumber, textTable } from '../toolkit/text-table.js';
import { UsageError } from './serve-options.js';
import { dims, list, parseToolArgs, positiveInt } from './tool-args.js';

const USAGE = `Usage: ortex quantize <model.onnx> -o <out.onnx> (--int8 | --fp16) [options]

INT8 (dynamic: int8 weights, activations quantized at run time):
  --op-types <list>          op types to quantize: MatMul, Gemm, Gather (the default) and Conv
                             (ConvInteger has no fast fused CPU kernel: smaller, but slower)
  --exclude-op-types <list>  op types to leave in float
  --exclude <list>           node names to leave in float (see --sensitivity, ortex inspect --nodes)
  --per-tensor               one scale per weight tensor (default: per channel)
  --reduce-range             7-bit weights: needed on x86 CPUs without VNNI (AVX2 only), where
                             8-bit weights saturate ONNX Runtime's u8 x s8 kernels
  --weight-type int8|uint8   uint8 stores the same symmetric weights offset by 128; ORT runs
                             u8 x u8 without saturation on any CPU, a little slower
  --min-weight-elements <n>  leave smaller weights in float
  --no-merge                 keep MatMuls that read the same input (query, key, value) apart;
                             by default they become one wider MatMul that quantizes its input once
  --no-fuse-gelu             keep an erf GELU written out in elementary ops as it is; by default
                             it becomes ONNX Runtime's one-kernel com.microsoft.Gelu
  --no-fuse-attention        keep self-attention written out in MatMul/Reshape/Transpose/Softmax
                             as it is; by default it becomes one com.microsoft.QAttention kernel
                             (the 0/1 attention mask read by the kernel itself)
  --sensitivity              print each node's error when quantized alone (no -o needed)
  --samples <n>              samples for --sensitivity (default 64)
  --inputs <file.json>       samples from a file instead of random ones
  --dim NAME=SIZE            size of a symbolic input dimension for random samples, e.g. --dim S=64

FP16:
  --no-keep-io-types         make float inputs and outputs float16 too (default: keep float32)
  --block-ops <list>         op types kept in float32 (added to the default block list)
  --block-nodes <list>       node names kept in float32

  --json                     print the report as JSON`;

export async function runQuantize(argv: readonly string[]): Promise<void> {
  const { values, positionals } = parseToolArgs(
    argv,
    {
      output: { type: 'string', short: 'o' },
      int8: { type: 'boolean' },
      fp16: { type: 'boolean' },
      'op-types': { type: 'string', multiple: true },
      'exclude-op-types': { type: 'string', multiple: true },
      exclude: { type: 'string', multiple: true },
      'per-tensor': { type: 'boolean' },
      'reduce-range': { type: 'boolean' },
      'weight-type': { type: 'string' },
      'min-weight-elements': { type: 'string' },
      'no-merge': { type: 'boolean' },
      'no-fuse-gelu': { type: 'boolean' },
      'no-fuse-attention': { type: 'boolean' },
      sensitivity: { type: 'boolean' },
      samples: { type: 'string' },
      inputs: { type: 'string' },
      dim: { type: 'string', multiple: true },
      'no-keep-io-types': { type: 'boolean' },
      'block-ops': { type: 'string', multiple: true },
      'block-nodes': { type: 'string', multiple: true },
      json: { type: 'boolean' },
    },
    'quantize',
  );
  if (values.help) return console.log(USAGE);
  const input = positionals[0];
  if (!input || positionals.length > 1) throw new UsageError(`quantize takes one model file (ortex quantize --help)`);
  if (!!values.int8 === !!values.fp16) throw new UsageError(`Give exactly one of --int8 and --fp16 (ortex quantize --help)`);
  if (!values.output && !values.sensitivity) throw new UsageError(`-o <out.onnx> is required (ortex quantize --help)`);
  if (values.sensitivity && !values.int8) throw new UsageError('--sensitivity reports INT8 error; use it with --int8');
  const weightType = values['weight-type'];
  if (weightType !== undefined && weightType !== 'int8' && weightType !== 'uint8') throw new UsageError(`--weight-type expects int8 or uint8, got '${weightType}'`);

  const int8 = {
    opTypes: list(values['op-types']),
    excludeOpTypes: list(values['exclude-op-types']),
    excludeNodes: list(values.exclude),
    perChannel: !values['per-tensor'],
    reduceRange: !!values['reduce-range'],
    weightType: weightType as 'int8' | 'uint8' | undefined,
    minWeightElements: positiveInt(values['min-weight-elements'], '--min-weight-elements'),
    mergeSiblings: !values['no-merge'],
    fuseGelu: !values['no-fuse-gelu'],
    fuseAttention: !values['no-fuse-attention'],
  };
  const fp16 = {
    keepIoTypes: !values['no-keep-io-types'],
    blockOps: values['block-ops'] ? [...DEFAULT_FP16_BLOCK_OPS, ...list(values['block-ops'])!] : undefined,
    blockNodes: list(values['block-nodes']),
  };

  let report: QuantizeReport | undefined;
  if (values.output) report = await quantizeModel(input, values.output, values.int8 ? { int8 } : { fp16 });
  let sensitivity: SensitivityReport | undefined;
  if (values.sensitivity) {
    sensitivity = await int8Sensitivity(input, {
      ...int8,
      samples: positiveInt(values.samples, '--samples'),
      inputs: values.inputs,
      dims: dims(values.dim),
    });
  }
  if (values.json) return console.log(JSON.stringify({ ...(report ?? {}), sensitivity }, null, 2));
  if (report) console.log(formatQuantize(report));
  if (sensitivity) console.log(`${report ? '\n' : ''}${formatSensitivity(sensitivity)}`);
}

export function formatQuantize(r: QuantizeReport): string {
  const lines = [
    `${r.mode.toUpperCase()}: ${r.input.path} (${formatBytes(r.input.bytes)}) -> ${r.output.path} (${formatBytes(r.output.bytes)}, ${(100 * r.sizeRatio).toFixed(1)}% of the input)`,
  ];
  if (r.int8) {
    const byOp = new Map<string, number>();
    for (const q of r.int8.quantized) byOp.set(q.opType, (byOp.get(q.opType) ?? 0) + 1);
    lines.push(`quantized ${r.int8.quantized.length} nodes (${[...byOp].map(([op, n]) => `${n} ${op}`).join(', ') || 'none'})`);
    if (r.int8.gelus.length > 0) lines.push(`fused ${r.int8.gelus.length} GELU${r.int8.gelus.length === 1 ? '' : 's'} (Erf and four elementwise ops each) into com.microsoft.Gelu`);
    for (const a of r.int8.attentions) lines.push(`fused a ${a.heads}-head self-attention (${a.nodes.length} nodes, projections ${a.projections.join(', ')}) into ${a.name}`);
    for (const m of r.int8.merged) lines.push(`merged ${m.nodes.length} MatMuls reading one input into ${m.name}`);
    if (r.int8.skipped.length > 0) {
      lines.push(`left in float: ${r.int8.skipped.length}`, textTable(['node', 'op', 'why'], r.int8.skipped.map((s) => [s.name, s.opType, s.reason])));
    }
    if (r.int8.fusion) {
      const fused = Object.entries(r.int8.fusion.fused).map(([op, n]) => `${n} ${op}`).join(', ') || 'none';
      const unfused = Object.entries(r.int8.fusion.unfused).map(([op, n]) => `${n} ${op}`).join(', ');
      lines.push(`ONNX Runtime fuses them into: ${fused}${unfused ? `; NOT fused: ${unfused}` : ' (all fused)'}`);
    }
  }
  if (r.fp16) {
    lines.push(
      `float16: ${r.fp16.float16Nodes} nodes, ${r.fp16.convertedInitializers} weights converted, ${r.fp16.castsInserted} casts inserted` +
        (r.fp16.flushedToZero > 0 ? `, ${r.fp16.flushedToZero} weight values too small for float16 became 0` : ''),
    );
    if (r.fp16.blocked.length > 0) {
      lines.push(`kept in float32: ${r.fp16.blocked.length}`, textTable(['node', 'op', 'why'], r.fp16.blocked.map((b) => [b.name, b.opType, b.reason])));
    }
  }
  return lines.join('\n');
}

export function formatSensitivity(s: SensitivityReport): string {
  const whole = s.whole
    .map((o) => `${o.name}: max abs error ${formatNumber(o.maxAbsError)}, mean ${formatNumber(o.meanAbsError)}` + (o.top1Agreement === null ? '' : `, top-1 agreement ${(100 * o.top1Agreement).toFixed(1)}%`))
    .join('; ');
  const rows = s.nodes.map((n) => [
    n.outlier ? `${n.name} <-- outlier` : n.name,
    n.opType,
    n.meanAbsError,
    n.maxAbsError,
    n.maxRelError,
    n.top1Agreement === null ? '-' : `${(100 * n.top1Agreement).toFixed(1)}%`,
  ]);
  const outliers = s.nodes.filter((n) => n.outlier).map((n) => n.name);
  return [
    `INT8 sensitivity over ${s.samples} samples. Whole model quantized: ${whole}`,
    'Each node quantized alone (worst first):',
    textTable(['node', 'op', 'mean abs error', 'max abs error', 'max rel error', 'top-1'], rows),
    outliers.length > 0
      ? `Nodes far above the median (over 10x): try --exclude ${outliers.join(',')}`
      : 'No node stands out: the error is spread across the model.',
  ].join('\n');
}
