/**
 * The compact binary form of a cached response, as stored in Redis: a small header per
 * tensor and its raw bytes, never numbers as text. All integers little-endian.
 *
 *   u32 magic 'OXR1'  u32 tensor count
 *   per tensor:
 *     u16 name bytes, name (UTF-8)   u8 ONNX element type   u8 rank   rank x u32 dims
 *     u32 data bytes   zero padding to a multiple of 8 from the start   data
 *   string tensor data: per element u32 bytes + UTF-8
 *
 * Tensor bytes are in host order, which is little-endian on every platform ortex builds for.
 * Decoding copies each tensor's bytes once into its own buffer (aligned, and not holding
 * the reply buffer alive); it throws on any malformed value, which the caller treats as a
 * miss.
 */

import { dataLength, dtypeByName, dtypeByOnnx } from '../dtypes.js';
import { Tensor, type TensorData } from '../tensor.js';

const MAGIC = 0x3152584f; // 'OXR1' read as a little-endian u32
const MAX_U32 = 0xffffffff;

const align8 = (n: number): number => (n + 7) & ~7;

/** Encodes outputs; throws RangeError for a response the format cannot hold (e.g. a dim >= 2^32). */
export function encodeResponse(outputs: Readonly<Record<string, Tensor>>): Buffer {
  const names = Object.keys(outputs);
  const nameBytes: Buffer[] = [];
  const stringBytes: Array<Buffer[] | undefined> = [];
  let total = 8;
  for (let i = 0; i < names.length; i++) {
    const t = outputs[names[i]!]!;
    const name = Buffer.from(names[i]!, 'utf8');
    if (name.length > 0xffff) throw new RangeError(`Output name of ${name.length} bytes is too long to cache`);
    if (t.dims.length > 0xff) throw new RangeError(`A rank of ${t.dims.length} is too high to cache`);
    for (const d of t.dims) if (d > MAX_U32) throw new RangeError(`A dim of ${d} is too large to cache`);
    nameBytes.push(name);
    total += 2 + name.length + 2 + 4 * t.dims.length + 4;
    total = align8(total);
    let dataBytes: number;
    if (Array.isArray(t.data)) {
      const parts = t.data.map((s) => Buffer.from(s, 'utf8'));
      stringBytes.push(parts);
      dataBytes = 0;
      for (const p of parts) dataBytes += 4 + p.length;
    } else {
      stringBytes.push(undefined);
      dataBytes = t.data.byteLength;
    }
    if (dataBytes > MAX_U32) throw new RangeError(`A tensor of ${dataBytes} bytes is too large to cache`);
    total += dataBytes;
  }
  const buf = Buffer.alloc(total);
  buf.writeUInt32LE(MAGIC, 0);
  buf.writeUInt32LE(names.length, 4);
  let p = 8;
  for (let i = 0; i < names.length; i++) {
    const t = outputs[names[i]!]!;
    const name = nameBytes[i]!;
    buf.writeUInt16LE(name.length, p);
    p += 2;
    name.copy(buf, p);
    p += name.length;
    buf.writeUInt8(dtypeByName(t.type)!.onnx, p++);
    buf.writeUInt8(t.dims.length, p++);
    for (const d of t.dims) {
      buf.writeUInt32LE(d, p);
      p += 4;
    }
    const strings = stringBytes[i];
    const lengthAt = p;
    p = align8(p + 4);
    if (strings) {
      const start = p;
      for (const s of strings) {
        buf.writeUInt32LE(s.length, p);
        s.copy(buf, p + 4);
        p += 4 + s.length;
      }
      buf.writeUInt32LE(p - start, lengthAt);
    } else {
      const data = t.data as Exclude<TensorData, string[]>;
      const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
      buf.set(bytes, p);
      buf.writeUInt32LE(bytes.length, lengthAt);
      p += bytes.length;
    }
  }
  return buf;
}

class Reader {
  p = 0;
  constructor(readonly buf: Buffer) {}
  need(n: number): void {
    if (this.p + n > this.buf.length) throw new RangeError('Truncated cached response');
  }
  u8(): number { this.need(1); return this.buf.readUInt8(this.p++); }
  u16(): number { this.need(2); const v = this.buf.readUInt16LE(this.p); this.p += 2; return v; }
  u32(): number { this.need(4); const v = this.buf.readUInt32LE(this.p); this.p += 4; return v; }
}

/** Decodes what encodeResponse() wrote; throws on anything else. */
export function decodeResponse(buf: Buffer): Record<string, Tensor> {
  const r = new Reader(buf);
  if (r.u32() !== MAGIC) throw new RangeError('Not a cached response (bad magic)');
  const count = r.u32();
  const out: Record<string, Tensor> = {};
  for (let i = 0; i < count; i++) {
    const nameLength = r.u16();
    r.need(nameLength);
    const name = buf.toString('utf8', r.p, r.p + nameLength);
    r.p += nameLength;
    const d = dtypeByOnnx(r.u8());
    if (!d) throw new RangeError('Unknown element type in a cached response');
    const rank = r.u8();
    const dims: number[] = [];
    let size = 1;
    for (let k = 0; k < rank; k++) {
      const dim = r.u32();
      dims.push(dim);
      size *= dim;
    }
    const bytes = r.u32();
    r.p = align8(r.p);
    r.need(bytes);
    const end = r.p + bytes;
    let data: TensorData;
    if (d.array === null) {
      const strings: string[] = [];
      while (r.p < end) {
        const n = r.u32();
        if (r.p + n > end) throw new RangeError('Truncated string in a cached response');
        strings.push(buf.toString('utf8', r.p, r.p + n));
        r.p += n;
      }
      if (strings.length !== size) throw new RangeError('String count disagrees with dims in a cached response');
      data = strings;
    } else {
      const per = d.array.BYTES_PER_ELEMENT;
      if (bytes !== dataLength(d, size) * per) throw new RangeError('Data length disagrees with dims in a cached response');
      const copy = new ArrayBuffer(bytes);
      new Uint8Array(copy).set(buf.subarray(r.p, end));
      data = new d.array(copy) as TensorData;
      r.p = end;
    }
    out[name] = Tensor.fromNative(d.name, data, dims);
  }
  if (r.p !== buf.length) throw new RangeError('Trailing bytes in a cached response');
  return out;
}
