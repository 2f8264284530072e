#include "session.h"

#include <algorithm>
#include <memory>

#include "common.h"
#include "run_executor.h"
#include "run_options.h"
#include "session_options.h"
#include "tensor.h"
#include "value_info.h"

namespace ortex {

ModelSource ModelSource::From(Napi::Env env, Napi::Value v) {
  ModelSource src;
  if (v.IsString()) {
    src.path = v.As<Napi::String>().Utf8Value();
  } else if (v.IsTypedArray()) {
    ByteView b = ReadBytes(env, v);
    src.bytes.assign(b.data, b.data + b.bytes);
  } else {
    ORTEX_THROW_TYPE(env, "ERR_INVALID_ARG", "Expected a path or a Uint8Array of model bytes");
  }
  return src;
}

OrtStatus* ModelSource::Create(const OrtSessionOptions* options, OrtSession** out) const {
  return path.empty() ? g_ort->CreateSessionFromArray(ortex::Env(), bytes.data(), bytes.size(), options, out)
                      : g_ort->CreateSession(ortex::Env(), path.c_str(), options, out);
}

Napi::Object LoadInfoToJs(Napi::Env env, const std::vector<ValueInfo>& inputs, const std::vector<ValueInfo>& outputs,
                          const AppliedOptions& applied) {
  Napi::Object result = Napi::Object::New(env);
  Napi::Array ins = Napi::Array::New(env, inputs.size());
  Napi::Array outs = Napi::Array::New(env, outputs.size());
  for (size_t i = 0; i < inputs.size(); i++) ins.Set(static_cast<uint32_t>(i), ValueInfoToJs(env, inputs[i]));
  for (size_t i = 0; i < outputs.size(); i++) outs.Set(static_cast<uint32_t>(i), ValueInfoToJs(env, outputs[i]));
  Napi::Array providers = Napi::Array::New(env, applied.providers.size());
  for (size_t i = 0; i < applied.providers.size(); i++) providers.Set(static_cast<uint32_t>(i), applied.providers[i]);
  Napi::Array warnings = Napi::Array::New(env, applied.warnings.size());
  for (size_t i = 0; i < applied.warnings.size(); i++) warnings.Set(static_cast<uint32_t>(i), applied.warnings[i]);
  result.Set("inputs", ins);
  result.Set("outputs", outs);
  result.Set("executionProviders", providers);
  result.Set("warnings", warnings);
  Napi::Array attempts = Napi::Array::New(env, applied.attempts.size());
  for (size_t i = 0; i < applied.attempts.size(); i++) {
    const ProviderAttempt& a = applied.attempts[i];
    Napi::Object o = Napi::Object::New(env);
    o.Set("name", a.config.name);
    Napi::Array opts = Napi::Array::New(env, a.config.options.size());
    for (size_t k = 0; k < a.config.options.size(); k++) {
      Napi::Array kv = Napi::Array::New(env, 2);
      kv.Set(0u, a.config.options[k].first);
      kv.Set(1u, a.config.options[k].second);
      opts.Set(static_cast<uint32_t>(k), kv);
    }
    o.Set("options", opts);
    o.Set("ok", a.ok);
    o.Set("error", a.error);
    attempts.Set(static_cast<uint32_t>(i), o);
  }
  result.Set("providerAttempts", attempts);
  return result;
}

// Creates the OrtSession on the thread pool: parsing and optimizing a model can take
// seconds and must not stall the event loop.
class LoadWorker : public Napi::AsyncWorker {
 public:
  LoadWorker(Napi::Env env, Session* session, Napi::Object self, SessionConfig config)
      : Napi::AsyncWorker(env, "ortex:load"), session_(session), deferred_(Napi::Promise::Deferred::New(env)),
        config_(std::move(config)) {
    self_.Reset(self, 1);
  }
  Napi::Promise Promise() { return deferred_.Promise(); }

  ModelSource source_;

  void Execute() override {
    status_ = ApplySessionConfig(config_, &applied_);
    if (!status_.ok) return;
    OrtStatus* s = source_.Create(applied_.options, &ort_session_);
    g_ort->ReleaseSessionOptions(applied_.options);
    applied_.options = nullptr;
    status_ = Status::FromOrt(s);
    if (status_.ok) status_ = ReadValueInfos(ort_session_, true, &inputs_);
    if (status_.ok) status_ = ReadValueInfos(ort_session_, false, &outputs_);
    if (!status_.ok && ort_session_) {
      g_ort->ReleaseSession(ort_session_);
      ort_session_ = nullptr;
    }
  }

