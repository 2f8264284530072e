// Batcher: the dynamic batcher of one model, after Triton's dynamic_batch_scheduler.
//
//   producers (JS threads) --Enqueue--> MpscQueue --> scheduler thread --batch--> instance threads
//        ^                                               (one; forms batches)      (N; each owns a
//        |                                                                          session, stages
//        +------------- Client::Deliver (one call per batch per client) <---------- inputs, runs it)
//
// Vocabulary (Triton's): a request carries one or more rows (its batch dimension); a pending
// batch is the set of compatible requests the scheduler is gathering; it is sent to an idle
// instance when full, when it reaches a preferred batch size, or when its oldest request has
// waited the queue delay.
//
// Threads and ownership.
//   - A Request belongs to its Client's pool and is filled and enqueued on that client's JS
//     thread. From Enqueue until the client receives it back in a Completion, the native side
//     owns it; the only thing a JS thread may do meanwhile is Cancel() (an atomic CAS on state).
//   - The scheduler thread alone reads the queue and owns the pending lists, the deadline heap
//     and the adaptive-delay estimator. It hands a batch to an instance by publishing a pointer
//     (release) and unparking it; the instance hands it back by clearing the pointer and
//     unparking the scheduler.
//   - Instance threads touch only their own session, binding and staging buffers, and the
//     requests of the batch they were given.
//   - No C++ exception leaves a thread: failures become a Status on the request.
// Units: times in nanoseconds of std::chrono::steady_clock unless named _us.
#pragma once

#include <onnxruntime_c_api.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "batch_stats.h"
#include "mpsc_queue.h"
#include "ort_env.h"
#include "parker.h"
#include "value_info.h"

namespace ortex {

int64_t NowNs();

// The largest maxBatchSize a live model may be configured to.
constexpr int64_t kMaxBatchRows = int64_t{1} << 24;

struct BatcherConfig {
  int64_t max_batch_size = 8;        // rows; 0: the model has no batch dimension, one request per run
  int64_t max_queue_delay_us = 0;
  std::vector<int64_t> preferred_batch_sizes;  // ascending
  int64_t max_queue_size = 0;        // requests waiting; 0: unbounded
  int priority_levels = 1;
  int64_t latency_target_us = 0;     // > 0: the queue delay adapts to load (see Scheduler::AdaptiveDelay)
  // Per model input: the dims (>= 1) a request may be shorter in, padded to the longest
  // request of the batch with pad_bytes (one element's bytes). Empty: requests must match.
  struct Padding {
    std::vector<int> dims;
    std::vector<unsigned char> pad_bytes;
  };
  std::vector<Padding> padding;      // indexed like the model's inputs; may be shorter
};

enum class RequestStatus : int { kOk = 0, kTimeout, kCancelled, kClosed, kFailed };

class Client;

struct Request {
  MpscNode node;  // first member: the queue hands back &node, which is the request's address

  // kQueued -> kTaken (scheduler puts it in a batch) | kCancelled (JS) | kTimedOut (scheduler)
  enum : uint32_t { kQueued = 0, kTaken, kCancelled, kTimedOut };
  std::atomic<uint32_t> state{kQueued};

  // Set by the client before Enqueue.
  Client* client = nullptr;
  uint32_t slot = 0;                 // the client's id for it
  int priority = 0;                  // 0 is the highest level
  int64_t rows = 1;
  int64_t enqueue_ns = 0;
  int64_t deadline_ns = 0;           // 0: none
  std::vector<int64_t> dims;         // every input's full dims, concatenated (ranks from the model)
  std::vector<size_t> offsets;       // per input: byte offset of its data in `data`
  std::vector<unsigned char> data;   // every input's bytes; capacity kept across reuse
  uint64_t shape_key = 0;            // hash of the dims that must match for two requests to batch

  // Scheduler only.
  Request* prev = nullptr;
  Request* next = nullptr;
  size_t heap_index = SIZE_MAX;

