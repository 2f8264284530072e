/**
 * How each server of the serving benchmark is started: its command line (pinned with
 * taskset) and, for ortex, the model repository it serves, built in a scratch directory from
 * the model file of models/out/ and the configuration in ORTEX_CONFIGS.
 */
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { SERVE_NODE_FLAGS } from '../src/cli/node-flags.js';
import { ROOT } from './harness.js';
import { ORTEX_CONFIGS, type ServingTrial } from './serving-trials.js';

export const ORTEX_CLI = resolve(ROOT, 'dist/src/cli/ortex.js');

/**
 * `<dir>/<model>/config.pbtxt` and `<dir>/<model>/1/model.onnx` (a link to models/out/), with
 * the response cache enabled in the configuration when `cache` is set.
 */
export function buildRepository(dir: string, trial: ServingTrial): string {
  const name = trial.model.name;
  const source = ORTEX_CONFIGS[name];
  if (!source) throw new RangeError(`Expected an ortex configuration for '${name}' in ORTEX_CONFIGS but there is none`);
  let config = 'file' in source ? readFileSync(resolve(ROOT, source.file), 'utf8') : source.text;
  if (trial.row.cache) config += '\nresponse_cache { enable: true }\n';
  mkdirSync(join(dir, name, '1'), { recursive: true });
  writeFileSync(join(dir, name, 'config.pbtxt'), config);
  symlinkSync(resolve(ROOT, trial.model.path), join(dir, name, '1', 'model.onnx'));
  return dir;
}

/** The pinned command line that starts the trial's server on `port`. */
export function serverCommand(trial: ServingTrial, port: number, scratch: string): string[] {
  const node = ['taskset', '-c', trial.pin.server, process.execPath];
  switch (trial.row.server) {
    case 'uws-constant':
      return [...node, resolve(ROOT, 'dist/bench/uws-constant-server.js'), '--port', String(port)];
    case 'fastify-ort':
      return [...node, resolve(ROOT, 'dist/bench/fastify-server.js'), '--port', String(port), '--model', `${trial.model.name}=${resolve(ROOT, trial.model.path)}`];
    case 'ortex': {
      const repo = buildRepository(join(scratch, 'repository'), trial);
      const cache = trial.row.cache ? ['--cache-bytes', String(trial.row.cache.bytes)] : [];
      return [...node, ...SERVE_NODE_FLAGS, ORTEX_CLI, 'serve', '--repo', repo, '--port', String(port), '--log-level', 'warn', ...cache];
    }
  }
}
