// raw_model.h: the raw C baseline of bench/ -- one session and the least a binding must do
// per call over OrtApi::Run. Shared by the standalone loop (raw_run.cc, a process of its own)
// and the in-process one (raw_loop_addon.cc, timed in the same process as ortex).
//
// RunOnce() does what a binding that keeps nothing from one call to the next must do, and
// nothing more: wrap the input buffers in OrtValues (no copy), Run with ORT allocating the
// outputs, touch each output's data pointer, release everything. (ortex's runSync() keeps a
// call's OrtValues for the next call of the same shape, native/sync_reuse.h, and io.runSync()
// binds them once, so both leave ORT less to do per call than this.) The session options are
// the ones bench/trials.ts sessionOptions() gives ortex and onnxruntime-node.
//
// Inputs are generated from the model's own metadata: the first dynamic dim is the batch,
// any later dynamic dim is seq_len; float inputs are uniform in [-1, 1), integer inputs
// whose name contains "mask" are all ones, other integer inputs are ids in [0, 1000).
// Any ORT failure throws std::runtime_error with ORT's message.
#pragma once

#include <onnxruntime_c_api.h>

#include <cstdint>
#include <ctime>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

namespace raw_bench {

inline int64_t NowNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

class RawModel {
 public:
  RawModel(const char* model_path, int64_t batch, int intra_op_threads, int64_t seq_len) {
    api_ = OrtGetApiBase()->GetApi(ORT_API_VERSION);
    if (api_ == nullptr) throw std::runtime_error("libonnxruntime does not provide ORT API version " + std::to_string(ORT_API_VERSION));
    try {
      Open(model_path, batch, intra_op_threads, seq_len);
    } catch (...) {
      Release();
      throw;
    }
  }

  RawModel(const RawModel&) = delete;
  RawModel& operator=(const RawModel&) = delete;
  ~RawModel() { Release(); }

  // One call: wrap the inputs, Run, touch the outputs, release everything. A failure
  // releases what the call made before it throws, so the next call starts clean.
  void RunOnce() {
    const size_t n_in = inputs_.size();
    const size_t n_out = output_values_.size();
    try {
      for (size_t i = 0; i < n_in; i++) {
        Input& in = inputs_[i];
        Check(api_->CreateTensorWithDataAsOrtValue(memory_info_, in.data(), in.bytes(), in.dims.data(), in.dims.size(),
                                                   in.type, &input_values_[i]),
              "CreateTensorWithDataAsOrtValue");
      }
      Check(api_->Run(session_, nullptr, input_name_ptrs_.data(), input_values_.data(), n_in, output_name_ptrs_.data(), n_out,
                      output_values_.data()),
            "Run");
      for (size_t i = 0; i < n_out; i++) {
        void* data = nullptr;
        Check(api_->GetTensorMutableData(output_values_[i], &data), "GetTensorMutableData");
        if (data != nullptr) sink_ = sink_ + *static_cast<float*>(data);
      }
    } catch (...) {
      ReleaseValues();
      throw;
    }
    ReleaseValues();
  }

 private:
  void Open(const char* model_path, int64_t batch, int intra_op_threads, int64_t seq_len) {
    // In a process that already has an OrtEnv (ortex's), ORT hands back that one.
    Check(api_->CreateEnv(ORT_LOGGING_LEVEL_WARNING, "raw_run", &env_), "CreateEnv");
    Check(api_->CreateSessionOptions(&options_), "CreateSessionOptions");
    Check(api_->SetIntraOpNumThreads(options_, intra_op_threads), "SetIntraOpNumThreads");
    Check(api_->SetInterOpNumThreads(options_, 1), "SetInterOpNumThreads");
    Check(api_->SetSessionGraphOptimizationLevel(options_, ORT_ENABLE_ALL), "SetSessionGraphOptimizationLevel");
    Check(api_->SetSessionExecutionMode(options_, ORT_SEQUENTIAL), "SetSessionExecutionMode");
    Check(api_->CreateSession(env_, model_path, options_, &session_), "CreateSession");
    Check(api_->CreateCpuMemoryInfo(OrtArenaAllocator, OrtMemTypeDefault, &memory_info_), "CreateCpuMemoryInfo");

    OrtAllocator* allocator = nullptr;
    Check(api_->GetAllocatorWithDefaultOptions(&allocator), "GetAllocatorWithDefaultOptions");
    std::mt19937 rng(42);
    size_t input_count = 0;
    Check(api_->SessionGetInputCount(session_, &input_count), "SessionGetInputCount");
    for (size_t i = 0; i < input_count; i++) inputs_.push_back(DescribeInput(allocator, i, batch, seq_len, rng));
    size_t output_count = 0;
    Check(api_->SessionGetOutputCount(session_, &output_count), "SessionGetOutputCount");
    for (size_t i = 0; i < output_count; i++) {
      char* name = nullptr;
      Check(api_->SessionGetOutputName(session_, i, allocator, &name), "SessionGetOutputName");
      output_names_.emplace_back(name);
      Check(api_->AllocatorFree(allocator, name), "AllocatorFree");
    }
    for (const auto& in : inputs_) input_name_ptrs_.push_back(in.name.c_str());
    for (const auto& n : output_names_) output_name_ptrs_.push_back(n.c_str());
    input_values_.assign(input_count, nullptr);
    output_values_.assign(output_count, nullptr);
  }

