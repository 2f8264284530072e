import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ERROR_CODES } from '../src/errors.js';
import { float16BitsToNumber, bfloat16BitsToNumber } from '../src/server/float-bits.js';
import {
  OIP_DATATYPES,
  type OipDatatype,
  type OipTensorOut,
  type ParsedTensor,
  encodeInferRequest,
  encodeInferResponse,
  oipToOrtexType,
  ortexToOipType,
  parseInferRequest,
  parseInferResponse,
} from '../src/server/oip-codec.js';

const utf8 = (s: string) => new TextEncoder().encode(s);
const json = (v: unknown) => utf8(JSON.stringify(v));

/** A body of a JSON header followed by binary sections, as a client would send it. */
function binaryBody(header: unknown, ...sections: Uint8Array[]): { body: Uint8Array; headerLength: number } {
  const head = json(header);
  const total = sections.reduce((n, s) => n + s.byteLength, head.byteLength);
  const body = new Uint8Array(total);
  body.set(head, 0);
  let o = head.byteLength;
  for (const s of sections) {
    body.set(s, o);
    o += s.byteLength;
  }
  return { body, headerLength: head.byteLength };
}

const bytesOf = (a: ArrayBufferView) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

function thrown(fn: () => unknown): { code?: string; status?: number; message: string } {
  try {
    fn();
  } catch (err) {
    return err as { code?: string; status?: number; message: string };
  }
  throw new Error('expected an error, none was thrown');
}

/** Six values per datatype: the JSON a client sends and the array ortex should make of it. */
const SAMPLES: Record<OipDatatype, { json: unknown[]; data: ArrayLike<unknown> }> = {
  BOOL: { json: [true, false, true, true, false, false], data: new Uint8Array([1, 0, 1, 1, 0, 0]) },
  UINT8: { json: [0, 1, 2, 128, 254, 255], data: new Uint8Array([0, 1, 2, 128, 254, 255]) },
  UINT16: { json: [0, 1, 300, 40000, 65534, 65535], data: new Uint16Array([0, 1, 300, 40000, 65534, 65535]) },
  UINT32: { json: [0, 1, 70000, 2 ** 31, 4294967294, 4294967295], data: new Uint32Array([0, 1, 70000, 2 ** 31, 4294967294, 4294967295]) },
  UINT64: {
    json: [0, 1, 9007199254740991, '9007199254740993', '18446744073709551615', 42],
    data: new BigUint64Array([0n, 1n, 9007199254740991n, 9007199254740993n, 18446744073709551615n, 42n]),
  },
  INT8: { json: [-128, -1, 0, 1, 100, 127], data: new Int8Array([-128, -1, 0, 1, 100, 127]) },
  INT16: { json: [-32768, -1, 0, 1, 1000, 32767], data: new Int16Array([-32768, -1, 0, 1, 1000, 32767]) },
  INT32: { json: [-2147483648, -1, 0, 1, 123456, 2147483647], data: new Int32Array([-2147483648, -1, 0, 1, 123456, 2147483647]) },
  INT64: {
    json: ['-9223372036854775808', -9007199254740991, -1, 0, 1, '9223372036854775807'],
    data: new BigInt64Array([-9223372036854775808n, -9007199254740991n, -1n, 0n, 1n, 9223372036854775807n]),
  },
  FP16: { json: [1, -2, 0.5, 65504, 'Infinity', 'NaN'], data: new Uint16Array([0x3c00, 0xc000, 0x3800, 0x7bff, 0x7c00, 0x7e00]) },
  BF16: { json: [1, -2, 0.5, 3.140625, '-Infinity', 0], data: new Uint16Array([0x3f80, 0xc000, 0x3f00, 0x4049, 0xff80, 0]) },
  FP32: { json: [1.5, -2.25, 0, 2 ** -149, 'NaN', 3.4028234663852886e38], data: new Float32Array([1.5, -2.25, 0, 2 ** -149, NaN, 3.4028234663852886e38]) },
  FP64: { json: [0.1, -1e300, 5e-324, 'Infinity', '-Infinity', 2], data: new Float64Array([0.1, -1e300, 5e-324, Infinity, -Infinity, 2]) },
  BYTES: { json: ['a', '', 'héllo', '日本', 'x y', '\u0000'], data: ['a', '', 'héllo', '日本', 'x y', '\u0000'] },
};

