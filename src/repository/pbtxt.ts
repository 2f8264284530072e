/**
 * A reader for the protobuf text format (Triton's config.pbtxt), without a schema: it turns
 * the text into plain objects the same shape as protobuf's JSON form, so one validator
 * serves config.json and config.pbtxt. Without the schema it cannot know which fields are
 * repeated, so a field that appears once is a single value and a field that appears again
 * (or is written `name: [a, b]`) is an array; the validator, which knows the schema, takes
 * a single value where it expects a list and refuses an array where it expects one value.
 * Map fields stay as lists of `{ key, value }` entries, which is how the text format writes them.
 *
 * Covered: `#` comments; `name: value`, `name { ... }`, `name: { ... }`, `name < ... >`;
 * lists `[ ... ]`; `,` or `;` after a field; strings in "" or '' with C escapes, adjacent
 * strings joined; decimal, hex and float numbers (with an optional f suffix), -inf, nan;
 * true/false/True/False/t/f; enum values as bare identifiers (returned as strings).
 * Not covered: extensions (`[pkg.ext]`) and Any expansions, which Triton configs never use.
 */

import { OrtexError } from '../errors.js';

export type PbValue = string | number | boolean | PbMessage | PbValue[];
export interface PbMessage {
  [field: string]: PbValue;
}

type TokenKind = 'ident' | 'number' | 'string' | 'punct' | 'end';
interface Token {
  kind: TokenKind;
  text: string;
  /** The decoded value of a string or number token. */
  value?: string | number;
  line: number;
  column: number;
}

const PUNCT = new Set(['{', '}', '<', '>', '[', ']', ':', ',', ';']);
const NUMBER = /^-?(?:0[xX][0-9a-fA-F]+|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?[fF]?)/;
const IDENT = /^[A-Za-z_][A-Za-z0-9_]*/;
const ESCAPES: Record<string, string> = { n: '\n', t: '\t', r: '\r', a: '\x07', b: '\b', f: '\f', v: '\v', '\\': '\\', "'": "'", '"': '"', '?': '?' };

class Lexer {
  private pos = 0;
  private line = 1;
  private lineStart = 0;
  constructor(private readonly text: string, private readonly file: string) {}

  error(expected: string, received: string, line = this.line, column = this.pos - this.lineStart + 1): OrtexError {
    return new OrtexError('ERR_MODEL_CONFIG', `${this.file}:${line}:${column}: Expected ${expected} but received ${received}`);
  }

  next(): Token {
    this.skipSpace();
    const line = this.line;
    const column = this.pos - this.lineStart + 1;
    if (this.pos >= this.text.length) return { kind: 'end', text: '', line, column };
    const rest = this.text.slice(this.pos, this.pos + 64);
    const c = rest[0]!;
    if (c === '"' || c === "'") return { kind: 'string', text: c, value: this.readString(c, line, column), line, column };
    const num = NUMBER.exec(rest);
    if (num && (c !== '-' || /[\d.]/.test(rest[1] ?? ''))) {
      this.pos += num[0].length;
      const t = num[0];
      const value = /^-?0[xX]/.test(t)
        ? (t.startsWith('-') ? -1 : 1) * parseInt(t.replace(/^-?0[xX]/, ''), 16)
        : Number(t.replace(/[fF]$/, ''));
      return { kind: 'number', text: num[0], value, line, column };
    }
    if (c === '-' && /^-(inf|infinity|nan)\b/i.test(rest)) {
      const word = /^-(inf|infinity|nan)/i.exec(rest)![0];
      this.pos += word.length;
      return { kind: 'number', text: word, value: /nan/i.test(word) ? NaN : -Infinity, line, column };
    }
    const id = IDENT.exec(rest);
    if (id) {
      // an identifier may be longer than the 64-character window
      const full = /^[A-Za-z_][A-Za-z0-9_]*/.exec(this.text.slice(this.pos))![0];
      this.pos += full.length;
      return { kind: 'ident', text: full, line, column };
    }
    if (PUNCT.has(c)) {
      this.pos++;
      return { kind: 'punct', text: c, line, column };
    }
    throw this.error('a field name, value or one of { } < > [ ] : , ;', `'${c}'`, line, column);
  }

  private skipSpace(): void {
    const t = this.text;
    while (this.pos < t.length) {
      const c = t[this.pos]!;
      if (c === '\n') {
        this.pos++;
        this.line++;
        this.lineStart = this.pos;
      } else if (c === ' ' || c === '\t' || c === '\r' || c === '\f' || c === '\v') {
        this.pos++;
      } else if (c === '#') {
        while (this.pos < t.length && t[this.pos] !== '\n') this.pos++;
      } else {
        break;
      }
    }
  }

