#include "io_binding.h"

#include "common.h"
#include "run_executor.h"
#include "run_options.h"
#include "session.h"
#include "tensor.h"
#include "value_convert.h"

#include <memory>
#include <string>

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
  session_ = UnwrapTagged<Session>(env, info[0], kSessionTag, "a Session");
  session_->CheckUsable(env);
  session_ref_.Reset(info[0].As<Napi::Object>(), 1);
  ORT_THROW_ON_ERROR(env, g_ort->CreateIoBinding(session_->ort(), &binding_));
  inputs_.resize(session_->input_names().size());
  outputs_.resize(session_->output_names().size());
}

IoBinding::~IoBinding() {
  if (binding_) g_ort->ReleaseIoBinding(binding_);
}

void IoBinding::CheckAttached(Napi::Env env) const {
  // A bound buffer that was transferred (ArrayBuffer.prototype.transfer, postMessage) is
  // freed memory to ORT, and the pages a resizable ArrayBuffer gave up by shrinking are
  // unmapped: refuse the run rather than let it read or write there.
  for (const std::vector<Slot>* slots : {&inputs_, &outputs_}) {
    for (const Slot& s : *slots) {
      if (s.keep_alive.IsEmpty() || s.bytes == 0) continue;
      const ByteView now = ReadBytes(env, s.keep_alive.Value());
      if (now.data != s.data || now.bytes < s.bytes)
        ORTEX_THROW(env, "ERR_INPUT_DETACHED",
                    "A tensor bound to this binding was detached (transferred) or its buffer resized smaller (" +
                        std::to_string(now.bytes) + " of " + std::to_string(s.bytes) + " bytes left); bind it again");
    }
  }
}

void IoBinding::Hold(Napi::Env env, Slot& slot, Napi::Value encoded) {
  Napi::Value data = encoded.As<Napi::Array>().Get(1u);
  slot.keep_alive = Napi::Reference<Napi::Value>::New(data, 1);
  // Strings (a JS array) were copied into the OrtValue: nothing of the caller's is borrowed.
  const ByteView view = data.IsArray() ? ByteView{} : ReadBytes(env, data);
  slot.data = view.data;
  slot.bytes = view.bytes;
}

void IoBinding::CheckIdle(Napi::Env env) const {
  session_->CheckUsable(env);
  if (inflight_ > 0)
    ORTEX_THROW(env, "ERR_BINDING_BUSY", "A run over this binding is in flight; await it before changing or running it again");
}

