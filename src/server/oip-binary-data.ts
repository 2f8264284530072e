/**
 * Tensor values in the binary tensor data extension: little-endian, row-major, no padding;
 * BOOL one byte per element; BYTES each element a 4-byte little-endian length and its bytes.
 *
 * Reading makes a TypedArray view over the body (no copy) when the section's offset is a
 * multiple of the element size, and copies the section once otherwise. Views and copies
 * take the host's byte order, which is little-endian on every platform ortex's server runs
 * on (linux-x64; see uws.ts).
 */

import { Buffer } from 'node:buffer';
import { OrtexTypeError } from '../errors.js';
import type { OipDatatypeInfo } from './oip-datatypes.js';
import type { OipEncodableData, OipTensorData } from './oip-types.js';

function sizeError(expected: string, label: string, received: string): OrtexTypeError {
  return new OrtexTypeError('ERR_REQUEST_INVALID', `Expected ${expected} for ${label} but received ${received}`);
}

function asBuffer(u8: Uint8Array): Buffer {
  return Buffer.isBuffer(u8) ? u8 : Buffer.from(u8.buffer, u8.byteOffset, u8.byteLength);
}

/**
 * The values of one binary section: `size` bytes of `body` from `offset`, holding `count`
 * elements. The caller has checked that the section lies inside the body.
 * @throws ERR_REQUEST_INVALID when the size disagrees with the element count, or BYTES
 *   elements overrun the section, are too few, or leave bytes over.
 */
export function binaryToData(
  info: OipDatatypeInfo,
  body: Uint8Array,
  offset: number,
  size: number,
  count: number,
  label: string,
): OipTensorData {
  if (info.array === null) return readBytesElements(asBuffer(body), offset, size, count, label);
  const expected = count * info.bytes;
  if (size !== expected) {
    throw sizeError(
      `binary_data_size ${expected} (${count} elements of ${info.name})`,
      label,
      `binary_data_size ${size}`,
    );
  }
  const start = body.byteOffset + offset;
  if (start % info.bytes === 0) return new info.array(body.buffer as ArrayBuffer, start, count);
  // Misaligned for this element size: one copy into a fresh (aligned) buffer.
  return new info.array(body.buffer.slice(start, start + size) as ArrayBuffer, 0, count);
}

function readBytesElements(buf: Buffer, offset: number, size: number, count: number, label: string): string[] {
  const end = offset + size;
  // Every element needs at least its 4-byte length: refuse absurd shapes before allocating.
  if (count * 4 > size) {
    throw sizeError(`at least ${count * 4} bytes of binary data (${count} length-prefixed BYTES elements)`, label, `binary_data_size ${size}`);
  }
  const out = new Array<string>(count);
  let pos = offset;
  for (let i = 0; i < count; i++) {
    if (pos + 4 > end) throw sizeError(`a 4-byte length for BYTES element ${i}`, label, `${end - pos} bytes left in its binary data`);
    const length = buf.readUInt32LE(pos);
    pos += 4;
    if (pos + length > end) throw sizeError(`${length} bytes for BYTES element ${i}`, label, `${end - pos} bytes left in its binary data`);
    out[i] = buf.toString('utf8', pos, pos + length);
    pos += length;
  }
  if (pos !== end) {
    throw sizeError(`binary_data_size ${pos - offset} (${count} BYTES elements)`, label, `binary_data_size ${size}`);
  }
  return out;
}

/** The size in bytes of a tensor's binary section. `data` must already match the datatype. */
export function binaryByteLength(info: OipDatatypeInfo, data: OipEncodableData): number {
  if (info.array !== null) return ArrayBuffer.isView(data) ? data.byteLength : data.length * info.bytes;
  let n = 0;
  for (const v of data as ArrayLike<string | Uint8Array> & Iterable<string | Uint8Array>) {
    n += 4 + (typeof v === 'string' ? Buffer.byteLength(v, 'utf8') : v.byteLength);
  }
  return n;
}

/** Writes a tensor's binary section into `target` at `offset`; returns the bytes written. */
export function writeBinary(info: OipDatatypeInfo, data: OipEncodableData, target: Buffer, offset: number): number {
  if (ArrayBuffer.isView(data)) {
    target.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), offset);
    return data.byteLength;
  }
  if (info.array !== null) {
    // boolean[] for BOOL
    const values = data as readonly boolean[];
    for (let i = 0; i < values.length; i++) target[offset + i] = values[i] ? 1 : 0;
    return values.length;
  }
  let pos = offset;
  for (const v of data as ArrayLike<string | Uint8Array> & Iterable<string | Uint8Array>) {
    let n: number;
    if (typeof v === 'string') {
      n = target.write(v, pos + 4, 'utf8');
    } else {
      target.set(v, pos + 4);
      n = v.byteLength;
    }
    target.writeUInt32LE(n, pos);
    pos += 4 + n;
  }
  return pos - offset;
}
