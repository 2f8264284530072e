#include "common.h"

namespace ortex {

void ThrowStatus(Napi::Env env, OrtStatus* status) {
  Status st = Status::FromOrt(status);
  Napi::Error e = Napi::Error::New(env, st.message);
  e.Set("code", Napi::String::New(env, st.code));
  throw e;
}

Napi::Error ErrorFromStatus(Napi::Env env, const Status& status) {
  Napi::Error e = Napi::Error::New(env, status.message);
  e.Set("code", Napi::String::New(env, status.code));
  return e;
}

}  // namespace ortex