  // Result, written by whoever ends the request before handing it back.
  RequestStatus status = RequestStatus::kOk;
  int64_t row_offset = 0;            // first row of this request in the batch outputs
  Status error;                      // kFailed only
};

// The outputs of one run, shared by the completions of every client in the batch.
struct BatchResult {
  std::vector<OrtValue*> outputs;
  int64_t batch_rows = 0;
  ~BatchResult();
};

// What a client receives: its requests of one batch (or requests ended by the scheduler:
// timed out, cancelled, closed), each with its status, and the batch's outputs.
struct Completion {
  std::shared_ptr<BatchResult> result;  // null when no request in it has outputs
  std::vector<Request*> requests;
  bool closed = false;                  // the batcher has stopped; the last completion it sends
};

// Where completions go: one per JS env that holds the model (src: batch_model.cc).
class Client {
 public:
  virtual ~Client() = default;
  // Any thread. Takes ownership of `c`.
  virtual void Deliver(Completion* c) = 0;
};

class Batcher {
 public:
  struct Model {
    std::vector<OrtSession*> sessions;  // one per instance; the batcher releases them
    std::vector<ValueInfo> inputs, outputs;
    bool uses_cuda = false;
  };

  Batcher(BatcherConfig config, Model model);
  ~Batcher();  // stops (rejecting anything pending) and joins
  Batcher(const Batcher&) = delete;
  Batcher& operator=(const Batcher&) = delete;

  // Starts the threads. Returns a non-ok Status if none could be started.
  Status Start(Client* owner);

  enum class Admit { kOk, kQueueFull, kClosed };
  // Any JS thread. On kOk the batcher owns `r` until it is delivered back.
  Admit Enqueue(Request* r);
  // Any JS thread, for a request it enqueued and has not received back. True if the request
  // was still queued: it will come back with status kCancelled and must not be answered again.
  bool Cancel(Request* r);

  // Any thread; takes effect at the next batch.
  void Configure(int64_t max_batch_size, int64_t max_queue_delay_us);
  // Test hook: form no batch until at least `n` requests are queued (0: off).
  void Hold(int64_t n);
  // Stops intake. drain: run everything already queued; otherwise end it with kClosed. The
  // owner receives a Completion with closed = true after the last request has been delivered.
  void Close(bool drain);
  // After the closed completion: joins the threads (they have exited or are about to).
  void Join();

  const BatchStats& stats() const { return stats_; }
  int64_t queued() const { return queued_.load(std::memory_order_relaxed); }
  int64_t executing() const { return executing_.load(std::memory_order_relaxed); }
  int64_t max_batch_size() const { return max_batch_.load(std::memory_order_relaxed); }
  int64_t queue_delay_us() const { return delay_us_.load(std::memory_order_relaxed); }
  int64_t adaptive_delay_us() const { return adaptive_delay_us_.load(std::memory_order_relaxed); }
  const Model& model() const { return model_; }
  const BatcherConfig& config() const { return config_; }
  int64_t capacity_rows() const { return capacity_rows_; }

 private:
  struct Instance;
  class Scheduler;

  void InstanceLoop(Instance* inst);
  void RunBatch(Instance* inst, std::vector<Request*>& reqs);
  // Phases of one execution, in ns: input staging and binding, the run, output fetch.
  struct Phases {
    int64_t input = 0, infer = 0, output = 0;
  };
  Status Execute(Instance* inst, const std::vector<Request*>& reqs, int64_t rows, std::shared_ptr<BatchResult>* out,
                 Phases* phases);
  void DeliverAll(std::vector<Request*>& reqs, const std::shared_ptr<BatchResult>& result);

  BatcherConfig config_;
  Model model_;
  BatchStats stats_;
  MpscQueue queue_;
  Parker scheduler_parker_;
  std::unique_ptr<Scheduler> scheduler_;
  std::vector<std::unique_ptr<Instance>> instances_;
  std::thread scheduler_thread_;
  Client* owner_ = nullptr;

  std::atomic<int64_t> queued_{0};     // admitted and not yet taken into a batch or ended
  std::atomic<int64_t> executing_{0};  // in batches being run
  std::atomic<int64_t> max_batch_;
  std::atomic<int64_t> delay_us_;
  std::atomic<int64_t> adaptive_delay_us_{0};
  std::atomic<int64_t> hold_{0};
  std::atomic<int64_t> cancels_{0};    // bumped by Cancel so the scheduler sweeps its lists
  std::atomic<bool> closing_{false};
  std::atomic<bool> drain_{true};
  std::atomic<bool> stop_{false};      // instances: exit
  const int64_t capacity_rows_;        // kMaxBatchRows
  bool joined_ = false;
};

}  // namespace ortex
