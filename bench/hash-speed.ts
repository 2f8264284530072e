/**
 * Speed of the response cache's key hash (native/hash.h) through its JS entry point
 * hashParts(), beside node:crypto's SHA-256 as a reference, and of cacheKey() on a typical
 * ctr_mlp request. One process, trials as data, each figure the median of 7 repeats with its
 * min–max spread. Not a test: the figures go to bench/hash-speed.md.
 *
 *   npx tsc -p . && node dist/bench/hash-speed.js
 */

import { createHash } from 'node:crypto';
import { cpus } from 'node:os';
import { cacheKey } from '../src/cache/cache-key.js';
import { native } from '../src/native.js';
import { Tensor } from '../src/tensor.js';
import { spread } from './stats.js';

interface Trial {
  name: string;
  bytes: number;
  run: (data: Uint8Array) => unknown;
}

const SIZES = [64, 256, 4096, 65536, 1 << 20, 64 << 20];
const TRIALS: Trial[] = SIZES.flatMap((bytes) => [
  { name: 'hashParts', bytes, run: (d: Uint8Array) => native.hashParts('ortex', d) },
  { name: 'sha256 (node:crypto)', bytes, run: (d: Uint8Array) => createHash('sha256').update(d).digest() },
]);

const REPEATS = 7;
const MIN_TIME_NS = 200e6;

function measure(t: Trial): { gbPerS: number; nsPerCall: number } {
  const data = new Uint8Array(t.bytes).map((_, i) => (i * 2654435761) >>> 24);
  let calls = 1;
  for (;;) {
    const start = process.hrtime.bigint();
    for (let i = 0; i < calls; i++) t.run(data);
    const ns = Number(process.hrtime.bigint() - start);
    if (ns >= MIN_TIME_NS) return { gbPerS: (t.bytes * calls) / ns, nsPerCall: ns / calls };
    calls *= 2;
  }
}

function fmt(s: { median: number; min: number; max: number }, digits: number): string {
  return `${s.median.toFixed(digits)} (${s.min.toFixed(digits)}–${s.max.toFixed(digits)})`;
}

console.log(`# ${new Date().toISOString()}, ${cpus()[0]?.model} x${cpus().length}, Node ${process.version}\n`);
console.log('| function | input bytes | GB/s | ns per call |');
console.log('|---|---|---|---|');
for (const t of TRIALS) {
  const runs = Array.from({ length: REPEATS }, () => measure(t));
  const gb = spread(runs.map((r) => r.gbPerS));
  const ns = spread(runs.map((r) => r.nsPerCall));
  console.log(`| ${t.name} | ${t.bytes} | ${fmt(gb, 2)} | ${fmt(ns, 0)} |`);
}

// A ctr_mlp request as the server keys it: one [1, 64] float32 input, one output asked for.
const x = new Tensor('float32', new Float32Array(64).map((_, i) => i / 64), [1, 64]);
const request = { model: 'ctr_mlp', version: 1, inputs: { x }, outputs: [{ name: 'y', binary: true }] };
const keyRuns: number[] = [];
for (let r = 0; r < REPEATS; r++) {
  const n = 200_000;
  const start = process.hrtime.bigint();
  for (let i = 0; i < n; i++) cacheKey(request);
  keyRuns.push(Number(process.hrtime.bigint() - start) / n);
}
console.log(`\ncacheKey() of a ctr_mlp request (1x64 float32, one output): ${fmt(spread(keyRuns), 0)} ns per call`);
