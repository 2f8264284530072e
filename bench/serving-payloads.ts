/**
 * The request bodies of a serving trial, and the file bench/serving-wrk.lua reads them from.
 * Bodies are encoded by ortex's own client encoder (encodeInferRequest), batch 1, with values
 * from bench/inputs.ts, so every server receives the same bytes.
 *
 * File layout (text lines, each body raw after its line):
 *
 *   path <url path>
 *   bodies <count>
 *   <header length, 0 for all-JSON> <body length>\n<body bytes>      (count times)
 *   order <n> <i1> ... <in>                                         (0-based body indices, cycled)
 *   cold <share> <first> <span> <prefix length> <suffix length>\n<prefix><suffix>  (optional)
 *   zipf <n> <id1> ... <idn>                                        (optional, with a cold section)
 *
 * With a `cold` section, a request is "cold" with probability <share>: the JSON body
 * prefix .. value .. suffix, with value = first + (offset + counter) % span (offset from the
 * SERVING_COLD_OFFSET environment variable), an input no earlier request carried; otherwise
 * the next of `order`. With a `zipf` section, every request is the cold template with
 * value = first + id, ids taken in turn from the list (from the offset on): the same id, the
 * same bytes.
 */
import { writeFileSync } from 'node:fs';
import { encodeInferRequest } from '../src/server/oip-codec.js';
import type { OipTensorOut } from '../src/server/oip-types.js';
import { makeInputs } from './inputs.js';
import { Prng } from '../models/prng.js';
import type { InputSpec, ModelSpec } from './trials.js';
import type { Protocol, ZipfWorkload } from './serving-trials.js';

export interface EncodedBody {
  body: Buffer;
  /** The Inference-Header-Content-Length; undefined for an all-JSON body. */
  headerLength?: number;
}

const DATATYPE = { float32: 'FP32', int64: 'INT64' } as const;

/** `count` distinct batch-1 requests for `model`. */
export function requestBodies(model: ModelSpec, protocol: Protocol, count: number): EncodedBody[] {
  const inputs = makeInputs(model, count);
  const bodies: EncodedBody[] = [];
  for (let i = 0; i < count; i++) {
    const tensors: OipTensorOut[] = inputs.map((input) => {
      const row = input.data.length / count;
      return {
        name: input.name,
        datatype: DATATYPE[input.type],
        shape: [1, ...input.dims.slice(1)],
        data: input.data.slice(i * row, (i + 1) * row),
        binary: protocol === 'binary',
      };
    });
    const encoded = encodeInferRequest(protocol === 'binary' ? { inputs: tensors, binaryOutputs: true } : { inputs: tensors });
    const body = Buffer.from(typeof encoded.body === 'string' ? encoded.body : encoded.body);
    bodies.push(encoded.headerLength === undefined ? { body } : { body, headerLength: encoded.headerLength });
  }
  return bodies;
}

/**
 * Splits an all-JSON body around the first value of its first input's data, for cold
 * requests: prefix + any number + suffix is a valid request with a new input.
 */
export function coldTemplate(json: Buffer): { prefix: Buffer; suffix: Buffer } {
  const text = json.toString('utf8');
  const open = text.indexOf('"data":[');
  const end = open < 0 ? -1 : text.slice(open + 8).search(/[,\]]/);
  if (open < 0 || end < 0) throw new TypeError(`Expected an all-JSON request with "data":[...] but received ${text.slice(0, 80)}...`);
  return { prefix: Buffer.from(text.slice(0, open + 8)), suffix: Buffer.from(text.slice(open + 8 + end)) };
}

export interface RequestPlan {
  path: string;
  bodies: EncodedBody[];
  /** Body indices in the order sent, cycled. */
  order: number[];
  cold?: { share: number; first: number; span: number; prefix: Buffer; suffix: Buffer };
  /** Item ids in the order sent (with `cold` as the template, its share 0). */
  zipf?: Uint32Array;
}

