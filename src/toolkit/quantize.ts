/**
 * `ortex quantize`: a model file in, a smaller model file out, with a report of what changed.
 *
 * INT8 (dynamic): weights to int8 with per-channel scales, activations quantized at run time;
 * the report checks that ONNX Runtime really fuses the result into its integer kernels.
 * FP16: weights and compute in float16, inputs and outputs kept float32 by default.
 *
 * @example
 * ```ts
 * const report = await quantizeModel('bert_mini.onnx', 'bert_mini.int8.onnx', { int8: { reduceRange: true } });
 * report.sizeRatio;             // 0.26
 * report.int8.fusion.unfused;   // 0: every MatMulInteger became DynamicQuantizeMatMul / MatMulIntegerToFloat
 * ```
 */
import { OrtexError } from '../errors.js';
import { rewriteFp16, type Fp16Options, type Fp16Rewrite } from './fp16.js';
import { opHistogram } from './op-histogram.js';
import { checkOutputPath, encodeModel, readModel, writeModelFile } from './onnx-model.js';
import { optimizedGraph } from './ort-optimize.js';
import { checkInt8Options, rewriteInt8, type Int8Options, type Int8Rewrite } from './quantize-int8.js';
import { inferValueTypes } from './value-types.js';

export interface QuantizeOptions {
  /** Dynamic INT8 quantization; `true` for the defaults. */
  int8?: boolean | Int8Options;
  /** Float16 conversion; `true` for the defaults. */
  fp16?: boolean | Fp16Options;
  /** Load the INT8 result in ORT and count the fused integer kernels (default true). */
  checkFusion?: boolean;
}

/** Which integer kernels ONNX Runtime runs the quantized model with, after its optimizations. */
export interface FusionCheck {
  /** Counts of the fused kernels: com.microsoft.DynamicQuantizeMatMul, MatMulIntegerToFloat. */
  readonly fused: Record<string, number>;
  /** MatMulInteger/ConvInteger nodes left unfused (slower: separate cast and scale passes). */
  readonly unfused: Record<string, number>;
}

export interface QuantizeReport {
  readonly mode: 'int8' | 'fp16';
  readonly input: { path: string; bytes: number };
  readonly output: { path: string; bytes: number };
  /** Output bytes over input bytes. */
  readonly sizeRatio: number;
  readonly int8?: Int8Rewrite & { fusion?: FusionCheck };
  readonly fp16?: Fp16Rewrite;
}

const FUSED_KERNELS = ['com.microsoft.DynamicQuantizeMatMul', 'com.microsoft.MatMulIntegerToFloat', 'com.microsoft.QAttention', 'com.microsoft.QLinearConv'];
const UNFUSED_KERNELS = ['MatMulInteger', 'ConvInteger'];

export async function quantizeModel(input: string, output: string, options: QuantizeOptions): Promise<QuantizeReport> {
  if (!!options.int8 === !!options.fp16) {
    throw new OrtexError('ERR_OPTION_INVALID', 'Choose one conversion: int8 or fp16');
  }
  await checkOutputPath(output, input);
  const loaded = await readModel(input);
  const model = loaded.model;
  const int8Options = typeof options.int8 === 'object' ? options.int8 : {};
  if (options.int8) checkInt8Options(int8Options, model);
  const types = await inferValueTypes(model).catch((err: Error & { code?: string }) => {
    const code = /opset/i.test(err.message) ? 'ERR_MODEL_OPSET' : 'ERR_MODEL_NOT_ONNX';
    throw new OrtexError(code, `ONNX Runtime cannot load ${input}: ${err.message}`, { cause: err });
  });

  if (options.int8) {
    const rewrite = rewriteInt8(model, types, int8Options);
    const bytes = encodeModel(model);
    await writeModelFile(bytes, output, input);
    const fusion = options.checkFusion === false ? undefined : await checkFusion(bytes);
    return report('int8', loaded, output, bytes.length, { int8: { ...rewrite, fusion } });
  }
  const rewrite = rewriteFp16(model, types, typeof options.fp16 === 'object' ? options.fp16 : {});
  const bytes = encodeModel(model);
  await writeModelFile(bytes, output, input);
  return report('fp16', loaded, output, bytes.length, { fp16: rewrite });
}

function report(
  mode: 'int8' | 'fp16',
  input: { path: string; bytes: number },
  output: string,
  bytes: number,
  detail: Pick<QuantizeReport, 'int8' | 'fp16'>,
): QuantizeReport {
  return { mode, input: { path: input.path, bytes: input.bytes }, output: { path: output, bytes }, sizeRatio: bytes / input.bytes, ...detail };
}

export async function checkFusion(model: Uint8Array | string): Promise<FusionCheck> {
  const ops = opHistogram((await optimizedGraph(model, 'extended')).graph!);
  const pick = (names: readonly string[]) => Object.fromEntries(names.filter((n) => ops.has(n)).map((n) => [n, ops.get(n)!]));
  return { fused: pick(FUSED_KERNELS), unfused: pick(UNFUSED_KERNELS) };
}
