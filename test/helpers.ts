/** Paths and small data helpers shared by the tests. */
import { fileURLToPath } from 'node:url';
import { Prng } from '../models/prng.js';

export const MODELS = fileURLToPath(new URL('../models/out/', import.meta.url));
export const model = (name: string) => `${MODELS}${name}.onnx`;

/** Deterministic pseudo-random floats in [-1, 1). */
export function randomFloats(n: number, seed = 1): Float32Array {
  return new Prng(seed).uniform(n, 1);
}

/** Asserts that a promise rejects (or a function throws) with the given ortex error code. */
export async function codeOf(fn: () => unknown): Promise<string | undefined> {
  try {
    await fn();
  } catch (err) {
    return (err as { code?: string }).code;
  }
  return undefined;
}
