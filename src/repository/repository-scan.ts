/**
 * What a model repository holds on disk, as Triton lays it out:
 *
 *   <repo>/<model>/config.pbtxt | config.json
 *   <repo>/<model>/<version>/<default_model_filename, model.onnx by default>
 *
 * Version directories are positive integers without a leading zero; anything else beside
 * them (warmup/, labels, hidden files) is ignored, as Triton ignores it. Each file gets a
 * stamp (size, times, inode) so a poll can tell a changed file from an unchanged one without
 * reading it; replacing a file by rename changes its inode even within the same second.
 */

import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { VersionPolicyConfig } from './model-config-types.js';

const VERSION_DIR = /^[1-9]\d{0,15}$/;

/** The stamp of a file, or '' when it is missing or not a file. */
export async function fileStamp(path: string): Promise<string> {
  try {
    const s = await stat(path);
    return s.isFile() ? `${s.size}:${s.mtimeMs}:${s.ctimeMs}:${s.ino}` : '';
  } catch {
    return '';
  }
}

/** The model directories of a repository, by name, sorted; hidden entries are skipped. */
export async function listModelNames(root: string): Promise<string[]> {
  const entries = await readdir(root, { withFileTypes: true });
  return entries
    .filter((e) => !e.name.startsWith('.') && (e.isDirectory() || e.isSymbolicLink()))
    .map((e) => e.name)
    .sort();
}

/** The stamp of a model's configuration file: config.json and config.pbtxt both count. */
export async function configStamp(modelDir: string): Promise<string> {
  const [json, pbtxt] = await Promise.all([fileStamp(join(modelDir, 'config.json')), fileStamp(join(modelDir, 'config.pbtxt'))]);
  return `${json}|${pbtxt}`;
}

/** A version directory found on disk. */
export interface VersionOnDisk {
  version: number;
  /** The model file, whether or not it exists. */
  modelPath: string;
  /** fileStamp() of the model file: '' when missing. */
  stamp: string;
}

/** The version directories of a model, in ascending order, with their model files' stamps. */
export async function listVersions(modelDir: string, modelFilename: string): Promise<VersionOnDisk[]> {
  let entries;
  try {
    entries = await readdir(modelDir, { withFileTypes: true });
  } catch {
    return [];
  }
  const versions = entries
    .filter((e) => VERSION_DIR.test(e.name) && (e.isDirectory() || e.isSymbolicLink()))
    .map((e) => Number(e.name))
    .sort((a, b) => a - b);
  return Promise.all(
    versions.map(async (version) => {
      const modelPath = join(modelDir, String(version), modelFilename);
      return { version, modelPath, stamp: await fileStamp(modelPath) };
    }),
  );
}

/**
 * The versions a policy serves out of those present (ascending): the latest N, all, or
 * the listed ones (a listed version that is absent is returned too, so its absence is
 * reported when it fails to load).
 */
export function selectVersions(policy: VersionPolicyConfig, present: readonly number[]): number[] {
  switch (policy.kind) {
    case 'all':
      return [...present];
    case 'latest':
      return present.slice(Math.max(0, present.length - policy.numVersions));
    case 'specific':
      return [...new Set(policy.versions)].sort((a, b) => a - b);
  }
}