OrtAllocator* IoBinding::HostAllocator() {
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

BorrowedRanges IoBinding::InputRanges() const {
  BorrowedRanges ranges;
  for (const Slot& s : inputs_) {
    void* data = nullptr;
    size_t bytes = 0;
    if (!s.value || g_ort->GetTensorMutableData(s.value.get(), &data) || !data) continue;
    if (g_ort->GetTensorSizeInBytes(s.value.get(), &bytes)) continue;
    ranges.emplace_back(static_cast<const char*>(data), static_cast<const char*>(data) + bytes);
  }
  return ranges;
}

// bindInput(index, encodedTensor): shares the tensor's memory; replaces an earlier binding.
Napi::Value IoBinding::JS_bindInput(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CheckIdle(env);
  uint32_t k = info[0].As<Napi::Number>().Uint32Value();
  if (k >= inputs_.size()) ORTEX_THROW(env, "ERR_INPUT_NAME", "Input index out of range");
  if (!info[1].IsArray()) ORTEX_THROW_TYPE(env, "ERR_INPUT_TYPE", "Expected an encoded tensor");
  ValuePtr v = ValueFromJs(env, info[1], InputMemory::kBorrow, nullptr);
  ORT_THROW_ON_ERROR(env, g_ort->BindInput(binding_, session_->input_names()[k], v.get()));
  Slot& slot = inputs_[k];
  slot.value = std::move(v);
  Hold(env, slot, info[1]);
  return env.Undefined();
}

// bindOutput(index, encodedTensor | null): a preallocated buffer, or null to let ORT allocate
// on the CPU at each run.
Napi::Value IoBinding::JS_bindOutput(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CheckIdle(env);
  uint32_t k = info[0].As<Napi::Number>().Uint32Value();
  if (k >= outputs_.size()) ORTEX_THROW(env, "ERR_OUTPUT_NAME", "Output index out of range");
  const char* name = session_->output_names()[k];
  Slot& slot = outputs_[k];
  if (info[1].IsNull() || info[1].IsUndefined()) {
    ORT_THROW_ON_ERROR(env, g_ort->BindOutputToDevice(binding_, name, CpuMemoryInfo()));
    slot = Slot{};
    return env.Undefined();
  }
  if (!info[1].IsArray()) ORTEX_THROW_TYPE(env, "ERR_INPUT_TYPE", "Expected an encoded tensor");
  ValuePtr v = ValueFromJs(env, info[1], InputMemory::kBorrow, nullptr);
  ORT_THROW_ON_ERROR(env, g_ort->BindOutput(binding_, name, v.get()));
  slot.value = std::move(v);
  Hold(env, slot, info[1]);
  slot.preallocated = true;
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
  ORT_THROW_ON_ERROR(env, g_ort->CreateTensorAsOrtValue(HostAllocator(), dims.data(), dims.size(),
                                                        static_cast<ONNXTensorElementDataType>(type), &v));
  return ValueToJs(env, v, {});
}

Napi::Value IoBinding::BoundOutputs(Napi::Env env) {
  OrtAllocator* a = CpuAllocator();
  auto free_with = [a](void* p) { if (p) a->Free(a, p); };
  OrtValue** raw_values = nullptr;
  size_t count = 0;
  ORT_THROW_ON_ERROR(env, g_ort->GetBoundOutputValues(binding_, a, &raw_values, &count));
  std::unique_ptr<void, decltype(free_with)> values_mem(raw_values, free_with);
  std::vector<ValuePtr> values;  // owned from here on, whatever throws below
  for (size_t i = 0; i < count; i++) values.emplace_back(raw_values[i]);
  char* raw_names = nullptr;
  size_t* raw_lengths = nullptr;
  size_t name_count = 0;
  ORT_THROW_ON_ERROR(env, g_ort->GetBoundOutputNames(binding_, a, &raw_names, &raw_lengths, &name_count));
  std::unique_ptr<void, decltype(free_with)> names_mem(raw_names, free_with), lengths_mem(raw_lengths, free_with);

  // Only needed when an ORT-allocated output is handed to JS; most bindings preallocate.
  BorrowedRanges ranges;
  bool have_ranges = false;
  const auto& out_names = session_->output_names();
  Napi::Object out = Napi::Object::New(env);
  size_t offset = 0;
  for (size_t i = 0; i < count && i < name_count; i++) {
    std::string name(raw_names + offset, raw_lengths[i]);
    offset += raw_lengths[i];
    size_t k = 0;
    while (k < out_names.size() && name != out_names[k]) k++;
    if (k < outputs_.size() && outputs_[k].preallocated) continue;  // already in the caller's tensor
    if (!have_ranges) {
      ranges = InputRanges();
      have_ranges = true;
    }
    out.Set(name, ValueToJs(env, values[i].release(), ranges));
    // The binding still holds this value; a next run would write into it in place.
    ORT_THROW_ON_ERROR(env, g_ort->BindOutputToDevice(binding_, name.c_str(), CpuMemoryInfo()));
  }
  return out;
}

Napi::Value IoBinding::JS_runSync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CheckIdle(env);
  CheckAttached(env);
  OrtRunOptions* ro = info.Length() > 0 ? RunOptions::From(env, info[0]) : nullptr;
  ORT_THROW_ON_ERROR(env, g_ort->RunWithBinding(session_->ort(), RunOptionsOrDefault(ro), binding_));
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
    status_ = Status::FromOrt(g_ort->RunWithBinding(binding_->session()->ort(), RunOptionsOrDefault(ro_), binding_->ort()));
  }
  void Complete(Napi::Env env) override {
    binding_->session()->EndRun();
    binding_->EndRun();
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
  CheckIdle(env);
  CheckAttached(env);
  RunExecutor& executor = RunExecutor::ForEnv(env);
  auto* job = new BindingRunJob(env, this, info.This().As<Napi::Object>(), info.Length() > 0 ? info[0] : env.Undefined());
  session_->BeginRun();
  inflight_++;
  Napi::Promise p = job->Promise();
  executor.Submit(job);
  return p;
}

Napi::Value IoBinding::JS_clear(const Napi::CallbackInfo& info) {
  CheckIdle(info.Env());
  g_ort->ClearBoundInputs(binding_);
  g_ort->ClearBoundOutputs(binding_);
  for (Slot& s : inputs_) s = Slot{};
  for (Slot& s : outputs_) s = Slot{};
  return info.Env().Undefined();
}

Napi::Value IoBinding::JS_hostMemory(const Napi::CallbackInfo& info) {
  session_->CheckUsable(info.Env());
  HostAllocator();
  return Napi::String::New(info.Env(), pinned_ ? "cuda-pinned" : "cpu");
}

}  // namespace ortex
