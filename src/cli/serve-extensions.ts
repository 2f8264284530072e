/**
 * Extensions of `ortex serve`: layers outside the server's core (the response cache, a
 * Redis backend, the Prometheus metrics port) add their flags and wire themselves in here,
 * so the CLI's parsing and lifecycle stay in one place. Registered: cache-flags.ts
 * (--cache-bytes, --cache-ttl-ms, --redis, --redis-timeout-ms), metrics-flags.ts (--metrics-port),
 * workers-flags.ts (--workers).
 */

import type { OrtexServer, ServerOptions } from '../server/server.js';

/** A flag in node:util parseArgs form. */
export interface FlagSpec {
  type: 'string' | 'boolean';
  multiple?: boolean;
}

export type FlagValues = Record<string, string | boolean | Array<string | boolean> | undefined>;

export interface ServeExtension {
  /** Flags added to `ortex serve`, by long name (e.g. 'cache-bytes'). */
  readonly flags: Readonly<Record<string, FlagSpec>>;
  /** Lines for `ortex serve --help`, e.g. '  --cache-bytes N   response cache size (default 0: off)'. */
  readonly help: readonly string[];
  /** Adds to the server's options from the parsed flags (middleware, onRequest observers, ...). */
  configure?(values: FlagValues, options: ServerOptions): void | Promise<void>;
  /**
   * Runs once the server listens (e.g. starts a metrics listener); the function it returns,
   * if any, runs at shutdown after the server closed.
   */
  started?(server: OrtexServer, values: FlagValues): void | (() => Promise<void>) | Promise<void | (() => Promise<void>)>;
}

/**
 * The registered extensions, in order. To add one: push it here from its module and import
 * that module in cli/ortex.ts (e.g. `--cache-bytes`, `--redis URL`, `--metrics-port N`).
 */
export const SERVE_EXTENSIONS: ServeExtension[] = [];