  void ReleaseValues() {
    for (OrtValue*& v : input_values_) {
      if (v) api_->ReleaseValue(v);
      v = nullptr;
    }
    for (OrtValue*& v : output_values_) {
      if (v) api_->ReleaseValue(v);
      v = nullptr;
    }
  }

  void Release() {
    if (memory_info_) api_->ReleaseMemoryInfo(memory_info_);
    if (session_) api_->ReleaseSession(session_);
    if (options_) api_->ReleaseSessionOptions(options_);
    if (env_) api_->ReleaseEnv(env_);
    memory_info_ = nullptr;
    session_ = nullptr;
    options_ = nullptr;
    env_ = nullptr;
  }

  // One model input: its metadata and the buffer every call wraps.
  struct Input {
    std::string name;
    ONNXTensorElementDataType type = ONNX_TENSOR_ELEMENT_DATA_TYPE_UNDEFINED;
    std::vector<int64_t> dims;
    std::vector<float> f32;
    std::vector<int64_t> i64;
    std::vector<int32_t> i32;

    void* data() {
      if (!f32.empty()) return f32.data();
      if (!i64.empty()) return i64.data();
      return i32.data();
    }
    size_t bytes() const { return f32.size() * 4 + i64.size() * 8 + i32.size() * 4; }
  };

  void Check(OrtStatus* status, const char* what) const {
    if (status == nullptr) return;
    std::string message = std::string(what) + " failed: " + api_->GetErrorMessage(status);
    api_->ReleaseStatus(status);
    throw std::runtime_error(message);
  }

  Input DescribeInput(OrtAllocator* allocator, size_t i, int64_t batch, int64_t seq_len, std::mt19937& rng) const {
    Input in;
    char* name = nullptr;
    Check(api_->SessionGetInputName(session_, i, allocator, &name), "SessionGetInputName");
    in.name = name;
    Check(api_->AllocatorFree(allocator, name), "AllocatorFree");

    OrtTypeInfo* type_info = nullptr;
    Check(api_->SessionGetInputTypeInfo(session_, i, &type_info), "SessionGetInputTypeInfo");
    const OrtTensorTypeAndShapeInfo* tensor_info = nullptr;
    OrtStatus* cast = api_->CastTypeInfoToTensorInfo(type_info, &tensor_info);
    if (cast != nullptr || tensor_info == nullptr) {
      api_->ReleaseTypeInfo(type_info);
      Check(cast, "CastTypeInfoToTensorInfo");
      throw std::runtime_error("input '" + in.name + "' is not a tensor");
    }
    size_t rank = 0;
    OrtStatus* status = api_->GetTensorElementType(tensor_info, &in.type);
    if (status == nullptr) status = api_->GetDimensionsCount(tensor_info, &rank);
    in.dims.resize(rank);
    if (status == nullptr) status = api_->GetDimensions(tensor_info, in.dims.data(), rank);
    api_->ReleaseTypeInfo(type_info);
    Check(status, "reading the input's type and shape");

    bool first_dynamic = true;
    size_t count = 1;
    for (auto& d : in.dims) {
      if (d < 0) {
        d = first_dynamic ? batch : seq_len;
        first_dynamic = false;
      }
      count *= static_cast<size_t>(d);
    }

    const bool is_mask = in.name.find("mask") != std::string::npos;
    std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
    std::uniform_int_distribution<int64_t> ids(0, 999);
    switch (in.type) {
      case ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT:
        in.f32.resize(count);
        for (auto& v : in.f32) v = uniform(rng);
        break;
      case ONNX_TENSOR_ELEMENT_DATA_TYPE_INT64:
        in.i64.resize(count);
        for (auto& v : in.i64) v = is_mask ? 1 : ids(rng);
        break;
      case ONNX_TENSOR_ELEMENT_DATA_TYPE_INT32:
        in.i32.resize(count);
        for (auto& v : in.i32) v = is_mask ? 1 : static_cast<int32_t>(ids(rng));
        break;
      default:
        throw std::runtime_error("input '" + in.name + "' has element type " + std::to_string(static_cast<int>(in.type)) +
                                 "; only float, int64 and int32 are generated");
    }
    return in;
  }

  const OrtApi* api_ = nullptr;
  OrtEnv* env_ = nullptr;
  OrtSessionOptions* options_ = nullptr;
  OrtSession* session_ = nullptr;
  OrtMemoryInfo* memory_info_ = nullptr;
  std::vector<Input> inputs_;
  std::vector<std::string> output_names_;
  std::vector<const char*> input_name_ptrs_, output_name_ptrs_;
  std::vector<OrtValue*> input_values_, output_values_;
  volatile float sink_ = 0;
};

}  // namespace raw_bench