  void OnOK() override {
    Napi::Env env = Env();
    session_->loading_ = false;
    if (!status_.ok) {
      deferred_.Reject(ErrorFromStatus(env, status_).Value());
      return;
    }
    session_->uses_cuda_ = applied_.uses_cuda;
    Napi::Object result = LoadInfoToJs(env, inputs_, outputs_, applied_);
    session_->Adopt(ort_session_, std::move(inputs_), std::move(outputs_));
    deferred_.Resolve(result);
  }

 private:
  Session* session_;
  Napi::ObjectReference self_;
  Napi::Promise::Deferred deferred_;
  SessionConfig config_;
  AppliedOptions applied_;
  Status status_;
  OrtSession* ort_session_ = nullptr;
  std::vector<ValueInfo> inputs_, outputs_;
};

namespace {

// Everything one Run needs, prepared on the JS thread.
struct RunCall {
  std::vector<ValuePtr> inputs;
  std::vector<const OrtValue*> input_ptrs;
  std::vector<const char*> input_names;
  std::vector<const char*> output_names;
  std::vector<OrtValue*> outputs;
  BorrowedRanges borrowed;
  OrtRunOptions* run_options = nullptr;
  // ResultsFast()'s, kept with the rest so that a reused RunCall allocates none of them.
  std::vector<Napi::Value> datas;
  std::vector<int64_t> out_dims;

  ~RunCall() { Reset(); }

  // Back to empty, releasing what it holds but keeping the vectors' capacity.
  void Reset() {
    for (OrtValue* v : outputs)
      if (v) g_ort->ReleaseValue(v);
    outputs.clear();
    inputs.clear();
    input_ptrs.clear();
    input_names.clear();
    output_names.clear();
    borrowed.clear();
    datas.clear();
    run_options = nullptr;
  }

  // args: inputIndices number[], values (encoded), outputIndices number[]
  void Prepare(Napi::Env env, Session* s, Napi::Value idx_v, Napi::Value values_v, Napi::Value out_v,
               InputMemory mode) {
    if (!idx_v.IsArray() || !values_v.IsArray() || !out_v.IsArray())
      ORTEX_THROW_TYPE(env, "ERR_INVALID_ARG", "Expected (inputIndices[], values[], outputIndices[])");
    auto idx = idx_v.As<Napi::Array>();
    auto values = values_v.As<Napi::Array>();
    auto out = out_v.As<Napi::Array>();
    if (idx.Length() != values.Length())
      ORTEX_THROW_TYPE(env, "ERR_INVALID_ARG", "inputIndices and values differ in length");
    const auto& in_names = s->input_names();
    const auto& out_names = s->output_names();
    for (uint32_t i = 0; i < idx.Length(); i++) {
      uint32_t k = idx.Get(i).As<Napi::Number>().Uint32Value();
      if (k >= in_names.size()) ORTEX_THROW(env, "ERR_INPUT_NAME", "Input index out of range");
      ValuePtr v = ValueFromJs(env, values.Get(i), mode, mode == InputMemory::kBorrow ? &borrowed : nullptr);
      if (!v) continue;  // an absent optional input
      input_names.push_back(in_names[k]);
      input_ptrs.push_back(v.get());
      inputs.push_back(std::move(v));
    }
    for (uint32_t i = 0; i < out.Length(); i++) {
      uint32_t k = out.Get(i).As<Napi::Number>().Uint32Value();
      if (k >= out_names.size()) ORTEX_THROW(env, "ERR_OUTPUT_NAME", "Output index out of range");
      output_names.push_back(out_names[k]);
    }
    outputs.assign(output_names.size(), nullptr);
  }

  // The fast convention: input descriptors in the session's scratch, data as call
  // arguments. scratch: nIn, nOut, {index, type, rank, dims...} x nIn, outputIndex x nOut.
  // A scratch entry as a count or index below `limit`; anything else (NaN, negative,
  // fractional, huge: only possible through the raw binding) is refused before any cast.
  static size_t ScratchIndex(Napi::Env env, double x, size_t limit) {
    if (!(x >= 0 && x < static_cast<double>(limit) && x == static_cast<double>(static_cast<size_t>(x))))
      ORTEX_THROW_TYPE(env, "ERR_INVALID_ARG", "Malformed call descriptor");
    return static_cast<size_t>(x);
  }

