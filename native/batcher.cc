#include "batcher.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <system_error>

#include <pthread.h>
#include <sched.h>
#include <sys/prctl.h>

#include "cpu.h"
#include "tensor.h"

#if defined(__x86_64__)
#include <immintrin.h>
#define ORTEX_BATCHER_RELAX() _mm_pause()
#else
#define ORTEX_BATCHER_RELAX() std::this_thread::yield()
#endif

namespace ortex {

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

BatchResult::~BatchResult() {
  for (OrtValue* v : outputs)
    if (v) g_ort->ReleaseValue(v);
}

namespace {

// Compute time as a + s * rows, fitted by exponentially weighted least squares over recent
// batches, for the load-aware delay. Instance threads add samples; the scheduler reads.
class ComputeModel {
 public:
  void Add(int64_t rows, int64_t ns) {
    std::lock_guard<std::mutex> lock(mu_);
    const double k = 1.0 - kAlpha, x = static_cast<double>(rows), y = static_cast<double>(ns);
    w_ = w_ * k + 1;
    sx_ = sx_ * k + x;
    sy_ = sy_ * k + y;
    sxx_ = sxx_ * k + x * x;
    sxy_ = sxy_ * k + x * y;
  }
  // Fixed and per-row cost in ns; {0, 0} before the first batch.
  void Get(double* a, double* s) const {
    std::lock_guard<std::mutex> lock(mu_);
    *a = 0;
    *s = 0;
    if (w_ <= 0) return;
    const double den = w_ * sxx_ - sx_ * sx_;
    if (den > 1e-9 * w_ * sxx_) {
      *s = std::max(0.0, (w_ * sxy_ - sx_ * sy_) / den);
      *a = std::max(0.0, (sy_ - *s * sx_) / w_);
    } else {
      *a = sy_ / w_;  // one batch size seen so far: no slope to fit; call it all fixed cost
    }
  }

 private:
  static constexpr double kAlpha = 0.05;
  mutable std::mutex mu_;
  double w_ = 0, sx_ = 0, sy_ = 0, sxx_ = 0, sxy_ = 0;
};

// Copies one request's block of an input (dims `rd`) into the batch buffer (dims `bd`),
// starting at row `row0`; the two differ only in dims the batch padded (and in dim 0).
void CopyBlock(unsigned char* dst, const int64_t* bd, const unsigned char* src, const int64_t* rd, size_t rank,
               int64_t row0, size_t elem_bytes) {
  // k: the last dim where the request is shorter; past it, rows are contiguous in both.
  size_t k = 0;
  for (size_t d = rank; d-- > 1;)
    if (rd[d] != bd[d]) {
      k = d;
      break;
    }
  size_t inner = 1;
  for (size_t d = k + 1; d < rank; d++) inner *= static_cast<size_t>(bd[d]);
  const size_t chunk = static_cast<size_t>(rd[k]) * inner * elem_bytes;
  std::vector<size_t> stride(rank, 1);  // in elements, of the batch buffer
  for (size_t d = rank - 1; d-- > 0;) stride[d] = stride[d + 1] * static_cast<size_t>(bd[d + 1]);
  std::vector<int64_t> idx(k, 0);
  size_t outer = 1;
  for (size_t d = 0; d < k; d++) outer *= static_cast<size_t>(rd[d]);
  for (size_t n = 0; n < outer; n++) {
    size_t at = 0;
    for (size_t d = 0; d < k; d++) at += static_cast<size_t>(idx[d] + (d == 0 ? row0 : 0)) * stride[d];
    if (k == 0) at = static_cast<size_t>(row0) * stride[0];
    std::memcpy(dst + at * elem_bytes, src, chunk);
    src += chunk;
    for (size_t d = k; d-- > 0;) {  // odometer over dims 0..k-1
      if (++idx[d] < rd[d]) break;
      idx[d] = 0;
    }
  }
}

// How long an idle batcher thread spins before parking (ORTEX_BATCH_SPIN_US; default 20,
// or 0 when the process may use a single CPU).
int64_t SpinNs() {
  static const int64_t ns = [] {
    const char* v = std::getenv("ORTEX_BATCH_SPIN_US");
    return (v ? std::max(0, std::atoi(v)) : AvailableCpus() > 1 ? 20 : 0) * int64_t{1000};
  }();
  return ns;
}

// Spins until `ready()` or the spin budget runs out; true if ready.
template <typename F>
bool SpinUntil(F ready) {
  const int64_t budget = SpinNs();
  if (budget <= 0) return false;
  const int64_t until = NowNs() + budget;
  do {
    for (int i = 0; i < 16; i++) {
      if (ready()) return true;
      ORTEX_BATCHER_RELAX();
    }
  } while (NowNs() < until);
  return ready();
}

void FillPattern(unsigned char* dst, size_t bytes, const std::vector<unsigned char>& pattern) {
  const bool zero = std::all_of(pattern.begin(), pattern.end(), [](unsigned char b) { return b == 0; });
  if (zero || pattern.empty()) {
    std::memset(dst, 0, bytes);
    return;
  }
  for (size_t i = 0; i + pattern.size() <= bytes; i += pattern.size()) std::memcpy(dst + i, pattern.data(), pattern.size());
}

}  // namespace

// ---------------------------------------------------------------------------------------
// Instances

struct Batcher::Instance {
  int index = 0;
  OrtSession* session = nullptr;
  OrtIoBinding* binding = nullptr;
  OrtAllocator* staging_alloc = nullptr;  // CudaPinned on CUDA, else ORT's CPU allocator
  OrtMemoryInfo* pinned_info = nullptr;   // owned, when pinned
  std::vector<void*> staging;             // per input
  std::vector<size_t> staging_bytes;
  std::vector<int64_t> dims;              // scratch for a batch's dims
  Parker parker;
  // The scheduler fills `batch` while busy is false, then sets busy (release); the instance
  // runs it and clears busy (release) when done. Neither touches `batch` out of turn.
  std::atomic<bool> busy{false};
  std::vector<Request*> batch;
  std::thread thread;
  ComputeModel compute_model;
};

// ---------------------------------------------------------------------------------------
// The scheduler: forms batches. Runs on its own thread; owns everything declared here.

class Batcher::Scheduler {
 public:
  explicit Scheduler(Batcher* b) : b_(b), levels_(static_cast<size_t>(std::max(1, b->config_.priority_levels))) {}