const ARRAYS: Record<OipDatatype, string> = {
  BOOL: 'Uint8Array', UINT8: 'Uint8Array', UINT16: 'Uint16Array', UINT32: 'Uint32Array', UINT64: 'BigUint64Array',
  INT8: 'Int8Array', INT16: 'Int16Array', INT32: 'Int32Array', INT64: 'BigInt64Array', FP16: 'Uint16Array',
  BF16: 'Uint16Array', FP32: 'Float32Array', FP64: 'Float64Array', BYTES: 'Array',
};

const nest = (flat: unknown[]) => [flat.slice(0, 3), flat.slice(3)];

describe('oipToOrtexType() / ortexToOipType()', () => {
  it('maps every protocol datatype both ways', () => {
    for (const dt of OIP_DATATYPES) expect(ortexToOipType(oipToOrtexType(dt)!)).toBe(dt);
    expect(oipToOrtexType('FP32')).toBe('float32');
    expect(oipToOrtexType('BOOL')).toBe('bool');
    expect(oipToOrtexType('BYTES')).toBe('string');
    expect(oipToOrtexType('BF16')).toBe('bfloat16');
    expect(oipToOrtexType('FP8')).toBeUndefined();
    expect(ortexToOipType('complex64')).toBeUndefined();
    expect(ortexToOipType('float8e4m3fn')).toBeUndefined();
  });
});

describe('parseInferRequest() JSON data', () => {
  for (const dt of OIP_DATATYPES) {
    it(`reads ${dt} data flat and nested, and encodeInferResponse() writes it back`, () => {
      const { json: values, data } = SAMPLES[dt];
      const req = parseInferRequest(
        json({
          id: 'r1',
          inputs: [
            { name: 'flat', datatype: dt, shape: [2, 3], data: values },
            { name: 'nested', datatype: dt, shape: [2, 3], data: nest(values) },
            { name: 'vector', datatype: dt, shape: [6], data: [values] },
          ],
        }),
        undefined,
      );
      expect(req.id).toBe('r1');
      expect(req.binaryOutputsDefault).toBe(false);
      expect(req.outputs).toBeUndefined();
      for (const input of req.inputs) {
        expect(input.datatype).toBe(dt);
        expect(input.type).toBe(oipToOrtexType(dt));
        expect(input.data.constructor.name).toBe(ARRAYS[dt]);
        expect(Array.from(input.data as ArrayLike<unknown>)).toEqual(Array.from(data));
      }
      expect(req.inputs.map((i) => i.shape)).toEqual([[2, 3], [2, 3], [6]]);

      const out = encodeInferResponse({
        modelName: 'm',
        modelVersion: '1',
        id: 'r1',
        outputs: [{ name: 'y', datatype: dt, shape: [2, 3], data: req.inputs[1]!.data }],
      });
      expect(out.headerLength).toBeUndefined();
      expect(typeof out.body).toBe('string');
      expect(JSON.parse(out.body as string)).toEqual({
        model_name: 'm',
        model_version: '1',
        id: 'r1',
        outputs: [{ name: 'y', datatype: dt, shape: [2, 3], data: values }],
      });
    });
  }

  it('reads BOOL from boolean[] when encoding', () => {
    const { body } = encodeInferResponse({ modelName: 'm', outputs: [{ name: 'b', datatype: 'BOOL', shape: [2], data: [true, false] }] });
    expect(JSON.parse(body as string).outputs[0].data).toEqual([true, false]);
  });

  it('keeps the sign of zero both ways', () => {
    const req = parseInferRequest(utf8('{"inputs":[{"name":"z","datatype":"FP64","shape":[2],"data":[-0,0]}]}'));
    expect(Object.is((req.inputs[0]!.data as Float64Array)[0], -0)).toBe(true);
    const { body } = encodeInferResponse({ modelName: 'm', outputs: [{ name: 'z', datatype: 'FP32', shape: [2], data: new Float32Array([-0, 0]) }] });
    expect(body).toContain('"data":[-0,0]');
  });

  it('reads a scalar (shape []) and an empty tensor', () => {
    const req = parseInferRequest(
      json({
        inputs: [
          { name: 's', datatype: 'FP32', shape: [], data: [7] },
          { name: 'e', datatype: 'INT32', shape: [0, 4], data: [] },
        ],
      }),
    );
    expect(Array.from(req.inputs[0]!.data as Float32Array)).toEqual([7]);
    expect((req.inputs[1]!.data as Int32Array).length).toBe(0);
  });

  it('takes binary_data and binary_data_output for the requested outputs', () => {
    const req = parseInferRequest(
      json({
        parameters: { binary_data_output: true, priority: 2 },
        inputs: [{ name: 'x', datatype: 'FP32', shape: [1], data: [1] }],
        outputs: [{ name: 'a' }, { name: 'b', parameters: { binary_data: false } }, { name: 'c', parameters: { binary_data: true } }],
      }),
    );
    expect(req.binaryOutputsDefault).toBe(true);
    expect(req.parameters).toEqual({ binary_data_output: true, priority: 2 });
    expect(req.outputs).toEqual([
      { name: 'a', binary: true },
      { name: 'b', binary: false, parameters: { binary_data: false } },
      { name: 'c', binary: true, parameters: { binary_data: true } },
    ]);
    const plain = parseInferRequest(json({ inputs: [], outputs: [{ name: 'a' }, { name: 'b', parameters: { binary_data: true } }] }));
    expect(plain.outputs!.map((o) => o.binary)).toEqual([false, true]);
  });
});

