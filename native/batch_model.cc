#include "batch_model.h"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <functional>
#include <map>
#include <mutex>

#include "common.h"
#include "session.h"
#include "session_options.h"
#include "tensor.h"
#include "value_convert.h"

namespace ortex {

// ---------------------------------------------------------------------------------------
// ModelClient: one env's end of a batcher.
//
// Lifetime: reference-counted, because requests outlive neither their client nor the env
// in the common case but can in two: a worker_thread that exits while its requests are in
// a shared batcher, and env teardown. One reference belongs to the BatchModel, one to each
// request from Enqueue until its completion is handled (on the JS thread) or dropped (on a
// batcher thread, once the env is gone). The last Unref deletes the client and its pool.
//
// Delivery: Deliver takes mu_ only to know that the TSFN is still there (Detach clears
// alive_ under the same lock before releasing it), so a completion is either queued to a
// live TSFN or dropped, never sent to a freed one.
class ModelClient : public Client {
 public:
  // `wrapper`: the BatchModel's JS object, whose `onComplete` property is the callback. It is
  // held weakly while nothing is outstanding, so a model dropped without close() can be
  // collected (its finalizer stops the batcher), and strongly while completions are due.
  ModelClient(Napi::Env env, Napi::Object wrapper) : env_(env) {
    NAPI_THROW_IF_FAILED_VOID(env, napi_create_reference(env, wrapper, 0, &self_));
    napi_value name;
    napi_create_string_utf8(env, "ortex:batch", NAPI_AUTO_LENGTH, &name);
    NAPI_THROW_IF_FAILED_VOID(env, napi_create_threadsafe_function(env, nullptr, nullptr, name, 0, 1, nullptr,
                                                                   nullptr, this, CallJs, &tsfn_));
    napi_unref_threadsafe_function(env, tsfn_);
    // Registered after the TSFN, so it runs before Node-API's teardown of the TSFN.
    napi_add_env_cleanup_hook(env, TeardownHook, this);
  }

  // Batcher threads.
  void Deliver(Completion* c) override {
    bool queued = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      queued = alive_ && napi_call_threadsafe_function(tsfn_, c, napi_tsfn_nonblocking) == napi_ok;
    }
    if (!queued) Abandon(c);
  }

  // JS thread.
  Request* Alloc() {
    if (free_.empty()) {
      pool_.push_back(std::make_unique<Request>());
      pool_.back()->slot = static_cast<uint32_t>(pool_.size() - 1);
      pool_.back()->client = this;
      return pool_.back().get();
    }
    Request* r = pool_[free_.back()].get();
    free_.pop_back();
    return r;
  }
  void FreeSlot(Request* r) {
    r->state.store(Request::kTaken, std::memory_order_relaxed);  // a stale cancel() finds nothing to cancel
    free_.push_back(r->slot);
  }
  Request* Slot(uint32_t slot) { return slot < pool_.size() ? pool_[slot].get() : nullptr; }

  // JS thread: a request (or a close) is now outstanding; keeps the event loop alive.
  void Begin(bool request) {
    if (request) refs_.fetch_add(1, std::memory_order_relaxed);
    if (outstanding_++ == 0 && alive_) {
      napi_ref_threadsafe_function(env_, tsfn_);
      napi_reference_ref(env_, self_, nullptr);
    }
  }

  // JS thread: no more completions will come (the model is closed, or this env is done with
  // it). Releases the TSFN, and with it the strong reference to the JS callback, so the JS
  // objects can be collected. Idempotent.
  void Shutdown() {
    bool was_alive;
    {
      std::lock_guard<std::mutex> lock(mu_);
      was_alive = alive_;
      alive_ = false;
    }
    if (was_alive) {
      napi_remove_env_cleanup_hook(env_, TeardownHook, this);
      napi_release_threadsafe_function(tsfn_, napi_tsfn_abort);
      napi_delete_reference(env_, self_);
      self_ = nullptr;
      if (on_detach_) on_detach_();
    }
  }

  // JS thread, from ~BatchModel: drops the BatchModel's reference; the client lives on while
  // any of its requests are still in a batcher.
  void Detach() {
    Shutdown();
    Unref(1);
  }

  // Called from Detach at env teardown, before the client lets go: the owner stops its
  // batcher here so no batcher thread outlives the env's sessions and TSFN.
  std::function<void()> on_detach_;

