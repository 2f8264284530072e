/**
 * The parts requests and responses share: a body that is a JSON header optionally followed
 * by binary sections (one per tensor with `parameters.binary_data_size`, in the order the
 * tensors are listed), the tensor objects themselves, and `parameters` objects.
 */

import { Buffer } from 'node:buffer';
import { type ErrorCode, OrtexError, OrtexTypeError } from '../errors.js';
import { describe, invalidRange, invalidType, isPlainObject } from '../validate.js';
import { binaryByteLength, binaryToData, writeBinary } from './oip-binary-data.js';
import { OIP_DATATYPES, type OipDatatypeInfo, isDataOf, oipDatatype } from './oip-datatypes.js';
import { dataToJson, jsonToData } from './oip-json-data.js';
import type { EncodedMessage, OipLimits, OipParameters, OipTensorOut, ParsedTensor } from './oip-types.js';

const INVALID: ErrorCode = 'ERR_REQUEST_INVALID';
export const DEFAULT_MAX_BODY_BYTES = 64 * 1024 * 1024;
export const DEFAULT_MAX_ELEMENTS = 2 ** 28;

/** A body being read: the JSON header, then binary sections consumed front to back. */
export interface BodyReader {
  readonly body: Uint8Array;
  /** Where the binary sections start; undefined when the whole body is JSON. */
  readonly headerLength: number | undefined;
  /** The next unread binary byte. */
  offset: number;
  readonly maxElements: number;
  /** Elements of the tensors read so far, checked against maxElements. */
  elements: number;
  readonly maxElementsHint: string | undefined;
}

function tooLarge(expected: string, what: string, received: string): OrtexError {
  return new OrtexError('ERR_REQUEST_TOO_LARGE', `Expected ${expected} for ${what} but received ${received}`);
}

/**
 * Checks the body against the limits and the header length and parses the JSON header.
 * @param what "inference request" or "inference response", for messages.
 */
export function readHeader(
  body: Uint8Array,
  headerLength: number | undefined,
  limits: OipLimits,
  what: string,
): { json: Record<string, unknown>; reader: BodyReader } {
  if (!(body instanceof Uint8Array)) throw invalidType('a Uint8Array', `the ${what} body`, body, 'ERR_INVALID_ARG');
  const maxBody = limits.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  if (body.byteLength > maxBody) throw tooLarge(`a body of at most ${maxBody} bytes`, `the ${what}`, `${body.byteLength} bytes`);
  let jsonEnd = body.byteLength;
  if (headerLength !== undefined) {
    if (!Number.isInteger(headerLength) || headerLength < 1 || headerLength > body.byteLength) {
      throw invalidRange(
        `an integer from 1 to the body length ${body.byteLength}`,
        'the Inference-Header-Content-Length header',
        headerLength,
        INVALID,
      );
    }
    jsonEnd = headerLength;
  }
  const text = Buffer.from(body.buffer, body.byteOffset, jsonEnd).toString('utf8');
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new OrtexError('ERR_REQUEST_JSON', `Expected JSON for the ${what} but received malformed JSON: ${(err as Error).message}`);
  }
  if (!isPlainObject(json)) throw invalidType('a JSON object', `the ${what}`, json, INVALID);
  return {
    json,
    reader: {
      body, headerLength, offset: headerLength ?? body.byteLength,
      maxElements: limits.maxElements ?? DEFAULT_MAX_ELEMENTS, elements: 0, maxElementsHint: limits.maxElementsHint,
    },
  };
}

/** Checks that the binary sections used up the body exactly. */
export function finishBody(reader: BodyReader, what: string): void {
  if (reader.headerLength === undefined || reader.offset === reader.body.byteLength) return;
  const declared = reader.offset - reader.headerLength;
  const present = reader.body.byteLength - reader.headerLength;
  throw new OrtexTypeError(
    INVALID,
    `Expected ${declared} bytes of binary data after the JSON header (the sum of binary_data_size) for the ${what} but received ${present}`,
  );
}

/** A `parameters` object: names mapped to strings, numbers or booleans. */
export function readParameters(v: unknown, what: string): OipParameters | undefined {
  if (v === undefined) return undefined;
  if (!isPlainObject(v)) throw invalidType('an object', `${what} parameters`, v, INVALID);
  for (const [k, x] of Object.entries(v)) {
    if (typeof x !== 'string' && typeof x !== 'number' && typeof x !== 'boolean') {
      throw invalidType('a string, number or boolean', `${what} parameters.${k}`, x, INVALID);
    }
  }
  return v as OipParameters;
}

