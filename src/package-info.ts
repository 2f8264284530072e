/**
 * Where the ortex package lives and its version, found by walking up from this file to the
 * package.json named "ortex": the same answer from src/ (tests run the TypeScript) and from
 * dist/src/ (the compiled package).
 */

import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

let root: string | undefined;
let version: string | undefined;

/** The package's root directory (where package.json is). */
export function packageRoot(): string {
  if (root) return root;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const file = join(dir, 'package.json');
    if (existsSync(file) && (JSON.parse(readFileSync(file, 'utf8')) as { name?: string }).name === 'ortex') return (root = dir);
    const up = dirname(dir);
    if (up === dir) throw new Error(`Expected the ortex package.json above ${fileURLToPath(import.meta.url)} but found none`);
    dir = up;
  }
}

/** The package version from package.json. */
export function packageVersion(): string {
  version ??= (JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { version: string }).version;
  return version;
}