 private:
  static void TeardownHook(void* self) {
    auto* c = static_cast<ModelClient*>(self);
    {
      std::lock_guard<std::mutex> lock(c->mu_);
      if (!c->alive_) return;
      c->alive_ = false;
    }
    // The TSFN is finalized by Node's own teardown, right after this hook; the BatchModel's
    // reference is dropped by its finalizer, which teardown runs later.
    if (c->on_detach_) c->on_detach_();
  }

  void Unref(int64_t n) {
    if (n > 0 && refs_.fetch_sub(n, std::memory_order_acq_rel) == n) delete this;
  }

  void Abandon(Completion* c) {
    const int64_t n = static_cast<int64_t>(c->requests.size());
    delete c;
    Unref(n);
  }

  static void CallJs(napi_env env, napi_value js_cb, void* context, void* data) {
    auto* self = static_cast<ModelClient*>(context);
    auto* c = static_cast<Completion*>(data);
    if (!env) {
      self->Abandon(c);
      return;
    }
    {
      Napi::HandleScope scope(env);
      try {
        napi_value wrapper = nullptr;
        if (self->self_) napi_get_reference_value(env, self->self_, &wrapper);
        if (wrapper) {
          Napi::Value fn = Napi::Object(env, wrapper).Get("onComplete");
          if (fn.IsFunction()) self->Complete(Napi::Env(env), fn.As<Napi::Function>(), c);
        }
      } catch (...) {
        // JS can no longer run (a worker being terminated) or out of memory: the promises
        // cannot be settled, and no exception may leave this C callback.
      }
    }
    for (Request* r : c->requests) self->FreeSlot(r);
    const size_t done = c->requests.size() + (c->closed ? 1 : 0);
    const int64_t n = static_cast<int64_t>(c->requests.size());
    delete c;
    if (done > 0 && self->outstanding_ > 0) {
      self->outstanding_ -= std::min(done, self->outstanding_);
      if (self->outstanding_ == 0 && self->alive_) {
        napi_unref_threadsafe_function(env, self->tsfn_);
        napi_reference_unref(env, self->self_, nullptr);
      }
    }
    self->Unref(n);
  }

  // js_cb(meta, outputs, errors, closed): meta = [n, (slot, status, rowOffset, rows) x n]
  void Complete(Napi::Env env, Napi::Function js_cb, Completion* c) {
    const size_t n = c->requests.size();
    Napi::Float64Array meta = Napi::Float64Array::New(env, 1 + 4 * n);
    double* m = meta.Data();
    m[0] = static_cast<double>(n);
    Napi::Value errors = env.Null();
    for (size_t i = 0; i < n; i++) {
      const Request* r = c->requests[i];
      m[1 + 4 * i] = r->slot;
      m[2 + 4 * i] = static_cast<double>(r->status);
      m[3 + 4 * i] = static_cast<double>(r->row_offset);
      m[4 + 4 * i] = static_cast<double>(r->rows);
      if (r->status == RequestStatus::kFailed) {
        if (errors.IsNull()) errors = Napi::Array::New(env, n);
        Napi::Array pair = Napi::Array::New(env, 2);
        pair.Set(0u, r->error.code);
        pair.Set(1u, r->error.message);
        errors.As<Napi::Array>().Set(static_cast<uint32_t>(i), pair);
      }
    }
    Napi::Value outputs = env.Null();
    if (c->result) outputs = OutputsToJs(env, c->result);
    js_cb.Call({meta, outputs, errors, Napi::Boolean::New(env, c->closed)});
  }

