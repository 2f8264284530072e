// IoBinding: ObjectWrap over OrtIoBinding. Inputs and preallocated outputs are bound once
// and the model is run many times with no per-run allocation: bound tensors wrap the JS
// buffers directly (the binding keeps a reference so they outlive it), and allocate()
// hands out buffers from ORT's CudaPinned allocator when the session runs on CUDA (so
// host<->device copies are asynchronous) or from the CPU allocator otherwise.
//
// A bound buffer is shared with the running model: writing it while an async run is in
// flight is the caller's race, by design, as with any zero-copy binding. So is detaching it
// or shrinking its resizable ArrayBuffer during such a run; before each run, though, a
// buffer that no longer holds the bytes bound is refused (V8 unmaps the pages a resizable
// buffer gives up, so ORT would fault on them).
#pragma once

#include <napi.h>
#include <onnxruntime_c_api.h>

#include <string>
#include <vector>

#include "value_convert.h"

namespace ortex {

class Session;

class IoBinding : public Napi::ObjectWrap<IoBinding> {
 public:
  static Napi::Function Init(Napi::Env env);
  explicit IoBinding(const Napi::CallbackInfo& info);
  ~IoBinding() override;

  OrtIoBinding* ort() const { return binding_; }
  Session* session() const { return session_; }
  // ORT-allocated outputs of the last run, by name (preallocated ones are left out). Re-binds
  // those outputs so the next run allocates afresh instead of overwriting what JS now holds.
  Napi::Value BoundOutputs(Napi::Env env);
  void EndRun() { inflight_--; }

 private:
  // One bound slot: the OrtValue ORT reads or writes and the JS buffer behind it.
  struct Slot {
    ValuePtr value;
    Napi::Reference<Napi::Value> keep_alive;
    bool preallocated = false;  // outputs: bound to a caller's tensor
    // The caller's bytes the OrtValue wraps (none for strings, which are copied): checked
    // again before each run, since the buffer may have been detached or resized since.
    const char* data = nullptr;
    size_t bytes = 0;
  };

  Napi::Value JS_bindInput(const Napi::CallbackInfo& info);
  Napi::Value JS_bindOutput(const Napi::CallbackInfo& info);
  Napi::Value JS_allocate(const Napi::CallbackInfo& info);
  Napi::Value JS_runSync(const Napi::CallbackInfo& info);
  Napi::Value JS_run(const Napi::CallbackInfo& info);
  Napi::Value JS_clear(const Napi::CallbackInfo& info);
  Napi::Value JS_hostMemory(const Napi::CallbackInfo& info);

  // ERR_BINDING_BUSY while a run() over this binding is in flight: ORT reads and writes the
  // binding's slots from the worker thread meanwhile.
  void CheckIdle(Napi::Env env) const;
  // ERR_INPUT_DETACHED when a bound buffer no longer holds the bytes ORT would touch.
  void CheckAttached(Napi::Env env) const;
  // Binds the JS side of a slot: keeps the data alive and notes the bytes it borrows.
  static void Hold(Napi::Env env, Slot& slot, Napi::Value encoded);
  OrtAllocator* HostAllocator();
  BorrowedRanges InputRanges() const;

  Session* session_ = nullptr;
  Napi::ObjectReference session_ref_;
  OrtIoBinding* binding_ = nullptr;
  // CudaPinned allocator when the session runs on CUDA. Never released: tensors from
  // allocate() are freed through it by GC finalizers that may run after this binding is gone.
  OrtAllocator* pinned_ = nullptr;
  bool pinned_tried_ = false;
  int inflight_ = 0;
  std::vector<Slot> inputs_, outputs_;  // by input / output index
};
}  // namespace ortex
