// BatchModel: the JS face of a Batcher (batcher.h), one object per JS env that uses it.
//
// The env that loads the model owns the batcher; share() puts it in a process-wide registry
// so that a worker_thread can attach() to the same batcher (and queue) with its own
// BatchModel. Each BatchModel has a ModelClient: the env's pool of Request objects and the
// thread-safe function through which completions come back, one call per batch.
//
// Threads: every JS_ method runs on the env's JS thread; ModelClient::Deliver runs on the
// batcher's threads and only queues the completion to the TSFN.
#pragma once

#include <napi.h>

#include <memory>

#include "batcher.h"
#include "value_convert.h"

namespace ortex {

class ModelClient;

class BatchModel : public Napi::ObjectWrap<BatchModel> {
 public:
  static Napi::Function Init(Napi::Env env);
  // new BatchModel(onComplete(meta: Float64Array, outputs: [type, data, dims][] | null, errors: [code, message][] | null))
  explicit BatchModel(const Napi::CallbackInfo& info);
  ~BatchModel() override;

 private:
  friend class BatchLoadWorker;

  Napi::Value JS_load(const Napi::CallbackInfo& info);
  Napi::Value JS_start(const Napi::CallbackInfo& info);
  Napi::Value JS_discard(const Napi::CallbackInfo& info);
  Napi::Value JS_attach(const Napi::CallbackInfo& info);
  Napi::Value JS_setScratch(const Napi::CallbackInfo& info);
  Napi::Value JS_enqueue(const Napi::CallbackInfo& info);
  Napi::Value JS_cancel(const Napi::CallbackInfo& info);
  Napi::Value JS_stats(const Napi::CallbackInfo& info);
  Napi::Value JS_configure(const Napi::CallbackInfo& info);
  Napi::Value JS_hold(const Napi::CallbackInfo& info);
  Napi::Value JS_close(const Napi::CallbackInfo& info);
  Napi::Value JS_join(const Napi::CallbackInfo& info);
  Napi::Value JS_share(const Napi::CallbackInfo& info);

  void Adopt(Napi::Env env, std::shared_ptr<Batcher> batcher);
  Batcher& Usable(Napi::Env env);

  std::unique_ptr<Batcher::Model> loaded_;  // between load() and start()
  std::shared_ptr<Batcher> batcher_;
  ModelClient* client_ = nullptr;  // refcounted; see batch_model.cc
  Napi::FunctionReference on_complete_;
  bool loading_ = false;
  bool owner_ = false;
  Scratch scratch_;
};

}  // namespace ortex
