// One-line guards for native entry points. TypeScript validates every argument
// first (src/validate.ts); these only re-check invariants so a misuse of the raw
// binding throws instead of crashing.
#pragma once

#include <napi.h>
#include <string>

#include "ort_env.h"

// Throws a JS TypeError carrying an ortex error code.
#define ORTEX_THROW_TYPE(env, code, msg)                                    \
  do {                                                                      \
    Napi::Error _e = Napi::TypeError::New((env), (msg));                    \
    _e.Set("code", Napi::String::New((env), (code)));                       \
    throw _e;                                                               \
  } while (0)

#define ORTEX_THROW(env, code, msg)                                         \
  do {                                                                      \
    Napi::Error _e = Napi::Error::New((env), (msg));                        \
    _e.Set("code", Napi::String::New((env), (code)));                       \
    throw _e;                                                               \
  } while (0)

#define REQUIRE_ARG(info, i, Is, what)                                      \
  if (info.Length() <= (i) || !info[i].Is())                                \
  ORTEX_THROW_TYPE(info.Env(), "ERR_INVALID_ARG",                           \
                   std::string("Expected ") + (what) + " for argument " +   \
                       std::to_string(i))

// Turns an OrtStatus into a thrown JS error on the JS thread. Never use on a worker thread.
#define ORT_THROW_ON_ERROR(env, expr)                                       \
  do {                                                                      \
    OrtStatus* _s = (expr);                                                 \
    if (_s) ortex::ThrowStatus((env), _s);                                  \
  } while (0)

namespace ortex {

// Throws (and releases) a non-null status as a JS Error with code ERR_ORT_<CODE>.
[[noreturn]] void ThrowStatus(Napi::Env env, OrtStatus* status);

// Builds the JS Error for a status recorded on a worker thread.
Napi::Error ErrorFromStatus(Napi::Env env, const Status& status);

}  // namespace ortex
