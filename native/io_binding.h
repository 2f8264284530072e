// IoBinding: ObjectWrap over OrtIoBinding. Inputs and preallocated outputs are bound once
// and the model is run many times with no per-run allocation: bound tensors wrap the JS
// buffers directly (the binding keeps a reference so they outlive it), and allocate()
// hands out buffers from ORT's CudaPinned allocator when the session runs on CUDA (so
// host<->device copies are asynchronous) or from the CPU allocator otherwise.
//
// A bound buffer is shared with the running model: writing it while an async run is in
// flight is the caller's race, by design, as with any zero-copy binding.
#pragma once

#include <napi.h>
#include <onnxruntime_c_api.h>

#include <string>
#include <vector>

namespace ortex {

class Session;

class IoBinding : public Napi::ObjectWrap<IoBinding> {
 public:
  static Napi::Function Init(Napi::Env env);
  explicit IoBinding(const Napi::CallbackInfo& info);
  ~IoBinding() override;

  OrtIoBinding* ort() const { return binding_; }
  Session* session() const { return session_; }
  // ORT-allocated outputs of the last run, by name (preallocated ones are left out).
  Napi::Value BoundOutputs(Napi::Env env);

 private:
  Napi::Value JS_bindInput(const Napi::CallbackInfo& info);
  Napi::Value JS_bindOutput(const Napi::CallbackInfo& info);
  Napi::Value JS_allocate(const Napi::CallbackInfo& info);
  Napi::Value JS_runSync(const Napi::CallbackInfo& info);
  Napi::Value JS_run(const Napi::CallbackInfo& info);
  Napi::Value JS_clear(const Napi::CallbackInfo& info);
  Napi::Value JS_hostMemory(const Napi::CallbackInfo& info);

  OrtAllocator* HostAllocator(Napi::Env env);

  Session* session_ = nullptr;
  Napi::ObjectReference session_ref_;
  OrtIoBinding* binding_ = nullptr;
  OrtAllocator* pinned_ = nullptr;     // CudaPinned allocator when available; owned by us
  bool pinned_tried_ = false;
  std::vector<Napi::Reference<Napi::Value>> keep_alive_;  // JS buffers behind bound tensors
  std::vector<OrtValue*> bound_values_;                   // bound OrtValues we own
  std::vector<bool> output_preallocated_;                 // by output index
};

}  // namespace ortex
