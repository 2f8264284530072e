/**
 * The flags of `ortex serve` and their translation to createServer() options. Unknown flags
 * and bad values are usage errors (UsageError, exit status 2) that say what was expected.
 */

import { parseArgs } from 'node:util';
import { MODEL_CONTROL_MODES, type ModelControlMode } from '../repository/repository.js';
import type { LogLevel } from '../server/logger.js';
import type { ServerOptions } from '../server/server.js';
import { bundledRepository } from './bundled-models.js';
import { type FlagValues, SERVE_EXTENSIONS } from './serve-extensions.js';

export class UsageError extends Error {
  override name = 'UsageError';
}

export const SERVE_HELP = `Usage: ortex serve [options]

Serves a Triton-style model repository over the Open Inference Protocol (HTTP).

Options:
  --repo DIR                  model repository (default: the bundled one, models/repository)
  --host H                    address to bind (default 127.0.0.1)
  --port N                    port (default 8000; 0 picks a free one)
  --model-control-mode M      none (load all at start), explicit (load/unload API), poll (rescan); default none
  --poll-interval-ms N        poll mode: time between scans (default 5000)
  --load-model NAME           explicit mode: load NAME at start (repeatable; '*' for all)
  --max-body-bytes N          largest request body (default 67108864)
  --log-level L               debug, info, warn, error or silent (default info)
  -h, --help                  this help`;

const LOG_LEVELS: readonly LogLevel[] = ['debug', 'info', 'warn', 'error', 'silent'];

const CORE_FLAGS = {
  repo: { type: 'string' },
  host: { type: 'string' },
  port: { type: 'string' },
  'model-control-mode': { type: 'string' },
  'poll-interval-ms': { type: 'string' },
  'load-model': { type: 'string', multiple: true },
  'max-body-bytes': { type: 'string' },
  'log-level': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

export interface ServeArgs {
  help: boolean;
  /** Whether --repo was left out, so the bundled repository is served. */
  bundled: boolean;
  logLevel: LogLevel;
  options: ServerOptions;
  /** Every parsed flag, for the extensions. */
  values: FlagValues;
}

/** A flag as an integer from min to max, or undefined when absent; a UsageError otherwise. */
export function integer(values: FlagValues, flag: string, min: number, max: number): number | undefined {
  const v = values[flag];
  if (v === undefined) return undefined;
  const n = Number(v);
  if (typeof v !== 'string' || !/^\d+$/.test(v) || n < min || n > max) {
    throw new UsageError(`Expected an integer from ${min} to ${max} for --${flag} but received ${JSON.stringify(v)}`);
  }
  return n;
}

/** Parses the arguments after `serve`. */
export function parseServeArgs(argv: readonly string[]): ServeArgs {
  const options: Record<string, { type: 'string' | 'boolean'; multiple?: boolean; short?: string }> = { ...CORE_FLAGS };
  for (const ext of SERVE_EXTENSIONS) Object.assign(options, ext.flags);
  let values: FlagValues;
  try {
    ({ values } = parseArgs({ args: [...argv], options, strict: true, allowPositionals: false }) as { values: FlagValues });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const mode = (values['model-control-mode'] ?? 'none') as ModelControlMode;
  if (!MODEL_CONTROL_MODES.includes(mode)) {
    throw new UsageError(`Expected one of ${MODEL_CONTROL_MODES.join(', ')} for --model-control-mode but received ${JSON.stringify(mode)}`);
  }
  const logLevel = (values['log-level'] ?? 'info') as LogLevel;
  if (!LOG_LEVELS.includes(logLevel)) throw new UsageError(`Expected one of ${LOG_LEVELS.join(', ')} for --log-level but received ${JSON.stringify(logLevel)}`);
  const loadModels = values['load-model'] as string[] | undefined;
  if (loadModels && mode !== 'explicit') throw new UsageError('--load-model needs --model-control-mode explicit');
  const repo = values.repo as string | undefined;
  const server: ServerOptions = { repository: repo ?? bundledRepository(), modelControlMode: mode };
  if (values.host !== undefined) server.host = values.host as string;
  const port = integer(values, 'port', 0, 65535);
  if (port !== undefined) server.port = port;
  const poll = integer(values, 'poll-interval-ms', 1, 2 ** 31 - 1);
  if (poll !== undefined) server.pollIntervalMs = poll;
  const maxBody = integer(values, 'max-body-bytes', 1, 2 ** 32);
  if (maxBody !== undefined) server.maxBodyBytes = maxBody;
  if (loadModels) server.startupModels = loadModels;
  return { help: values.help === true, bundled: repo === undefined, logLevel, options: server, values };
}
