import { describe, expect, it } from 'vitest';
import { parsePbtxt } from '../src/repository/pbtxt.js';

const parse = (text: string) => JSON.parse(JSON.stringify(parsePbtxt(text, 'm/config.pbtxt')));

describe('parsePbtxt()', () => {
  it('reads scalars, enums, messages and both message syntaxes', () => {
    expect(
      parse(`
        # a comment
        name: "m"  # trailing comment
        max_batch_size: 8
        data_type: TYPE_FP32
        flag: true
        other: False
        ratio: -1.5e2
        hex: 0x1F
        single: 'it''s'
        sub { a: 1 }
        colon_sub: { b: 2 }
        angle < c: 3 >
      `),
    ).toEqual({
      name: 'm', max_batch_size: 8, data_type: 'TYPE_FP32', flag: true, other: false, ratio: -150, hex: 31,
      single: 'its', sub: { a: 1 }, colon_sub: { b: 2 }, angle: { c: 3 },
    });
  });

  it('turns repeated fields and lists into arrays', () => {
    expect(parse('dims: [ 1, -1, 3 ] gpus: 0 gpus: 1 input { name: "a" } input { name: "b" } empty: []')).toEqual({
      dims: [1, -1, 3], gpus: [0, 1], input: [{ name: 'a' }, { name: 'b' }], empty: [],
    });
    expect(parse('input [ { name: "a" }, { name: "b" } ] input { name: "c" }')).toEqual({
      input: [{ name: 'a' }, { name: 'b' }, { name: 'c' }],
    });
  });

  it('keeps map entries as { key, value } and accepts , and ; separators', () => {
    expect(parse('parameters { key: "k" value: { string_value: "1" } }; parameters { key: "j", value { string_value: "2" } },')).toEqual({
      parameters: [{ key: 'k', value: { string_value: '1' } }, { key: 'j', value: { string_value: '2' } }],
    });
  });

  it('decodes string escapes and joins adjacent strings', () => {
    expect(parsePbtxt(String.raw`s: "a\n\t\"b\\" "c\x41\101"`, 'f').s).toBe('a\n\t"b\\cAA');
  });

  const errors: Array<[string, string, RegExp]> = [
    ['an unterminated string', 'name: "abc\n', /m\/config.pbtxt:1:7: Expected a closing " but received the end of the line/],
    ['a missing closing brace', 'a {\n  b: 1\n', /m\/config.pbtxt:3:1: Expected a field name or '}' but received the end of the file/],
    ['a missing colon', 'name "x"', /:1:6: Expected ':' or '\{' after field 'name' but received '"'/],
    ['a stray character', 'a: 1 @', /:1:6: Expected a field name, value or one of .* but received '@'/],
    ['a list without a closing bracket', 'dims: [1, 2', /Expected '\]' or ',' in the list of field 'dims' but received the end of the file/],
    ['a bad escape', 's: "\\q"', /Expected an escape such as/],
    ['an extension field', '[ext.field]: 1', /Expected a field name but received '\['/],
  ];
  for (const [what, text, message] of errors) {
    it(`rejects ${what} with file:line:column`, () => {
      let err: { code?: string; status?: number; message: string } | undefined;
      try {
        parsePbtxt(text, 'm/config.pbtxt');
      } catch (e) {
        err = e as typeof err;
      }
      expect(err?.code).toBe('ERR_MODEL_CONFIG');
      expect(err?.status).toBe(400);
      expect(err?.message).toMatch(message);
    });
  }
});