  void Loop() {
    std::vector<Request*> formed;
    for (;;) {
      Drain();
      const int64_t now = NowNs();
      ExpireDeadlines(now);
      const int64_t cancels = b_->cancels_.load(std::memory_order_acquire);
      if (cancels != seen_cancels_) {
        seen_cancels_ = cancels;
        SweepCancelled();
      }
      const bool closing = b_->closing_.load(std::memory_order_seq_cst);
      if (closing && !b_->drain_.load(std::memory_order_relaxed)) EndAllPending(RequestStatus::kClosed);
      int64_t wake_at = -1;
      while (pending_ > 0) {
        Instance* idle = FindIdle();
        if (!idle) break;
        int64_t wait_until = -1;
        formed.clear();
        if (!Form(now, closing, &formed, &wait_until)) {
          wake_at = wait_until;
          break;
        }
        if (formed.empty()) continue;  // every candidate had been cancelled
        Dispatch(idle, &formed);
      }
      FlushEnded();
      if (closing && pending_ == 0 && b_->queued_.load(std::memory_order_seq_cst) == 0 && AllIdle()) break;
      if (!heap_.empty() && (wake_at < 0 || heap_[0]->deadline_ns < wake_at)) wake_at = heap_[0]->deadline_ns;
      if (!b_->queue_.Empty()) {
        // More arrived, or a producer is between its two steps of a push: look again, and
        // yield the core after a while in case that producer is waiting for it.
        if (++retries_ > 64) std::this_thread::yield(); else ORTEX_BATCHER_RELAX();
        continue;
      }
      retries_ = 0;
      int64_t timeout = -1;
      if (wake_at >= 0) timeout = std::max<int64_t>(0, wake_at - NowNs());
      // Nothing pending: spin a little before parking, so a caller sending requests one
      // after another finds the scheduler awake (a futex wake costs tens of µs on a VM).
      if (timeout < 0 && pending_ == 0 && SpinUntil([this] { return !b_->queue_.Empty(); })) continue;
      if (timeout != 0) b_->scheduler_parker_.Park(timeout);
    }
  }

 private:
  struct List {
    Request* head = nullptr;
    Request* tail = nullptr;
  };

  void Append(Request* r) {
    List& l = levels_[static_cast<size_t>(r->priority)];
    r->next = nullptr;
    r->prev = l.tail;
    if (l.tail) l.tail->next = r; else l.head = r;
    l.tail = r;
    pending_++;
  }

  void Unlink(Request* r) {
    List& l = levels_[static_cast<size_t>(r->priority)];
    if (r->prev) r->prev->next = r->next; else l.head = r->next;
    if (r->next) r->next->prev = r->prev; else l.tail = r->prev;
    r->prev = r->next = nullptr;
    pending_--;
    if (r->heap_index != SIZE_MAX) HeapRemove(r);
  }

