#include "common.h"

namespace ortex {

void ThrowStatus(Napi::Env env, OrtStatus* status) {
  Status st = Status::FromOrt(status);
  Napi::Error e = Napi::Error::New(env, st.message);
  e.Set("code", Napi::String::New(env, st.code));
  throw e;
}

void TagObject(Napi::Env env, Napi::Object obj, const napi_type_tag& tag) {
  napi_type_tag_object(env, obj, &tag);
}

Napi::Error ErrorFromStatus(Napi::Env env, const Status& status) {
  Napi::Error e = Napi::Error::New(env, status.message);
  e.Set("code", Napi::String::New(env, status.code));
  return e;
}

}  // namespace ortex
