// BatchStats: the batcher's counters and histograms. Written by the scheduler and instance
// threads with relaxed atomic adds (each figure is independent; a reader may see one batch
// counted in `batches` a moment before its compute time), read from JS by Snapshot() in one
// native call. Times are in nanoseconds here and reported in microseconds.
#pragma once

#include <atomic>
#include <cstdint>
#include <vector>

namespace ortex {

// Upper bounds (µs) of the time histograms' buckets; the last bucket is +Inf. Chosen to
// match Prometheus' habit of 1-2.5-5 steps, from 10 µs to 10 s.
constexpr double kTimeBucketsUs[] = {10,     25,     50,     100,    250,     500,     1000,    2500,
                                     5000,   10000,  25000,  50000,  100000,  250000,  500000,  1000000,
                                     2500000, 5000000, 10000000};
constexpr size_t kTimeBuckets = sizeof(kTimeBucketsUs) / sizeof(kTimeBucketsUs[0]) + 1;

class TimeHistogram {
 public:
  void Record(int64_t ns) {
    const double us = static_cast<double>(ns) / 1000.0;
    size_t i = 0;
    while (i < kTimeBuckets - 1 && us > kTimeBucketsUs[i]) i++;
    counts_[i].fetch_add(1, std::memory_order_relaxed);
    sum_ns_.fetch_add(static_cast<uint64_t>(ns < 0 ? 0 : ns), std::memory_order_relaxed);
  }
  // Appends sum (µs), count, then the per-bucket counts (not cumulative).
  void Snapshot(std::vector<double>* out) const {
    uint64_t count = 0;
    for (const auto& c : counts_) count += c.load(std::memory_order_relaxed);
    out->push_back(static_cast<double>(sum_ns_.load(std::memory_order_relaxed)) / 1000.0);
    out->push_back(static_cast<double>(count));
    for (const auto& c : counts_) out->push_back(static_cast<double>(c.load(std::memory_order_relaxed)));
  }

 private:
  std::atomic<uint64_t> counts_[kTimeBuckets] = {};
  std::atomic<uint64_t> sum_ns_{0};
};

// Why a request was refused or ended without outputs. The order is the JS side's too
// (src/model.ts REJECT_REASONS).
enum class Reject : int { kQueueFull = 0, kTimeout, kCancelled, kClosed, kFailed, kCount };

struct BatchStats {
  explicit BatchStats(size_t max_batch)
      : batch_sizes(max_batch + 1), input_ns_by_size(max_batch + 1), infer_ns_by_size(max_batch + 1),
        output_ns_by_size(max_batch + 1) {}

  std::atomic<uint64_t> requests{0};   // accepted into the queue
  std::atomic<uint64_t> completed{0};  // answered with outputs
  std::atomic<uint64_t> batches{0};    // runs of the model (executions)
  std::atomic<uint64_t> rows{0};       // samples (batch rows) run, padding rows excluded
  std::atomic<uint64_t> rejected[static_cast<int>(Reject::kCount)] = {};
  // Index = batch size in rows; sizes past the end are counted in the last entry.
  std::vector<std::atomic<uint64_t>> batch_sizes;
  TimeHistogram queue;    // per request: enqueue to the start of its batch
  TimeHistogram compute;  // per batch: input staging + run + output fetch
  TimeHistogram request;  // per request: enqueue to outputs ready (before the hop to JS)
  TimeHistogram timeout_lateness;  // per timed-out request: how long after its deadline it was ended
  // Per execution, by phase (Triton's compute_input, compute_infer, compute_output).
  TimeHistogram compute_input, compute_infer, compute_output;
  // The same phases summed per batch size (index as batch_sizes), for Triton's batch_stats.
  std::vector<std::atomic<uint64_t>> input_ns_by_size, infer_ns_by_size, output_ns_by_size;

  void RecordPhases(size_t size, int64_t input, int64_t infer, int64_t output) {
    compute_input.Record(input);
    compute_infer.Record(infer);
    compute_output.Record(output);
    const size_t i = size < batch_sizes.size() ? size : batch_sizes.size() - 1;
    input_ns_by_size[i].fetch_add(static_cast<uint64_t>(input), std::memory_order_relaxed);
    infer_ns_by_size[i].fetch_add(static_cast<uint64_t>(infer), std::memory_order_relaxed);
    output_ns_by_size[i].fetch_add(static_cast<uint64_t>(output), std::memory_order_relaxed);
  }

  void CountReject(Reject r, uint64_t n = 1) {
    rejected[static_cast<int>(r)].fetch_add(n, std::memory_order_relaxed);
  }
  void CountBatch(size_t size) {
    batches.fetch_add(1, std::memory_order_relaxed);
    batch_sizes[size < batch_sizes.size() ? size : batch_sizes.size() - 1].fetch_add(1, std::memory_order_relaxed);
  }
};

}  // namespace ortex
