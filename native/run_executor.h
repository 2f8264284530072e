// RunExecutor: the threads that run inferences for run(), instead of libuv's pool.
//
// Why not libuv's pool: on small models the hop dominates. A parked pool thread needs a
// futex wake (tens of µs on a VM) for every run. Here the last worker to go idle spins for
// a short while (spin_us) before parking, so a caller issuing runs back to back finds it
// awake; and completions reach JS through one thread-safe function that drains every
// finished job per event-loop wake.
//
// Threads: Submit() and the completion callbacks run on the JS thread of the env that owns
// the executor; Job::Execute() runs on a worker and must not touch Napi. One executor per
// env (main thread or worker_thread), created on first use, joined at env teardown.
#pragma once

#include <napi.h>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>
#include <vector>

namespace ortex {

class RunExecutor {
 public:
  class Job {
   public:
    virtual ~Job() = default;
    virtual void Execute() = 0;                 // worker thread
    virtual void Complete(Napi::Env env) = 0;   // JS thread; the executor deletes the job after
    virtual void Abandon() {}                   // env is gone: release without JS
  };

  static RunExecutor& ForEnv(Napi::Env env);

  void Submit(Job* job);

  RunExecutor(Napi::Env env, size_t threads, int spin_us);
  RunExecutor(const RunExecutor&) = delete;
  RunExecutor& operator=(const RunExecutor&) = delete;
  ~RunExecutor();

 private:
  // Stops intake and joins the workers (waiting for runs in progress). Idempotent.
  void Stop();
  static void StopHook(void* self);
  void WorkerLoop();
  Job* Pop();
  static void CallJs(napi_env env, napi_value, void* context, void* data);

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Job*> queue_;
  std::atomic<size_t> queued_{0};
  std::atomic<int> spinning_{0};
  bool stop_ = false;
  // How long the last idle worker spins before parking.
  static constexpr int kSpinUs = 50;
  napi_env env_;
  int spin_us_;
  napi_threadsafe_function tsfn_ = nullptr;
  std::vector<std::thread> threads_;
  size_t outstanding_ = 0;
  bool hook_registered_ = false;  // JS thread only: submitted, not yet completed
};

}  // namespace ortex
