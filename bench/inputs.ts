/**
 * Builds a trial's input data from its ModelSpec, the same way for every JS runner. Values
 * come from a seeded PRNG so each process feeds the same numbers; the raw C loop follows
 * the same rules with its own generator (the models' cost does not depend on the values).
 */
import { Prng } from '../models/prng.js';
import type { InputSpec, ModelSpec } from './trials.js';

export interface InputData {
  readonly name: string;
  readonly type: InputSpec['type'];
  readonly data: Float32Array | BigInt64Array;
  readonly dims: number[];
}

export function makeInputs(model: ModelSpec, batch: number, seed = 42): InputData[] {
  const rng = new Prng(seed);
  const random = () => rng.next();
  return model.inputs.map((input) => {
    const dims = input.dims.map((d) => (d === 'N' ? batch : d === 'S' ? (model.seqLen ?? 1) : d));
    const count = dims.reduce((a, b) => a * b, 1);
    let data: Float32Array | BigInt64Array;
    if (input.type === 'float32') {
      data = new Float32Array(count);
      for (let i = 0; i < count; i++) data[i] = input.fill === 'ones' ? 1 : random() * 2 - 1;
    } else {
      data = new BigInt64Array(count);
      for (let i = 0; i < count; i++) data[i] = input.fill === 'ones' ? 1n : BigInt(Math.floor(random() * 1000));
    }
    return { name: input.name, type: input.type, data, dims };
  });
}
