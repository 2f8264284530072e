#include "io_binding.h"

#include "common.h"
#include "run_executor.h"
#include "run_options.h"
#include "session.h"
#include "tensor.h"
#include "value_convert.h"

namespace ortex {

Napi::Function IoBinding::Init(Napi::Env env) {
  return DefineClass(env, "IoBinding",
                     {InstanceMethod<&IoBinding::JS_bindInput>("bindInput"),
                      InstanceMethod<&IoBinding::JS_bindOutput>("bindOutput"),
                      InstanceMethod<&IoBinding::JS_allocate>("allocate"),
                      InstanceMethod<&IoBinding::JS_runSync>("runSync"),
                      InstanceMethod<&IoBinding::JS_run>("run"),
                      InstanceMethod<&IoBinding::JS_clear>("clear"),
                      InstanceAccessor<&IoBinding::JS_hostMemory>("hostMemory")});
}

// new IoBinding(session)
IoBinding::IoBinding(const Napi::CallbackInfo& info) : Napi::ObjectWrap<IoBinding>(info) {
  Napi::Env env = info.Env();
  REQUIRE_ARG(info, 0, IsObject, "a Session");
  session_ = Napi::ObjectWrap<Session>::Unwrap(info[0].As<Napi::Object>());
  session_->CheckUsable(env);
  session_ref_.Reset(info[0].As<Napi::Object>(), 1);
  ORT_THROW_ON_ERROR(env, g_ort->CreateIoBinding(session_->ort(), &binding_));
  output_preallocated_.assign(session_->output_names().size(), false);
}

IoBinding::~IoBinding() {
  if (binding_) g_ort->ReleaseIoBinding(binding_);
  for (OrtValue* v : bound_values_) g_ort->ReleaseValue(v);
  if (pinned_) g_ort->ReleaseAllocator(pinned_);
}

OrtAllocator* IoBinding::HostAllocator(Napi::Env env) {
  if (!pinned_tried_ && session_->uses_cuda()) {
    pinned_tried_ = true;
    OrtMemoryInfo* mi = nullptr;
    if (!g_ort->CreateMemoryInfo("CudaPinned", OrtDeviceAllocator, 0, OrtMemTypeCPUOutput, &mi)) {
      OrtStatus* s = g_ort->CreateAllocator(session_->ort(), mi, &pinned_);
      if (s) g_ort->ReleaseStatus(s);  // no CUDA provider actually loaded: plain CPU memory
      g_ort->ReleaseMemoryInfo(mi);
    }
  }
  return pinned_ ? pinned_ : CpuAllocator();
}

// bindInput(index, encodedTensor)
Napi::Value IoBinding::JS_bindInput(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  session_->CheckUsable(env);
  uint32_t k = info[0].As<Napi::Number>().Uint32Value();
  if (k >= session_->input_names().size()) ORTEX_THROW(env, "ERR_INPUT_NAME", "Input index out of range");
  ValuePtr v = ValueFromJs(env, info[1], InputMemory::kBorrow, nullptr);
  if (!v) ORTEX_THROW_TYPE(env, "ERR_INPUT_TYPE", "Cannot bind null");
  ORT_THROW_ON_ERROR(env, g_ort->BindInput(binding_, session_->input_names()[k], v.get()));
  if (info[1].IsArray()) keep_alive_.push_back(Napi::Reference<Napi::Value>::New(info[1].As<Napi::Array>().Get(1u), 1));
  bound_values_.push_back(v.release());
  return env.Undefined();
}

// bindOutput(index, encodedTensor | null): a preallocated buffer, or null to let ORT allocate
// on the CPU at each run.
Napi::Value IoBinding::JS_bindOutput(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  session_->CheckUsable(env);
  uint32_t k = info[0].As<Napi::Number>().Uint32Value();
  if (k >= session_->output_names().size()) ORTEX_THROW(env, "ERR_OUTPUT_NAME", "Output index out of range");
  const char* name = session_->output_names()[k];
  if (info[1].IsNull() || info[1].IsUndefined()) {
    ORT_THROW_ON_ERROR(env, g_ort->BindOutputToDevice(binding_, name, CpuMemoryInfo()));
    output_preallocated_[k] = false;
    return env.Undefined();
  }
  ValuePtr v = ValueFromJs(env, info[1], InputMemory::kBorrow, nullptr);
  ORT_THROW_ON_ERROR(env, g_ort->BindOutput(binding_, name, v.get()));
  keep_alive_.push_back(Napi::Reference<Napi::Value>::New(info[1].As<Napi::Array>().Get(1u), 1));
  bound_values_.push_back(v.release());
  output_preallocated_[k] = true;
  return env.Undefined();
}

// allocate(typeEnum, dims) -> encoded tensor over host memory owned by ORT (pinned on CUDA)
Napi::Value IoBinding::JS_allocate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  session_->CheckUsable(env);
  int type = info[0].As<Napi::Number>().Int32Value();
  if (!IsKnownDType(type) || type == ONNX_TENSOR_ELEMENT_DATA_TYPE_STRING)
    ORTEX_THROW_TYPE(env, "ERR_INPUT_TYPE", "allocate() takes a numeric element type");
  std::vector<int64_t> dims = ReadDims(env, info[1], nullptr);
  OrtValue* v = nullptr;
  ORT_THROW_ON_ERROR(env, g_ort->CreateTensorAsOrtValue(HostAllocator(env), dims.data(), dims.size(),
                                                        static_cast<ONNXTensorElementDataType>(type), &v));
  return ValueToJs(env, v, {});
}