  // With `reuse` (a synchronous call, not nested), an input whose slot, type, dims, address
  // and size match what the last call left takes that OrtValue instead of a new one, and a
  // new one is kept for the next call. Returns true when every input kept its slot, type and
  // dims (so the outputs may be lent, see SyncReuse::LendOutputs).
  bool PrepareFast(Napi::Env env, Session* s, const Napi::CallbackInfo& info, InputMemory mode,
                   SyncReuse* reuse = nullptr) {
    const double* sc = s->scratch();
    const size_t cap = s->scratch_len();
    if (!sc || cap < 2) ORTEX_THROW_TYPE(env, "ERR_INVALID_ARG", "No scratch buffer set");
    const size_t n_in = ScratchIndex(env, sc[0], cap), n_out = ScratchIndex(env, sc[1], cap);
    if (n_in != info.Length()) ORTEX_THROW_TYPE(env, "ERR_INVALID_ARG", "Scratch and arguments disagree");
    const auto& in_names = s->input_names();
    const auto& out_names = s->output_names();
    bool same = reuse != nullptr && reuse->inputs.size() == n_in;
    if (reuse && !same) {
      reuse->Clear();
      reuse->inputs.resize(n_in);
    }
    size_t p = 2;
    int64_t dims[kMaxFastRank];
    for (size_t i = 0; i < n_in; i++) {
      if (p + 3 > cap) ORTEX_THROW_TYPE(env, "ERR_INVALID_ARG", "Scratch overflow");
      const size_t k = ScratchIndex(env, sc[p], in_names.size());
      const int type = static_cast<int>(ScratchIndex(env, sc[p + 1], kMaxDType + 1));
      const size_t rank = ScratchIndex(env, sc[p + 2], kMaxFastRank + 1);
      p += 3;
      if (rank > cap - p) ORTEX_THROW_TYPE(env, "ERR_INVALID_ARG", "Scratch overflow");
      for (size_t d = 0; d < rank; d++) dims[d] = static_cast<int64_t>(ScratchIndex(env, sc[p + d], size_t{1} << 53));
      p += rank;
      input_names.push_back(in_names[k]);
      if (reuse && type != ONNX_TENSOR_ELEMENT_DATA_TYPE_STRING) {
        input_ptrs.push_back(KeptInput(env, &reuse->inputs[i], k, type, dims, rank, info[i], &same));
        continue;
      }
      same = false;
      ValuePtr v = TensorFromParts(env, type, dims, rank, info[i], mode, mode == InputMemory::kBorrow ? &borrowed : nullptr);
      input_ptrs.push_back(v.get());
      inputs.push_back(std::move(v));
    }
    if (n_out > cap - p) ORTEX_THROW_TYPE(env, "ERR_INVALID_ARG", "Scratch overflow");
    for (size_t i = 0; i < n_out; i++) {
      const size_t k = ScratchIndex(env, sc[p + i], out_names.size());
      output_names.push_back(out_names[k]);
    }
    outputs.assign(output_names.size(), nullptr);
    return same;
  }

  // A borrowed input through `kept`: its OrtValue when the shape, address and size match,
  // else a new one that replaces it. Clears *same when the shape differs.
  const OrtValue* KeptInput(Napi::Env env, SyncReuse::Input* kept, size_t k, int type, const int64_t* dims,
                            size_t rank, Napi::Value data, bool* same) {
    if (kept->SameShape(k, type, dims, rank)) {
      const ByteView view = ReadBytes(env, data);
      if (view.data == kept->data && view.bytes == kept->bytes) {
        if (view.bytes) borrowed.emplace_back(view.data, view.data + view.bytes);
        return kept->value;
      }
    } else {
      *same = false;
    }
    ValuePtr v = TensorFromParts(env, type, dims, rank, data, InputMemory::kBorrow, &borrowed);
    const ByteView view = ReadBytes(env, data);  // what TensorFromParts wrapped, size checked
    if (kept->value) g_ort->ReleaseValue(kept->value);
    kept->slot = k;
    kept->type = type;
    kept->rank = rank;
    std::copy(dims, dims + rank, kept->dims);
    kept->bytes = view.bytes;
    // An empty tensor points at a block of its own, never the caller's: keep no address then.
    kept->data = view.bytes ? view.data : nullptr;
    kept->value = v.release();
    return kept->value;
  }