describe('parseInferRequest() binary data', () => {
  for (const dt of OIP_DATATYPES) {
    it(`reads ${dt} binary data, and encodeInferResponse() writes it back`, () => {
      const data = SAMPLES[dt].data as OipTensorOut['data'];
      const enc = encodeInferRequest({ inputs: [{ name: 'x', datatype: dt, shape: [3, 2], data, binary: true }] });
      expect(enc.headerLength).toBeGreaterThan(0);
      const body = enc.body as Uint8Array;
      const header = JSON.parse(Buffer.from(body.subarray(0, enc.headerLength)).toString());
      expect(header.inputs[0].data).toBeUndefined();
      expect(header.inputs[0].parameters.binary_data_size).toBe(body.byteLength - enc.headerLength!);

      const req = parseInferRequest(body, enc.headerLength);
      const x = req.inputs[0]!;
      expect(x.shape).toEqual([3, 2]);
      expect(x.data.constructor.name).toBe(ARRAYS[dt]);
      expect(Array.from(x.data as ArrayLike<unknown>)).toEqual(Array.from(data as ArrayLike<unknown>));

      const res = encodeInferResponse({ modelName: 'm', outputs: [{ name: 'y', datatype: dt, shape: [3, 2], data: x.data, binary: true }] });
      const back = parseInferResponse(res.body as Uint8Array, res.headerLength);
      expect(Array.from(back.outputs[0]!.data as ArrayLike<unknown>)).toEqual(Array.from(data as ArrayLike<unknown>));
    });
  }

  it('makes views over the body where aligned, one copy where not', () => {
    const f32 = new Float32Array([1, 2, 3]);
    // BOOL (1 byte) then FP32: the FP32 section starts one byte after an aligned one.
    const { body, headerLength } = binaryBody(
      {
        inputs: [
          { name: 'flag', datatype: 'BOOL', shape: [1], parameters: { binary_data_size: 1 } },
          { name: 'x', datatype: 'FP32', shape: [3], parameters: { binary_data_size: 12 } },
        ],
      },
      new Uint8Array([1]),
      bytesOf(f32),
    );
    for (const shift of [0, 1, 2, 3]) {
      const backing = new Uint8Array(body.byteLength + shift);
      backing.set(body, shift);
      const view = backing.subarray(shift);
      const req = parseInferRequest(view, headerLength);
      const x = req.inputs[1]!.data as Float32Array;
      expect(Array.from(x)).toEqual([1, 2, 3]);
      const aligned = (shift + headerLength + 1) % 4 === 0;
      expect(x.buffer === backing.buffer).toBe(aligned);
      expect((req.inputs[0]!.data as Uint8Array).buffer === backing.buffer).toBe(true);
    }
  });

  it('reads BYTES elements as 4-byte little-endian lengths followed by UTF-8', () => {
    const section = new Uint8Array([2, 0, 0, 0, 0x61, 0x62, 2, 0, 0, 0, 0xc3, 0xbc, 0, 0, 0, 0]);
    const { body, headerLength } = binaryBody(
      { inputs: [{ name: 's', datatype: 'BYTES', shape: [3], parameters: { binary_data_size: 16 } }] },
      section,
    );
    expect(parseInferRequest(body, headerLength).inputs[0]!.data).toEqual(['ab', 'ü', '']);
    const enc = encodeInferResponse({ modelName: 'm', outputs: [{ name: 's', datatype: 'BYTES', shape: [3], data: ['ab', 'ü', ''], binary: true }] });
    expect(Array.from((enc.body as Uint8Array).subarray(enc.headerLength))).toEqual(Array.from(section));
    const raw = encodeInferResponse({
      modelName: 'm',
      outputs: [{ name: 's', datatype: 'BYTES', shape: [2], data: [new Uint8Array([0xff, 0]), new Uint8Array([])], binary: true }],
    });
    expect(Array.from((raw.body as Uint8Array).subarray(raw.headerLength))).toEqual([2, 0, 0, 0, 0xff, 0, 0, 0, 0, 0]);
  });

  it('mixes JSON and binary inputs and outputs, binary sections in order', () => {
    const { body, headerLength } = binaryBody(
      {
        inputs: [
          { name: 'a', datatype: 'INT32', shape: [2], parameters: { binary_data_size: 8 } },
          { name: 'b', datatype: 'FP32', shape: [1], data: [0.5] },
          { name: 'c', datatype: 'UINT8', shape: [3], parameters: { binary_data_size: 3 } },
        ],
      },
      bytesOf(new Int32Array([7, -7])),
      new Uint8Array([9, 8, 7]),
    );
    const req = parseInferRequest(body, headerLength);
    expect(req.inputs.map((i) => Array.from(i.data as ArrayLike<number>))).toEqual([[7, -7], [0.5], [9, 8, 7]]);
    expect(req.inputs[0]!.parameters).toEqual({ binary_data_size: 8 });

    const res = encodeInferResponse({
      modelName: 'm',
      outputs: [
        { name: 'p', datatype: 'UINT8', shape: [2], data: new Uint8Array([1, 2]), binary: true },
        { name: 'q', datatype: 'FP64', shape: [1], data: new Float64Array([0.25]) },
        { name: 'r', datatype: 'INT16', shape: [1], data: new Int16Array([-3]), binary: true, parameters: { note: 'x' } },
      ],
    });
    const out = res.body as Uint8Array;
    const header = JSON.parse(Buffer.from(out.subarray(0, res.headerLength)).toString());
    expect(header.outputs).toEqual([
      { name: 'p', datatype: 'UINT8', shape: [2], parameters: { binary_data_size: 2 } },
      { name: 'q', datatype: 'FP64', shape: [1], data: [0.25] },
      { name: 'r', datatype: 'INT16', shape: [1], parameters: { note: 'x', binary_data_size: 2 } },
    ]);
    expect(Array.from(out.subarray(res.headerLength))).toEqual([1, 2, 0xfd, 0xff]);
  });
});

