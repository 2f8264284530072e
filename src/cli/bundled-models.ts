/**
 * The default repository `ortex serve` (and `npm start`) serves, models/repository/, whose
 * model files are generated from code in models/ rather than committed: any that is missing
 * is generated before the server starts. The generator needs the repository's dev
 * dependencies (onnx-proto), so this works from a clone of ortex; an installed package is
 * pointed at a repository of its own with --repo.
 */

import { mkdir, rename, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { packageRoot } from '../package-info.js';

/** Model files of the bundled repository and the generator model each comes from. */
const BUNDLED: Readonly<Record<string, string>> = {
  'ctr_mlp/1/model.onnx': 'ctr_mlp',
};

/** models/repository/ of the package. */
export function bundledRepository(): string {
  return join(packageRoot(), 'models', 'repository');
}

async function exists(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}

/**
 * Generates the bundled repository's missing model files (written beside and renamed into
 * place, so a reader never sees half a file). Resolves with the files written.
 * @throws when the generator cannot be loaded (no dev dependencies), saying so.
 */
export async function ensureBundledModels(repository = bundledRepository()): Promise<string[]> {
  const missing: Array<[string, string]> = [];
  for (const [file, model] of Object.entries(BUNDLED)) {
    const path = join(repository, file);
    if (!(await exists(path))) missing.push([path, model]);
  }
  if (missing.length === 0) return [];
  let buildModel: (name: string) => Uint8Array;
  try {
    ({ buildModel } = await import('../../models/generate.js'));
  } catch (err) {
    throw new Error(
      `The bundled repository ${repository} lacks ${missing.map(([p]) => p).join(', ')}, and the model generator (models/generate.ts) ` +
        `could not be loaded: ${(err as Error).message}. Run from a clone of ortex after \`npm ci\`, or serve your own repository with --repo.`,
      { cause: err },
    );
  }
  for (const [path, model] of missing) {
    await mkdir(dirname(path), { recursive: true });
    const partial = `${path}.${process.pid}.partial`;
    await writeFile(partial, buildModel(model));
    await rename(partial, path);
  }
  return missing.map(([p]) => p);
}