  private readString(quote: string, line: number, column: number): string {
    const t = this.text;
    let out = '';
    this.pos++;
    for (;;) {
      if (this.pos >= t.length || t[this.pos] === '\n') throw this.error(`a closing ${quote}`, 'the end of the line', line, column);
      const c = t[this.pos++]!;
      if (c === quote) return out;
      if (c !== '\\') {
        out += c;
        continue;
      }
      const e = t[this.pos++] ?? '';
      if (e in ESCAPES) out += ESCAPES[e];
      else if (e === 'x' && /^[0-9a-fA-F]{1,2}/.test(t.slice(this.pos))) {
        const hex = /^[0-9a-fA-F]{1,2}/.exec(t.slice(this.pos))![0];
        out += String.fromCharCode(parseInt(hex, 16));
        this.pos += hex.length;
      } else if (/[0-7]/.test(e)) {
        const oct = e + (/^[0-7]{0,2}/.exec(t.slice(this.pos))![0]);
        out += String.fromCharCode(parseInt(oct, 8));
        this.pos += oct.length - 1;
      } else {
        throw this.error('an escape such as \\n, \\" or \\x41', `'\\${e}'`);
      }
    }
  }
}

class Parser {
  private tok: Token;
  constructor(private readonly lexer: Lexer) {
    this.tok = lexer.next();
  }

  private describe(t: Token): string {
    return t.kind === 'end' ? 'the end of the file' : `'${t.text}'`;
  }

  private fail(expected: string): never {
    throw this.lexer.error(expected, this.describe(this.tok), this.tok.line, this.tok.column);
  }

  private advance(): Token {
    const t = this.tok;
    this.tok = this.lexer.next();
    return t;
  }

  private isPunct(p: string): boolean {
    return this.tok.kind === 'punct' && this.tok.text === p;
  }

  private expectPunct(p: string, what: string): void {
    if (!this.isPunct(p)) this.fail(`'${p}' ${what}`);
    this.advance();
  }

  /** Fields until `close` ('}' or '>') or, at the top level, the end of the file. */
  message(close: string | null): PbMessage {
    const msg: PbMessage = Object.create(null) as PbMessage;
    for (;;) {
      if (close === null ? this.tok.kind === 'end' : this.isPunct(close)) {
        if (close !== null) this.advance();
        return msg;
      }
      if (this.tok.kind !== 'ident') this.fail(close === null ? 'a field name' : `a field name or '${close}'`);
      const name = this.advance().text;
      let value: PbValue;
      if (this.isPunct(':')) {
        this.advance();
        value = this.isPunct('[') ? this.list(name) : this.value(name);
      } else if (this.isPunct('{') || this.isPunct('<')) {
        value = this.value(name);
      } else if (this.isPunct('[')) {
        value = this.list(name); // `input [ { ... } ]`: the colon is optional before a list of messages
      } else {
        this.fail(`':' or '{' after field '${name}'`);
      }
      const prior = msg[name];
      if (prior === undefined) msg[name] = value;
      else msg[name] = ([] as PbValue[]).concat(prior, value);
      if (this.isPunct(',') || this.isPunct(';')) this.advance();
    }
  }

  private list(name: string): PbValue[] {
    this.advance(); // [
    const items: PbValue[] = [];
    if (this.isPunct(']')) {
      this.advance();
      return items;
    }
    for (;;) {
      items.push(this.value(name));
      if (this.isPunct(',')) {
        this.advance();
        continue;
      }
      this.expectPunct(']', `or ',' in the list of field '${name}'`);
      return items;
    }
  }

  private value(name: string): PbValue {
    const t = this.tok;
    if (this.isPunct('{') || this.isPunct('<')) {
      this.advance();
      return this.message(t.text === '{' ? '}' : '>');
    }
    if (t.kind === 'string') {
      let s = this.advance().value as string;
      while (this.tok.kind === 'string') s += this.advance().value as string; // "a" "b" is "ab"
      return s;
    }
    if (t.kind === 'number') return this.advance().value as number;
    if (t.kind === 'ident') {
      this.advance();
      if (t.text === 'true' || t.text === 'True' || t.text === 't') return true;
      if (t.text === 'false' || t.text === 'False' || t.text === 'f') return false;
      if (/^(inf|infinity)$/i.test(t.text)) return Infinity;
      if (/^nan$/i.test(t.text)) return NaN;
      return t.text; // an enum value
    }
    this.fail(`a value for field '${name}'`);
  }
}

/**
 * Parses protobuf text format into plain objects (see the file comment for the shape).
 * @param file names the source in errors.
 * @throws OrtexError ERR_MODEL_CONFIG naming file:line:column, what was expected and what was found.
 * @example
 * parsePbtxt('max_batch_size: 8\ninput { name: "x" dims: [ 4 ] }', 'config.pbtxt');
 * // { max_batch_size: 8, input: { name: 'x', dims: [4] } }
 */
export function parsePbtxt(text: string, file: string): PbMessage {
  return new Parser(new Lexer(text, file)).message(null);
}
