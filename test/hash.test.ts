// The response cache's key: the native 64-bit hash (native/hash.h) and the request key built
// on it (src/cache/cache-key.ts). Distribution is checked statistically; speed is measured by
// bench/hash-speed.ts, not here.
import { describe, expect, it } from 'vitest';
import { Prng } from '../models/prng.js';
import { native } from '../src/native.js';
import { Tensor } from '../src/tensor.js';
import { cacheKey, keyToHex } from '../src/cache/cache-key.js';
import { codeOf } from './helpers.js';

const { hashParts } = native;

function popcount64(x: bigint): number {
  let n = 0;
  for (; x; x &= x - 1n) n++;
  return n;
}

function randomBytes(rng: Prng, n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.floor(rng.next() * 256);
  return out;
}

describe('hashParts()', () => {
  it('is deterministic and returns an unsigned 64-bit bigint', () => {
    const data = new Float32Array([1, 2, 3, 4]);
    const h = hashParts('seed', data);
    expect(typeof h).toBe('bigint');
    expect(h).toBe(hashParts('seed', new Float32Array([1, 2, 3, 4])));
    expect(h >= 0n && h < 1n << 64n).toBe(true);
  });

  it('depends on the seed', () => {
    expect(hashParts('a', 'x')).not.toBe(hashParts('b', 'x'));
  });

  it('frames parts: ("ab", "c") and ("a", "bc") differ, and so do a string and the same bytes', () => {
    expect(hashParts('s', 'ab', 'c')).not.toBe(hashParts('s', 'a', 'bc'));
    expect(hashParts('s', 'ab')).not.toBe(hashParts('s', new Uint8Array([97, 98])));
    expect(hashParts('s', ['ab', 'c'])).not.toBe(hashParts('s', ['abc']));
    expect(hashParts('s', [])).not.toBe(hashParts('s'));
  });

  it('hashes a view over its own bytes, read in place', () => {
    const buf = new Uint8Array(100).map((_, i) => i);
    const view = buf.subarray(10, 50);
    expect(hashParts('s', view)).toBe(hashParts('s', view.slice()));
    expect(hashParts('s', new DataView(buf.buffer, 10, 40))).toBe(hashParts('s', view.slice()));
    expect(hashParts('s', buf.buffer)).toBe(hashParts('s', buf));
  });

  it('hashes long strings (beyond its stack buffer) in full, as UTF-8', () => {
    const long = 'é'.repeat(300) + 'x'; // 601 bytes of UTF-8
    expect(hashParts('s', long)).toBe(hashParts('s', long));
    expect(hashParts('s', long)).not.toBe(hashParts('s', 'é'.repeat(300) + 'y'));
    expect(hashParts('s', long)).toBe(hashParts('s', ['x'].map(() => long)[0]!));
    // Boundary lengths around the stack buffer (512 bytes) and its UTF-8 margin.
    const seen = new Set<bigint>();
    for (let n = 500; n < 520; n++) seen.add(hashParts('s', 'a'.repeat(n)));
    expect(seen.size).toBe(20);
  });

  it('refuses a seed that is not a string and parts of other kinds', async () => {
    expect(await codeOf(() => (hashParts as (...a: unknown[]) => bigint)(1, 'x'))).toBe('ERR_INVALID_ARG');
    expect(await codeOf(() => (hashParts as (...a: unknown[]) => bigint)('s', 42))).toBe('ERR_INVALID_ARG');
    expect(await codeOf(() => (hashParts as (...a: unknown[]) => bigint)('s', { a: 1 }))).toBe('ERR_INVALID_ARG');
  });

  it('has no collisions over 1e5 random inputs of 0-96 bytes', () => {
    const rng = new Prng(7);
    const seen = new Set<bigint>();
    const inputs = new Set<string>();
    for (let i = 0; i < 100_000; i++) {
      const bytes = randomBytes(rng, Math.floor(rng.next() * 97));
      inputs.add(Buffer.from(bytes).toString('hex'));
      seen.add(hashParts('s', bytes));
    }
    expect(seen.size).toBe(inputs.size);
  });

  it('has no collisions over 1e5 structured inputs (counters, one float each, the same bytes at every length)', () => {
    const counters = new Set<bigint>();
    const floats = new Set<bigint>();
    for (let i = 0; i < 100_000; i++) {
      counters.add(hashParts('s', new Uint32Array([i, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0])));
      floats.add(hashParts('s', new Float32Array([i / 1000, 0.5])));
    }
    expect(counters.size).toBe(100_000);
    expect(floats.size).toBe(100_000);
    const zeros = new Set<bigint>();
    for (let n = 0; n < 4096; n++) zeros.add(hashParts('s', new Uint8Array(n)));
    expect(zeros.size).toBe(4096);
  });

  it('avalanches: flipping one input bit flips about half of the output bits, each about half of the time', () => {
    const rng = new Prng(11);
    const perBit = new Array<number>(64).fill(0);
    let total = 0;
    let trials = 0;
    for (const length of [1, 7, 8, 31, 32, 33, 64, 257]) {
      for (let t = 0; t < 2000; t++) {
        const bytes = randomBytes(rng, length);
        const before = hashParts('s', bytes);
        const bit = Math.floor(rng.next() * length * 8);
        bytes[bit >> 3]! ^= 1 << (bit & 7);
        const diff = before ^ hashParts('s', bytes);
        total += popcount64(diff);
        for (let b = 0; b < 64; b++) if ((diff >> BigInt(b)) & 1n) perBit[b]!++;
        trials++;
      }
    }
    const mean = total / trials;
    expect(mean).toBeGreaterThan(31.5);
    expect(mean).toBeLessThan(32.5);
    // 16000 trials: a fair bit's frequency has a standard deviation of 0.004.
    for (const n of perBit) {
      expect(n / trials).toBeGreaterThan(0.47);
      expect(n / trials).toBeLessThan(0.53);
    }
  });
});

