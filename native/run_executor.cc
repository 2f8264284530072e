#include "run_executor.h"

#include "addon_data.h"
#include "cpu.h"

#include <chrono>
#include <cstdlib>
#include <string>
#include <system_error>

namespace ortex {

RunExecutor& RunExecutor::ForEnv(Napi::Env env) {
  AddonData* data = env.GetInstanceData<AddonData>();
  if (!data->executor) {
    // ORTEX_RUN_THREADS / ORTEX_RUN_SPIN_US tune the pool (documented in the README).
    const unsigned hw = std::thread::hardware_concurrency();
    const char* threads = std::getenv("ORTEX_RUN_THREADS");
    const char* spin = std::getenv("ORTEX_RUN_SPIN_US");
    const int n = threads ? std::atoi(threads) : 0;
    const int us = spin ? std::atoi(spin) : -1;
    // Spinning on a single CPU (taskset) would only delay the thread being waited for.
    const int spin_us = us >= 0 ? us : AvailableCpus() > 1 ? kSpinUs : 0;
    data->executor = std::make_unique<RunExecutor>(env, n > 0 ? n : (hw ? hw : 2), spin_us);
  }
  return *data->executor;
}

RunExecutor::RunExecutor(Napi::Env env, size_t threads, int spin_us) : env_(env), spin_us_(spin_us) {
  napi_value name;
  napi_create_string_utf8(env, "ortex:run", NAPI_AUTO_LENGTH, &name);
  napi_create_threadsafe_function(env, nullptr, nullptr, name, 0, 1, nullptr, nullptr, this, CallJs, &tsfn_);
  // Only keeps the loop alive while runs are outstanding (ref'd in Submit).
  napi_unref_threadsafe_function(env, tsfn_);
  try {
    for (size_t i = 0; i < threads; i++) threads_.emplace_back([this] { WorkerLoop(); });
  } catch (const std::system_error& e) {
    // Out of threads (a pids limit): run with what started, or fail cleanly with none.
    if (threads_.empty()) {
      napi_release_threadsafe_function(tsfn_, napi_tsfn_abort);
      throw Napi::Error::New(env, std::string("ortex could not start a run thread: ") + e.what());
    }
  }
  // Cleanup hooks run in reverse order of registration, so this one runs before Node-API's
  // own teardown finalizes the sessions a running job may still be using.
  napi_add_env_cleanup_hook(env, StopHook, this);
  hook_registered_ = true;
}

void RunExecutor::StopHook(void* self) { static_cast<RunExecutor*>(self)->Stop(); }

void RunExecutor::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stop_) return;
    stop_ = true;
  }
  hook_registered_ = false;  // a hook that ran is removed by Node
  cv_.notify_all();
  for (auto& t : threads_) t.join();
}

RunExecutor::~RunExecutor() {
  if (hook_registered_) {
    napi_remove_env_cleanup_hook(env_, StopHook, this);
  }
  Stop();
  // The env is being torn down and no JS may run: queued jobs never ran and are dropped.
  // Finished ones still in the TSFN's queue reach CallJs with a null env. The TSFN itself
  // is left to Node's own teardown, whose order relative to this one is not specified.
  for (Job* j : queue_) {
    j->Abandon();
    delete j;
  }
}

void RunExecutor::Submit(Job* job) {
  if (outstanding_++ == 0) napi_ref_threadsafe_function(env_, tsfn_);
  {
    std::lock_guard<std::mutex> lock(mu_);
    queue_.push_back(job);
    queued_.fetch_add(1, std::memory_order_release);
  }
  // A spinning worker will see queued_ without a wake-up.
  if (spinning_.load(std::memory_order_acquire) == 0) cv_.notify_one();
}

RunExecutor::Job* RunExecutor::Pop() {
  std::lock_guard<std::mutex> lock(mu_);
  // Once stopping, queued runs are left for the destructor to drop: nobody can receive them.
  if (stop_ || queue_.empty()) return nullptr;
  Job* j = queue_.front();
  queue_.pop_front();
  queued_.fetch_sub(1, std::memory_order_relaxed);
  return j;
}

void RunExecutor::WorkerLoop() {
  for (;;) {
    Job* job = Pop();
    if (!job) {
      // Spin a little if no other worker is, then park. The spin yields its core rather than
      // pausing on it: the JS thread this run just woke, or a thread of ONNX Runtime's pool,
      // may be waiting for this very core. With 2 intra-op threads on 2 cores (three threads
      // for two cores) that halved ctr_mlp's async p50 (75-94 -> 42-51 us, bench/RESULTS.md).
      int expected = 0;
      if (spinning_.compare_exchange_strong(expected, 1, std::memory_order_acq_rel)) {
        const auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(spin_us_);
        while (queued_.load(std::memory_order_acquire) == 0 && std::chrono::steady_clock::now() < until) {
          std::this_thread::yield();
        }
        spinning_.store(0, std::memory_order_release);
        job = Pop();
      }
      if (!job) {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [this] { return stop_ || !queue_.empty(); });
        if (stop_) return;
        continue;
      }
    }
    // A burst may have queued more than the one job a spinner takes: pass the wake on.
    if (queued_.load(std::memory_order_acquire) > 0) cv_.notify_one();
    job->Execute();
    if (napi_call_threadsafe_function(tsfn_, job, napi_tsfn_nonblocking) != napi_ok) {
      job->Abandon();  // the env is closing
      delete job;
    }
  }
}

void RunExecutor::CallJs(napi_env env, napi_value, void* context, void* data) {
  auto* self = static_cast<RunExecutor*>(context);
  auto* job = static_cast<Job*>(data);
  if (!env) {  // the TSFN is being torn down
    job->Abandon();
    delete job;
    return;
  }
  if (--self->outstanding_ == 0) napi_unref_threadsafe_function(env, self->tsfn_);
  Napi::HandleScope scope(env);
  try {
    job->Complete(Napi::Env(env));
  } catch (...) {
    // Napi::Error only when JS cannot run any more (a worker_thread being terminated), or
    // bad_alloc: the promise can no longer be settled, and no exception may leave this C
    // callback.
  }
  delete job;
}

}  // namespace ortex
