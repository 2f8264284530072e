/**
 * Reading one message of a model configuration field by field, with every error naming the
 * file, the field path and what was expected, and every field that is not read reported
 * as unknown. The same reader serves both sources: protobuf's JSON form (config.json) and
 * the objects pbtxt.ts makes of the text format (config.pbtxt), which differ only in how
 * repeated fields, maps and 64-bit integers may be written.
 */

import { OrtexError } from '../errors.js';
import { describe, isPlainObject } from '../validate.js';

export type ConfigFormat = 'json' | 'pbtxt';

export interface ConfigSource {
  /** The file, for messages. */
  readonly file: string;
  readonly format: ConfigFormat;
}

/** A `received` said in words rather than described from a value. */
class RawText {
  constructor(readonly text: string) {}
}

/** Wraps words to stand as `received` as they are (e.g. "the unknown field 'foo'"). */
export const raw = (text: string): RawText => new RawText(text);

/** The one error shape: "<file>: Expected X for <field> but received Z". */
export function configError(src: ConfigSource, expected: string, path: string, received: unknown): OrtexError {
  const got = received instanceof RawText ? received.text : describe(received);
  return new OrtexError('ERR_MODEL_CONFIG', `${src.file}: Expected ${expected} for ${path} but received ${got}`);
}

const DECIMAL = /^-?\d+$/;

/** Reads the fields of one message; call done() last to refuse the fields nobody read. */
export class Fields {
  private readonly seen = new Set<string>();
  readonly obj: Record<string, unknown>;

  constructor(readonly src: ConfigSource, readonly path: string, value: unknown) {
    if (!isPlainObject(value)) throw configError(src, 'a message (an object of fields)', path || 'the configuration', value);
    this.obj = value;
  }

  /** The path of a field of this message. */
  at(key: string): string {
    return this.path ? `${this.path}.${key}` : key;
  }

  /** A field's raw value, marking it read. */
  get(key: string): unknown {
    this.seen.add(key);
    return this.obj[key];
  }

  has(key: string): boolean {
    return this.obj[key] !== undefined;
  }

  string(key: string): string | undefined {
    const v = this.get(key);
    if (v === undefined) return undefined;
    if (typeof v !== 'string') throw configError(this.src, 'a string', this.at(key), v);
    return v;
  }

  bool(key: string): boolean | undefined {
    const v = this.get(key);
    if (v === undefined) return undefined;
    if (typeof v !== 'boolean') throw configError(this.src, 'true or false', this.at(key), v);
    return v;
  }

  /** An integer in [min, max]; protobuf's JSON form may write 64-bit integers as strings. */
  int(key: string, min: number, max = Number.MAX_SAFE_INTEGER): number | undefined {
    const v = this.get(key);
    if (v === undefined) return undefined;
    return readInt(this.src, this.at(key), v, min, max);
  }

  /** One of an enum's value names. */
  enumOf<T extends string>(key: string, names: readonly T[]): T | undefined {
    const v = this.get(key);
    if (v === undefined) return undefined;
    if (typeof v !== 'string' || !(names as readonly string[]).includes(v)) {
      throw configError(this.src, `one of ${names.join(', ')}`, this.at(key), v);
    }
    return v as T;
  }

  /** A sub-message, read by `read`. */
  message<T>(key: string, read: (f: Fields) => T): T | undefined {
    const v = this.get(key);
    if (v === undefined) return undefined;
    if (Array.isArray(v)) throw configError(this.src, 'a single message (the field is not repeated)', this.at(key), raw(`it ${v.length} times`));
    const f = new Fields(this.src, this.at(key), v);
    const out = read(f);
    f.done();
    return out;
  }

  /** A repeated field; in text format a single occurrence is not an array. */
  list<T>(key: string, read: (v: unknown, path: string) => T): T[] {
    const v = this.get(key);
    if (v === undefined) return [];
    let items: unknown[];
    if (Array.isArray(v)) items = v;
    else if (this.src.format === 'pbtxt') items = [v];
    else throw configError(this.src, 'an array (a repeated field)', this.at(key), v);
    return items.map((item, i) => read(item, `${this.at(key)}[${i}]`));
  }

  /** A repeated message field. */
  messages<T>(key: string, read: (f: Fields) => T): T[] {
    return this.list(key, (v, path) => {
      const f = new Fields(this.src, path, v);
      const out = read(f);
      f.done();
      return out;
    });
  }

  /** A map field: an object in JSON, `{ key, value }` entries in text format. */
  map<T>(key: string, read: (v: unknown, path: string) => T): Map<string, T> {
    const v = this.get(key);
    const out = new Map<string, T>();
    if (v === undefined) return out;
    const path = this.at(key);
    if (this.src.format === 'json') {
      if (!isPlainObject(v)) throw configError(this.src, 'an object (a map)', path, v);
      for (const [k, x] of Object.entries(v)) out.set(k, read(x, `${path}["${k}"]`));
      return out;
    }
    for (const entry of Array.isArray(v) ? v : [v]) {
      const f = new Fields(this.src, path, entry);
      const k = f.get('key');
      if (typeof k !== 'string' && typeof k !== 'number') throw configError(this.src, 'a key', `${path} entry key`, k);
      const x = f.get('value');
      if (x === undefined) throw configError(this.src, 'a value', `${path}["${k}"]`, undefined);
      f.done();
      if (out.has(String(k))) throw configError(this.src, 'each key once', path, raw(`"${k}" twice`));
      out.set(String(k), read(x, `${path}["${k}"]`));
    }
    return out;
  }

  /**
   * Fields that Triton knows but ortex does not support: refused with that reason unless
   * the value is the protobuf default (`false`, 0, '' or an empty message/list), which is
   * what leaving them out means.
   */
  unsupported(keys: Record<string, string>): void {
    for (const [key, why] of Object.entries(keys)) {
      const v = this.get(key);
      if (v === undefined || v === false || v === 0 || v === '' || (Array.isArray(v) && v.length === 0)) continue;
      if (isPlainObject(v) && Object.keys(v).length === 0) continue;
      throw configError(this.src, `no ${key} (${why})`, this.at(key), v);
    }
  }

  /** Accepted for compatibility with Triton configurations, with no effect in ortex. */
  ignore(...keys: string[]): void {
    for (const key of keys) this.seen.add(key);
  }

  /** Refuses any field not read. */
  done(): void {
    for (const key of Object.keys(this.obj)) {
      if (!this.seen.has(key)) {
        const known = [...this.seen].join(', ');
        throw configError(this.src, `one of the fields ${known}`, this.path || 'the configuration', raw(`the unknown field '${key}'`));
      }
    }
  }
}

/** An integer in [min, max] from a number or (JSON form only) a decimal string. */
export function readInt(src: ConfigSource, path: string, v: unknown, min: number, max = Number.MAX_SAFE_INTEGER): number {
  let n: number | undefined;
  if (typeof v === 'number' && Number.isSafeInteger(v)) n = v;
  else if (src.format === 'json' && typeof v === 'string' && DECIMAL.test(v)) n = Number(v);
  if (n === undefined || n < min || n > max || !Number.isSafeInteger(n)) {
    const range = max === Number.MAX_SAFE_INTEGER ? `an integer >= ${min}` : `an integer from ${min} to ${max}`;
    throw configError(src, range, path, v);
  }
  return n;
}

/** A string value (for map<string, string>). */
export function readString(src: ConfigSource, path: string, v: unknown): string {
  if (typeof v !== 'string') throw configError(src, 'a string', path, v);
  return v;
}
