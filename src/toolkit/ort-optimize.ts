/**
 * ONNX Runtime's own graph optimizer, run offline: a session is created with the chosen
 * optimization level and `optimizedModelFilePath`, which makes ORT save the graph it would
 * execute (fused operators, folded constants) as ONNX or as ORT format.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InferenceSession } from '../inference-session.js';
import { decodeModel, type ModelProto } from './onnx-model.js';

export const OPTIMIZATION_LEVELS = ['basic', 'extended', 'all'] as const;
export type OptimizationLevel = (typeof OPTIMIZATION_LEVELS)[number];

export interface OrtSaveOptions {
  level: OptimizationLevel;
  /** 'ort' saves ORT's flatbuffer format (for minimal builds and faster loads). */
  format?: 'onnx' | 'ort';
}

/** Loads `model` (a path or bytes) in ORT and saves the optimized graph to `outPath`. */
export async function saveOptimized(model: string | Uint8Array, outPath: string, options: OrtSaveOptions): Promise<void> {
  const session = await InferenceSession.create(model, {
    graphOptimizationLevel: options.level,
    optimizedModelFilePath: outPath,
    intraOpNumThreads: 1,
    extra: options.format === 'ort' ? { 'session.save_model_format': 'ORT' } : {},
  });
  await session.release();
}

/** The graph ORT would execute for `model` at `level`, decoded. */
export async function optimizedGraph(model: string | Uint8Array, level: OptimizationLevel = 'all'): Promise<ModelProto> {
  const dir = await mkdtemp(join(tmpdir(), 'ortex-optimize-'));
  try {
    const path = join(dir, 'optimized.onnx');
    await saveOptimized(model, path, { level });
    return decodeModel(await readFile(path), 'the optimized model');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