  // Ends a request the scheduler holds (queued, not in a batch).
  void End(Request* r, RequestStatus status) {
    r->status = status;
    ended_.push_back(r);
    b_->queued_.fetch_sub(1, std::memory_order_seq_cst);
    b_->stats_.CountReject(status == RequestStatus::kTimeout ? Reject::kTimeout
                           : status == RequestStatus::kCancelled ? Reject::kCancelled
                                                                 : Reject::kClosed);
  }

  void Drain() {
    for (;;) {
      MpscNode* n = b_->queue_.Pop();
      if (!n) return;
      Request* r = reinterpret_cast<Request*>(n);
      if (r->state.load(std::memory_order_acquire) == Request::kCancelled) {
        End(r, RequestStatus::kCancelled);
        continue;
      }
      if (r->priority < 0 || static_cast<size_t>(r->priority) >= levels_.size()) r->priority = static_cast<int>(levels_.size()) - 1;
      Append(r);
      if (r->deadline_ns > 0) HeapPush(r);
      ObserveArrival(r);
    }
  }

  void ExpireDeadlines(int64_t now) {
    while (!heap_.empty() && heap_[0]->deadline_ns <= now) {
      Request* r = heap_[0];
      Unlink(r);  // also leaves the heap
      uint32_t expected = Request::kQueued;
      const bool won = r->state.compare_exchange_strong(expected, Request::kTimedOut, std::memory_order_acq_rel);
      if (won) b_->stats_.timeout_lateness.Record(NowNs() - r->deadline_ns);
      End(r, won ? RequestStatus::kTimeout : RequestStatus::kCancelled);
    }
  }

  void SweepCancelled() {
    for (List& l : levels_) {
      for (Request* r = l.head; r;) {
        Request* next = r->next;
        if (r->state.load(std::memory_order_acquire) == Request::kCancelled) {
          Unlink(r);
          End(r, RequestStatus::kCancelled);
        }
        r = next;
      }
    }
  }

  void EndAllPending(RequestStatus status) {
    for (List& l : levels_) {
      while (l.head) {
        Request* r = l.head;
        Unlink(r);
        uint32_t expected = Request::kQueued;
        const bool won = r->state.compare_exchange_strong(expected, Request::kTaken, std::memory_order_acq_rel);
        End(r, won ? status : RequestStatus::kCancelled);
      }
    }
  }

  // Hands ended requests back to their clients, one completion per client.
  void FlushEnded() {
    if (ended_.empty()) return;
    b_->DeliverAll(ended_, nullptr);
    ended_.clear();
  }

  Instance* FindIdle() {
    for (auto& inst : b_->instances_)
      if (!inst->busy.load(std::memory_order_acquire)) return inst.get();
    return nullptr;
  }

  bool AllIdle() {
    for (auto& inst : b_->instances_)
      if (inst->busy.load(std::memory_order_acquire)) return false;
    return true;
  }

  // Two requests may share a batch when every dim but the batch dim and padded dims agree.
  bool Compatible(const Request* a, const Request* b) const {
    if (a->shape_key != b->shape_key || a->dims.size() != b->dims.size()) return false;
    const auto& ins = b_->model_.inputs;
    size_t pos = 0;
    for (size_t i = 0; i < ins.size(); i++) {
      const size_t rank = ins[i].dims.size();
      const std::vector<int>* pad = i < b_->config_.padding.size() ? &b_->config_.padding[i].dims : nullptr;
      for (size_t d = 1; d < rank; d++) {
        if (pad && std::find(pad->begin(), pad->end(), static_cast<int>(d)) != pad->end()) continue;
        if (a->dims[pos + d] != b->dims[pos + d]) return false;
      }
      pos += rank;
    }
    return true;
  }

