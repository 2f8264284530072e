// RunOptions: ObjectWrap over OrtRunOptions, so a run can be tagged, logged and cancelled.
// terminate() may be called from the JS thread while a run is in flight on a worker:
// ORT reads the flag from its own threads (RunOptionsSetTerminate is thread-safe).
#pragma once

#include <napi.h>
#include <onnxruntime_c_api.h>

namespace ortex {

class RunOptions : public Napi::ObjectWrap<RunOptions> {
 public:
  static Napi::Function Init(Napi::Env env);
  explicit RunOptions(const Napi::CallbackInfo& info);
  ~RunOptions() override;
  OrtRunOptions* ort() const { return options_; }

  // The OrtRunOptions behind a JS value that is a RunOptions, or nullptr for null/undefined.
  static OrtRunOptions* From(Napi::Env env, Napi::Value v);

 private:
  Napi::Value JS_terminate(const Napi::CallbackInfo& info);
  Napi::Value JS_unsetTerminate(const Napi::CallbackInfo& info);
  OrtRunOptions* options_ = nullptr;
};

}  // namespace ortex