/** A non-empty string field. */
export function readName(v: unknown, what: string): string {
  if (typeof v !== 'string' || v === '') throw invalidType('a non-empty string', what, v, INVALID);
  return v;
}

/** An optional string field. */
export function readOptionalString(v: unknown, what: string): string | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'string') throw invalidType('a string', what, v, INVALID);
  return v;
}

/**
 * A tensor's shape and element count, added to the message's running total: a shape that
 * takes the total past maxElements is refused here, before its data is read or allocated.
 */
function readShape(v: unknown, label: string, reader: BodyReader): { shape: number[]; count: number } {
  if (!Array.isArray(v)) throw invalidType('an array of non-negative integers', `${label} shape`, v, INVALID);
  let count = 1;
  for (let i = 0; i < v.length; i++) {
    const d = v[i];
    if (!Number.isSafeInteger(d) || d < 0) throw invalidRange('a non-negative integer', `${label} shape[${i}]`, d, INVALID);
    count *= d;
  }
  const max = reader.maxElements;
  const total = reader.elements + count;
  if (total > max) {
    const hint = reader.maxElementsHint ? `; ${reader.maxElementsHint}` : '';
    if (reader.elements === 0) throw tooLarge(`at most ${max} elements`, label, `shape [${v.join(',')}] (${count} elements)${hint}`);
    throw tooLarge(`at most ${max} elements in all`, 'the tensors of one message', `${total}: ${label} with shape [${v.join(',')}] (${count} elements) after ${reader.elements} in the others${hint}`);
  }
  reader.elements = total;
  return { shape: v as number[], count };
}

function readDatatype(v: unknown, label: string): OipDatatypeInfo {
  const info = typeof v === 'string' ? oipDatatype(v) : undefined;
  if (!info) throw invalidType(`one of ${OIP_DATATYPES.join(', ')}`, `${label} datatype`, v, INVALID);
  return info;
}

/**
 * Reads one tensor object ({ name, datatype, shape, parameters?, data? }); its values come
 * from `data` or, with `parameters.binary_data_size`, from the next binary section.
 * @param kind "input" or "output", for messages.
 */
export function readTensor(entry: unknown, index: number, kind: string, reader: BodyReader): ParsedTensor {
  if (!isPlainObject(entry)) throw invalidType('an object', `${kind}s[${index}]`, entry, INVALID);
  const name = readName(entry.name, `${kind}s[${index}].name`);
  const label = `${kind} '${name}'`;
  const info = readDatatype(entry.datatype, label);
  const { shape, count } = readShape(entry.shape, label, reader);
  const parameters = readParameters(entry.parameters, label);
  if (parameters?.shared_memory_region !== undefined) {
    throw invalidType('no parameters.shared_memory_region (the shared-memory extension is not supported)', label, parameters.shared_memory_region, INVALID);
  }
  const size = parameters?.binary_data_size;
  const tensor: ParsedTensor = { name, datatype: info.name, type: info.type, shape, data: [] };
  if (parameters) tensor.parameters = parameters;
  if (size === undefined) {
    if (entry.data === undefined) throw invalidType('data or parameters.binary_data_size', label, undefined, INVALID);
    tensor.data = jsonToData(info, entry.data, count, shape, label);
    return tensor;
  }
  if (!Number.isSafeInteger(size) || (size as number) < 0) {
    throw invalidRange('a non-negative integer', `${label} parameters.binary_data_size`, size, INVALID);
  }
  if (entry.data !== undefined) {
    throw invalidType('no data beside parameters.binary_data_size', label, entry.data, INVALID);
  }
  if (reader.headerLength === undefined) {
    throw new OrtexTypeError(
      INVALID,
      `Expected an Inference-Header-Content-Length header for ${label} with binary_data_size ${size} but received none (the whole body was read as JSON)`,
    );
  }
  const left = reader.body.byteLength - reader.offset;
  if ((size as number) > left) {
    throw new OrtexTypeError(
      INVALID,
      `Expected binary_data_size ${size} for ${label} to fit in the body but received ${left} bytes of binary data left (body ${reader.body.byteLength} bytes, JSON header ${reader.headerLength})`,
    );
  }
  tensor.data = binaryToData(info, reader.body, reader.offset, size as number, count, label);
  reader.offset += size as number;
  return tensor;
}