  // Gathers the next batch into `out`, or returns false with the time to look again
  // (wait_until, -1: when something arrives).
  bool Form(int64_t now, bool closing, std::vector<Request*>* out, int64_t* wait_until) {
    const int64_t max = b_->max_batch_.load(std::memory_order_relaxed);
    const int64_t hold = b_->hold_.load(std::memory_order_relaxed);
    if (hold > 0 && !closing) {
      if (pending_ < hold) return false;
      // One-shot: once reached, every request queued at that moment goes as if its queue
      // delay had passed (preferred sizes still apply).
      b_->hold_.store(0, std::memory_order_relaxed);
      flush_ = pending_;
    }
    Request* anchor = nullptr;
    for (List& l : levels_)
      if (l.head) {
        anchor = l.head;
        break;
      }
    if (!anchor) return false;
    candidates_.clear();
    int64_t rows = 0, oldest = anchor->enqueue_ns;
    if (max == 0) {
      candidates_.push_back(anchor);
      rows = max;
    } else {
      bool stop = false;
      for (List& l : levels_) {
        for (Request* r = l.head; r && !stop; r = r->next) {
          if (r != anchor && !Compatible(anchor, r)) continue;
          if (rows + r->rows > max) {
            stop = true;  // keep arrival order: no later request jumps a waiting one
            break;
          }
          candidates_.push_back(r);
          rows += r->rows;
          oldest = std::min(oldest, r->enqueue_ns);
          if (rows == max) stop = true;
        }
        if (stop) break;
      }
      // Admitted under a larger maxBatchSize than the current one: it runs alone.
      if (candidates_.empty()) {
        candidates_.push_back(anchor);
        rows = max;
      }
    }
    size_t take = candidates_.size();
    const bool send_now = max == 0 || rows >= max || closing;
    if (!send_now) {
      const auto& preferred = b_->config_.preferred_batch_sizes;
      int64_t largest_pref = 0;
      for (int64_t p : preferred)
        if (p <= max) largest_pref = std::max(largest_pref, p);
      // The longest prefix of candidates whose rows are a preferred size.
      size_t pref_take = 0;
      int64_t acc = 0;
      for (size_t i = 0; i < candidates_.size(); i++) {
        acc += candidates_[i]->rows;
        if (std::find(preferred.begin(), preferred.end(), acc) != preferred.end()) pref_take = i + 1;
      }
      const int64_t delay_ns = Delay(rows, now - oldest, candidates_.size(), now);
      if (largest_pref > 0 && rows >= largest_pref && pref_take > 0) {
        take = pref_take;  // the largest preferred size is reached: go at once
      } else if (now - oldest >= delay_ns || flush_ > 0) {
        if (pref_take > 0) take = pref_take;
      } else {
        *wait_until = oldest + delay_ns;
        return false;
      }
    }
    flush_ = std::max<int64_t>(0, flush_ - static_cast<int64_t>(take));
    for (size_t i = 0; i < take; i++) {
      Request* r = candidates_[i];
      Unlink(r);
      uint32_t expected = Request::kQueued;
      if (r->state.compare_exchange_strong(expected, Request::kTaken, std::memory_order_acq_rel)) {
        out->push_back(r);
      } else {
        End(r, RequestStatus::kCancelled);
      }
    }
    b_->queued_.fetch_sub(static_cast<int64_t>(out->size()), std::memory_order_seq_cst);
    return true;
  }

  // The queue delay (ns) for a pending batch of `rows` whose oldest request has waited `waited`.
  int64_t Delay(int64_t rows, int64_t waited, size_t requests, int64_t now) {
    const int64_t fixed = b_->delay_us_.load(std::memory_order_relaxed) * 1000;
    const int64_t target = b_->config_.latency_target_us * 1000;
    if (target <= 0) return fixed;
    // Load-aware, a cost/benefit rule in the spirit of BentoML's adaptive batching: one more
    // request joining this batch saves a run's fixed cost `a` (it would otherwise need a run
    // of its own); waiting for it costs each of the `requests` already pending the expected
    // gap to the next arrival. So wait only while requests * gap < a, while arrivals are
    // still coming (the last one is no older than two gaps), and while the oldest request
    // can still be answered within the target. A closed-loop caller at concurrency 1 (gap =
    // its own round trip) is never held back; a burst is gathered into one batch.
    double a = 0, s = 0;
    for (auto& inst : b_->instances_) {
      double ia = 0, is = 0;
      inst->compute_model.Get(&ia, &is);
      a = std::max(a, ia);
      s = std::max(s, is);
    }
    double wait = 0;
    const double slack = static_cast<double>(target) - static_cast<double>(waited) - (a + s * static_cast<double>(rows));
    const bool flowing = gap_ns_ > 0 && static_cast<double>(now - last_arrival_ns_) < 2 * gap_ns_;
    if (slack > 0 && flowing && static_cast<double>(requests) * gap_ns_ < a) wait = std::min(2 * gap_ns_, slack);
    if (fixed > 0) wait = std::min(wait, static_cast<double>(fixed));
    b_->adaptive_delay_us_.store(static_cast<int64_t>(wait / 1000.0), std::memory_order_relaxed);
    return waited + static_cast<int64_t>(wait);
  }

  void ObserveArrival(const Request* r) {
    if (b_->config_.latency_target_us <= 0) return;
    if (last_arrival_ns_ > 0) {
      const double gap = static_cast<double>(std::max<int64_t>(0, r->enqueue_ns - last_arrival_ns_));
      gap_ns_ = gap;  // the latest gap: a burst shows at its second request
    }
    last_arrival_ns_ = std::max(last_arrival_ns_, r->enqueue_ns);
  }

