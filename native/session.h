// Session: ObjectWrap over one OrtSession.
//
// Threads: load() and run() do their ORT work on libuv's thread pool and settle their
// promise on the JS thread; runSync() runs on the calling JS thread. OrtSession::Run is
// thread-safe, so any number of runs may be in flight at once. release() refuses while
// runs are in flight (ERR_SESSION_BUSY) rather than pulling the session out from under
// them; the in-flight count is only touched on the JS thread.
#pragma once

#include <napi.h>
#include <onnxruntime_c_api.h>

#include <memory>
#include <string>
#include <vector>

#include "ort_env.h"
#include "value_convert.h"
#include "value_info.h"
#include "session_options.h"
#include "sync_reuse.h"

namespace ortex {

class RunJob;

// A model given as a path or as bytes (copied: the caller's buffer could be detached while
// loading). From() throws ERR_INVALID_ARG for anything else; Create() is worker-thread safe.
struct ModelSource {
  std::string path;
  std::vector<char> bytes;
  static ModelSource From(Napi::Env env, Napi::Value v);
  OrtStatus* Create(const OrtSessionOptions* options, OrtSession** out) const;
};

// { inputs, outputs, executionProviders, warnings, providerAttempts }: what load() resolves with.
Napi::Object LoadInfoToJs(Napi::Env env, const std::vector<ValueInfo>& inputs, const std::vector<ValueInfo>& outputs,
                          const AppliedOptions& applied);

class Session : public Napi::ObjectWrap<Session> {
 public:
  static Napi::Function Init(Napi::Env env);
  explicit Session(const Napi::CallbackInfo& info);
  ~Session() override;

  OrtSession* ort() const { return session_; }
  bool uses_cuda() const { return uses_cuda_; }
  const std::vector<const char*>& input_names() const { return input_name_ptrs_; }
  const std::vector<const char*>& output_names() const { return output_name_ptrs_; }
  // Throws ERR_SESSION_RELEASED / ERR_SESSION_NOT_LOADED.
  void CheckUsable(Napi::Env env) const;
  double* scratch() const { return scratch_.data; }
  size_t scratch_len() const { return scratch_.len; }
  // The result slot a runT() asked for in the scratch's last element (see slots_), or -1.
  int RequestedSlot() const;
  // Slot `i`'s meta and byte buffer, as a Scratch of its own (no references held).
  void SlotView(int i, Scratch* view) const;
  void BeginRun() { inflight_++; }
  void EndRun() { inflight_--; }

 private:
  friend class LoadWorker;

  Napi::Value JS_load(const Napi::CallbackInfo& info);
  Napi::Value JS_runSync(const Napi::CallbackInfo& info);
  Napi::Value JS_run(const Napi::CallbackInfo& info);
  Napi::Value JS_runSyncT(const Napi::CallbackInfo& info);
  Napi::Value JS_bindRunSync(const Napi::CallbackInfo& info);
  static Napi::Value RunSyncBound(const Napi::CallbackInfo& info);
  Napi::Value RunSyncFast(const Napi::CallbackInfo& info);
  Napi::Value JS_runT(const Napi::CallbackInfo& info);
  Napi::Value JS_setScratch(const Napi::CallbackInfo& info);
  Napi::Value JS_setSlots(const Napi::CallbackInfo& info);
  Napi::Value JS_release(const Napi::CallbackInfo& info);
  Napi::Value JS_endProfiling(const Napi::CallbackInfo& info);
  Napi::Value JS_inflight(const Napi::CallbackInfo& info);

  Napi::Promise Submit(Napi::Env env, std::unique_ptr<RunJob> job);
  void Adopt(OrtSession* session, std::vector<ValueInfo> inputs, std::vector<ValueInfo> outputs);

  OrtSession* session_ = nullptr;
  bool loading_ = false;
  bool released_ = false;
  bool uses_cuda_ = false;
  int inflight_ = 0;
  // Shared with JS for the fast calling convention (runSyncT/runT); only the JS thread
  // touches it, and only within one call.
  Scratch scratch_;
  // Result slots of runT(): `slot_count_` equal parts of one Float64Array (descriptors) and
  // of one byte buffer (small outputs), which JS hands to one run in flight at a time and
  // reads when that run's promise settles. A completion writes its results there instead of
  // making a meta array and an ArrayBuffer per output (~11k instructions per run). JS thread
  // only.
  Scratch slots_;
  size_t slot_count_ = 0;
  // OrtValues one runSyncT() call leaves for the next of the same shape (sync_reuse.h).
  SyncReuse sync_reuse_;
  std::vector<ValueInfo> inputs_, outputs_;
  std::vector<const char*> input_name_ptrs_, output_name_ptrs_;
};

}  // namespace ortex