/** Reads a list of tensor objects, refusing duplicate names. */
export function readTensors(v: unknown, kind: string, reader: BodyReader): ParsedTensor[] {
  if (!Array.isArray(v)) throw invalidType(`an array of ${kind} tensors`, `${kind}s`, v, INVALID);
  const seen = new Set<string>();
  return v.map((entry, i) => {
    const t = readTensor(entry, i, kind, reader);
    if (seen.has(t.name)) throw invalidType(`unique ${kind} names`, `${kind}s[${i}].name`, t.name, INVALID);
    seen.add(t.name);
    return t;
  });
}

function checkOut(t: OipTensorOut, i: number, kind: string, code: ErrorCode): { info: OipDatatypeInfo; label: string } {
  const label = `${kind} '${t?.name}'`;
  if (!isPlainObject(t) || typeof t.name !== 'string') throw invalidType('{ name, datatype, shape, data }', `${kind}s[${i}]`, t, code);
  const info = oipDatatype(t.datatype);
  if (!info) throw invalidType(`one of ${OIP_DATATYPES.join(', ')}`, `${label} datatype`, t.datatype, code);
  if (!Array.isArray(t.shape) || !t.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    throw invalidType('an array of non-negative integers', `${label} shape`, t.shape, code);
  }
  const data = t.data as unknown;
  const ok =
    isDataOf(info, data) ||
    (Array.isArray(data) &&
      (info.name === 'BYTES'
        ? data.every((v) => typeof v === 'string' || v instanceof Uint8Array)
        : info.name === 'BOOL' && data.every((v) => typeof v === 'boolean')));
  if (!ok) {
    const expected = info.array ? info.array.name + (info.name === 'BOOL' ? ' or boolean[]' : '') : 'string[] or Uint8Array[]';
    throw new OrtexTypeError(code, `Expected ${expected} for ${label} data (${info.name}) but received ${describe(data)}`);
  }
  const count = t.shape.reduce((a, d) => a * d, 1);
  if ((data as ArrayLike<unknown>).length !== count) {
    throw new OrtexTypeError(code, `Expected ${count} elements for ${label} with shape [${t.shape.join(',')}] but received ${(data as ArrayLike<unknown>).length}`);
  }
  return { info, label };
}

/**
 * Encodes a message: `fields` (already in wire names) then `key` listing the tensors, each
 * in JSON or, with `binary`, as a binary section after the header.
 * @param code the error code for a malformed tensor (the caller's fault or the server's).
 */
export function encodeMessage(fields: Record<string, unknown>, key: string, tensors: readonly OipTensorOut[], kind: string, code: ErrorCode): EncodedMessage {
  if (!Array.isArray(tensors)) throw invalidType(`an array of ${kind} tensors`, `${kind}s`, tensors, code);
  const parts = new Array<string>(tensors.length);
  const sections: Array<{ info: OipDatatypeInfo; t: OipTensorOut }> = [];
  let binaryBytes = 0;
  tensors.forEach((t, i) => {
    const { info } = checkOut(t, i, kind, code);
    let head = `{"name":${JSON.stringify(t.name)},"datatype":"${info.name}","shape":[${t.shape.join(',')}]`;
    if (t.binary) {
      const size = binaryByteLength(info, t.data);
      binaryBytes += size;
      sections.push({ info, t });
      head += `,"parameters":${JSON.stringify({ ...t.parameters, binary_data_size: size })}}`;
    } else {
      if (t.parameters) head += `,"parameters":${JSON.stringify(t.parameters)}`;
      head += `,"data":${dataToJson(info, t.data)}}`;
    }
    parts[i] = head;
  });
  const prefix = JSON.stringify(fields).slice(0, -1);
  const header = `${prefix}${prefix.length > 1 ? ',' : ''}${JSON.stringify(key)}:[${parts.join(',')}]}`;
  if (sections.length === 0) return { body: header };
  const headerLength = Buffer.byteLength(header, 'utf8');
  const body = Buffer.allocUnsafe(headerLength + binaryBytes);
  body.write(header, 0, 'utf8');
  let offset = headerLength;
  for (const { info, t } of sections) offset += writeBinary(info, t.data, body, offset);
  return { body, headerLength };
}
