/**
 * `ortex optimize`: ONNX Runtime's graph optimizations applied once, offline, and saved, so a
 * server loads the fused graph instead of re-deriving it at every start; with a report of what
 * changed (size, node count, and which operators were fused away or into what).
 *
 * The level defaults to 'extended' (constant folding, redundant-node elimination, and the
 * com.microsoft fusions: attention, GELU, layer norm, FusedMatMul...). 'all' adds the NCHWc
 * layout transforms, which pick kernels for the CPU doing the optimizing: ONNX Runtime warns
 * that such a saved model should only run on the same kind of machine, so it is opt-in.
 *
 * @example
 * ```ts
 * const r = await optimizeModel('bert_mini.onnx', 'bert_mini.opt.onnx');
 * r.nodesBefore, r.nodesAfter;  // 150, 140
 * r.summary;                    // '+8 com.microsoft.FusedMatMul, -8 MatMul, -8 Mul, +1 com.microsoft.FusedGemm, ...'
 * ```
 */
import { constants } from 'node:fs';
import { access, readFile, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { OrtexError } from '../errors.js';
import { invalidRange } from '../validate.js';
import { decodeModel, readModel } from './onnx-model.js';
import { opDiff, opHistogram, type OpCountChange } from './op-histogram.js';
import { OPTIMIZATION_LEVELS, optimizedGraph, saveOptimized, type OptimizationLevel } from './ort-optimize.js';

export const DEFAULT_OPTIMIZATION_LEVEL: OptimizationLevel = 'extended';
export const MODEL_FORMATS = ['onnx', 'ort'] as const;
export type ModelFormat = (typeof MODEL_FORMATS)[number];

export interface OptimizeOptions {
  /** 'basic', 'extended' (default) or 'all' (adds machine-specific layout transforms). */
  level?: OptimizationLevel;
  /** 'onnx' or 'ort' (ONNX Runtime's flatbuffer format); default 'ort' when the output ends in .ort. */
  format?: ModelFormat;
}

export interface OptimizeReport {
  readonly input: string;
  readonly output: string;
  readonly level: OptimizationLevel;
  readonly format: ModelFormat;
  readonly bytesBefore: number;
  readonly bytesAfter: number;
  readonly nodesBefore: number;
  readonly nodesAfter: number;
  /** Operators whose count changed, largest change first. */
  readonly opChanges: OpCountChange[];
  /** The changes in one line: '-24 MatMul, -8 Add, +24 com.microsoft.FusedMatMul'. */
  readonly summary: string;
}

/**
 * Optimizes the model at `input` and writes it to `output`; the input file is never modified.
 *
 * @throws OrtexRangeError ERR_OPTION_INVALID for an unknown level or format;
 * OrtexError ERR_MODEL_NOT_FOUND / ERR_MODEL_NOT_ONNX for the input, ERR_OUTPUT_PATH when the
 * output is the input or its directory is missing or not writable.
 */
export async function optimizeModel(input: string, output: string, options: OptimizeOptions = {}): Promise<OptimizeReport> {
  const level = options.level ?? DEFAULT_OPTIMIZATION_LEVEL;
  if (!OPTIMIZATION_LEVELS.includes(level)) throw invalidRange(`one of ${OPTIMIZATION_LEVELS.join(', ')}`, 'level', level, 'ERR_OPTION_INVALID');
  const format = options.format ?? (output.toLowerCase().endsWith('.ort') ? 'ort' : 'onnx');
  if (!MODEL_FORMATS.includes(format)) throw invalidRange(`one of ${MODEL_FORMATS.join(', ')}`, 'format', format, 'ERR_OPTION_INVALID');

  const before = await readModel(input);
  await checkOutputPath(input, output);

  // ORT writes the file as it serializes: write beside the target and rename, so a failure
  // leaves no half-written model under the output name.
  const tmp = join(dirname(resolve(output)), `.${basename(output)}.${process.pid}.${Date.now()}.ortex-tmp.${format}`);
  const discard = () => rm(tmp, { force: true }).catch(() => {});
  try {
    await saveOptimized(input, tmp, { level, format });
  } catch (err) {
    await discard();
    throw err;
  }
  await rename(tmp, output).catch(async (err: Error) => {
    await discard();
    throw new OrtexError('ERR_OUTPUT_PATH', `Cannot write ${output}: ${err.message}`, { cause: err });
  });

  // onnx-proto cannot read the ORT format, so its operators come from an ONNX save at the same level.
  const after = format === 'onnx' ? decodeModel(await readFile(output), output) : await optimizedGraph(input, level);
  const histBefore = opHistogram(before.model.graph!);
  const histAfter = opHistogram(after.graph!);
  const opChanges = opDiff(histBefore, histAfter);
  return {
    input,
    output,
    level,
    format,
    bytesBefore: before.bytes,
    bytesAfter: (await stat(output)).size,
    nodesBefore: before.model.graph!.node?.length ?? 0,
    nodesAfter: after.graph!.node?.length ?? 0,
    opChanges,
    summary: opChanges.length === 0 ? 'no operator changes' : opChanges.map((c) => `${c.after > c.before ? '+' : '-'}${Math.abs(c.after - c.before)} ${c.op}`).join(', '),
  };
}

/** The checks writeModelFile makes, done up front because ONNX Runtime writes the file itself. */
async function checkOutputPath(input: string, output: string): Promise<void> {
  const sameFile = async () => {
    if (resolve(output) === resolve(input)) return true;
    // A symlink or hard link to the input is the input too.
    const [a, b] = await Promise.all([stat(input), stat(output).catch(() => undefined)]);
    return b !== undefined && a.dev === b.dev && a.ino === b.ino;
  };
  if (await sameFile()) {
    throw new OrtexError('ERR_OUTPUT_PATH', `The output path ${output} is the input model: choose another file (the input is never modified)`);
  }
  const dir = dirname(resolve(output));
  const info = await stat(dir).catch(() => undefined);
  if (!info?.isDirectory()) throw new OrtexError('ERR_OUTPUT_PATH', `Cannot write ${output}: the directory ${dir} does not exist`);
  await access(dir, constants.W_OK).catch(() => {
    throw new OrtexError('ERR_OUTPUT_PATH', `Cannot write ${output}: the directory ${dir} is not writable`);
  });
  const existing = await stat(output).catch(() => undefined);
  if (existing?.isDirectory()) throw new OrtexError('ERR_OUTPUT_PATH', `Cannot write ${output}: it is a directory`);
}
