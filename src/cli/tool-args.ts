/**
 * Argument parsing shared by the model tools (inspect, optimize, quantize, compare): strict
 * node:util parseArgs with `--help`, usage errors that point at the command's help, and the
 * list and `--dim NAME=SIZE` forms.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { UsageError } from './serve-options.js';

type Options = NonNullable<ParseArgsConfig['options']>;
type HelpOption = { help: { type: 'boolean'; short: 'h' } };
type ToolConfig<O extends Options> = { args: string[]; options: O & HelpOption; strict: true; allowPositionals: true };

export function parseToolArgs<const O extends Options>(argv: readonly string[], options: O, command: string): ReturnType<typeof parseArgs<ToolConfig<O>>> {
  const config: ToolConfig<O> = { args: [...argv], options: { ...options, help: { type: 'boolean', short: 'h' } }, strict: true, allowPositionals: true };
  try {
    return parseArgs(config);
  } catch (err) {
    throw new UsageError(`${(err as Error).message} (ortex ${command} --help)`);
  }
}

/** `a,b,c` (or repeated flags) as a list. */
export function list(value: string | string[] | undefined): string[] | undefined {
  if (value === undefined) return undefined;
  return (Array.isArray(value) ? value : [value]).flatMap((v) => v.split(',')).map((v) => v.trim()).filter(Boolean);
}

export function positiveInt(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new UsageError(`${flag} expects a positive integer, got '${value}'`);
  return n;
}

/** `--dim S=64 --dim T=8` as { S: 64, T: 8 }. */
export function dims(values: string[] | undefined): Record<string, number> | undefined {
  if (!values) return undefined;
  const out: Record<string, number> = {};
  for (const v of values) {
    const m = /^([^=]+)=(\d+)$/.exec(v);
    if (!m || Number(m[2]) <= 0) throw new UsageError(`--dim expects NAME=SIZE with a positive size, got '${v}'`);
    out[m[1]!] = Number(m[2]);
  }
  return out;
}
