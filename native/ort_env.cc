#include "ort_env.h"

#include <dlfcn.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <mutex>
#include <thread>

namespace ortex {

const OrtApi* g_ort = nullptr;

namespace {
OrtEnv* g_env = nullptr;
OrtAllocator* g_cpu_allocator = nullptr;
OrtMemoryInfo* g_cpu_memory_info = nullptr;
std::once_flag g_once;
std::string g_init_error;
// Set by QuiesceForExit: the process is exiting, and ORT's log is silenced.
std::atomic<bool> g_exiting{false};
// Threads of ortex's own now inside OrtApi::Run or RunWithBinding (RunInOrt).
std::atomic<int> g_runs_in_ort{0};
// Passed to every run that has no RunOptions of its own (DefaultRunOptions).
OrtRunOptions* g_default_run_options = nullptr;

// Logs from ORT go to stderr in one line each, prefixed so they are easy to grep.
void ORT_API_CALL LogToStderr(void*, OrtLoggingLevel severity, const char* category,
                              const char* logid, const char* code_location,
                              const char* message) {
  static const char* kLevels[] = {"VERBOSE", "INFO", "WARNING", "ERROR", "FATAL"};
  if (g_exiting.load(std::memory_order_acquire)) return;  // see QuiesceForExit
  // ortex reports a missing provider library itself, once, with the fix; ORT's own line
  // for the same failure would be a second, less actionable message.
  if (strstr(message, "Failed to load library") && strstr(message, "libonnxruntime_providers_")) return;
  int level = static_cast<int>(severity);
  fprintf(stderr, "[ortex:ort %s] %s%s%s\n", (level >= 0 && level < 5) ? kLevels[level] : "?",
          logid && *logid ? logid : "", logid && *logid ? ": " : "", message);
  (void)category;
  (void)code_location;
}
}  // namespace

std::string InitOrt() {
  std::call_once(g_once, [] {
    const OrtApiBase* base = OrtGetApiBase();
    g_ort = base->GetApi(ORT_API_VERSION);
    if (!g_ort) {
      g_init_error = std::string("libonnxruntime ") + base->GetVersionString() +
                     " does not serve ORT API version " + std::to_string(ORT_API_VERSION) +
                     " that ortex was built against";
      return;
    }
    OrtStatus* s = g_ort->CreateEnvWithCustomLogger(LogToStderr, nullptr, ORT_LOGGING_LEVEL_WARNING,
                                                    "ortex", &g_env);
    if (!s) s = g_ort->GetAllocatorWithDefaultOptions(&g_cpu_allocator);
    if (!s) s = g_ort->CreateCpuMemoryInfo(OrtArenaAllocator, OrtMemTypeDefault, &g_cpu_memory_info);
    if (!s) s = g_ort->CreateRunOptions(&g_default_run_options);
    if (s) {
      g_init_error = g_ort->GetErrorMessage(s);
      g_ort->ReleaseStatus(s);
    }
  });
  return g_init_error;
}

OrtEnv* Env() { return g_env; }

OrtRunOptions* DefaultRunOptions() { return g_default_run_options; }

RunInOrt::RunInOrt() { g_runs_in_ort.fetch_add(1, std::memory_order_acq_rel); }
RunInOrt::~RunInOrt() { g_runs_in_ort.fetch_sub(1, std::memory_order_acq_rel); }

int RunsInOrt() { return g_runs_in_ort.load(std::memory_order_acquire); }

int QuiesceForExit(int wait_ms) {
  g_exiting.store(true, std::memory_order_release);
  if (g_default_run_options) {
    if (OrtStatus* s = g_ort->RunOptionsSetTerminate(g_default_run_options)) g_ort->ReleaseStatus(s);  // cannot fail
  }
  const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(wait_ms);
  while (RunsInOrt() > 0 && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  return RunsInOrt();
}

std::string LibraryDir() {
  Dl_info info;
  if (!dladdr(reinterpret_cast<void*>(&OrtGetApiBase), &info) || !info.dli_fname) return ".";
  std::string path = info.dli_fname;
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? "." : path.substr(0, slash);
}
OrtAllocator* CpuAllocator() { return g_cpu_allocator; }
const OrtMemoryInfo* CpuMemoryInfo() { return g_cpu_memory_info; }

const char* OrtCodeName(OrtErrorCode code) {
  switch (code) {
    case ORT_OK: return "ERR_ORT_OK";
    case ORT_FAIL: return "ERR_ORT_FAIL";
    case ORT_INVALID_ARGUMENT: return "ERR_ORT_INVALID_ARGUMENT";
    case ORT_NO_SUCHFILE: return "ERR_ORT_NO_SUCHFILE";
    case ORT_NO_MODEL: return "ERR_ORT_NO_MODEL";
    case ORT_ENGINE_ERROR: return "ERR_ORT_ENGINE_ERROR";
    case ORT_RUNTIME_EXCEPTION: return "ERR_ORT_RUNTIME_EXCEPTION";
    case ORT_INVALID_PROTOBUF: return "ERR_ORT_INVALID_PROTOBUF";
    case ORT_MODEL_LOADED: return "ERR_ORT_MODEL_LOADED";
    case ORT_NOT_IMPLEMENTED: return "ERR_ORT_NOT_IMPLEMENTED";
    case ORT_INVALID_GRAPH: return "ERR_ORT_INVALID_GRAPH";
    case ORT_EP_FAIL: return "ERR_ORT_EP_FAIL";
    case ORT_MODEL_LOAD_CANCELED: return "ERR_ORT_MODEL_LOAD_CANCELED";
    case ORT_MODEL_REQUIRES_COMPILATION: return "ERR_ORT_MODEL_REQUIRES_COMPILATION";
    case ORT_NOT_FOUND: return "ERR_ORT_NOT_FOUND";
    case ORT_DEVICE_RESET: return "ERR_ORT_DEVICE_RESET";
  }
  return "ERR_ORT_FAIL";
}

Status Status::FromOrt(OrtStatus* s) {
  if (!s) return Status{};
  Status st{false, OrtCodeName(g_ort->GetErrorCode(s)), g_ort->GetErrorMessage(s)};
  g_ort->ReleaseStatus(s);
  return st;
}

}  // namespace ortex
