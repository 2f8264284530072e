// A fast 64-bit hash for response-cache keys (src/cache/cache-key.ts). Not cryptographic.
//
// Design: four independent lanes each take 8 bytes per step, so a 32-byte block costs four
// multiplies that the CPU runs in parallel. A lane step is acc = rotl((acc ^ word) * K_lane, 29):
// for a fixed word it is a bijection of acc (an odd multiplier and a rotation are both
// invertible), so two inputs of equal length that differ in one lane's words always leave that
// lane in different states — no state is lost on the way, only in the final 256 -> 64 bit merge.
// The merge folds each lane into the result with a 64x64->128-bit multiply (low half xor high
// half), which spreads a change of any bit over the whole word, and a xorshift-multiply
// finaliser (bijective) makes every output bit depend on every input bit.
//
// Properties, measured by test/hash.test.ts and bench/hash-speed.ts rather than proved:
//   - no collisions among 1e5 random inputs (expected for any good 64-bit hash: ~2.7e-10);
//   - flipping one input bit flips ~32 of the 64 output bits on average (avalanche);
//   - bulk speed of several GB/s per core (see bench/hash-speed.ts).
// Not claimed: resistance to an adversary. Someone who knows the seed can construct inputs
// that collide (e.g. a word equal to the lane state zeroes the product). For a cache this
// means an attacker who can choose requests could, with effort, make two of them share an
// entry; deployments that care set a secret seed (createResponseCache's keySeed).
//
// The hash is defined over bytes with little-endian word loads on every host, so replicas
// sharing a Redis cache agree on keys whatever their CPU.
//
// Thread safety: Hash64 is a pure function. JS_hashParts runs on the JS thread only.
#pragma once

#include <napi.h>

#include <cstddef>
#include <cstdint>

namespace ortex {

// The hash of `bytes` bytes at `data` (may be null when bytes is 0) under `seed`.
uint64_t Hash64(const void* data, size_t bytes, uint64_t seed);

// JS: hashParts(seed: string, ...parts) -> bigint (unsigned 64-bit).
// Each part is a string (hashed as UTF-8), a TypedArray / DataView / ArrayBuffer (its bytes,
// read in place: nothing is copied), or an array of such parts (e.g. a string tensor's data).
// Parts are chained: the hash so far seeds the next part's hash, and each part's length and
// kind go in too, so ("ab", "c") and ("a", "bc") differ.
Napi::Value JS_hashParts(const Napi::CallbackInfo& info);

}  // namespace ortex