  // [type, data, dims] per output. The last holder of a batch's outputs takes them without a
  // copy; when a batch served several envs, each of the others gets its own copy.
  static Napi::Array OutputsToJs(Napi::Env env, std::shared_ptr<BatchResult>& result) {
    const bool sole = result.use_count() == 1;
    // use_count() is a relaxed load. Seeing 1 means every other env's completion has dropped
    // its reference (an acq_rel decrement) after copying these outputs on its own thread; the
    // fence orders those copies before this thread takes the values and later frees them.
    if (sole) std::atomic_thread_fence(std::memory_order_acquire);
    Napi::Array arr = Napi::Array::New(env, result->outputs.size());
    std::vector<int64_t> dims;
    for (size_t i = 0; i < result->outputs.size(); i++) {
      ValuePtr v;
      if (sole) {
        v.reset(result->outputs[i]);
        result->outputs[i] = nullptr;
      } else {
        v = CopyTensor(env, result->outputs[i]);
      }
      int type = 0;
      Napi::Value data = OutputTensor(env, std::move(v), {}, &type, &dims);
      Napi::Array dims_js = Napi::Array::New(env, dims.size());
      for (size_t d = 0; d < dims.size(); d++) dims_js.Set(static_cast<uint32_t>(d), static_cast<double>(dims[d]));
      Napi::Array enc = Napi::Array::New(env, 3);
      enc.Set(0u, type);
      enc.Set(1u, data);
      enc.Set(2u, dims_js);
      arr.Set(static_cast<uint32_t>(i), enc);
    }
    return arr;
  }

  static ValuePtr CopyTensor(Napi::Env env, const OrtValue* src) {
    ONNXTensorElementDataType type;
    const int64_t* shape = nullptr;
    size_t rank = 0;
    ORT_THROW_ON_ERROR(env, g_ort->GetTensorElementTypeAndShapeDataReference(src, &type, &shape, &rank));
    size_t count = 1;
    for (size_t d = 0; d < rank; d++) count *= static_cast<size_t>(shape[d]);
    OrtValue* raw = nullptr;
    ORT_THROW_ON_ERROR(env, g_ort->CreateTensorAsOrtValue(CpuAllocator(), shape, rank, type, &raw));
    ValuePtr out(raw);
    if (type == ONNX_TENSOR_ELEMENT_DATA_TYPE_STRING) {
      size_t total = 0;
      ORT_THROW_ON_ERROR(env, g_ort->GetStringTensorDataLength(src, &total));
      std::string buf(total, '\0');
      std::vector<size_t> offsets(count);
      ORT_THROW_ON_ERROR(env, g_ort->GetStringTensorContent(src, buf.data(), total, offsets.data(), count));
      for (size_t i = 0; i < count; i++) {  // with lengths: strings may hold NUL
        const size_t end = i + 1 < count ? offsets[i + 1] : total;
        char* dst = nullptr;
        ORT_THROW_ON_ERROR(env, g_ort->GetResizedStringTensorElementBuffer(out.get(), i, end - offsets[i], &dst));
        if (end > offsets[i]) std::memcpy(dst, buf.data() + offsets[i], end - offsets[i]);
      }
      return out;
    }
    void* from = nullptr;
    void* to = nullptr;
    ORT_THROW_ON_ERROR(env, g_ort->GetTensorMutableData(const_cast<OrtValue*>(src), &from));
    ORT_THROW_ON_ERROR(env, g_ort->GetTensorMutableData(out.get(), &to));
    const size_t bytes = ByteSize(type, count);
    if (bytes) std::memcpy(to, from, bytes);
    return out;
  }

  ~ModelClient() override = default;

  Napi::Env env_;
  napi_ref self_ = nullptr;  // the BatchModel's JS object; see the constructor
  napi_threadsafe_function tsfn_ = nullptr;
  std::mutex mu_;
  bool alive_ = true;
  std::atomic<int64_t> refs_{1};
  std::vector<std::unique_ptr<Request>> pool_;
  std::vector<uint32_t> free_;
  size_t outstanding_ = 0;  // JS thread
};

// ---------------------------------------------------------------------------------------
// The registry of shared batchers, for attach() from worker_threads.