  // Appends per output to `meta` {kind, type, rank, dims...} and returns the data of each
  // output. Kinds: 1, a tensor whose data is the TypedArray returned; 0, another value in
  // the general encoding; 2, a tensor whose bytes were copied into `scratch`'s byte buffer,
  // its meta followed by {byteOffset, length} and its data returned as undefined (a
  // synchronous call only: JS slices them out before the next call reuses the buffer).
  // With `keep` (sized like the outputs), the OrtValue of an output copied into the scratch
  // is moved there for the next call instead of released.
  const std::vector<Napi::Value>& ResultsFast(Napi::Env env, std::vector<double>* meta, const Scratch* scratch = nullptr,
                                              std::vector<OrtValue*>* keep = nullptr) {
    datas.clear();
    std::vector<int64_t>& dims = out_dims;
    size_t used = 0;
    for (size_t i = 0; i < outputs.size(); i++) {
      ValuePtr v(outputs[i]);
      outputs[i] = nullptr;
      // A None optional tensor has no shape to read: it takes the general encoding, which
      // makes it null. (IsTensor, not GetValueType: that one builds and frees a whole
      // OrtTypeInfo, ~1.5k instructions per output.)
      int has_value = 0, is_tensor = 0;
      if (v) ORT_THROW_ON_ERROR(env, g_ort->HasValue(v.get(), &has_value));
      if (has_value) ORT_THROW_ON_ERROR(env, g_ort->IsTensor(v.get(), &is_tensor));
      if (!is_tensor) {
        meta->push_back(0);
        datas.push_back(ValueToJs(env, v.release(), borrowed));
        continue;
      }
      int type = 0;
      size_t offset = 0, length = 0;
      const bool in_scratch = scratch && scratch->out &&
          CopyOutputToScratch(env, v.get(), scratch->out, scratch->out_len, &used, &type, &dims, &offset, &length);
      datas.push_back(in_scratch ? env.Undefined() : OutputTensor(env, std::move(v), borrowed, &type, &dims));
      meta->push_back(in_scratch ? 2 : 1);
      meta->push_back(type);
      meta->push_back(static_cast<double>(dims.size()));
      for (int64_t d : dims) meta->push_back(static_cast<double>(d));
      if (in_scratch) {
        meta->push_back(static_cast<double>(offset));
        meta->push_back(static_cast<double>(length));
        if (keep) (*keep)[i] = v.release();
      }
    }
    return datas;
  }

  OrtStatus* Run(OrtSession* session) {
    return g_ort->Run(session, RunOptionsOrDefault(run_options), input_names.data(), input_ptrs.data(), input_ptrs.size(),
                      output_names.data(), output_names.size(), outputs.data());
  }

  Napi::Array Results(Napi::Env env) {
    Napi::Array arr = Napi::Array::New(env, outputs.size());
    for (size_t i = 0; i < outputs.size(); i++) {
      OrtValue* v = outputs[i];
      outputs[i] = nullptr;  // ValueToJs owns it now, even if it throws
      arr.Set(static_cast<uint32_t>(i), ValueToJs(env, v, borrowed));
    }
    return arr;
  }
};

}  // namespace

// [meta: Float64Array, ...data]
Napi::Array MetaAndData(Napi::Env env, const std::vector<double>& meta, const std::vector<Napi::Value>& datas) {
  Napi::Float64Array m = Napi::Float64Array::New(env, meta.size());
  std::copy(meta.begin(), meta.end(), m.Data());
  Napi::Array out = Napi::Array::New(env, datas.size() + 1);
  out.Set(0u, m);
  for (size_t i = 0; i < datas.size(); i++) out.Set(static_cast<uint32_t>(i + 1), datas[i]);
  return out;
}

// What runSyncT() returns: the single output's data, or an array of them, with their
// descriptors written into `scratch`; descriptors too many for it (hundreds of outputs) come
// in their own array instead, as {overflow: [meta, ...data]}.
static Napi::Value SyncStyleResult(Napi::Env env, const std::vector<double>& meta, const std::vector<Napi::Value>& datas,
                                   const Scratch& scratch) {
  if (meta.size() > scratch.len) {
    Napi::Object o = Napi::Object::New(env);
    o.Set("overflow", MetaAndData(env, meta, datas));
    return o;
  }
  std::copy(meta.begin(), meta.end(), scratch.data);
  if (datas.size() == 1) return datas[0];
  Napi::Array out = Napi::Array::New(env, datas.size());
  for (size_t i = 0; i < datas.size(); i++) out.Set(static_cast<uint32_t>(i), datas[i]);
  return out;
}

// One run() on the RunExecutor: inputs were copied on the JS thread, so the caller may
// reuse its arrays at once; outputs are converted back on the JS thread.
class RunJob : public RunExecutor::Job {
 public:
  RunJob(Napi::Env env, Session* session, Napi::Object self, Napi::Value run_options)
      : session_(session), deferred_(Napi::Promise::Deferred::New(env)) {
    self_.Reset(self, 1);
    if (run_options.IsObject()) run_options_ref_.Reset(run_options.As<Napi::Object>(), 1);
  }
  RunCall call;
  bool fast = false;
  // The result slot JS gave this run (Session::RequestedSlot), or -1.
  int slot = -1;
  Napi::Promise Promise() { return deferred_.Promise(); }

