/** Paths and small data helpers shared by the tests. */
import { fileURLToPath } from 'node:url';

export const MODELS = fileURLToPath(new URL('../models/out/', import.meta.url));
export const model = (name: string) => `${MODELS}${name}.onnx`;

/** Deterministic pseudo-random floats in [-1, 1). */
export function randomFloats(n: number, seed = 1): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    out[i] = (((t ^ (t >>> 14)) >>> 0) / 4294967296) * 2 - 1;
  }
  return out;
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