namespace {
std::mutex g_registry_mu;
std::map<uint32_t, std::weak_ptr<Batcher>> g_registry;
uint32_t g_next_handle = 1;

uint64_t Fnv(uint64_t h, int64_t v) {
  for (int i = 0; i < 8; i++) {
    h ^= static_cast<uint64_t>(v >> (8 * i)) & 0xff;
    h *= 1099511628211ULL;
  }
  return h;
}

// Models the batcher can serve: tensors in and out; with batching, a dynamic first dim on
// every input and output, and element types whose rows are whole bytes.
Status CheckBatchable(const std::vector<ValueInfo>& ins, const std::vector<ValueInfo>& outs, const BatcherConfig& cfg) {
  auto fail = [](const std::string& msg) { return Status::Error("ERR_MODEL_NOT_BATCHABLE", msg); };
  for (const ValueInfo& v : ins) {
    if (v.kind != ONNX_TYPE_TENSOR)
      return fail("Input '" + v.name + "' is a " + v.description + "; createModel() batches tensors only (use InferenceSession)");
    if (v.elem_type == ONNX_TENSOR_ELEMENT_DATA_TYPE_STRING || DType(v.elem_type).bits < 8)
      return fail("Input '" + v.name + "' is a " + v.description + ", which the batcher cannot stage; use InferenceSession");
    if (cfg.max_batch_size > 0 && (!v.has_shape || v.dims.empty() || v.dims[0] != -1))
      return fail("Input '" + v.name + "' has no dynamic first dimension to batch along" +
                  (v.has_shape && !v.dims.empty() ? " (it is fixed at " + std::to_string(v.dims[0]) + ")" : "") +
                  "; export the model with a dynamic batch dimension or pass maxBatchSize: 0");
  }
  for (const ValueInfo& v : outs) {
    if (v.kind != ONNX_TYPE_TENSOR)
      return fail("Output '" + v.name + "' is a " + v.description + "; createModel() batches tensors only (use InferenceSession)");
    if (cfg.max_batch_size > 0 && v.has_shape && (v.dims.empty() || v.dims[0] != -1))
      return fail("Output '" + v.name + "' has no dynamic first dimension, so a batch's outputs cannot be split per request; pass maxBatchSize: 0");
  }
  for (size_t i = 0; i < cfg.padding.size() && i < ins.size(); i++) {
    for (int d : cfg.padding[i].dims) {
      if (d < 1 || static_cast<size_t>(d) >= ins[i].dims.size())
        return fail("Padding of input '" + ins[i].name + "' names dim " + std::to_string(d) + ", which is not one of its dims 1.." +
                    std::to_string(static_cast<int64_t>(ins[i].dims.size()) - 1));
    }
  }
  return Status{};
}
}  // namespace

// ---------------------------------------------------------------------------------------
// Loading: N sessions, one per instance, created on the thread pool.

class BatchLoadWorker : public Napi::AsyncWorker {
 public:
  BatchLoadWorker(Napi::Env env, BatchModel* model, Napi::Object self, SessionConfig sc, int instances)
      : Napi::AsyncWorker(env, "ortex:loadModel"), model_(model), deferred_(Napi::Promise::Deferred::New(env)),
        session_config_(std::move(sc)), instances_(instances) {
    self_.Reset(self, 1);
  }
  Napi::Promise Promise() { return deferred_.Promise(); }
  ModelSource source_;

  void Execute() override {
    for (int i = 0; i < instances_ && status_.ok; i++) {
      AppliedOptions applied;
      status_ = ApplySessionConfig(session_config_, &applied);
      if (!status_.ok) break;
      OrtSession* s = nullptr;
      status_ = Status::FromOrt(source_.Create(applied.options, &s));
      g_ort->ReleaseSessionOptions(applied.options);
      applied.options = nullptr;
      if (s) model_data_.sessions.push_back(s);
      if (i == 0) applied_ = std::move(applied);
    }
    if (status_.ok) status_ = ReadValueInfos(model_data_.sessions[0], true, &model_data_.inputs);
    if (status_.ok) status_ = ReadValueInfos(model_data_.sessions[0], false, &model_data_.outputs);
    model_data_.uses_cuda = applied_.uses_cuda;
  }

  void OnOK() override {
    Napi::Env env = Env();
    model_->loading_ = false;
    if (status_.ok) {
      deferred_.Resolve(LoadInfoToJs(env, model_data_.inputs, model_data_.outputs, applied_));
      model_->loaded_ = std::make_unique<Batcher::Model>(std::move(model_data_));
      return;
    }
    for (OrtSession* s : model_data_.sessions) g_ort->ReleaseSession(s);
    deferred_.Reject(ErrorFromStatus(env, status_).Value());
  }

 private:
  BatchModel* model_;
  Napi::ObjectReference self_;
  Napi::Promise::Deferred deferred_;
  SessionConfig session_config_;
  int instances_;
  Batcher::Model model_data_;
  AppliedOptions applied_;
  Status status_;
};

// ---------------------------------------------------------------------------------------
// BatchModel

