#include "session_options.h"

#include <cpu_provider_factory.h>

#include <unistd.h>

#include <cstdlib>

#include "common.h"

namespace ortex {
namespace {

int ReadInt(Napi::Object obj, const char* key, int fallback) {
  Napi::Value v = obj.Get(key);
  return v.IsNumber() ? v.As<Napi::Number>().Int32Value() : fallback;
}
int ReadBool(Napi::Object obj, const char* key) {
  Napi::Value v = obj.Get(key);
  return v.IsBoolean() ? (v.As<Napi::Boolean>().Value() ? 1 : 0) : -1;
}
std::string ReadString(Napi::Object obj, const char* key) {
  Napi::Value v = obj.Get(key);
  return v.IsString() ? v.As<Napi::String>().Utf8Value() : std::string();
}
KeyValues ReadPairs(Napi::Env env, Napi::Object obj, const char* key) {
  KeyValues out;
  Napi::Value v = obj.Get(key);
  if (v.IsUndefined() || v.IsNull()) return out;
  if (!v.IsArray()) ORTEX_THROW_TYPE(env, "ERR_INVALID_ARG", std::string("Expected [key, value][] for ") + key);
  auto arr = v.As<Napi::Array>();
  for (uint32_t i = 0; i < arr.Length(); i++) {
    auto pair = arr.Get(i).As<Napi::Array>();
    out.emplace_back(pair.Get(0u).ToString().Utf8Value(), pair.Get(1u).ToString().Utf8Value());
  }
  return out;
}

// Appends one provider. Returns the ORT status unchanged so the caller decides between
// fallback and failure.
OrtStatus* AppendProvider(OrtSessionOptions* so, const ProviderConfig& p) {
  std::vector<const char*> keys, values;
  for (const auto& kv : p.options) {
    keys.push_back(kv.first.c_str());
    values.push_back(kv.second.c_str());
  }
  if (p.name == "cpu") {
    // The CPU provider is always there; its only knob is the arena.
    for (const auto& kv : p.options)
      if (kv.first == "use_arena")
        return OrtSessionOptionsAppendExecutionProvider_CPU(so, kv.second == "1" ? 1 : 0);
    return nullptr;
  }
  if (p.name == "cuda") {
    OrtCUDAProviderOptionsV2* cuda = nullptr;
    OrtStatus* s = g_ort->CreateCUDAProviderOptions(&cuda);
    if (!s && !keys.empty()) s = g_ort->UpdateCUDAProviderOptions(cuda, keys.data(), values.data(), keys.size());
    if (!s) s = g_ort->SessionOptionsAppendExecutionProvider_CUDA_V2(so, cuda);
    if (cuda) g_ort->ReleaseCUDAProviderOptions(cuda);
    return s;
  }
  if (p.name == "tensorrt") {
    OrtTensorRTProviderOptionsV2* trt = nullptr;
    OrtStatus* s = g_ort->CreateTensorRTProviderOptions(&trt);
    if (!s && !keys.empty()) s = g_ort->UpdateTensorRTProviderOptions(trt, keys.data(), values.data(), keys.size());
    if (!s) s = g_ort->SessionOptionsAppendExecutionProvider_TensorRT_V2(so, trt);
    if (trt) g_ort->ReleaseTensorRTProviderOptions(trt);
    return s;
  }
  return g_ort->SessionOptionsAppendExecutionProvider(so, p.name.c_str(), keys.data(), values.data(), keys.size());
}

std::string FirstLine(const std::string& s) {
  std::string line = s.substr(0, s.find('\n'));
  return line;
}

// Names the provider library ORT needs and could not find, if that is why it failed.
// ORT loads providers from the folder of libonnxruntime.so.1 itself.
std::string MissingProviderLibrary(const std::string& provider) {
  if (provider != "cuda" && provider != "tensorrt") return "";
  const std::string dir = LibraryDir();
  for (const char* lib : {"libonnxruntime_providers_shared.so",
                          provider == "cuda" ? "libonnxruntime_providers_cuda.so" : "libonnxruntime_providers_tensorrt.so"}) {
    if (access((dir + "/" + lib).c_str(), F_OK) != 0)
      return std::string(lib) + " was not found in " + dir +
             " (install the GPU providers with CUDA 12, cuDNN 9" + (provider == "tensorrt" ? " and TensorRT 10" : "") + ")";
  }
  return "";
}

}  // namespace

SessionConfig ReadSessionConfig(Napi::Env env, Napi::Object obj) {
  SessionConfig c;
  c.graph_optimization_level = ReadInt(obj, "graphOptimizationLevel", -1);
  c.intra_op_threads = ReadInt(obj, "intraOpNumThreads", -1);
  c.inter_op_threads = ReadInt(obj, "interOpNumThreads", -1);
  c.execution_mode = ReadInt(obj, "executionMode", -1);
  c.enable_cpu_mem_arena = ReadBool(obj, "enableCpuMemArena");
  c.enable_mem_pattern = ReadBool(obj, "enableMemPattern");
  c.log_severity = ReadInt(obj, "logSeverityLevel", -1);
  c.log_verbosity = ReadInt(obj, "logVerbosityLevel", -1);
  c.log_id = ReadString(obj, "logId");
  c.optimized_model_path = ReadString(obj, "optimizedModelFilePath");
  c.profile_prefix = ReadString(obj, "profileFilePrefix");
  c.free_dimension_overrides = ReadPairs(env, obj, "freeDimensionOverrides");
  c.config_entries = ReadPairs(env, obj, "configEntries");
  c.strict_providers = ReadBool(obj, "strict") == 1;
  Napi::Value libs = obj.Get("customOpsLibraries");
  if (libs.IsArray()) {
    auto arr = libs.As<Napi::Array>();
    for (uint32_t i = 0; i < arr.Length(); i++) c.custom_ops_libraries.push_back(arr.Get(i).ToString().Utf8Value());
  }
  Napi::Value eps = obj.Get("executionProviders");
  if (eps.IsArray()) {
    auto arr = eps.As<Napi::Array>();
    for (uint32_t i = 0; i < arr.Length(); i++) {
      Napi::Object ep = arr.Get(i).As<Napi::Object>();
      c.providers.push_back({ReadString(ep, "name"), ReadPairs(env, ep, "options")});
    }
  }
  return c;
}

Status ApplySessionConfig(const SessionConfig& c, AppliedOptions* out) {
  OrtSessionOptions* so = nullptr;
  OrtStatus* s = g_ort->CreateSessionOptions(&so);
  if (s) return Status::FromOrt(s);
  auto fail = [&](OrtStatus* st) {
    g_ort->ReleaseSessionOptions(so);
    return Status::FromOrt(st);
  };
#define APPLY(expr) \
  if ((s = (expr))) return fail(s)
  if (c.graph_optimization_level >= 0)
    APPLY(g_ort->SetSessionGraphOptimizationLevel(so, static_cast<GraphOptimizationLevel>(c.graph_optimization_level)));
  if (c.intra_op_threads >= 0) APPLY(g_ort->SetIntraOpNumThreads(so, c.intra_op_threads));
  if (c.inter_op_threads >= 0) APPLY(g_ort->SetInterOpNumThreads(so, c.inter_op_threads));
  if (c.execution_mode >= 0) APPLY(g_ort->SetSessionExecutionMode(so, static_cast<ExecutionMode>(c.execution_mode)));
  if (c.enable_cpu_mem_arena == 1) APPLY(g_ort->EnableCpuMemArena(so));
  if (c.enable_cpu_mem_arena == 0) APPLY(g_ort->DisableCpuMemArena(so));
  if (c.enable_mem_pattern == 1) APPLY(g_ort->EnableMemPattern(so));
  if (c.enable_mem_pattern == 0) APPLY(g_ort->DisableMemPattern(so));
  if (c.log_severity >= 0) APPLY(g_ort->SetSessionLogSeverityLevel(so, c.log_severity));
  if (c.log_verbosity >= 0) APPLY(g_ort->SetSessionLogVerbosityLevel(so, c.log_verbosity));
  if (!c.log_id.empty()) APPLY(g_ort->SetSessionLogId(so, c.log_id.c_str()));
  if (!c.optimized_model_path.empty()) APPLY(g_ort->SetOptimizedModelFilePath(so, c.optimized_model_path.c_str()));
  if (!c.profile_prefix.empty()) APPLY(g_ort->EnableProfiling(so, c.profile_prefix.c_str()));
  for (const auto& kv : c.free_dimension_overrides)
    APPLY(g_ort->AddFreeDimensionOverrideByName(so, kv.first.c_str(), std::strtoll(kv.second.c_str(), nullptr, 10)));
  for (const auto& kv : c.config_entries) APPLY(g_ort->AddSessionConfigEntry(so, kv.first.c_str(), kv.second.c_str()));
  for (const auto& lib : c.custom_ops_libraries) APPLY(g_ort->RegisterCustomOpsLibrary_V2(so, lib.c_str()));
#undef APPLY

  for (const auto& p : c.providers) {
    OrtStatus* ps = AppendProvider(so, p);
    out->attempts.push_back({p, ps == nullptr, ps ? g_ort->GetErrorMessage(ps) : ""});
    if (!ps) {
      if (p.name != "cpu") out->providers.push_back(p.name);
      if (p.name == "cuda" || p.name == "tensorrt") out->uses_cuda = true;
      continue;
    }
    Status st = Status::FromOrt(ps);
    const std::string why = MissingProviderLibrary(p.name);
    const std::string detail = why.empty() ? st.message : why + " (ONNX Runtime: " + FirstLine(st.message) + ")";
    if (c.strict_providers) {
      g_ort->ReleaseSessionOptions(so);
      return Status::Error("ERR_EP_UNAVAILABLE",
                           "Execution provider '" + p.name + "' could not be enabled (strict: true): " + detail);
    }
    out->warnings.push_back("Execution provider '" + p.name + "' is unavailable, falling back to the next: " + detail);
  }
  out->providers.push_back("cpu");  // ORT always appends CPU last for what others do not take
  out->options = so;
  return Status{};
}

}  // namespace ortex