Napi::Value IoBinding::BoundOutputs(Napi::Env env) {
  // Preallocated outputs are already in the caller's buffers; only the ORT-allocated ones
  // are returned, in output-index order, with null in the preallocated slots.
  OrtValue** values = nullptr;
  size_t count = 0;
  ORT_THROW_ON_ERROR(env, g_ort->GetBoundOutputValues(binding_, CpuAllocator(), &values, &count));
  char* names = nullptr;
  size_t* lengths = nullptr;
  size_t name_count = 0;
  OrtStatus* s = g_ort->GetBoundOutputNames(binding_, CpuAllocator(), &names, &lengths, &name_count);
  Napi::Object out = Napi::Object::New(env);
  size_t offset = 0;
  for (size_t i = 0; i < count; i++) {
    std::string name = (!s && i < name_count) ? std::string(names + offset, lengths[i]) : std::string();
    if (!s && i < name_count) offset += lengths[i];
    bool prealloc = false;
    for (size_t k = 0; k < session_->output_names().size(); k++)
      if (name == session_->output_names()[k]) prealloc = output_preallocated_[k];
    if (prealloc) {
      g_ort->ReleaseValue(values[i]);
      continue;
    }
    out.Set(name, ValueToJs(env, values[i], {}));
  }
  if (values) CpuAllocator()->Free(CpuAllocator(), values);
  if (names) CpuAllocator()->Free(CpuAllocator(), names);
  if (lengths) CpuAllocator()->Free(CpuAllocator(), lengths);
  if (s) ThrowStatus(env, s);
  return out;
}

Napi::Value IoBinding::JS_runSync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  session_->CheckUsable(env);
  OrtRunOptions* ro = info.Length() > 0 ? RunOptions::From(env, info[0]) : nullptr;
  ORT_THROW_ON_ERROR(env, g_ort->RunWithBinding(session_->ort(), ro, binding_));
  return BoundOutputs(env);
}

namespace {
class BindingRunJob : public RunExecutor::Job {
 public:
  BindingRunJob(Napi::Env env, IoBinding* binding, Napi::Object self, Napi::Value ro)
      : binding_(binding), deferred_(Napi::Promise::Deferred::New(env)) {
    self_.Reset(self, 1);
    if (ro.IsObject()) ro_ref_.Reset(ro.As<Napi::Object>(), 1);
    ro_ = RunOptions::From(env, ro);
  }
  Napi::Promise Promise() { return deferred_.Promise(); }
  void Execute() override {
    status_ = Status::FromOrt(g_ort->RunWithBinding(binding_->session()->ort(), ro_, binding_->ort()));
  }
  void Complete(Napi::Env env) override {
    binding_->session()->EndRun();
    if (!status_.ok) return deferred_.Reject(ErrorFromStatus(env, status_).Value());
    try {
      deferred_.Resolve(binding_->BoundOutputs(env));
    } catch (const Napi::Error& e) {
      deferred_.Reject(e.Value());
    }
  }
  void Abandon() override {
    self_.SuppressDestruct();
    ro_ref_.SuppressDestruct();
  }

 private:
  IoBinding* binding_;
  Napi::ObjectReference self_, ro_ref_;
  OrtRunOptions* ro_ = nullptr;
  Napi::Promise::Deferred deferred_;
  Status status_;
};
}  // namespace

Napi::Value IoBinding::JS_run(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  session_->CheckUsable(env);
  auto* job = new BindingRunJob(env, this, info.This().As<Napi::Object>(), info.Length() > 0 ? info[0] : env.Undefined());
  session_->BeginRun();
  Napi::Promise p = job->Promise();
  RunExecutor::ForEnv(env).Submit(job);
  return p;
}

Napi::Value IoBinding::JS_clear(const Napi::CallbackInfo& info) {
  g_ort->ClearBoundInputs(binding_);
  g_ort->ClearBoundOutputs(binding_);
  for (OrtValue* v : bound_values_) g_ort->ReleaseValue(v);
  bound_values_.clear();
  keep_alive_.clear();
  output_preallocated_.assign(output_preallocated_.size(), false);
  return info.Env().Undefined();
}

Napi::Value IoBinding::JS_hostMemory(const Napi::CallbackInfo& info) {
  HostAllocator(info.Env());
  return Napi::String::New(info.Env(), pinned_ ? "cuda-pinned" : "cpu");
}

}  // namespace ortex
