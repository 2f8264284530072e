/**
 * The response cache's key: a 64-bit hash (native/hash.h) of everything that decides a
 * response — model, version, each input's name, type, dims and data, and the outputs asked
 * for — in a canonical order, so two requests that differ only in the order of their inputs
 * or outputs share an entry. Tensor data is hashed where it lies: nothing is copied.
 */

import { native } from '../native.js';
import type { HashPart } from '../native.js';
import { Tensor } from '../tensor.js';
import { invalidType, isBoolean, isObject, isString } from '../validate.js';

/**
 * The default seed. Its suffix is the key layout's version: changing how keys are built
 * must change it, so replicas of different versions sharing a Redis never read each other's
 * entries.
 */
export const DEFAULT_KEY_SEED = 'ortex-response-cache/1';

/** An output the client asked for: its name and whether it wants binary data. */
export interface RequestedOutput {
  readonly name: string;
  readonly binary?: boolean;
}

/** What identifies a response. */
export interface CacheKeyRequest {
  readonly model: string;
  readonly version: string | number;
  /** The feeds passed to model.infer(). */
  readonly inputs: Readonly<Record<string, Tensor>>;
  /** The outputs asked for; absent when all are wanted. */
  readonly outputs?: readonly RequestedOutput[];
  /** The binary choice for outputs that do not make one (`binary_data_output`). */
  readonly binaryOutputsDefault?: boolean;
}

function check(request: CacheKeyRequest): void {
  if (!isObject(request)) throw invalidType('a { model, version, inputs } object', 'cacheKey()', request);
  if (!isString(request.model)) throw invalidType('a string', 'cacheKey() model', request.model);
  if (!isString(request.version) && typeof request.version !== 'number') throw invalidType('a string or number', 'cacheKey() version', request.version);
  if (!isObject(request.inputs) || Array.isArray(request.inputs)) throw invalidType('an object of { inputName: Tensor }', 'cacheKey() inputs', request.inputs);
  if (request.outputs !== undefined && !Array.isArray(request.outputs)) throw invalidType('an array of { name, binary? }', 'cacheKey() outputs', request.outputs);
  if (request.binaryOutputsDefault !== undefined && !isBoolean(request.binaryOutputsDefault)) {
    throw invalidType('a boolean', 'cacheKey() binaryOutputsDefault', request.binaryOutputsDefault);
  }
}

/** A field that cannot run into the next one: its length, a colon, itself. */
const field = (s: string): string => `${s.length}:${s}`;

/**
 * The cache key of a request. Names, types and dims go in one header string of
 * length-prefixed fields (unambiguous, and several times cheaper to build than JSON); each
 * input's data follows as its own part, in the header's order.
 *
 * @example
 * const key = cacheKey({ model: 'ctr', version: 1, inputs: { x }, outputs: [{ name: 'y', binary: true }] });
 * const { outputs, cached } = await cache.run(key, () => model.infer({ x }));
 */
export function cacheKey(request: CacheKeyRequest, seed: string = DEFAULT_KEY_SEED): bigint {
  check(request);
  const names = Object.keys(request.inputs).sort();
  let header = field(request.model) + field(String(request.version)) + names.length;
  const data: HashPart[] = [];
  for (const name of names) {
    const t = request.inputs[name];
    if (!(t instanceof Tensor)) throw invalidType('a Tensor', `cacheKey() input '${name}'`, t);
    header += `|${field(name)}${t.type}[${t.dims.join(',')}]`;
    data.push(t.data as HashPart);
  }
  if (request.outputs) {
    const outputs: string[] = [];
    for (const o of request.outputs) {
      if (!isObject(o) || !isString(o.name)) throw invalidType('{ name: string, binary?: boolean }', 'a cacheKey() output', o);
      outputs.push(field(o.name) + (o.binary === true ? 'b' : 'j'));
    }
    // Length-prefixed, so sorting the encoded fields orders them by name length, then name.
    header += `|o${outputs.length}|${outputs.sort().join('|')}`;
  } else {
    header += '|all';
  }
  header += request.binaryOutputsDefault === true ? '|B' : '|J';
  return data.length === 1 ? native.hashParts(seed, header, data[0]!) : native.hashParts(seed, header, ...data);
}

/** The key as 16 hex digits (for Redis keys and logs). */
export function keyToHex(key: bigint): string {
  return key.toString(16).padStart(16, '0');
}
