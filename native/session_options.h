// Session options, read from the plain object src/session-options.ts produces (already
// validated and normalised there) into a SessionConfig on the JS thread, then applied to
// an OrtSessionOptions on a worker thread, where loading a provider library may block.
#pragma once

#include <napi.h>
#include <onnxruntime_c_api.h>

#include <string>
#include <utility>
#include <vector>

#include "ort_env.h"

namespace ortex {

using KeyValues = std::vector<std::pair<std::string, std::string>>;

struct ProviderConfig {
  std::string name;  // "cpu", "cuda", "tensorrt", or an ORT provider name for the generic API
  KeyValues options; // ORT's own option keys, e.g. trt_fp16_enable=1
};

struct SessionConfig {
  int graph_optimization_level = -1;  // GraphOptimizationLevel; -1 leaves ORT's default
  int intra_op_threads = -1;
  int inter_op_threads = -1;
  int execution_mode = -1;            // ExecutionMode
  int enable_cpu_mem_arena = -1;      // -1 default, 0/1
  int enable_mem_pattern = -1;
  int log_severity = -1;
  int log_verbosity = -1;
  std::string log_id;
  std::string optimized_model_path;
  std::string profile_prefix;         // non-empty enables profiling
  KeyValues free_dimension_overrides; // name -> value (as decimal string)
  KeyValues config_entries;           // AddSessionConfigEntry
  std::vector<std::string> custom_ops_libraries;
  std::vector<ProviderConfig> providers;
  bool strict_providers = false;
};

// Reads the normalised JS object. Throws ERR_INVALID_ARG on a malformed one.
SessionConfig ReadSessionConfig(Napi::Env env, Napi::Object obj);

struct ProviderAttempt {
  ProviderConfig config;
  bool ok = false;
  std::string error;  // empty when ok
};

struct AppliedOptions {
  OrtSessionOptions* options = nullptr;  // caller releases
  std::vector<std::string> providers;    // what the session will run on, in priority order
  std::vector<std::string> warnings;     // one per provider that fell back
  std::vector<ProviderAttempt> attempts; // every provider asked for, with the options handed to ORT
  bool uses_cuda = false;
};

// Worker-thread safe: no Napi. On failure returns a non-ok Status and releases what it made.
Status ApplySessionConfig(const SessionConfig& config, AppliedOptions* out);

}  // namespace ortex