Napi::Function BatchModel::Init(Napi::Env env) {
  return DefineClass(env, "BatchModel",
                     {InstanceMethod<&BatchModel::JS_load>("load"),
                      InstanceMethod<&BatchModel::JS_start>("start"),
                      InstanceMethod<&BatchModel::JS_discard>("discard"),
                      InstanceMethod<&BatchModel::JS_attach>("attach"),
                      InstanceMethod<&BatchModel::JS_setScratch>("setScratch"),
                      InstanceMethod<&BatchModel::JS_enqueue>("enqueue"),
                      InstanceMethod<&BatchModel::JS_cancel>("cancel"),
                      InstanceMethod<&BatchModel::JS_stats>("stats"),
                      InstanceMethod<&BatchModel::JS_configure>("configure"),
                      InstanceMethod<&BatchModel::JS_hold>("hold"),
                      InstanceMethod<&BatchModel::JS_close>("close"),
                      InstanceMethod<&BatchModel::JS_join>("join"),
                      InstanceMethod<&BatchModel::JS_share>("share")});
}

BatchModel::BatchModel(const Napi::CallbackInfo& info) : Napi::ObjectWrap<BatchModel>(info) {
  Napi::Env env = info.Env();
  REQUIRE_ARG(info, 0, IsFunction, "an onComplete function");
  Napi::Object self = info.This().As<Napi::Object>();
  self.DefineProperty(Napi::PropertyDescriptor::Value("onComplete", info[0], napi_default));
  client_ = new ModelClient(env, self);
}

BatchModel::~BatchModel() {
  // Finalized (garbage collected or env teardown): an owner stops its batcher first.
  if (client_) client_->Detach();
  if (loaded_)
    for (OrtSession* s : loaded_->sessions) g_ort->ReleaseSession(s);
}

void BatchModel::Adopt(Napi::Env, std::shared_ptr<Batcher> batcher) {
  batcher_ = std::move(batcher);
  if (owner_) {
    Batcher* b = batcher_.get();
    client_->on_detach_ = [b] {
      b->Close(false);
      b->Join();
    };
  }
}

Batcher& BatchModel::Usable(Napi::Env env) {
  if (!batcher_) ORTEX_THROW(env, "ERR_MODEL_CLOSED", "The model is closed (or not loaded yet)");
  return *batcher_;
}

namespace {
int64_t IntProp(Napi::Object o, const char* key, int64_t dflt) {
  Napi::Value v = o.Get(key);
  return v.IsNumber() ? static_cast<int64_t>(v.As<Napi::Number>().DoubleValue()) : dflt;
}
}  // namespace

// load(pathOrBytes, sessionOptions, instances) -> Promise<info>: creates one session per
// instance on the thread pool. start() then builds the batcher over them.
Napi::Value BatchModel::JS_load(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (batcher_ || loaded_ || loading_) ORTEX_THROW(env, "ERR_SESSION_STATE", "load() may be called once");
  REQUIRE_ARG(info, 1, IsObject, "a session options object");
  REQUIRE_ARG(info, 2, IsNumber, "an instance count");
  SessionConfig sc = ReadSessionConfig(env, info[1].As<Napi::Object>());
  const int instances = info[2].As<Napi::Number>().Int32Value();
  if (instances < 1 || instances > 256) ORTEX_THROW_TYPE(env, "ERR_INVALID_ARG", "Expected 1 to 256 instances");
  ModelSource source = ModelSource::From(env, info[0]);
  auto* worker = new BatchLoadWorker(env, this, info.This().As<Napi::Object>(), std::move(sc), instances);
  worker->source_ = std::move(source);
  loading_ = true;
  Napi::Promise p = worker->Promise();
  worker->Queue();
  return p;
}

