/**
 * What `ortex bench` measures: a model and how it is run (a BenchTarget), and the settings
 * that change one. The same keys serve the command's flags (`--threads 2`) and its
 * `--compare` option (`threads=2,busy-wait`), so the two cannot drift apart.
 *
 * @example
 * ```ts
 * const a: BenchTarget = { model: 'ctr_mlp.onnx', batch: 1 };
 * const b = parseCompareSpec(a, 'threads=1,busy-wait'); // a with one intra-op thread and busy-wait
 * const c = parseCompareSpec(a, 'ctr_mlp.opt.onnx');    // the same settings, another model
 * ```
 */
import { existsSync } from 'node:fs';
import { OrtexError } from '../errors.js';
import type { GraphOptimizationLevel, SessionOptions } from '../session-options.js';

/** 'async': session.run(); 'sync': session.runSync() on the calling thread; 'batcher': createModel().infer(). */
export type BenchMode = 'async' | 'sync' | 'batcher';

export interface BenchTarget {
  /** An ONNX model file. */
  readonly model: string;
  /** Rows per request along the batch (first) dimension; default 1. */
  readonly batch?: number;
  /** Requests in flight; default 1. Mode 'sync' runs one at a time. */
  readonly concurrency?: number;
  /** Default 'async'. */
  readonly mode?: BenchMode;
  /** Mode 'batcher': how long a pending batch waits for more requests, in µs (default 0). */
  readonly maxQueueDelayUs?: number;
  /** Session options (in mode 'batcher', those of the batcher's instance). */
  readonly session?: SessionOptions;
}

type Draft = { -readonly [K in keyof BenchTarget]: BenchTarget[K] } & { session: SessionOptions };
type Value = string | boolean;

const LEVELS: readonly GraphOptimizationLevel[] = ['disabled', 'basic', 'extended', 'layout', 'all'];
const PROVIDERS = ['cpu', 'cuda', 'tensorrt'] as const;
const MAX_CONCURRENCY = 4096;

function bad(what: string, expected: string, v: Value): OrtexError {
  return new OrtexError('ERR_OPTION_INVALID', `Expected ${expected} for ${what} but received ${JSON.stringify(v)}`);
}

function integer(v: Value, what: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
  const n = typeof v === 'string' && /^\d+$/.test(v.trim()) ? Number(v) : NaN;
  if (!Number.isInteger(n) || n < min || n > max) throw bad(what, `an integer from ${min} to ${max}`, v);
  return n;
}

function flag(v: Value, what: string): boolean {
  if (typeof v === 'boolean') return v;
  if (v === 'true') return true;
  if (v === 'false') return false;
  throw bad(what, 'true or false (or the key alone for true)', v);
}

function word<T extends string>(v: Value, what: string, allowed: readonly T[]): T {
  if (typeof v !== 'string' || !allowed.includes(v as T)) throw bad(what, `one of ${allowed.join(', ')}`, v);
  return v as T;
}

/** Each setting key, what it takes, and how it changes a target. */
const SETTINGS: Record<string, (t: Draft, v: Value, what: string) => void> = {
  model: (t, v, what) => {
    if (typeof v !== 'string' || v === '') throw bad(what, 'a model file', v);
    t.model = v;
  },
  batch: (t, v, what) => (t.batch = integer(v, what, 1, 2 ** 24)),
  concurrency: (t, v, what) => (t.concurrency = integer(v, what, 1, MAX_CONCURRENCY)),
  sync: (t, v, what) => {
    if (flag(v, what)) t.mode = 'sync';
    else if (t.mode === 'sync') t.mode = 'async';
  },
  batcher: (t, v, what) => {
    if (flag(v, what)) t.mode = 'batcher';
    else if (t.mode === 'batcher') t.mode = 'async';
  },
  'max-queue-delay-us': (t, v, what) => (t.maxQueueDelayUs = integer(v, what, 0, 1e12)),
  threads: (t, v, what) => (t.session.intraOpNumThreads = integer(v, what, 1, 1024)),
  'optimization-level': (t, v, what) => (t.session.graphOptimizationLevel = word(v, what, LEVELS)),
  ep: (t, v, what) => {
    const ep = word(v, what, PROVIDERS);
    t.session.executionProviders = ep === 'cpu' ? ['cpu'] : [ep, 'cpu'];
  },
  'busy-wait': (t, v, what) => (t.session.busyWait = flag(v, what)),
};

/** The setting keys, as `--compare` takes them and as the command's flags are named. */
export const BENCH_SETTING_KEYS: readonly string[] = Object.keys(SETTINGS);

/**
 * A copy of `base` with `settings` applied in order, e.g. [['threads', '2'], ['busy-wait', true]].
 * `where` names them in errors ('--compare' or 'flags').
 *
 * @throws OrtexError ERR_OPTION_INVALID for an unknown key or a bad value.
 */
