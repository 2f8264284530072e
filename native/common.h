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

// Type tags (Node-API 8) on every wrapped object, so a JS value of another class handed to a
// native entry point is refused instead of being unwrapped as the wrong C++ type.
constexpr napi_type_tag kSessionTag = {0x6f7274657853ULL, 0x657373696f6e0001ULL};
constexpr napi_type_tag kRunOptionsTag = {0x6f7274657852ULL, 0x756e4f7074730001ULL};

void TagObject(Napi::Env env, Napi::Object obj, const napi_type_tag& tag);
// Unwraps `v` as T if it carries `tag`; throws ERR_INVALID_ARG naming `what` otherwise.
template <typename T>
T* UnwrapTagged(Napi::Env env, Napi::Value v, const napi_type_tag& tag, const char* what) {
  bool ok = false;
  if (v.IsObject()) napi_check_object_type_tag(env, v, &tag, &ok);
  if (!ok) {
    Napi::Error e = Napi::TypeError::New(env, std::string("Expected ") + what);
    e.Set("code", Napi::String::New(env, "ERR_INVALID_ARG"));
    throw e;
  }
  return Napi::ObjectWrap<T>::Unwrap(v.As<Napi::Object>());
}

// Throws (and releases) a non-null status as a JS Error with code ERR_ORT_<CODE>.
[[noreturn]] void ThrowStatus(Napi::Env env, OrtStatus* status);

// Builds the JS Error for a status recorded on a worker thread.
Napi::Error ErrorFromStatus(Napi::Env env, const Status& status);

}  // namespace ortex