/** Ids in a Zipf list: enough that neither the warm-up nor a timed run at 100,000 req/s wraps around its half. */
export const ZIPF_DRAWS = 1 << 20;

/**
 * `count` item ids in [0, items), id r - 1 with probability ∝ 1 / r^exponent (id 0 the most
 * popular), from a seeded generator: every run sends the same sequence.
 */
export function zipfIds(items: number, exponent: number, count: number, seed = 11): Uint32Array {
  const cdf = new Float64Array(items);
  let total = 0;
  for (let r = 1; r <= items; r++) cdf[r - 1] = total += r ** -exponent;
  const rng = new Prng(seed);
  const ids = new Uint32Array(count);
  for (let k = 0; k < count; k++) {
    const u = rng.next() * total;
    let lo = 0;
    let hi = items - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (cdf[mid]! < u) lo = mid + 1;
      else hi = mid;
    }
    ids[k] = lo;
  }
  return ids;
}

/**
 * Values for the first element of a cold request, by the fill of the model's first input:
 * outside what bench/inputs.ts draws ([-1, 1) and [0, 1000)), so never in the pool; floats
 * stay integers exact in float32; token ids stay under bert_mini's vocabulary of 30522.
 */
const COLD_VALUES: Record<InputSpec['fill'], { first: number; span: number } | undefined> = {
  uniform: { first: 1000, span: 2 ** 24 - 1000 },
  ids: { first: 1000, span: 29_000 },
  ones: undefined,
};

/**
 * The plan of a trial. Without repeats, bodies are sent round robin. With `repeatShare`, the
 * repeated requests draw uniformly from the pool and the rest are cold.
 */
export function requestPlan(model: ModelSpec, protocol: Protocol, poolSize: number, repeatShare?: number, zipf?: ZipfWorkload): RequestPlan {
  const path = `/v2/models/${encodeURIComponent(model.name)}/infer`;
  const bodies = requestBodies(model, protocol, poolSize);
  if (repeatShare === undefined && zipf === undefined) return { path, bodies, order: bodies.map((_, i) => i) };
  if (protocol !== 'json') throw new RangeError(`Expected the 'json' protocol for repeated inputs but received '${protocol}'`);
  const values = COLD_VALUES[model.inputs[0]!.fill];
  if (!values) throw new RangeError(`Expected a first input of ${model.name} that can carry new values but received one of fill '${model.inputs[0]!.fill}'`);
  const template = coldTemplate(bodies[0]!.body);
  if (zipf !== undefined) {
    const ids = zipfIds(Math.min(zipf.items, values.span), zipf.exponent, ZIPF_DRAWS);
    return { path, bodies, order: [0], cold: { share: 0, ...values, ...template }, zipf: ids };
  }
  const rng = new Prng(7);
  const order = Array.from({ length: 4096 }, () => Math.floor(rng.next() * poolSize));
  return { path, bodies, order, cold: { share: Number((1 - repeatShare!).toFixed(6)), ...values, ...template } };
}

export function writeRequestFile(file: string, plan: RequestPlan): void {
  const parts: Buffer[] = [Buffer.from(`path ${plan.path}\nbodies ${plan.bodies.length}\n`)];
  for (const b of plan.bodies) parts.push(Buffer.from(`${b.headerLength ?? 0} ${b.body.length}\n`), b.body);
  parts.push(Buffer.from(`order ${plan.order.length} ${plan.order.join(' ')}\n`));
  if (plan.cold) {
    const { share, first, span, prefix, suffix } = plan.cold;
    parts.push(Buffer.from(`cold ${share} ${first} ${span} ${prefix.length} ${suffix.length}\n`), prefix, suffix);
  }
  if (plan.zipf) parts.push(Buffer.from(`zipf ${plan.zipf.length} ${plan.zipf.join(' ')}\n`));
  writeFileSync(file, Buffer.concat(parts));
}
