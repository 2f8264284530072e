// RunExecutor: the threads that run inferences for run(), instead of libuv's pool.
//
// Why not libuv's pool: on small models the hop dominates. A parked pool thread needs a
// futex wake (tens of µs on a VM) for every run. Here the last worker to go idle spins for
// a short while (spin_us) before parking, so a caller issuing runs back to back finds it
// awake.
//
// Completions reach JS through a lock-free queue and a uv_async_t of the executor's own,
// rather than a Node-API thread-safe function: a TSFN's Push calls uv_async_send while it
// holds the TSFN's mutex, and the JS thread, woken by that very send, takes the same mutex
// first thing. It found it held on most completions, slept on the futex and had to be woken
// a second time (strace of ctr_mlp's await run() loop). Here the worker pushes, then sends,
// holding nothing; the JS thread drains every finished job per wake.
//
// Threads: Submit() and the completions run on the JS thread of the env that owns the
// executor; Job::Execute() runs on a worker and must not touch Napi. One executor per env
// (main thread or worker_thread), created on first use, joined at env teardown.
#pragma once

#include <napi.h>
#include <uv.h>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>
#include <vector>

#include "mpsc_queue.h"

namespace ortex {

class RunExecutor {
 public:
  // A job is its own node in the queue of finished jobs (MpscNode), so finishing allocates nothing.
  class Job : public MpscNode {
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
  // Stops intake and joins the workers (waiting for runs in progress), then drops finished
  // jobs nobody will settle. Idempotent.
  void Stop();
  // The env's teardown: Stop(), then close wake_; Node waits for OnWakeClosed to remove it.
  static void AsyncStopHook(napi_async_cleanup_hook_handle hook, void* self);
  void WorkerLoop();
  Job* Pop();
  // JS thread: settles every finished job, in one callback scope (microtasks run at its close).
  static void OnDone(uv_async_t* handle);
  void DrainDone();
  // JS thread: closes wake_ (freed once libuv has closed it, then `hook`, if any, removed).
  void CloseWake(napi_async_cleanup_hook_handle hook);
  static void OnWakeClosed(uv_handle_t* handle);
  // JS thread, env alive: the callback scope's async context and resource.
  void ReleaseJsResources();

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
  // Finished jobs: pushed by workers, popped by the JS thread in DrainDone().
  MpscQueue done_;
  // Wakes the JS thread's loop; ref'd only while runs are outstanding. Freed by its close
  // callback, so a pointer the executor gives up when it closes it (CloseWake).
  uv_async_t* wake_ = nullptr;
  napi_ref resource_ = nullptr;          // the async resource of the callback scope
  napi_async_context async_context_ = nullptr;
  std::vector<std::thread> threads_;
  size_t outstanding_ = 0;  // JS thread only: submitted, not yet completed
  napi_async_cleanup_hook_handle cleanup_hook_ = nullptr;  // until the hook runs
};

}  // namespace ortex