// start(batcherOptions): { maxBatchSize, maxQueueDelayUs, preferredBatchSizes, maxQueueSize,
//   priorityLevels, latencyTargetUs, padding: ({ dims, padBytes } | null)[] }
Napi::Value BatchModel::JS_start(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!loaded_) ORTEX_THROW(env, "ERR_SESSION_STATE", "start() follows a successful load(), once");
  REQUIRE_ARG(info, 0, IsObject, "a batcher options object");
  Napi::Object o = info[0].As<Napi::Object>();
  BatcherConfig bc;
  bc.max_batch_size = IntProp(o, "maxBatchSize", 8);
  bc.max_queue_delay_us = IntProp(o, "maxQueueDelayUs", 0);
  bc.max_queue_size = IntProp(o, "maxQueueSize", 0);
  bc.priority_levels = static_cast<int>(IntProp(o, "priorityLevels", 1));
  bc.latency_target_us = IntProp(o, "latencyTargetUs", 0);
  if (bc.max_batch_size < 0 || bc.max_batch_size > kMaxBatchRows || bc.priority_levels < 1 || bc.max_queue_delay_us < 0)
    ORTEX_THROW_TYPE(env, "ERR_INVALID_ARG", "Malformed batcher options");
  Napi::Value pref = o.Get("preferredBatchSizes");
  if (pref.IsArray()) {
    auto a = pref.As<Napi::Array>();
    for (uint32_t i = 0; i < a.Length(); i++) bc.preferred_batch_sizes.push_back(static_cast<int64_t>(a.Get(i).As<Napi::Number>().DoubleValue()));
  }
  Napi::Value pad = o.Get("padding");
  if (pad.IsArray()) {
    auto a = pad.As<Napi::Array>();
    bc.padding.resize(a.Length());
    for (uint32_t i = 0; i < a.Length(); i++) {
      Napi::Value p = a.Get(i);
      if (!p.IsObject()) continue;
      Napi::Object po = p.As<Napi::Object>();
      Napi::Value dims = po.Get("dims");
      if (dims.IsArray()) {
        auto d = dims.As<Napi::Array>();
        for (uint32_t k = 0; k < d.Length(); k++) bc.padding[i].dims.push_back(d.Get(k).As<Napi::Number>().Int32Value());
      }
      ByteView bytes = ReadBytes(env, po.Get("padBytes"));
      bc.padding[i].pad_bytes.assign(bytes.data, bytes.data + bytes.bytes);
    }
  }
  Status st = CheckBatchable(loaded_->inputs, loaded_->outputs, bc);
  if (!st.ok) throw ErrorFromStatus(env, st);
  auto batcher = std::make_shared<Batcher>(std::move(bc), std::move(*loaded_));
  loaded_.reset();
  st = batcher->Start(client_);
  if (!st.ok) throw ErrorFromStatus(env, st);  // the batcher releases the sessions
  owner_ = true;
  Adopt(env, std::move(batcher));
  return env.Undefined();
}

// discard(): releases loaded sessions that will not be started (options rejected).
Napi::Value BatchModel::JS_discard(const Napi::CallbackInfo& info) {
  if (loaded_) {
    for (OrtSession* s : loaded_->sessions) g_ort->ReleaseSession(s);
    loaded_.reset();
  }
  return info.Env().Undefined();
}

// attach(handle) -> info: joins a batcher another env shared.
Napi::Value BatchModel::JS_attach(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (batcher_ || loaded_ || loading_) ORTEX_THROW(env, "ERR_SESSION_STATE", "attach() may be called once");
  REQUIRE_ARG(info, 0, IsNumber, "a model handle");
  const uint32_t handle = info[0].As<Napi::Number>().Uint32Value();
  std::shared_ptr<Batcher> b;
  {
    std::lock_guard<std::mutex> lock(g_registry_mu);
    auto it = g_registry.find(handle);
    if (it != g_registry.end()) b = it->second.lock();
  }
  if (!b) ORTEX_THROW(env, "ERR_MODEL_CLOSED", "No open model has handle " + std::to_string(handle) + " (closed, or never shared)");
  AppliedOptions none;
  Napi::Object out = LoadInfoToJs(env, b->model().inputs, b->model().outputs, none);
  Adopt(env, std::move(b));
  return out;
}

Napi::Value BatchModel::JS_setScratch(const Napi::CallbackInfo& info) {
  scratch_.Set(info);
  return info.Env().Undefined();
}

