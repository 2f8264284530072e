/**
 * The model names and versions the server accepts from a client (URL path segments, the
 * load/unload API, WebSocket frame headers), checked before anything is looked up or any
 * file is touched. A model name becomes a directory name under the repository root, so the
 * pattern admits only plain file names: letters, digits, '_', '.', '-', not starting with
 * '.' or '-', at most 128 characters, and never containing '..'. Anything that could walk
 * out of the repository ('../x', '/etc', '%2e%2e', a NUL, a backslash) fails it. A version
 * is a positive integer without a leading zero, as version directories are named.
 *
 * Repository directories whose names fail the pattern are not served (the repository
 * skips them with a warning), so every servable model has a name a client can send.
 */

import { OrtexError } from '../errors.js';

/** Allowed model names. */
export const MODEL_NAME_PATTERN = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
/** Allowed version texts: 1 to 9999999999999999. */
export const MODEL_VERSION_PATTERN = /^[1-9]\d{0,15}$/;

/** Whether `name` may name a model. */
export function isModelName(name: unknown): name is string {
  return typeof name === 'string' && MODEL_NAME_PATTERN.test(name) && !name.includes('..');
}

/** A printable, bounded rendering of what the client sent, for error messages. */
function shown(value: string): string {
  const cut = value.length > 64 ? `${value.slice(0, 64)}… (${value.length} characters)` : value;
  return JSON.stringify(cut);
}

/**
 * @throws OrtexError ERR_MODEL_NAME (400) naming the rule and what arrived.
 * @example checkModelName(decodeURIComponent(segment)); // '../etc' throws
 */
export function checkModelName(name: string): string {
  if (isModelName(name)) return name;
  throw new OrtexError(
    'ERR_MODEL_NAME',
    `Expected a model name of 1 to 128 letters, digits, '_', '.' or '-' (not starting with '.' or '-', without '..') but received ${shown(name)}`,
  );
}

/**
 * A version as sent: '' (the latest ready version) or a positive integer.
 * @throws OrtexError ERR_MODEL_VERSION (400).
 */
export function checkModelVersion(version: string): string {
  if (version === '' || MODEL_VERSION_PATTERN.test(version)) return version;
  throw new OrtexError('ERR_MODEL_VERSION', `Expected a model version that is a positive integer (e.g. 1) but received ${shown(version)}`);
}