export function withSettings(base: BenchTarget, settings: ReadonlyArray<readonly [string, Value]>, where: 'flags' | '--compare'): BenchTarget {
  const t: Draft = { ...base, session: { ...base.session } };
  const modes = settings.filter(([k, v]) => (k === 'sync' || k === 'batcher') && v !== false && v !== 'false');
  if (modes.length > 1) throw new OrtexError('ERR_OPTION_INVALID', `sync and batcher exclude each other (${where})`);
  for (const [key, value] of settings) {
    const apply = SETTINGS[key];
    const what = where === 'flags' ? `--${key}` : `'${key}' in --compare`;
    if (!apply) {
      const hint = where === '--compare' ? ' in --compare: give a model file or key=value settings from' : '; known settings:';
      throw new OrtexError('ERR_OPTION_INVALID', `Unknown setting '${key}'${hint} ${BENCH_SETTING_KEYS.join(', ')}`);
    }
    apply(t, value, what);
  }
  return t;
}

/**
 * The target `--compare SPEC` names, relative to `base`: SPEC is a model file (run with base's
 * settings) or comma-separated settings, `key=value` or a boolean `key` alone:
 * `threads=2`, `batch=64,concurrency=4`, `model=b.onnx,threads=1`, `busy-wait=false`.
 */
export function parseCompareSpec(base: BenchTarget, spec: string): BenchTarget {
  const s = spec.trim();
  if (s === '') throw new OrtexError('ERR_OPTION_INVALID', '--compare needs a model file or settings such as threads=2');
  if (!s.includes('=') && (/\.(onnx|ort)$/i.test(s) || s.includes('/') || existsSync(s))) return withSettings(base, [['model', s]], '--compare');
  const settings = s.split(',').map((item): [string, Value] => {
    const eq = item.indexOf('=');
    return eq < 0 ? [item.trim(), true] : [item.slice(0, eq).trim(), item.slice(eq + 1).trim()];
  });
  return withSettings(base, settings, '--compare');
}

/** A target with every default filled in. */
export interface ResolvedTarget {
  readonly model: string;
  readonly batch: number;
  readonly concurrency: number;
  readonly mode: BenchMode;
  readonly maxQueueDelayUs: number;
  readonly session: SessionOptions;
}

/**
 * Fills in the defaults and checks what the keys alone cannot (combinations, API callers'
 * values); `label` prefixes error messages ('b: ').
 */
export function resolveTarget(t: BenchTarget, label = ''): ResolvedTarget {
  const fail = (msg: string) => new OrtexError('ERR_OPTION_INVALID', `${label}${msg}`);
  if (typeof t?.model !== 'string' || t.model === '') throw fail('expected a model file');
  const positive = (v: unknown, name: string, max: number) => {
    if (v !== undefined && !(Number.isInteger(v) && (v as number) >= 1 && (v as number) <= max)) {
      throw fail(`expected an integer from 1 to ${max} for ${name} but received ${String(v)}`);
    }
  };
  positive(t.batch, 'batch', 2 ** 24);
  positive(t.concurrency, 'concurrency', MAX_CONCURRENCY);
  const mode = t.mode ?? 'async';
  if (!['async', 'sync', 'batcher'].includes(mode)) throw fail(`expected mode async, sync or batcher but received ${String(mode)}`);
  const concurrency = t.concurrency ?? 1;
  if (mode === 'sync' && concurrency > 1) throw fail('sync runs one request at a time: concurrency must be 1');
  if (t.maxQueueDelayUs !== undefined) {
    if (mode !== 'batcher') throw fail('max-queue-delay-us applies to the batcher only (add batcher)');
    if (!(Number.isInteger(t.maxQueueDelayUs) && t.maxQueueDelayUs >= 0)) throw fail(`expected a non-negative integer for maxQueueDelayUs but received ${String(t.maxQueueDelayUs)}`);
  }
  return { model: t.model, batch: t.batch ?? 1, concurrency, mode, maxQueueDelayUs: t.maxQueueDelayUs ?? 0, session: t.session ?? {} };
}

/** One line for a report: 'batch 1, concurrency 1, run(), threads default, optimization all'. */
export function describeTarget(t: ResolvedTarget, executionProviders: readonly string[]): string {
  const first = t.session.executionProviders?.[0];
  const asked = typeof first === 'string' ? first : first?.name;
  const how = t.mode === 'sync' ? 'runSync()' : t.mode === 'batcher' ? `batcher (queue delay ${t.maxQueueDelayUs} us)` : 'run()';
  return [
    `batch ${t.batch}`,
    `concurrency ${t.concurrency}`,
    how,
    `threads ${t.session.intraOpNumThreads ?? 'default'}`,
    `optimization ${t.session.graphOptimizationLevel ?? 'all'}`,
    `ep ${executionProviders.join('>')}${asked && !executionProviders.includes(asked) ? ` (${asked} unavailable)` : ''}`,
    // Unset polls short runs for their first 50 µs (busy-wait.ts); false never polls.
    ...(t.session.busyWait === true ? ['busy-wait'] : t.session.busyWait === false ? ['busy-wait off'] : []),
  ].join(', ');
}