  void Dispatch(Instance* inst, std::vector<Request*>* formed) {
    b_->executing_.fetch_add(static_cast<int64_t>(formed->size()), std::memory_order_relaxed);
    inst->batch.swap(*formed);
    inst->busy.store(true, std::memory_order_seq_cst);
    inst->parker.Unpark();
  }

  // Deadline min-heap, intrusive: each request knows its index.
  bool Earlier(size_t i, size_t j) const { return heap_[i]->deadline_ns < heap_[j]->deadline_ns; }
  void Swap(size_t i, size_t j) {
    std::swap(heap_[i], heap_[j]);
    heap_[i]->heap_index = i;
    heap_[j]->heap_index = j;
  }
  void Up(size_t i) {
    while (i > 0 && Earlier(i, (i - 1) / 2)) {
      Swap(i, (i - 1) / 2);
      i = (i - 1) / 2;
    }
  }
  void Down(size_t i) {
    for (;;) {
      size_t m = i, l = 2 * i + 1, r = l + 1;
      if (l < heap_.size() && Earlier(l, m)) m = l;
      if (r < heap_.size() && Earlier(r, m)) m = r;
      if (m == i) return;
      Swap(i, m);
      i = m;
    }
  }
  void HeapPush(Request* r) {
    r->heap_index = heap_.size();
    heap_.push_back(r);
    Up(heap_.size() - 1);
  }
  void HeapRemove(Request* r) {
    const size_t i = r->heap_index;
    const size_t last = heap_.size() - 1;
    if (i != last) Swap(i, last);
    heap_.pop_back();
    r->heap_index = SIZE_MAX;
    if (i < heap_.size()) {
      Up(i);
      Down(i);
    }
  }

