#include "run_options.h"

#include "common.h"

namespace ortex {

namespace {
}

Napi::Function RunOptions::Init(Napi::Env env) {
  return DefineClass(env, "RunOptions",
                     {InstanceMethod<&RunOptions::JS_terminate>("terminate"),
                      InstanceMethod<&RunOptions::JS_unsetTerminate>("unsetTerminate")});
}

RunOptions::RunOptions(const Napi::CallbackInfo& info) : Napi::ObjectWrap<RunOptions>(info) {
  Napi::Env env = info.Env();
  TagObject(env, info.This().As<Napi::Object>(), kRunOptionsTag);
  ORT_THROW_ON_ERROR(env, g_ort->CreateRunOptions(&options_));
  if (info.Length() < 1 || !info[0].IsObject()) return;
  Napi::Object o = info[0].As<Napi::Object>();
  Napi::Value tag = o.Get("tag");
  if (tag.IsString()) ORT_THROW_ON_ERROR(env, g_ort->RunOptionsSetRunTag(options_, tag.As<Napi::String>().Utf8Value().c_str()));
  Napi::Value sev = o.Get("logSeverityLevel");
  if (sev.IsNumber()) ORT_THROW_ON_ERROR(env, g_ort->RunOptionsSetRunLogSeverityLevel(options_, sev.As<Napi::Number>().Int32Value()));
  Napi::Value verb = o.Get("logVerbosityLevel");
  if (verb.IsNumber()) ORT_THROW_ON_ERROR(env, g_ort->RunOptionsSetRunLogVerbosityLevel(options_, verb.As<Napi::Number>().Int32Value()));
  Napi::Value entries = o.Get("configEntries");
  if (entries.IsArray()) {
    auto arr = entries.As<Napi::Array>();
    for (uint32_t i = 0; i < arr.Length(); i++) {
      auto kv = arr.Get(i).As<Napi::Array>();
      ORT_THROW_ON_ERROR(env, g_ort->AddRunConfigEntry(options_, kv.Get(0u).ToString().Utf8Value().c_str(),
                                                       kv.Get(1u).ToString().Utf8Value().c_str()));
    }
  }
}

RunOptions::~RunOptions() {
  if (options_) g_ort->ReleaseRunOptions(options_);
}

OrtRunOptions* RunOptions::From(Napi::Env env, Napi::Value v) {
  if (v.IsNull() || v.IsUndefined()) return nullptr;
  return UnwrapTagged<RunOptions>(env, v, kRunOptionsTag, "a RunOptions object")->ort();
}

Napi::Value RunOptions::JS_terminate(const Napi::CallbackInfo& info) {
  ORT_THROW_ON_ERROR(info.Env(), g_ort->RunOptionsSetTerminate(options_));
  return info.Env().Undefined();
}

Napi::Value RunOptions::JS_unsetTerminate(const Napi::CallbackInfo& info) {
  ORT_THROW_ON_ERROR(info.Env(), g_ort->RunOptionsUnsetTerminate(options_));
  return info.Env().Undefined();
}

}  // namespace ortex
