// The process-wide ONNX Runtime handles: the OrtApi table and one OrtEnv.
// Both are created on first use by whichever JS thread (main or worker_threads)
// loads the addon first, and live until process exit: ORT allows exactly one
// OrtEnv per process and its thread pools and allocators are shared by every
// session in every thread.
#pragma once

#include <onnxruntime_c_api.h>

#include <string>

namespace ortex {

extern const OrtApi* g_ort;

// Initialises g_ort and the env. Returns an empty string or the reason it failed
// (for example a library older than the headers' ORT_API_VERSION).
std::string InitOrt();

OrtEnv* Env();

// Held by a thread of ortex's own for as long as it runs a model, so that a process exiting
// meanwhile can let the run finish before ORT's statics are destroyed (ort_env.cc).
struct RunInOrt {
  RunInOrt();
  ~RunInOrt();
  RunInOrt(const RunInOrt&) = delete;
  RunInOrt& operator=(const RunInOrt&) = delete;
};

// The folder libonnxruntime.so.1 was loaded from (where ORT also looks for provider libraries).
std::string LibraryDir();

// The CPU allocator ORT hands out; owned by ORT, never released.
OrtAllocator* CpuAllocator();
const OrtMemoryInfo* CpuMemoryInfo();

// Status recorded off the JS thread: no Napi call may happen there (style rule 3).
struct Status {
  bool ok = true;
  std::string code;     // ortex code, e.g. ERR_ORT_INVALID_ARGUMENT
  std::string message;

  static Status FromOrt(OrtStatus* s);  // takes ownership; nullptr -> ok
  static Status Error(std::string code, std::string message) {
    return Status{false, std::move(code), std::move(message)};
  }
};

// ERR_ORT_<NAME> for an OrtErrorCode.
const char* OrtCodeName(OrtErrorCode code);

}  // namespace ortex