  Batcher* b_;
  std::vector<List> levels_;
  int64_t pending_ = 0;  // requests in levels_
  std::vector<Request*> heap_;
  std::vector<Request*> candidates_;
  std::vector<Request*> ended_;
  int64_t seen_cancels_ = 0;
  int64_t flush_ = 0;  // requests still to send without delay after a hold was released
  int retries_ = 0;    // consecutive looks at a queue that was not empty yet gave nothing
  // Load-aware delay only: the latest arrival and the gap before it.
  int64_t last_arrival_ns_ = 0;
  double gap_ns_ = 0;
};

// ---------------------------------------------------------------------------------------
// Batcher

Batcher::Batcher(BatcherConfig config, Model model)
    : config_(std::move(config)),
      model_(std::move(model)),
      stats_(static_cast<size_t>(std::max<int64_t>(config_.max_batch_size, 1024))),
      max_batch_(config_.max_batch_size),
      delay_us_(config_.max_queue_delay_us),
      capacity_rows_(kMaxBatchRows) {}

Batcher::~Batcher() {
  if (scheduler_thread_.joinable()) {
    Close(false);
    stop_.store(true, std::memory_order_seq_cst);
    scheduler_parker_.Unpark();
    for (auto& inst : instances_) inst->parker.Unpark();
  }
  Join();
  for (auto& inst : instances_) {
    for (void* p : inst->staging)
      if (p) inst->staging_alloc->Free(inst->staging_alloc, p);
    if (inst->binding) g_ort->ReleaseIoBinding(inst->binding);
    if (inst->staging_alloc && inst->staging_alloc != CpuAllocator()) g_ort->ReleaseAllocator(inst->staging_alloc);
    if (inst->pinned_info) g_ort->ReleaseMemoryInfo(inst->pinned_info);
  }
  for (OrtSession* s : model_.sessions)
    if (s) g_ort->ReleaseSession(s);
}

Status Batcher::Start(Client* owner) {
  owner_ = owner;
  for (size_t i = 0; i < model_.sessions.size(); i++) {
    auto inst = std::make_unique<Instance>();
    inst->index = static_cast<int>(i);
    inst->session = model_.sessions[i];
    Status st = Status::FromOrt(g_ort->CreateIoBinding(inst->session, &inst->binding));
    if (!st.ok) return st;
    inst->staging_alloc = CpuAllocator();
    if (model_.uses_cuda) {
      // Pinned host memory for the staged inputs, so the copy to the GPU is asynchronous.
      if (!g_ort->CreateMemoryInfo("CudaPinned", OrtDeviceAllocator, 0, OrtMemTypeCPUOutput, &inst->pinned_info)) {
        OrtAllocator* pinned = nullptr;
        OrtStatus* s = g_ort->CreateAllocator(inst->session, inst->pinned_info, &pinned);
        if (s) g_ort->ReleaseStatus(s); else inst->staging_alloc = pinned;
      }
    }
    inst->staging.assign(model_.inputs.size(), nullptr);
    inst->staging_bytes.assign(model_.inputs.size(), 0);
    instances_.push_back(std::move(inst));
  }
  scheduler_ = std::make_unique<Scheduler>(this);
  try {
    for (auto& inst : instances_) {
      Instance* p = inst.get();
      inst->thread = std::thread([this, p] { InstanceLoop(p); });
    }
    scheduler_thread_ = std::thread([this] {
      // Timed waits end on time: the default 50 µs of timer slack would add to every queue
      // delay and deadline.
      prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
      // On one CPU, every Enqueue's wake-up would preempt the producer (the JS thread) in
      // the middle of its burst of requests: a context switch per request, and batches of a
      // few requests. SCHED_BATCH wakes without preempting, so the scheduler runs when the
      // producer yields (or its slice ends) and finds the whole burst queued. Measured on
      // one pinned core, ctr_mlp at 64 connections: 17,500 -> 27,000 req/s, batches of
      // ~5 -> ~58 requests. With more CPUs the scheduler has a core to wake on; left as is.
      if (AvailableCpus() == 1) {
        sched_param param{};
        pthread_setschedparam(pthread_self(), SCHED_BATCH, &param);  // best effort
      }
      scheduler_->Loop();
      // Closed and drained: stop the instances, then tell the owner.
      stop_.store(true, std::memory_order_seq_cst);
      for (auto& inst : instances_) inst->parker.Unpark();
      auto* c = new Completion();
      c->closed = true;
      owner_->Deliver(c);
    });
  } catch (const std::system_error& e) {
    stop_.store(true);
    for (auto& inst : instances_) {
      inst->parker.Unpark();
      if (inst->thread.joinable()) inst->thread.join();
    }
    return Status::Error("ERR_MODEL_THREADS", std::string("ortex could not start the batcher's threads: ") + e.what());
  }
  return Status{};
}

Batcher::Admit Batcher::Enqueue(Request* r) {
  // Counting first, then checking closing_, pairs with the scheduler's exit test (closing_
  // set, then queued_ read as 0): with both seq_cst, a request either is seen by the
  // scheduler before it exits or sees closing_ and is refused here. Never stranded.
  const int64_t before = queued_.fetch_add(1, std::memory_order_seq_cst);
  if (closing_.load(std::memory_order_seq_cst)) {
    queued_.fetch_sub(1, std::memory_order_seq_cst);
    scheduler_parker_.Unpark();  // it may be waiting for queued_ to reach 0
    stats_.CountReject(Reject::kClosed);
    return Admit::kClosed;
  }
  if (config_.max_queue_size > 0 && before >= config_.max_queue_size) {
    queued_.fetch_sub(1, std::memory_order_seq_cst);
    stats_.CountReject(Reject::kQueueFull);
    return Admit::kQueueFull;
  }
  r->state.store(Request::kQueued, std::memory_order_relaxed);
  r->status = RequestStatus::kOk;
  r->heap_index = SIZE_MAX;
  stats_.requests.fetch_add(1, std::memory_order_relaxed);
  queue_.Push(&r->node);
  scheduler_parker_.Unpark();
  return Admit::kOk;
}

bool Batcher::Cancel(Request* r) {
  uint32_t expected = Request::kQueued;
  if (!r->state.compare_exchange_strong(expected, Request::kCancelled, std::memory_order_acq_rel)) return false;
  cancels_.fetch_add(1, std::memory_order_release);
  scheduler_parker_.Unpark();
  return true;
}

void Batcher::Configure(int64_t max_batch_size, int64_t max_queue_delay_us) {
  if (max_batch_size >= 0 && config_.max_batch_size > 0) {
    max_batch_.store(std::max<int64_t>(1, std::min(max_batch_size, capacity_rows_)), std::memory_order_relaxed);
  }
  if (max_queue_delay_us >= 0) delay_us_.store(max_queue_delay_us, std::memory_order_relaxed);
  scheduler_parker_.Unpark();
}

void Batcher::Hold(int64_t n) {
  hold_.store(n, std::memory_order_relaxed);
  scheduler_parker_.Unpark();
}

void Batcher::Close(bool drain) {
  drain_.store(drain, std::memory_order_relaxed);
  closing_.store(true, std::memory_order_seq_cst);
  scheduler_parker_.Unpark();
}

void Batcher::Join() {
  if (joined_) return;
  joined_ = true;
  if (scheduler_thread_.joinable()) scheduler_thread_.join();
  for (auto& inst : instances_)
    if (inst->thread.joinable()) inst->thread.join();
}

void Batcher::InstanceLoop(Instance* inst) {
  for (;;) {
    if (!inst->busy.load(std::memory_order_acquire)) {
      if (stop_.load(std::memory_order_acquire)) return;
      if (!SpinUntil([inst] { return inst->busy.load(std::memory_order_acquire); })) inst->parker.Park(-1);
      continue;
    }
    RunBatch(inst, inst->batch);
    inst->batch.clear();
    inst->busy.store(false, std::memory_order_seq_cst);
    scheduler_parker_.Unpark();
  }
}

void Batcher::RunBatch(Instance* inst, std::vector<Request*>& reqs) {
  const int64_t t0 = NowNs();
  int64_t rows = 0;
  for (Request* r : reqs) {
    stats_.queue.Record(t0 - r->enqueue_ns);
    rows += r->rows;
  }
  std::shared_ptr<BatchResult> result;
  Phases phases;
  Status st = Execute(inst, reqs, rows, &result, &phases);
  const int64_t t1 = NowNs();
  stats_.compute.Record(t1 - t0);
  if (st.ok) stats_.RecordPhases(static_cast<size_t>(rows), phases.input, phases.infer, phases.output);
  stats_.CountBatch(static_cast<size_t>(rows));
  stats_.rows.fetch_add(static_cast<uint64_t>(rows), std::memory_order_relaxed);
  if (st.ok) inst->compute_model.Add(rows, t1 - t0);
  const int64_t n = static_cast<int64_t>(reqs.size());
  if (st.ok || reqs.size() == 1) {
    for (Request* r : reqs) {
      if (!st.ok) {
        r->status = RequestStatus::kFailed;
        r->error = st;
        stats_.CountReject(Reject::kFailed);
      } else {
        stats_.request.Record(t1 - r->enqueue_ns);
      }
    }
    if (st.ok) stats_.completed.fetch_add(static_cast<uint64_t>(n), std::memory_order_relaxed);
    // Counted out before delivery, so stats read by the caller it wakes are already settled.
    executing_.fetch_sub(n, std::memory_order_relaxed);
    DeliverAll(reqs, st.ok ? result : nullptr);
  } else {
    // One bad request must not fail the others of its batch: run each alone, so only the
    // request(s) that fail on their own are answered with the error.
    std::vector<Request*> one(1);
    for (Request* r : reqs) {
      one[0] = r;
      std::shared_ptr<BatchResult> own;
      Phases ignored;
      Status s1 = Execute(inst, one, r->rows, &own, &ignored);
      if (s1.ok) {
        stats_.request.Record(NowNs() - r->enqueue_ns);
        stats_.completed.fetch_add(1, std::memory_order_relaxed);
      } else {
        r->status = RequestStatus::kFailed;
        r->error = s1;
        stats_.CountReject(Reject::kFailed);
      }
      executing_.fetch_sub(1, std::memory_order_relaxed);
      DeliverAll(one, s1.ok ? own : nullptr);
    }
  }
}

Status Batcher::Execute(Instance* inst, const std::vector<Request*>& reqs, int64_t rows,
                        std::shared_ptr<BatchResult>* out, Phases* phases) {
  const int64_t t_start = NowNs();
  const auto& ins = model_.inputs;
  const bool batched = config_.max_batch_size > 0;
  std::vector<OrtValue*> bound;
  bound.reserve(ins.size());
  auto release_bound = [&bound] {
    for (OrtValue* v : bound) g_ort->ReleaseValue(v);
  };
  const OrtMemoryInfo* info = CpuMemoryInfo();
  if (inst->staging_alloc != CpuAllocator()) info = inst->pinned_info;
  size_t pos = 0;
  for (size_t i = 0; i < ins.size(); i++) {
    const size_t rank = ins[i].dims.size();
    const int type = ins[i].elem_type;
    const size_t elem_bytes = std::max<size_t>(1, DType(type).bits / 8);
    inst->dims.assign(reqs[0]->dims.begin() + static_cast<std::ptrdiff_t>(pos),
                      reqs[0]->dims.begin() + static_cast<std::ptrdiff_t>(pos + rank));
    bool padded = false;
    if (batched) {
      inst->dims[0] = rows;
      if (i < config_.padding.size()) {
        for (int d : config_.padding[i].dims) {
          for (Request* r : reqs) {
            const int64_t v = r->dims[pos + static_cast<size_t>(d)];
            if (v != inst->dims[static_cast<size_t>(d)]) padded = true;
            inst->dims[static_cast<size_t>(d)] = std::max(inst->dims[static_cast<size_t>(d)], v);
          }
        }
      }
    }
    size_t count = 1;
    for (int64_t d : inst->dims) count *= static_cast<size_t>(d);
    const size_t bytes = ByteSize(type, count);
    if (inst->staging_bytes[i] < bytes || !inst->staging[i]) {
      if (inst->staging[i]) inst->staging_alloc->Free(inst->staging_alloc, inst->staging[i]);
      // Grow with headroom so a batch slightly larger than the last does not reallocate.
      const size_t want = std::max<size_t>(bytes + bytes / 2, 64);
      inst->staging[i] = inst->staging_alloc->Alloc(inst->staging_alloc, want);
      inst->staging_bytes[i] = inst->staging[i] ? want : 0;
      if (!inst->staging[i]) {
        release_bound();
        return Status::Error("ERR_ORT_FAIL", "Out of memory for a batch of " + std::to_string(rows) + " rows");
      }
    }
    auto* dst = static_cast<unsigned char*>(inst->staging[i]);
    if (!padded) {
      size_t off = 0;
      for (Request* r : reqs) {
        const size_t end = i + 1 < ins.size() ? r->offsets[i + 1] : r->data.size();
        const size_t n = end - r->offsets[i];
        if (n) std::memcpy(dst + off, r->data.data() + r->offsets[i], n);
        off += n;
      }
    } else {
      FillPattern(dst, bytes, config_.padding[i].pad_bytes);
      int64_t row0 = 0;
      for (Request* r : reqs) {
        CopyBlock(dst, inst->dims.data(), r->data.data() + r->offsets[i], r->dims.data() + pos, rank, row0, elem_bytes);
        row0 += r->rows;
      }
    }
    OrtValue* v = nullptr;
    Status st = Status::FromOrt(g_ort->CreateTensorWithDataAsOrtValue(
        info, dst, bytes, inst->dims.data(), rank, static_cast<ONNXTensorElementDataType>(type), &v));
    if (st.ok) {
      bound.push_back(v);
      st = Status::FromOrt(g_ort->BindInput(inst->binding, ins[i].name.c_str(), v));
    }
    if (!st.ok) {
      release_bound();
      return st;
    }
    pos += rank;
  }
  g_ort->ClearBoundOutputs(inst->binding);
  for (const ValueInfo& o : model_.outputs) {
    Status st = Status::FromOrt(g_ort->BindOutputToDevice(inst->binding, o.name.c_str(), info));
    if (!st.ok) {
      release_bound();
      return st;
    }
  }
  const int64_t t_bound = NowNs();
  Status st;
  {
    RunInOrt running;  // a process exiting meanwhile waits a little for it (ort_env.cc)
    st = Status::FromOrt(g_ort->RunWithBinding(inst->session, DefaultRunOptions(), inst->binding));
  }
  const int64_t t_run = NowNs();
  if (st.ok) {
    OrtValue** values = nullptr;
    size_t count = 0;
    st = Status::FromOrt(g_ort->GetBoundOutputValues(inst->binding, CpuAllocator(), &values, &count));
    if (st.ok) {
      auto result = std::make_shared<BatchResult>();
      result->outputs.assign(values, values + count);
      result->batch_rows = rows;
      if (values) CpuAllocator()->Free(CpuAllocator(), values);
      *out = std::move(result);
      int64_t row0 = 0;
      for (Request* r : reqs) {
        r->row_offset = row0;
        row0 += r->rows;
      }
    }
  }
  g_ort->ClearBoundInputs(inst->binding);
  g_ort->ClearBoundOutputs(inst->binding);
  release_bound();
  phases->input = t_bound - t_start;
  phases->infer = t_run - t_bound;
  phases->output = NowNs() - t_run;
  return st;
}

void Batcher::DeliverAll(std::vector<Request*>& reqs, const std::shared_ptr<BatchResult>& result) {
  // Almost always one client (one JS thread); group by client without allocating a map.
  size_t done = 0;
  std::vector<bool> sent(reqs.size(), false);
  while (done < reqs.size()) {
    Client* client = nullptr;
    auto* c = new Completion();
    c->result = result;
    for (size_t i = 0; i < reqs.size(); i++) {
      if (sent[i]) continue;
      if (!client) client = reqs[i]->client;
      if (reqs[i]->client != client) continue;
      c->requests.push_back(reqs[i]);
      sent[i] = true;
      done++;
    }
    client->Deliver(c);
  }
}

}  // namespace ortex
