// raw_run: the floor for bench/ -- a plain C++ loop over OrtApi::Run, with no binding, in a
// process of its own (raw_loop_addon.cc runs the same calls inside a Node process).
//
//   ortex_raw_run <model.onnx> <batch> <intra_op_threads> <iterations> <warmup> [seq_len=64]
//
// Prints one JSON line:
//   {"p50_us":..,"p99_us":..,"mean_us":..,"n":..,"min_us":..,"max_us":..,"quantiles_us":[..]}
// with the quantiles at QUANTILE_PER_MILLE of bench/stats.ts (1 %, 2 %, ..., 99 %, 99.5 %,
// 99.9 %), from which bench/plots.ts draws the latency CDF. Each timed iteration is one
// RawModel::RunOnce() (raw_model.h says what it does and how the inputs are made).
// Single-threaded; any failure prints the ORT message to stderr and exits 1.

#include "raw_model.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <vector>

namespace {

// Nearest-rank percentile of a sorted sample, the definition bench/stats.ts uses too.
double Percentile(const std::vector<int64_t>& sorted_ns, double p) {
  size_t rank = static_cast<size_t>(std::ceil(p * static_cast<double>(sorted_ns.size())));
  if (rank < 1) rank = 1;
  return static_cast<double>(sorted_ns[rank - 1]) / 1000.0;
}

long ParseArg(const char* text, const char* what, long min) {
  char* end = nullptr;
  long v = std::strtol(text, &end, 10);
  if (end == text || *end != '\0' || v < min) {
    std::fprintf(stderr, "raw_run: expected an integer >= %ld for %s but received '%s'\n", min, what, text);
    std::exit(2);
  }
  return v;
}

// Prints the JSON line described at the top of this file.
void PrintSummary(std::vector<int64_t>& samples_ns) {
  const long iterations = static_cast<long>(samples_ns.size());
  double sum_ns = 0;
  for (int64_t s : samples_ns) sum_ns += static_cast<double>(s);
  std::sort(samples_ns.begin(), samples_ns.end());
  std::printf("{\"p50_us\":%.3f,\"p99_us\":%.3f,\"mean_us\":%.3f,\"n\":%ld,\"min_us\":%.3f,\"max_us\":%.3f,\"quantiles_us\":[",
              Percentile(samples_ns, 0.50), Percentile(samples_ns, 0.99), sum_ns / static_cast<double>(iterations) / 1000.0,
              iterations, static_cast<double>(samples_ns.front()) / 1000.0,
              static_cast<double>(samples_ns.back()) / 1000.0);
  // Probabilities in per mille, with the nearest rank in integers (ceil(per_mille * n / 1000)), as
  // stats.ts's quantilesUs() does: 10, 20, ..., 990, then 995 and 999.
  const size_t n = samples_ns.size();
  for (size_t per_mille = 10; per_mille <= 999; per_mille += per_mille < 990 ? 10 : per_mille < 995 ? 5 : 4) {
    const size_t rank = std::max<size_t>(1, (per_mille * n + 999) / 1000);
    std::printf("%s%.3f", per_mille == 10 ? "" : ",", static_cast<double>(samples_ns[rank - 1]) / 1000.0);
  }
  std::printf("]}\n");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 6 || argc > 7) {
    std::fprintf(stderr, "usage: %s <model.onnx> <batch> <intra_op_threads> <iterations> <warmup> [seq_len=64]\n", argv[0]);
    return 2;
  }
  const char* model_path = argv[1];
  const int64_t batch = ParseArg(argv[2], "batch", 1);
  const int threads = static_cast<int>(ParseArg(argv[3], "intra_op_threads", 0));
  const long iterations = ParseArg(argv[4], "iterations", 1);
  const long warmup = ParseArg(argv[5], "warmup", 0);
  const int64_t seq_len = argc == 7 ? ParseArg(argv[6], "seq_len", 1) : 64;

  try {
    raw_bench::RawModel model(model_path, batch, threads, seq_len);
    for (long i = 0; i < warmup; i++) model.RunOnce();
    std::vector<int64_t> samples_ns(static_cast<size_t>(iterations));
    for (long i = 0; i < iterations; i++) {
      const int64_t start = raw_bench::NowNs();
      model.RunOnce();
      samples_ns[static_cast<size_t>(i)] = raw_bench::NowNs() - start;
    }
    PrintSummary(samples_ns);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "raw_run: %s\n", e.what());
    return 1;
  }
  return 0;
}