describe('parseInferRequest() errors', () => {
  const input = (extra: Record<string, unknown>) => json({ inputs: [{ name: 'x', datatype: 'FP32', shape: [2], data: [1, 2], ...extra }] });
  const cases: Array<[string, () => unknown, string, RegExp]> = [
    ['malformed JSON', () => parseInferRequest(utf8('{"inputs": [')), 'ERR_REQUEST_JSON', /malformed JSON/],
    ['a JSON array body', () => parseInferRequest(json([1])), 'ERR_REQUEST_INVALID', /Expected a JSON object for the inference request but received array/],
    ['missing inputs', () => parseInferRequest(json({})), 'ERR_REQUEST_INVALID', /for inputs but received undefined/],
    ['inputs not an array', () => parseInferRequest(json({ inputs: {} })), 'ERR_REQUEST_INVALID', /for inputs but received object/],
    ['an input that is not an object', () => parseInferRequest(json({ inputs: [3] })), 'ERR_REQUEST_INVALID', /for inputs\[0\] but received number 3/],
    ['a missing name', () => parseInferRequest(json({ inputs: [{ datatype: 'FP32', shape: [1], data: [1] }] })), 'ERR_REQUEST_INVALID', /inputs\[0\]\.name/],
    ['an unknown datatype', () => parseInferRequest(input({ datatype: 'FP8' })), 'ERR_REQUEST_INVALID', /one of BOOL, .*BYTES for input 'x' datatype but received string "FP8"/],
    ['a shape that is not an array', () => parseInferRequest(input({ shape: 2 })), 'ERR_REQUEST_INVALID', /input 'x' shape but received number 2/],
    ['a negative dimension', () => parseInferRequest(input({ shape: [-1] })), 'ERR_REQUEST_INVALID', /input 'x' shape\[0\] but received number -1/],
    ['missing data', () => parseInferRequest(input({ data: undefined })), 'ERR_REQUEST_INVALID', /data or parameters.binary_data_size for input 'x'/],
    ['data that is not an array', () => parseInferRequest(input({ data: 'ab' })), 'ERR_REQUEST_INVALID', /array \(flat or nested\) for input 'x' data/],
    ['too few elements', () => parseInferRequest(input({ shape: [3] })), 'ERR_REQUEST_INVALID', /Expected 3 elements of FP32 data for input 'x' with shape \[3\] but received 2/],
    ['too many elements', () => parseInferRequest(input({ shape: [1] })), 'ERR_REQUEST_INVALID', /Expected 1 elements .* but received 2/],
    ['a huge shape with little data, before allocating', () => parseInferRequest(input({ datatype: 'FP64', shape: [2 ** 27], data: [1] })), 'ERR_REQUEST_INVALID', /Expected 134217728 elements of FP64 data for input 'x' with shape \[134217728\] but received 1/],
    ['a value of the wrong kind', () => parseInferRequest(input({ data: [1, true] })), 'ERR_REQUEST_INVALID', /a number .* for input 'x' data\[1\] but received boolean true/],
    ['an integer out of range', () => parseInferRequest(input({ datatype: 'UINT8', data: [1, 300] })), 'ERR_REQUEST_INVALID', /integer from 0 to 255 for input 'x' data\[1\] but received number 300/],
    ['a fractional integer', () => parseInferRequest(input({ datatype: 'INT32', data: [1.5, 2] })), 'ERR_REQUEST_INVALID', /data\[0\] but received number 1.5/],
    ['an INT64 beyond 2^53 as a number', () => parseInferRequest(input({ datatype: 'INT64', data: [1, 2 ** 60] })), 'ERR_REQUEST_INVALID', /decimal string/],
    ['a UINT64 below zero', () => parseInferRequest(input({ datatype: 'UINT64', data: ['-1', 1] })), 'ERR_REQUEST_INVALID', /data\[0\]/],
    ['a BOOL given as 1', () => parseInferRequest(input({ datatype: 'BOOL', data: [1, 0] })), 'ERR_REQUEST_INVALID', /a boolean for input 'x' data\[0\]/],
    ['a BYTES element that is not a string', () => parseInferRequest(input({ datatype: 'BYTES', data: ['a', 1] })), 'ERR_REQUEST_INVALID', /a string for input 'x' data\[1\]/],
    ['nesting deeper than 64', () => {
      let d: unknown = [1, 2];
      for (let i = 0; i < 70; i++) d = [d];
      return parseInferRequest(input({ data: d }));
    }, 'ERR_REQUEST_INVALID', /at most 64 levels of nesting/],
    ['duplicate input names', () => parseInferRequest(json({ inputs: [{ name: 'x', datatype: 'FP32', shape: [1], data: [1] }, { name: 'x', datatype: 'FP32', shape: [1], data: [1] }] })), 'ERR_REQUEST_INVALID', /unique input names for inputs\[1\]\.name/],
    ['parameters that are not an object', () => parseInferRequest(json({ parameters: [], inputs: [] })), 'ERR_REQUEST_INVALID', /the request parameters/],
    ['a parameter that is an object', () => parseInferRequest(input({ parameters: { a: {} } })), 'ERR_REQUEST_INVALID', /input 'x' parameters\.a/],
    ['a non-string id', () => parseInferRequest(json({ id: 5, inputs: [] })), 'ERR_REQUEST_INVALID', /a string for id but received number 5/],
    ['a non-boolean binary_data_output', () => parseInferRequest(json({ parameters: { binary_data_output: 1 }, inputs: [] })), 'ERR_REQUEST_INVALID', /parameters.binary_data_output/],
    ['a non-boolean binary_data', () => parseInferRequest(json({ inputs: [], outputs: [{ name: 'y', parameters: { binary_data: 'yes' } }] })), 'ERR_REQUEST_INVALID', /output 'y' parameters.binary_data/],
    ['outputs not an array', () => parseInferRequest(json({ inputs: [], outputs: 'y' })), 'ERR_REQUEST_INVALID', /for outputs but received string/],
    ['duplicate output names', () => parseInferRequest(json({ inputs: [], outputs: [{ name: 'y' }, { name: 'y' }] })), 'ERR_REQUEST_INVALID', /unique output names/],
    ['shared memory', () => parseInferRequest(input({ data: undefined, parameters: { shared_memory_region: 'r' } })), 'ERR_REQUEST_INVALID', /shared-memory extension is not supported/],
    ['binary_data_size without the header', () => parseInferRequest(input({ data: undefined, parameters: { binary_data_size: 8 } })), 'ERR_REQUEST_INVALID', /Inference-Header-Content-Length header for input 'x' with binary_data_size 8 but received none/],
    ['data beside binary_data_size', () => {
      const b = binaryBody({ inputs: [{ name: 'x', datatype: 'FP32', shape: [2], data: [1, 2], parameters: { binary_data_size: 8 } }] }, new Uint8Array(8));
      return parseInferRequest(b.body, b.headerLength);
    }, 'ERR_REQUEST_INVALID', /no data beside parameters.binary_data_size for input 'x'/],
    ['a negative binary_data_size', () => {
      const b = binaryBody({ inputs: [{ name: 'x', datatype: 'FP32', shape: [2], parameters: { binary_data_size: -8 } }] });
      return parseInferRequest(b.body, b.headerLength);
    }, 'ERR_REQUEST_INVALID', /input 'x' parameters.binary_data_size but received number -8/],
    ['binary_data_size past the end of the body', () => {
      const b = binaryBody({ inputs: [{ name: 'x', datatype: 'FP32', shape: [2], parameters: { binary_data_size: 8 } }] }, new Uint8Array(5));
      return parseInferRequest(b.body, b.headerLength);
    }, 'ERR_REQUEST_INVALID', /binary_data_size 8 for input 'x' to fit in the body but received 5 bytes/],
    ['binary_data_size that disagrees with the shape', () => {
      const b = binaryBody({ inputs: [{ name: 'x', datatype: 'FP32', shape: [3], parameters: { binary_data_size: 8 } }] }, new Uint8Array(8));
      return parseInferRequest(b.body, b.headerLength);
    }, 'ERR_REQUEST_INVALID', /Expected binary_data_size 12 \(3 elements of FP32\) for input 'x' but received binary_data_size 8/],
    ['binary bytes left over', () => {
      const b = binaryBody({ inputs: [{ name: 'x', datatype: 'FP32', shape: [2], parameters: { binary_data_size: 8 } }] }, new Uint8Array(12));
      return parseInferRequest(b.body, b.headerLength);
    }, 'ERR_REQUEST_INVALID', /Expected 8 bytes of binary data after the JSON header .* but received 12/],
    ['a header length past the body', () => parseInferRequest(input({}), 10_000), 'ERR_REQUEST_INVALID', /Inference-Header-Content-Length header but received number 10000/],
    ['a header length that is not a number', () => parseInferRequest(input({}), NaN), 'ERR_REQUEST_INVALID', /Inference-Header-Content-Length/],
    ['a header length that cuts the JSON', () => parseInferRequest(input({}), 5), 'ERR_REQUEST_JSON', /malformed JSON/],
    ['a BYTES element overrunning its section', () => {
      const b = binaryBody({ inputs: [{ name: 's', datatype: 'BYTES', shape: [1], parameters: { binary_data_size: 6 } }] }, new Uint8Array([9, 0, 0, 0, 1, 2]));
      return parseInferRequest(b.body, b.headerLength);
    }, 'ERR_REQUEST_INVALID', /Expected 9 bytes for BYTES element 0 for input 's' but received 2 bytes left/],
    ['BYTES elements fewer than the shape', () => {
      const b = binaryBody({ inputs: [{ name: 's', datatype: 'BYTES', shape: [2], parameters: { binary_data_size: 10 } }] }, new Uint8Array([6, 0, 0, 0, 1, 2, 3, 4, 5, 6]));
      return parseInferRequest(b.body, b.headerLength);
    }, 'ERR_REQUEST_INVALID', /a 4-byte length for BYTES element 1 for input 's' but received 0 bytes left/],
    ['BYTES elements leaving bytes over', () => {
      const b = binaryBody({ inputs: [{ name: 's', datatype: 'BYTES', shape: [1], parameters: { binary_data_size: 7 } }] }, new Uint8Array([1, 0, 0, 0, 65, 0, 0]));
      return parseInferRequest(b.body, b.headerLength);
    }, 'ERR_REQUEST_INVALID', /Expected binary_data_size 5 \(1 BYTES elements\) for input 's' but received binary_data_size 7/],
    ['a BYTES shape too big for its section', () => {
      const b = binaryBody({ inputs: [{ name: 's', datatype: 'BYTES', shape: [1000000], parameters: { binary_data_size: 4 } }] }, new Uint8Array(4));
      return parseInferRequest(b.body, b.headerLength);
    }, 'ERR_REQUEST_INVALID', /at least 4000000 bytes/],
    ['a body over the limit', () => parseInferRequest(input({}), undefined, { maxBodyBytes: 10 }), 'ERR_REQUEST_TOO_LARGE', /at most 10 bytes for the inference request/],
    ['a tensor over the element limit', () => parseInferRequest(input({ shape: [100000, 100000] })), 'ERR_REQUEST_TOO_LARGE', /input 'x' but received shape \[100000,100000\]/],
    ['a tensor over a custom element limit', () => parseInferRequest(input({}), undefined, { maxElements: 1 }), 'ERR_REQUEST_TOO_LARGE', /at most 1 elements for input 'x'/],
  ];
  for (const [what, fn, code, message] of cases) {
    it(`rejects ${what} with ${code}`, () => {
      const err = thrown(fn);
      expect(err.code).toBe(code);
      expect(err.status).toBe(ERROR_CODES[code as keyof typeof ERROR_CODES]);
      expect(err.message).toMatch(message);
    });
  }

  it('gives 400 for request errors and 413 for size', () => {
    expect(ERROR_CODES.ERR_REQUEST_JSON).toBe(400);
    expect(ERROR_CODES.ERR_REQUEST_INVALID).toBe(400);
    expect(ERROR_CODES.ERR_REQUEST_TOO_LARGE).toBe(413);
  });
});

