#include "run_executor.h"

#include "addon_data.h"
#include "cpu.h"
#include "ort_env.h"

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
  uv_loop_t* loop = nullptr;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok || loop == nullptr) {
    throw Napi::Error::New(env, "ortex could not reach this thread's event loop for its run completions");
  }
  wake_ = new uv_async_t;
  if (uv_async_init(loop, wake_, OnDone) != 0) {
    delete wake_;
    wake_ = nullptr;
    throw Napi::Error::New(env, "ortex could not create the event-loop wake-up of its run completions");
  }
  wake_->data = this;
  // Only keeps the loop alive while runs are outstanding (ref'd in Submit).
  uv_unref(reinterpret_cast<uv_handle_t*>(wake_));
  Napi::Object resource = Napi::Object::New(env);
  napi_create_reference(env, resource, 1, &resource_);
  napi_async_init(env, resource, Napi::String::New(env, "ortex:run"), &async_context_);
  try {
    for (size_t i = 0; i < threads; i++) threads_.emplace_back([this] { WorkerLoop(); });
  } catch (const std::system_error& e) {
    // Out of threads (a pids limit): run with what started, or fail cleanly with none.
    if (threads_.empty()) {
      CloseWake(nullptr);
      ReleaseJsResources();
      throw Napi::Error::New(env, std::string("ortex could not start a run thread: ") + e.what());
    }
  }
  // Cleanup hooks run in reverse order of registration, so this one runs before Node-API's
  // own teardown finalizes the sessions a running job may still be using. An asynchronous
  // one, because closing wake_ finishes in a libuv callback that lives in this addon: Node
  // keeps turning the loop until the hook is removed (OnWakeClosed), and only then unloads
  // the addon. (With a plain hook, a worker_thread that alone had loaded ortex ran the close
  // callback after ortex.node was unmapped, and crashed.)
  if (napi_add_async_cleanup_hook(env, AsyncStopHook, this, &cleanup_hook_) != napi_ok) cleanup_hook_ = nullptr;
}

void RunExecutor::CloseWake(napi_async_cleanup_hook_handle hook) {
  if (!wake_) {
    if (hook) napi_remove_async_cleanup_hook(hook);
    return;
  }
  wake_->data = hook;
  uv_close(reinterpret_cast<uv_handle_t*>(wake_), OnWakeClosed);
  wake_ = nullptr;
}

void RunExecutor::OnWakeClosed(uv_handle_t* handle) {
  auto hook = static_cast<napi_async_cleanup_hook_handle>(handle->data);
  delete reinterpret_cast<uv_async_t*>(handle);
  if (hook) napi_remove_async_cleanup_hook(hook);
}

void RunExecutor::ReleaseJsResources() {
  if (async_context_) napi_async_destroy(env_, async_context_);
  if (resource_) napi_delete_reference(env_, resource_);
  async_context_ = nullptr;
  resource_ = nullptr;
}

void RunExecutor::AsyncStopHook(napi_async_cleanup_hook_handle hook, void* self) {
  auto* executor = static_cast<RunExecutor*>(self);
  executor->cleanup_hook_ = nullptr;  // removed once wake_ is closed
  executor->Stop();
  executor->ReleaseJsResources();  // the env is still whole here, unlike in the destructor
  executor->CloseWake(hook);
}

void RunExecutor::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stop_) return;
    stop_ = true;
  }
  cv_.notify_all();
  for (auto& t : threads_) t.join();
  // No worker is left to finish a job: those finished and not yet settled never will be.
  while (MpscNode* n = done_.Pop()) {
    Job* job = static_cast<Job*>(n);
    job->Abandon();
    delete job;
  }
}

RunExecutor::~RunExecutor() {
  // Only when the env is torn down without its cleanup hooks having run.
  if (cleanup_hook_) napi_remove_async_cleanup_hook(cleanup_hook_);
  cleanup_hook_ = nullptr;
  Stop();
  CloseWake(nullptr);
  // The env is being torn down and no JS may run: queued jobs never ran and are dropped
  // (finished ones were dropped by Stop()).
  for (Job* j : queue_) {
    j->Abandon();
    delete j;
  }
}

void RunExecutor::Submit(Job* job) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    queue_.push_back(job);  // may throw bad_alloc: then nothing below has happened
    queued_.fetch_add(1, std::memory_order_release);
  }
  // On the JS thread, as DrainDone's unref: no completion can come before this returns.
  if (outstanding_++ == 0 && wake_) uv_ref(reinterpret_cast<uv_handle_t*>(wake_));
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
    {
      RunInOrt running;
      job->Execute();
    }
    // Push, then wake, holding no lock: the JS thread this wakes takes none either. The
    // fence keeps Push's link store ahead of uv_async_send's first (relaxed) read of the
    // handle's pending flag: without it, that read could see a wake-up still pending, skip
    // sending, and the drain it stood for could run before the link was visible (Pop: "not
    // ready"), leaving this job in the queue with no wake-up coming.
    done_.Push(job);
    std::atomic_thread_fence(std::memory_order_seq_cst);
    uv_async_send(wake_);
  }
}

void RunExecutor::OnDone(uv_async_t* handle) { static_cast<RunExecutor*>(handle->data)->DrainDone(); }

void RunExecutor::DrainDone() {
  napi_handle_scope outer;
  if (napi_open_handle_scope(env_, &outer) != napi_ok) return;  // no JS any more: Stop() drops them
  napi_value resource = nullptr;
  napi_callback_scope scope = nullptr;
  // Closing the callback scope runs the microtasks (the awaiting code) and process.nextTick
  // callbacks, as Node does after any callback from the event loop.
  const bool scoped = napi_get_reference_value(env_, resource_, &resource) == napi_ok && resource != nullptr &&
                      napi_open_callback_scope(env_, resource, async_context_, &scope) == napi_ok;
  // Pop() also returns null while a worker is between its Push's two steps: its
  // uv_async_send, which comes after the Push, then brings this callback back.
  while (MpscNode* n = done_.Pop()) {
    Job* job = static_cast<Job*>(n);
    if (--outstanding_ == 0 && wake_) uv_unref(reinterpret_cast<uv_handle_t*>(wake_));
    napi_handle_scope inner;
    const bool inner_open = napi_open_handle_scope(env_, &inner) == napi_ok;
    try {
      job->Complete(Napi::Env(env_));
    } catch (...) {
      // Napi::Error only when JS cannot run any more (a worker_thread being terminated), or
      // bad_alloc: the promise can no longer be settled, and no exception may leave this
      // libuv callback.
    }
    // A JS exception a failed call left pending would otherwise surface in some unrelated
    // later call: report it as uncaught, as Node does for a thread-safe function's callback.
    bool pending = false;
    napi_value error = nullptr;
    if (napi_is_exception_pending(env_, &pending) == napi_ok && pending &&
        napi_get_and_clear_last_exception(env_, &error) == napi_ok && error != nullptr) {
      napi_fatal_exception(env_, error);
    }
    if (inner_open) napi_close_handle_scope(env_, inner);
    delete job;
  }
  if (scoped) napi_close_callback_scope(env_, scope);
  napi_close_handle_scope(env_, outer);
}

}  // namespace ortex
