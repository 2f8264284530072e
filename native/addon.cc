// Module init and exports only.
#include <napi.h>

#include "addon_data.h"
#include "batch_model.h"
#include "common.h"
#include "hash.h"
#include "io_binding.h"
#include "run_options.h"
#include "session.h"

namespace {

Napi::Value AvailableProviders(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  char** names = nullptr;
  int n = 0;
  ORT_THROW_ON_ERROR(env, ortex::g_ort->GetAvailableProviders(&names, &n));
  Napi::Array out = Napi::Array::New(env, n);
  for (int i = 0; i < n; i++) out.Set(static_cast<uint32_t>(i), names[i]);
  OrtStatus* s = ortex::g_ort->ReleaseAvailableProviders(names, n);
  if (s) ortex::g_ort->ReleaseStatus(s);
  return out;
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  std::string err = ortex::InitOrt();
  if (!err.empty()) ORTEX_THROW(env, "ERR_ORT_INIT", "ONNX Runtime failed to initialise: " + err);
  env.SetInstanceData<ortex::AddonData>(new ortex::AddonData());
  exports.Set("Session", ortex::Session::Init(env));
  exports.Set("RunOptions", ortex::RunOptions::Init(env));
  exports.Set("IoBinding", ortex::IoBinding::Init(env));
  exports.Set("BatchModel", ortex::BatchModel::Init(env));
  exports.Set("hashParts", Napi::Function::New(env, ortex::JS_hashParts));
  exports.Set("availableProviders", Napi::Function::New(env, AvailableProviders));
  exports.Set("quiesceForExit", Napi::Function::New(env, [](const Napi::CallbackInfo& info) {
    if (info.Length() < 1 || !info[0].IsNumber()) throw Napi::TypeError::New(info.Env(), "Expected quiesceForExit(ms)");
    return Napi::Number::New(info.Env(), ortex::QuiesceForExit(info[0].As<Napi::Number>().Int32Value()));
  }));
  exports.Set("runsInOrt", Napi::Function::New(env, [](const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), ortex::RunsInOrt());
  }));
  exports.Set("ortVersion", Napi::String::New(env, OrtGetApiBase()->GetVersionString()));
  exports.Set("ortApiVersion", Napi::Number::New(env, ORT_API_VERSION));
  exports.Set("libraryDir", Napi::String::New(env, ortex::LibraryDir()));
  exports.Set("ortBuildInfo", Napi::String::New(env, ortex::g_ort->GetBuildInfoString()));
  return exports;
}

}  // namespace

NODE_API_MODULE(ortex, Init)