describe('encodeInferResponse() errors', () => {
  const out = (o: Partial<OipTensorOut>) => () =>
    encodeInferResponse({ modelName: 'm', outputs: [{ name: 'y', datatype: 'FP32', shape: [2], data: new Float32Array(2), ...o }] });
  const cases: Array<[string, () => unknown, RegExp]> = [
    ['an unknown datatype', out({ datatype: 'FP8' as OipDatatype }), /output 'y' datatype/],
    ['data of the wrong array', out({ data: new Float64Array(2) }), /Expected Float32Array for output 'y' data \(FP32\) but received Float64Array/],
    ['data of the wrong length', out({ shape: [3] }), /Expected 3 elements for output 'y' with shape \[3\] but received 2/],
    ['a bad shape', out({ shape: [-1] }), /output 'y' shape/],
    ['BYTES data that is not strings', out({ datatype: 'BYTES', data: [1, 2] as unknown as string[] }), /string\[\] or Uint8Array\[\] for output 'y'/],
  ];
  for (const [what, fn, message] of cases) {
    it(`rejects ${what} with ERR_OUTPUT_TYPE (500)`, () => {
      const err = thrown(fn);
      expect(err.code).toBe('ERR_OUTPUT_TYPE');
      expect(err.status).toBe(500);
      expect(err.message).toMatch(message);
    });
  }
});

