/**
 * vitest globalSetup: makes sure models/out/ holds every generated model
 * before any test file runs.
 *
 * The models are a pure function of the generator's source, so a stamp
 * holding a SHA-256 of models/*.ts decides whether they are stale. When the
 * stamp matches and every file is present, setup costs a few file reads
 * instead of rebuilding tens of megabytes of weights.
 */
import { createHash } from 'node:crypto';
import { access, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { generateModels, MODEL_NAMES } from '../../models/generate.js';

const MODELS_DIR = fileURLToPath(new URL('../../models/', import.meta.url));
const OUT_DIR = join(MODELS_DIR, 'out');
const STAMP = join(OUT_DIR, '.source-sha256');

async function sourceHash(): Promise<string> {
  const hash = createHash('sha256');
  const files = (await readdir(MODELS_DIR)).filter((f) => f.endsWith('.ts')).sort();
  for (const file of files) {
    // The name goes in too, so renaming a file counts as a change.
    hash.update(file).update('\0').update(await readFile(join(MODELS_DIR, file))).update('\0');
  }
  return hash.digest('hex');
}

async function isUpToDate(expected: string): Promise<boolean> {
  try {
    if ((await readFile(STAMP, 'utf8')).trim() !== expected) return false;
    await Promise.all(MODEL_NAMES.map((name) => access(join(OUT_DIR, `${name}.onnx`))));
    return true;
  } catch {
    return false;
  }
}

export default async function generateTestModels(): Promise<void> {
  const hash = await sourceHash();
  if (await isUpToDate(hash)) return;
  await generateModels(OUT_DIR);
  // Written last: a run interrupted midway leaves no stamp and regenerates next time.
  await writeFile(STAMP, `${hash}\n`);
}