// enqueue(...data) -> slot. The scratch holds [priority, timeoutUs, rows, dims of each input...]
// (ranks from the model); data are the inputs' TypedArrays in model order.
Napi::Value BatchModel::JS_enqueue(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Batcher& b = Usable(env);
  const auto& ins = b.model().inputs;
  if (info.Length() != ins.size()) ORTEX_THROW_TYPE(env, "ERR_INVALID_ARG", "Expected one data argument per model input");
  size_t need = 3;
  for (const ValueInfo& v : ins) need += v.dims.size();
  if (!scratch_.data || scratch_.len < need) ORTEX_THROW_TYPE(env, "ERR_INVALID_ARG", "No scratch buffer set");
  const double* sc = scratch_.data;
  auto whole = [&](double x, double limit) {
    if (!(x >= 0 && x <= limit && x == static_cast<double>(static_cast<int64_t>(x))))
      ORTEX_THROW_TYPE(env, "ERR_INVALID_ARG", "Malformed request descriptor");
    return static_cast<int64_t>(x);
  };
  const int priority = static_cast<int>(whole(sc[0], b.config().priority_levels - 1));
  const int64_t timeout_us = whole(sc[1], 9e15);
  const bool batched = b.config().max_batch_size > 0;
  const int64_t rows = batched ? whole(sc[2], static_cast<double>(kMaxBatchRows)) : 1;
  if (batched && rows < 1) ORTEX_THROW(env, "ERR_INPUT_SHAPE", "A request needs at least one row");

  Request* r = client_->Alloc();
  // From here on, any failure gives the slot back before throwing.
  try {
    r->rows = rows;
    r->priority = priority;
    r->dims.clear();
    r->offsets.clear();
    size_t total = 0, p = 3;
    uint64_t key = 1469598103934665603ULL;
    for (size_t i = 0; i < ins.size(); i++) {
      const size_t rank = ins[i].dims.size();
      size_t count = 1;
      const std::vector<int>* pad = i < b.config().padding.size() ? &b.config().padding[i].dims : nullptr;
      for (size_t d = 0; d < rank; d++) {
        const int64_t v = whole(sc[p + d], 9e15);
        if (batched && d == 0 && v != rows)
          ORTEX_THROW(env, "ERR_INPUT_SHAPE", "Input '" + ins[i].name + "' has " + std::to_string(v) + " rows but the request has " + std::to_string(rows));
        r->dims.push_back(v);
        count *= static_cast<size_t>(v);
        const bool padded = pad && std::find(pad->begin(), pad->end(), static_cast<int>(d)) != pad->end();
        if (!(batched && d == 0) && !padded) key = Fnv(key, v);
      }
      p += rank;
      ByteView view = ReadBytes(env, info[i]);
      const size_t bytes = ByteSize(ins[i].elem_type, count);
      if (view.bytes != bytes)
        ORTEX_THROW(env, "ERR_INPUT_DATA_LENGTH", "Input '" + ins[i].name + "': expected " + std::to_string(bytes) + " bytes for its dims but received " + std::to_string(view.bytes));
      r->offsets.push_back(total);
      total += bytes;
      if (r->data.size() < total) r->data.resize(total);
      if (bytes) std::memcpy(r->data.data() + r->offsets.back(), view.data, bytes);
    }
    r->data.resize(total);
    r->shape_key = key;
    r->enqueue_ns = NowNs();
    r->deadline_ns = timeout_us > 0 ? r->enqueue_ns + timeout_us * 1000 : 0;
  } catch (...) {
    client_->FreeSlot(r);
    throw;
  }
  switch (b.Enqueue(r)) {
    case Batcher::Admit::kOk:
      // Its completion can only be handled on this thread, after this call returns.
      client_->Begin(true);
      return Napi::Number::New(env, r->slot);
    case Batcher::Admit::kQueueFull:
      client_->FreeSlot(r);
      ORTEX_THROW(env, "ERR_QUEUE_FULL", "The model's queue is full (maxQueueSize " + std::to_string(b.config().max_queue_size) + "); retry later");
    case Batcher::Admit::kClosed:
    default:
      client_->FreeSlot(r);
      ORTEX_THROW(env, "ERR_MODEL_CLOSED", "The model is closing and accepts no new requests");
  }
}

// cancel(slot) -> boolean: true if the request was still queued (it will not run).
Napi::Value BatchModel::JS_cancel(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  REQUIRE_ARG(info, 0, IsNumber, "a request slot");
  Request* r = client_->Slot(info[0].As<Napi::Number>().Uint32Value());
  if (!r || !batcher_) return Napi::Boolean::New(env, false);
  return Napi::Boolean::New(env, batcher_->Cancel(r));
}