// ---- property: encode then parse gives back the same tensors ----

const INT_RANGES: Partial<Record<OipDatatype, [number, number]>> = {
  UINT8: [0, 0xff], UINT16: [0, 0xffff], UINT32: [0, 0xffffffff],
  INT8: [-0x80, 0x7f], INT16: [-0x8000, 0x7fff], INT32: [-0x80000000, 0x7fffffff],
};

function valuesOf(dt: OipDatatype, n: number): fc.Arbitrary<OipTensorOut['data']> {
  const list = <T>(a: fc.Arbitrary<T>) => fc.array(a, { minLength: n, maxLength: n });
  const range = INT_RANGES[dt];
  if (range) {
    const Ctor = { UINT8: Uint8Array, UINT16: Uint16Array, UINT32: Uint32Array, INT8: Int8Array, INT16: Int16Array, INT32: Int32Array }[dt as 'UINT8'];
    return list(fc.integer({ min: range[0], max: range[1] })).map((v) => Ctor.from(v));
  }
  switch (dt) {
    case 'BOOL': return list(fc.boolean()).map((v) => Uint8Array.from(v, Number));
    case 'UINT64': return list(fc.bigInt({ min: 0n, max: 2n ** 64n - 1n })).map((v) => BigUint64Array.from(v));
    case 'INT64': return list(fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n })).map((v) => BigInt64Array.from(v));
    case 'FP16':
    case 'BF16': return list(fc.integer({ min: 0, max: 0xffff })).map((v) => Uint16Array.from(v));
    case 'FP32': return list(fc.float()).map((v) => Float32Array.from(v));
    case 'FP64': return list(fc.double()).map((v) => Float64Array.from(v));
    default: return list(fc.string({ unit: 'binary', maxLength: 12 }));
  }
}

