#include "hash.h"

#include <cstring>
#include <string>

#include "common.h"
#include "value_convert.h"

namespace ortex {

namespace {

// Odd constants with about half their bits set: the fractional parts of the square roots of
// the first six primes (nothing-up-my-sleeve numbers).
constexpr uint64_t kK0 = 0x6a09e667f3bcc909ULL;
constexpr uint64_t kK1 = 0xbb67ae8584caa73bULL;
constexpr uint64_t kK2 = 0x3c6ef372fe94f82bULL;
constexpr uint64_t kK3 = 0xa54ff53a5f1d36f1ULL;
constexpr uint64_t kK4 = 0x510e527fade682d1ULL;
constexpr uint64_t kK5 = 0x9b05688c2b3e6c1fULL;

inline uint64_t Rotl(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }

inline uint64_t Load64(const unsigned char* p) {
  uint64_t v;
  std::memcpy(&v, p, sizeof v);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
  v = __builtin_bswap64(v);
#endif
  return v;
}

// The last 1..7 bytes as a little-endian word, zero-extended (the length is hashed separately).
inline uint64_t LoadTail(const unsigned char* p, size_t n) {
  uint64_t v = 0;
  for (size_t i = 0; i < n; i++) v |= static_cast<uint64_t>(p[i]) << (8 * i);
  return v;
}

// A lane step: a bijection of `acc` for a fixed word (see hash.h).
inline uint64_t Step(uint64_t acc, uint64_t word, uint64_t k) { return Rotl((acc ^ word) * k, 29); }

// The 128-bit product folded to 64 bits: every bit of a reaches most bits of the result.
inline uint64_t Fold(uint64_t a, uint64_t b) {
  const unsigned __int128 p = static_cast<unsigned __int128>(a) * b;
  return static_cast<uint64_t>(p) ^ static_cast<uint64_t>(p >> 64);
}

inline uint64_t Finalize(uint64_t x) {
  x ^= x >> 32;
  x *= kK5;
  x ^= x >> 29;
  x *= kK0;
  x ^= x >> 32;
  return x;
}

// Distinct seeds for the kinds of part, so a string and a buffer of the same bytes differ.
constexpr uint64_t kTagString = 0x5354520000000001ULL;
constexpr uint64_t kTagBytes = 0x4259540000000002ULL;
constexpr uint64_t kTagArray = 0x4152520000000003ULL;
constexpr int kMaxDepth = 4;

uint64_t HashString(Napi::Env env, napi_value v, uint64_t seed) {
  // Most key strings (names, the request's shape header) fit on the stack: one copy, no malloc.
  char stack[512];
  size_t len = 0;
  if (napi_get_value_string_utf8(env, v, stack, sizeof stack, &len) != napi_ok)
    ORTEX_THROW_TYPE(env, "ERR_INVALID_ARG", "hashParts: could not read a string part");
  // A string cut short by the buffer fills it to within a UTF-8 sequence (3 bytes) of the end.
  if (len + 4 < sizeof stack) return Hash64(stack, len, seed ^ kTagString);
  if (napi_get_value_string_utf8(env, v, nullptr, 0, &len) != napi_ok)
    ORTEX_THROW_TYPE(env, "ERR_INVALID_ARG", "hashParts: could not read a string part");
  std::string s(len, '\0');
  napi_get_value_string_utf8(env, v, s.data(), len + 1, &len);
  return Hash64(s.data(), len, seed ^ kTagString);
}

uint64_t HashPart(Napi::Env env, Napi::Value v, uint64_t h, int depth) {
  if (v.IsString()) return HashString(env, v, h);
  if (v.IsTypedArray() || v.IsArrayBuffer() || v.IsDataView()) {
    ByteView bytes = ReadBytes(env, v);
    return Hash64(bytes.data, bytes.bytes, h ^ kTagBytes);
  }
  if (v.IsArray() && depth < kMaxDepth) {
    auto arr = v.As<Napi::Array>();
    const uint32_t n = arr.Length();
    for (uint32_t i = 0; i < n; i++) h = HashPart(env, arr.Get(i), h, depth + 1);
    const uint64_t count = n;
    return Hash64(&count, sizeof count, h ^ kTagArray);
  }
  ORTEX_THROW_TYPE(env, "ERR_INVALID_ARG",
                   "hashParts: expected a string, TypedArray, DataView, ArrayBuffer or array of those for each part");
}

}  // namespace

uint64_t Hash64(const void* data, size_t bytes, uint64_t seed) {
  const auto* p = static_cast<const unsigned char*>(data);
  uint64_t v0 = seed ^ kK0, v1 = seed ^ kK1, v2 = seed ^ kK2, v3 = seed ^ kK3;
  size_t n = bytes;
  while (n >= 32) {
    v0 = Step(v0, Load64(p), kK1);
    v1 = Step(v1, Load64(p + 8), kK2);
    v2 = Step(v2, Load64(p + 16), kK3);
    v3 = Step(v3, Load64(p + 24), kK4);
    p += 32;
    n -= 32;
  }
  // 0..31 bytes left: whole words to lanes 0, 1, 2 in turn, then the partial word.
  if (n >= 8) { v0 = Step(v0, Load64(p), kK1); p += 8; n -= 8; }
  if (n >= 8) { v1 = Step(v1, Load64(p), kK2); p += 8; n -= 8; }
  if (n >= 8) { v2 = Step(v2, Load64(p), kK3); p += 8; n -= 8; }
  if (n > 0) v3 = Step(v3, LoadTail(p, n), kK4);
  uint64_t h = seed ^ (static_cast<uint64_t>(bytes) * kK5);
  h = Fold(h ^ v0, kK1);
  h = Fold(h ^ v1, kK2);
  h = Fold(h ^ v2, kK3);
  h = Fold(h ^ v3, kK4);
  return Finalize(h);
}

Napi::Value JS_hashParts(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  REQUIRE_ARG(info, 0, IsString, "a seed string");
  uint64_t h = HashString(env, info[0], 0);
  for (size_t i = 1; i < info.Length(); i++) h = HashPart(env, info[i], h, 0);
  return Napi::BigInt::New(env, h);
}

}  // namespace ortex
