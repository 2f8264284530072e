/**
 * Seeded pseudo-random numbers: model weights (models/) and the random inputs of
 * `ortex compare` and the sensitivity report.
 *
 * Math.random() cannot be seeded, and the generated models must be
 * byte-identical on every run and every machine so that tests can pin
 * their hashes and benchmarks compare like with like. Mulberry32 is a
 * tiny 32-bit generator whose arithmetic (Math.imul, >>> 0) is exact in
 * JavaScript, so the sequence does not depend on the platform.
 */
export class Prng {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  /** The next value in [0, 1), with 32 bits of resolution. */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** A Float32Array of `count` values drawn uniformly from [-limit, limit). */
  uniform(count: number, limit: number): Float32Array {
    const out = new Float32Array(count);
    for (let k = 0; k < count; k++) out[k] = (this.next() * 2 - 1) * limit;
    return out;
  }

  /** An integer drawn uniformly from [0, bound). */
  int(bound: number): number {
    return Math.floor(this.next() * bound);
  }
}