const tensorArb = (name: string) =>
  fc
    .record({
      datatype: fc.constantFrom(...OIP_DATATYPES),
      shape: fc.array(fc.integer({ min: 0, max: 4 }), { maxLength: 3 }),
      binary: fc.boolean(),
    })
    .chain(({ datatype, shape, binary }) =>
      valuesOf(datatype, shape.reduce((a, d) => a * d, 1)).map((data): OipTensorOut => ({ name, datatype, shape, data, binary })),
    );

const tensorsArb = fc.integer({ min: 1, max: 4 }).chain((n) => fc.tuple(...Array.from({ length: n }, (_, i) => tensorArb(`t${i}`))));

/** The values as JSON would carry them: NaN payloads are lost there, so compare FP16/BF16 as numbers. */
function comparable(t: { datatype: OipDatatype; data: unknown }, json: boolean): unknown[] {
  const values = Array.from(t.data as ArrayLike<unknown>);
  if (!json) return values;
  if (t.datatype === 'FP16') return values.map((b) => float16BitsToNumber(b as number));
  if (t.datatype === 'BF16') return values.map((b) => bfloat16BitsToNumber(b as number));
  return values;
}

function expectSame(sent: readonly OipTensorOut[], got: ParsedTensor[]): void {
  expect(got.map((t) => [t.name, t.datatype, t.shape])).toEqual(sent.map((t) => [t.name, t.datatype, t.shape]));
  sent.forEach((t, i) => {
    const a = comparable(t, !t.binary);
    const b = comparable(got[i]!, !t.binary);
    expect(b.length).toBe(a.length);
    // Object.is: NaN equals NaN, -0 differs from 0
    for (let k = 0; k < a.length; k++) if (!Object.is(a[k], b[k])) expect(b[k]).toEqual(a[k]);
  });
}

describe('encode → parse (property)', () => {
  it('a request of random tensors parses back to the same tensors', () => {
    fc.assert(
      fc.property(tensorsArb, (tensors) => {
        const enc = encodeInferRequest({ id: 'p', inputs: tensors });
        const body = typeof enc.body === 'string' ? utf8(enc.body) : enc.body;
        const req = parseInferRequest(body, enc.headerLength);
        expect(req.id).toBe('p');
        expectSame(tensors, req.inputs);
      }),
      { numRuns: 300 },
    );
  });

  it('a response of random tensors parses back to the same tensors', () => {
    fc.assert(
      fc.property(tensorsArb, (tensors) => {
        const enc = encodeInferResponse({ modelName: 'm', modelVersion: '3', outputs: tensors });
        const body = typeof enc.body === 'string' ? utf8(enc.body) : enc.body;
        const res = parseInferResponse(body, enc.headerLength);
        expect(res.modelName).toBe('m');
        expect(res.modelVersion).toBe('3');
        expectSame(tensors, res.outputs);
      }),
      { numRuns: 300 },
    );
  });
});
