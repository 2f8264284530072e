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

// The RunOptions of every run that has none of its own. One object for all: at process exit
// QuiesceForExit sets its terminate flag, which ends all such runs at their next node.
OrtRunOptions* DefaultRunOptions();
// A run's own RunOptions, or DefaultRunOptions() when it has none.
inline OrtRunOptions* RunOptionsOrDefault(OrtRunOptions* own) { return own ? own : DefaultRunOptions(); }

// Held by a thread of ortex's own for as long as it runs a model (QuiesceForExit waits for
// them).
struct RunInOrt {
  RunInOrt();
  ~RunInOrt();
  RunInOrt(const RunInOrt&) = delete;
  RunInOrt& operator=(const RunInOrt&) = delete;
};
int RunsInOrt();

// For the main thread's 'exit' event (src/native.ts), while the process is still whole: a
// process that exits with runs in flight on ortex's threads would destroy ORT's statics under
// them in exit(), and ORT would log an error per run. Silences ORT's log, terminates the runs
// that use DefaultRunOptions(), and waits up to `wait_ms` for every run to leave ORT. Returns
// how many are still inside.
int QuiesceForExit(int wait_ms);

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