// stats() -> Float64Array; layout in src/model.ts (decodeStats).
Napi::Value BatchModel::JS_stats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Batcher& b = Usable(env);
  const BatchStats& s = b.stats();
  std::vector<double> out;
  out.reserve(256);
  auto u = [](const std::atomic<uint64_t>& a) { return static_cast<double>(a.load(std::memory_order_relaxed)); };
  out.push_back(u(s.requests));
  out.push_back(u(s.completed));
  out.push_back(u(s.batches));
  out.push_back(u(s.rows));
  out.push_back(static_cast<double>(b.queued()));
  out.push_back(static_cast<double>(b.executing()));
  out.push_back(static_cast<double>(b.max_batch_size()));
  out.push_back(static_cast<double>(b.queue_delay_us()));
  out.push_back(static_cast<double>(b.adaptive_delay_us()));
  for (int i = 0; i < static_cast<int>(Reject::kCount); i++) out.push_back(u(s.rejected[i]));
  // Batch sizes: trailing zero counts are left out.
  size_t last = 0;
  for (size_t i = 0; i < s.batch_sizes.size(); i++)
    if (s.batch_sizes[i].load(std::memory_order_relaxed)) last = i;
  out.push_back(static_cast<double>(last + 1));
  for (size_t i = 0; i <= last; i++) out.push_back(u(s.batch_sizes[i]));
  // Per batch size: input, infer and output time, in µs.
  for (const auto* by_size : {&s.input_ns_by_size, &s.infer_ns_by_size, &s.output_ns_by_size})
    for (size_t i = 0; i <= last; i++) out.push_back(u((*by_size)[i]) / 1000.0);
  out.push_back(static_cast<double>(kTimeBuckets));
  s.queue.Snapshot(&out);
  s.compute.Snapshot(&out);
  s.request.Snapshot(&out);
  s.timeout_lateness.Snapshot(&out);
  s.compute_input.Snapshot(&out);
  s.compute_infer.Snapshot(&out);
  s.compute_output.Snapshot(&out);
  Napi::Float64Array arr = Napi::Float64Array::New(env, out.size());
  std::copy(out.begin(), out.end(), arr.Data());
  return arr;
}

// configure(maxBatchSize | -1, maxQueueDelayUs | -1)
Napi::Value BatchModel::JS_configure(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  REQUIRE_ARG(info, 0, IsNumber, "maxBatchSize");
  REQUIRE_ARG(info, 1, IsNumber, "maxQueueDelayUs");
  Usable(env).Configure(static_cast<int64_t>(info[0].As<Napi::Number>().DoubleValue()),
                        static_cast<int64_t>(info[1].As<Napi::Number>().DoubleValue()));
  return env.Undefined();
}

Napi::Value BatchModel::JS_hold(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  REQUIRE_ARG(info, 0, IsNumber, "a request count");
  Usable(env).Hold(static_cast<int64_t>(info[0].As<Napi::Number>().DoubleValue()));
  return env.Undefined();
}

// close(drain): the owner's onComplete receives closed = true once everything is delivered.
Napi::Value BatchModel::JS_close(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!owner_) ORTEX_THROW(env, "ERR_SESSION_STATE", "Only the env that created the model can close it");
  Batcher& b = Usable(env);
  client_->Begin(false);  // keeps the loop alive until the closed completion arrives
  b.Close(info.Length() > 0 && info[0].ToBoolean());
  return env.Undefined();
}

// join(): after the closed completion (owner) or when an attached env is done with the model.
Napi::Value BatchModel::JS_join(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (batcher_) {
    if (owner_) {
      batcher_->Join();
      client_->on_detach_ = nullptr;  // nothing left to stop, and the batcher may go now
      std::lock_guard<std::mutex> lock(g_registry_mu);
      for (auto it = g_registry.begin(); it != g_registry.end();) {
        if (it->second.expired() || it->second.lock() == batcher_) it = g_registry.erase(it); else ++it;
      }
    }
    batcher_.reset();
    client_->Shutdown();
  }
  return env.Undefined();
}

// share() -> handle for attach() in another env (worker_threads).
Napi::Value BatchModel::JS_share(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Usable(env);
  std::lock_guard<std::mutex> lock(g_registry_mu);
  for (auto& [h, w] : g_registry)
    if (w.lock() == batcher_) return Napi::Number::New(env, h);
  const uint32_t h = g_next_handle++;
  g_registry[h] = batcher_;
  return Napi::Number::New(env, h);
}

}  // namespace ortex
