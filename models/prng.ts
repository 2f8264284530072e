/** Seeded numbers for the weights; the generator lives with the tools that also use it. */
import { Prng } from '../src/toolkit/prng.js';

export { Prng };

/**
 * Glorot/Xavier uniform limit. Weights drawn within it keep activations
 * near unit scale through deep stacks, so outputs stay finite and
 * sigmoid/softmax heads do not saturate to constants.
 */
export function glorotLimit(fanIn: number, fanOut: number): number {
  return Math.sqrt(6 / (fanIn + fanOut));
}

/**
 * A stable 32-bit seed for a named tensor (FNV-1a over its name), so each
 * weight has its own stream and adding a layer does not reshuffle the
 * weights of every layer after it.
 */
export function seedFor(name: string): number {
  let h = 0x811c9dc5;
  for (let k = 0; k < name.length; k++) {
    h ^= name.charCodeAt(k);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}