  void Execute() override { status_ = Status::FromOrt(call.Run(session_->ort())); }

  void Complete(Napi::Env env) override {
    session_->EndRun();
    if (!status_.ok) {
      deferred_.Reject(ErrorFromStatus(env, status_).Value());
      return;
    }
    try {
      deferred_.Resolve(fast ? FastResult(env) : call.Results(env).As<Napi::Value>());
    } catch (const Napi::Error& e) {
      deferred_.Reject(e.Value());
    }
  }

  void Abandon() override {
    // The env is gone: its references are freed with it.
    self_.SuppressDestruct();
    run_options_ref_.SuppressDestruct();
  }

  // Without a slot, [meta: Float64Array, data...]: this run's own meta array, as completions
  // of other runs may land before the awaiting code reads it. With one, what runSyncT()
  // returns, its descriptors and small outputs' bytes written into the slot.
  Napi::Value FastResult(Napi::Env env) {
    std::vector<double> meta;
    if (slot < 0) {
      const std::vector<Napi::Value>& datas = call.ResultsFast(env, &meta);
      return MetaAndData(env, meta, datas);
    }
    Scratch view;
    session_->SlotView(slot, &view);
    const std::vector<Napi::Value>& datas = call.ResultsFast(env, &meta, &view);
    return SyncStyleResult(env, meta, datas, view);
  }