describe('cacheKey()', () => {
  const x = new Tensor('float32', new Float32Array([1, 2, 3, 4]), [1, 4]);
  const ids = new Tensor('int64', new BigInt64Array([5n, 6n]), [1, 2]);
  const base = { model: 'ctr', version: 1, inputs: { x, ids } };

  it('is the same for the same request whatever the order of inputs and outputs', () => {
    const a = cacheKey({ ...base, outputs: [{ name: 'y' }, { name: 'z', binary: true }] });
    const b = cacheKey({ model: 'ctr', version: '1', inputs: { ids, x: new Tensor('float32', new Float32Array([1, 2, 3, 4]), [1, 4]) }, outputs: [{ name: 'z', binary: true }, { name: 'y', binary: false }] });
    expect(a).toBe(b);
  });

  it('differs when the model, version, an input name, type, dims or data differ', () => {
    const k = cacheKey(base);
    const others = [
      cacheKey({ ...base, model: 'ctr2' }),
      cacheKey({ ...base, version: 2 }),
      cacheKey({ ...base, inputs: { x2: x, ids } }),
      cacheKey({ ...base, inputs: { x: new Tensor('int32', new Int32Array(x.data.buffer), [1, 4]), ids } }),
      cacheKey({ ...base, inputs: { x: x.reshape([2, 2]), ids } }),
      cacheKey({ ...base, inputs: { x: new Tensor('float32', new Float32Array([1, 2, 3, 5]), [1, 4]), ids } }),
      cacheKey({ ...base, inputs: { x } }),
    ];
    expect(new Set([k, ...others]).size).toBe(others.length + 1);
  });

  it('differs when the outputs asked for or their binary choice differ', () => {
    const keys = [
      cacheKey(base),
      cacheKey({ ...base, outputs: [] }),
      cacheKey({ ...base, outputs: [{ name: 'y' }] }),
      cacheKey({ ...base, outputs: [{ name: 'y', binary: true }] }),
      cacheKey({ ...base, binaryOutputsDefault: true }),
      cacheKey(base, 'another seed'),
    ];
    expect(new Set(keys).size).toBe(keys.length);
  });

  it('hashes a view over a larger buffer as its own bytes, and string tensors element by element', () => {
    const big = new Float32Array([9, 9, 1, 2, 3, 4, 9]);
    const view = new Tensor('float32', big.subarray(2, 6), [1, 4]);
    expect(cacheKey({ ...base, inputs: { x: view, ids } })).toBe(cacheKey(base));
    const s = (d: string[]) => cacheKey({ model: 'm', version: 1, inputs: { s: new Tensor('string', d, [d.length]) } });
    expect(s(['ab', 'c'])).not.toBe(s(['a', 'bc']));
    expect(s(['ab', 'c'])).toBe(s(['ab', 'c']));
  });

  it('refuses what is not a request', async () => {
    expect(await codeOf(() => cacheKey({ ...base, model: 3 as unknown as string }))).toBe('ERR_INVALID_ARG');
    expect(await codeOf(() => cacheKey({ ...base, inputs: { x: new Float32Array(4) as unknown as Tensor } }))).toBe('ERR_INVALID_ARG');
  });

  it('prints as 16 hex digits', () => {
    expect(keyToHex(0xabcn)).toBe('0000000000000abc');
    expect(keyToHex(cacheKey(base))).toMatch(/^[0-9a-f]{16}$/);
  });
});
