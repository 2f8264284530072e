/**
 * Runs a reference model and a candidate on the same feeds and measures how far apart their
 * outputs are (per output, see OutputMetrics), and how long each takes.
 */
import { OrtexError } from '../errors.js';
import type { InferenceSession } from '../inference-session.js';
import { float16BitsToNumber } from '../server/float-bits.js';
import type { Tensor } from '../tensor.js';
import { mean, percentile } from './latency-stats.js';
import { OutputMetrics, type OutputComparison } from './output-metrics.js';
import type { Feeds } from './sample-feeds.js';

/** The outputs both sessions have, by name; anything else cannot be compared. */
export function sharedOutputs(ref: InferenceSession, other: InferenceSession): string[] {
  const names = ref.outputNames.filter((n) => other.outputNames.includes(n));
  if (names.length === 0) {
    throw new OrtexError('ERR_COMPARE_MISMATCH', `The models share no output name: ${ref.outputNames.join(', ')} vs ${other.outputNames.join(', ')}`);
  }
  return names;
}

/** Checks the two models take the same inputs, so the same feeds fit both. */
export function checkSameInputs(ref: InferenceSession, other: InferenceSession): void {
  const a = [...ref.inputNames].sort().join(', ');
  const b = [...other.inputNames].sort().join(', ');
  if (a !== b) throw new OrtexError('ERR_COMPARE_MISMATCH', `The models take different inputs: ${a} vs ${b}`);
}

/** Element values as numbers, whatever the tensor type (float16 bits decoded, int64 narrowed). */
function numbers(t: Tensor): ArrayLike<number> {
  const data = t.data as ArrayLike<number | bigint>;
  if (t.type === 'float16') return Array.from(data as Uint16Array, float16BitsToNumber);
  if (typeof data[0] === 'bigint') return Array.from(data as ArrayLike<bigint>, Number);
  if (t.type === 'string') throw new OrtexError('ERR_COMPARE_MISMATCH', 'String outputs cannot be compared numerically');
  return data as ArrayLike<number>;
}

export function compareOutputs(ref: InferenceSession, other: InferenceSession, batches: Iterable<Feeds>): OutputComparison[] {
  const names = sharedOutputs(ref, other);
  const metrics = names.map((n) => new OutputMetrics(n));
  for (const feeds of batches) {
    const a = ref.runSync(feeds);
    const b = other.runSync(feeds);
    names.forEach((name, i) => {
      const x = a[name] as Tensor;
      const y = b[name] as Tensor;
      if (x.size !== y.size) {
        throw new OrtexError('ERR_COMPARE_MISMATCH', `Output '${name}' has ${x.size} elements in one model and ${y.size} in the other`);
      }
      metrics[i]!.add(numbers(x), numbers(y), Number(x.dims[x.dims.length - 1] ?? 1));
    });
  }
  return metrics.map((m) => m.result());
}

export interface LatencySummary {
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly meanMs: number;
  readonly runs: number;
}

/**
 * Latency of each session on the same feeds, measured in alternating blocks (a x20, b x20,
 * a x20, ...) so that machine noise lands on both alike. Blocks rather than single runs: ONNX
 * Runtime's intra-op threads spin for a while after a run, and a session's spinning threads
 * would steal the cores from the other session's next run. Each session is warmed up first.
 */
export function interleavedLatency(sessions: readonly InferenceSession[], feeds: Feeds, runs: number, warmup: number): LatencySummary[] {
  const block = Math.min(LATENCY_BLOCK, runs);
  const times = sessions.map(() => new Float64Array(runs));
  for (let done = 0; done < runs; done += block) {
    sessions.forEach((s, k) => {
      for (let i = 0; i < (done === 0 ? warmup : 2); i++) s.runSync(feeds); // let this session's threads take the cores back
      for (let i = done; i < Math.min(runs, done + block); i++) {
        const t0 = performance.now();
        s.runSync(feeds);
        times[k]![i] = performance.now() - t0;
      }
    });
  }
  return times.map((t) => {
    const sorted = t.sort();
    return { p50Ms: percentile(sorted, 0.5), p99Ms: percentile(sorted, 0.99), meanMs: mean(sorted), runs };
  });
}

/** Timed runs per block of the latency measurement. */
const LATENCY_BLOCK = 20;