 private:
  Session* session_;
  Napi::ObjectReference self_;
  Napi::ObjectReference run_options_ref_;
  Napi::Promise::Deferred deferred_;
  Status status_;
};


Napi::Function Session::Init(Napi::Env env) {
  return DefineClass(env, "Session",
                     {InstanceMethod<&Session::JS_load>("load"),
                      InstanceMethod<&Session::JS_runSync>("runSync"),
                      InstanceMethod<&Session::JS_run>("run"),
                      InstanceMethod<&Session::JS_runSyncT>("runSyncT"),
                      InstanceMethod<&Session::JS_bindRunSync>("bindRunSync"),
                      InstanceMethod<&Session::JS_runT>("runT"),
                      InstanceMethod<&Session::JS_setScratch>("setScratch"),
                      InstanceMethod<&Session::JS_setSlots>("setSlots"),
                      InstanceMethod<&Session::JS_release>("release"),
                      InstanceMethod<&Session::JS_endProfiling>("endProfiling"),
                      InstanceAccessor<&Session::JS_inflight>("inflight")});
}

Session::Session(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Session>(info) {
  TagObject(info.Env(), info.This().As<Napi::Object>(), kSessionTag);
}

Session::~Session() {
  sync_reuse_.Clear();
  if (session_) g_ort->ReleaseSession(session_);
}

void Session::CheckUsable(Napi::Env env) const {
  if (released_) ORTEX_THROW(env, "ERR_SESSION_RELEASED", "The session has been released; create a new one");
  if (!session_) ORTEX_THROW(env, "ERR_SESSION_NOT_LOADED", "The session has no model loaded yet");
}

void Session::Adopt(OrtSession* session, std::vector<ValueInfo> inputs, std::vector<ValueInfo> outputs) {
  session_ = session;
  inputs_ = std::move(inputs);
  outputs_ = std::move(outputs);
  for (const auto& v : inputs_) input_name_ptrs_.push_back(v.name.c_str());
  for (const auto& v : outputs_) output_name_ptrs_.push_back(v.name.c_str());
  sync_reuse_.FindNeverLent(inputs_, outputs_);
}

// load(pathOrBytes: string | Uint8Array, options: object) -> Promise<info>
Napi::Value Session::JS_load(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (session_ || loading_ || released_) ORTEX_THROW(env, "ERR_SESSION_STATE", "load() may be called once");
  REQUIRE_ARG(info, 1, IsObject, "an options object");
  SessionConfig config = ReadSessionConfig(env, info[1].As<Napi::Object>());
  ModelSource source = ModelSource::From(env, info[0]);
  auto* worker = new LoadWorker(env, this, info.This().As<Napi::Object>(), std::move(config));
  worker->source_ = std::move(source);
  loading_ = true;
  Napi::Promise p = worker->Promise();
  worker->Queue();
  return p;
}

Napi::Value Session::JS_runSync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CheckUsable(env);
  RunCall call;
  call.Prepare(env, this, info[0], info[1], info[2], InputMemory::kBorrow);
  call.run_options = info.Length() > 3 ? RunOptions::From(env, info[3]) : nullptr;
  OrtStatus* s = call.Run(session_);
  if (s) ThrowStatus(env, s);
  return call.Results(env);
}

Napi::Value Session::JS_run(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CheckUsable(env);
  Napi::Value ro = info.Length() > 3 ? info[3] : env.Undefined();
  auto job = std::make_unique<RunJob>(env, this, info.This().As<Napi::Object>(), ro);
  job->call.Prepare(env, this, info[0], info[1], info[2], InputMemory::kCopy);
  job->call.run_options = RunOptions::From(env, ro);
  return Submit(env, std::move(job));
}

// setScratch(Float64Array): the buffer the fast calling convention shares with JS.
Napi::Value Session::JS_setScratch(const Napi::CallbackInfo& info) {
  scratch_.Set(info);
  return info.Env().Undefined();
}

// setSlots(meta: Float64Array, bytes: Uint8Array, count): the result slots of runT(). A run
// in flight may be writing into the old ones: refused then.
Napi::Value Session::JS_setSlots(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (inflight_ > 0) ORTEX_THROW(env, "ERR_SESSION_BUSY", "setSlots() while runs are in flight");
  REQUIRE_ARG(info, 2, IsNumber, "a slot count");
  const double count = info[2].As<Napi::Number>().DoubleValue();
  if (!(count >= 1 && count <= 64 && count == static_cast<double>(static_cast<size_t>(count))))
    ORTEX_THROW_TYPE(env, "ERR_INVALID_ARG", "Expected a slot count from 1 to 64");
  slots_.Set(info);
  slot_count_ = static_cast<size_t>(count);
  return env.Undefined();
}

int Session::RequestedSlot() const {
  if (slot_count_ == 0 || scratch_.len == 0) return -1;
  const double x = scratch_.data[scratch_.len - 1];
  if (!(x >= 0 && x < static_cast<double>(slot_count_) && x == static_cast<double>(static_cast<int>(x)))) return -1;
  return static_cast<int>(x);
}

void Session::SlotView(int i, Scratch* view) const {
  const size_t meta = slots_.len / slot_count_;
  const size_t bytes = slots_.out_len / slot_count_ / 8 * 8;  // each part 8-aligned
  view->data = slots_.data + meta * static_cast<size_t>(i);
  view->len = meta;
  view->out = slots_.out ? slots_.out + bytes * static_cast<size_t>(i) : nullptr;
  view->out_len = slots_.out ? bytes : 0;
}

// runSyncT(...data): tensor feeds described in the scratch. Returns the single output's
// data, or an array of them; output descriptors are written back into the scratch, and
// small outputs' bytes into its byte buffer (their data then undefined).
Napi::Value Session::JS_runSyncT(const Napi::CallbackInfo& info) { return RunSyncFast(info); }

// bindRunSync() -> function(...data): runSyncT() as a plain function that carries this
// Session in its callback data, which spares each call the ObjectWrap lookup of `this`
// (napi_unwrap: a private-symbol property lookup, ~800 instructions) and V8's receiver
// check. The function holds the session object as a property, so the Session outlives it.
Napi::Value Session::JS_bindRunSync(const Napi::CallbackInfo& info) {
  Napi::Function fn = Napi::Function::New<&Session::RunSyncBound>(info.Env(), "runSyncT", this);
  fn.Set("session", info.This());
  return fn;
}

Napi::Value Session::RunSyncBound(const Napi::CallbackInfo& info) {
  return static_cast<Session*>(info.Data())->RunSyncFast(info);
}

Napi::Value Session::RunSyncFast(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CheckUsable(env);
  // One call's vectors kept from call to call on this thread, so the hot path allocates none
  // of them; emptied on the way out, whether by return or by throw, so no OrtValue outlives
  // its call. A call nested in this one (user JS can run inside it: a getter on a string[]
  // feed's element, say, calling runSync) takes vectors of its own instead.
  thread_local RunCall kept_call;
  thread_local std::vector<double> kept_meta;
  thread_local bool kept_in_use = false;
  RunCall own_call;
  std::vector<double> own_meta;
  const bool outermost = !kept_in_use;
  RunCall& call = outermost ? kept_call : own_call;
  std::vector<double>& meta = outermost ? kept_meta : own_meta;
  if (outermost) kept_in_use = true;
  struct Emptied {
    RunCall& call;
    std::vector<double>& meta;
    bool outermost;
    ~Emptied() {
      call.Reset();
      meta.clear();
      if (outermost) kept_in_use = false;
    }
  } emptied{call, meta, outermost};
  SyncReuse* kept = outermost ? &sync_reuse_ : nullptr;
  const bool same = call.PrepareFast(env, this, info, InputMemory::kBorrow, kept);
  const bool lent = kept && kept->LendOutputs(same, call.output_names, &call.outputs);
  CheckUsable(env);  // user JS reading a feed (a getter) may have released the session
  OrtStatus* s = call.Run(session_);
  if (s && lent) {
    // Refused, most likely for an output shape that depends on the inputs' values: again
    // with ORT allocating, and if that works, lend no outputs to this session again.
    g_ort->ReleaseStatus(s);
    for (OrtValue*& v : call.outputs) {
      if (v) g_ort->ReleaseValue(v);
      v = nullptr;
    }
    s = call.Run(session_);
    if (!s) kept->keep_outputs = false;
  }
  if (s) ThrowStatus(env, s);
  const std::vector<Napi::Value>& datas = call.ResultsFast(env, &meta, &scratch_, kept && kept->keep_outputs ? &kept->outputs : nullptr);
  return SyncStyleResult(env, meta, datas, scratch_);
}

// runT(...data) -> Promise<[meta, ...data]>: as runSyncT, on the thread pool, inputs copied.
Napi::Value Session::JS_runT(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CheckUsable(env);
  auto job = std::make_unique<RunJob>(env, this, info.This().As<Napi::Object>(), env.Undefined());
  job->call.PrepareFast(env, this, info, InputMemory::kCopy);
  job->fast = true;
  job->slot = RequestedSlot();
  return Submit(env, std::move(job));
}

Napi::Promise Session::Submit(Napi::Env env, std::unique_ptr<RunJob> job) {
  RunExecutor& executor = RunExecutor::ForEnv(env);
  BeginRun();
  Napi::Promise p = job->Promise();
  executor.Submit(job.release());
  return p;
}

Napi::Value Session::JS_release(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (released_) return env.Undefined();
  if (inflight_ > 0)
    ORTEX_THROW(env, "ERR_SESSION_BUSY",
                std::to_string(inflight_) + " run(s) are still in flight; await them before release()");
  sync_reuse_.Clear();
  if (session_) g_ort->ReleaseSession(session_);
  session_ = nullptr;
  released_ = true;
  return env.Undefined();
}

Napi::Value Session::JS_endProfiling(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CheckUsable(env);
  char* path = nullptr;
  ORT_THROW_ON_ERROR(env, g_ort->SessionEndProfiling(session_, CpuAllocator(), &path));
  Napi::String out = Napi::String::New(env, path ? path : "");
  if (path) CpuAllocator()->Free(CpuAllocator(), path);
  return out;
}

Napi::Value Session::JS_inflight(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), inflight_);
}

}  // namespace ortex
