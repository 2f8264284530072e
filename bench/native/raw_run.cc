// raw_run: the floor for bench/ -- a plain C++ loop over OrtApi::Run, with no binding.
//
//   ortex_raw_run <model.onnx> <batch> <intra_op_threads> <iterations> <warmup> [seq_len=64]
//
// Prints one JSON line:
//   {"p50_us":..,"p99_us":..,"mean_us":..,"n":..,"min_us":..,"max_us":..,"quantiles_us":[..]}
// with the quantiles at QUANTILE_PER_MILLE of bench/stats.ts (1 %, 2 %, ..., 99 %, 99.5 %,
// 99.9 %), from which bench/plots.ts draws the latency CDF.
//
// Each timed iteration does what a binding that keeps nothing from one call to the next
// must do, and nothing more: wrap the caller's input buffers in OrtValues (no copy), Run
// with ORT allocating the outputs, touch each output's data pointer, release everything.
// (ortex's runSync() keeps a call's OrtValues for the next call of the same shape,
// native/sync_reuse.h, and io.runSync() binds them once, so both leave ORT less to do per
// call than this loop.) The session options are the ones bench/trial.ts passes to ortex and
// onnxruntime-node, so the three differ only in what happens around OrtApi::Run.
//
// Inputs are generated from the model's own metadata: the first dynamic dim is the batch,
// any later dynamic dim is seq_len; float inputs are uniform in [-1, 1), integer inputs
// whose name contains "mask" are all ones, other integer inputs are ids in [0, 1000).
// Single-threaded; any failure prints the ORT message to stderr and exits 1.

#include <onnxruntime_c_api.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <random>
#include <string>
#include <vector>

namespace {

const OrtApi* g_ort = nullptr;

void Check(OrtStatus* status, const char* what) {
  if (status == nullptr) return;
  std::fprintf(stderr, "raw_run: %s failed: %s\n", what, g_ort->GetErrorMessage(status));
  g_ort->ReleaseStatus(status);
  std::exit(1);
}

int64_t NowNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

// One model input: its metadata and the buffer the timed loop wraps on every call.
struct Input {
  std::string name;
  ONNXTensorElementDataType type = ONNX_TENSOR_ELEMENT_DATA_TYPE_UNDEFINED;
  std::vector<int64_t> dims;
  std::vector<float> f32;
  std::vector<int64_t> i64;
  std::vector<int32_t> i32;

  void* data() {
    if (!f32.empty()) return f32.data();
    if (!i64.empty()) return i64.data();
    return i32.data();
  }
  size_t bytes() const { return f32.size() * 4 + i64.size() * 8 + i32.size() * 4; }
};

Input DescribeInput(OrtSession* session, OrtAllocator* allocator, size_t i, int64_t batch, int64_t seq_len,
                    std::mt19937& rng) {
  Input in;
  char* name = nullptr;
  Check(g_ort->SessionGetInputName(session, i, allocator, &name), "SessionGetInputName");
  in.name = name;
  Check(g_ort->AllocatorFree(allocator, name), "AllocatorFree");

  OrtTypeInfo* type_info = nullptr;
  Check(g_ort->SessionGetInputTypeInfo(session, i, &type_info), "SessionGetInputTypeInfo");
  const OrtTensorTypeAndShapeInfo* tensor_info = nullptr;
  Check(g_ort->CastTypeInfoToTensorInfo(type_info, &tensor_info), "CastTypeInfoToTensorInfo");
  if (tensor_info == nullptr) {
    std::fprintf(stderr, "raw_run: input '%s' is not a tensor\n", in.name.c_str());
    std::exit(1);
  }
  Check(g_ort->GetTensorElementType(tensor_info, &in.type), "GetTensorElementType");
  size_t rank = 0;
  Check(g_ort->GetDimensionsCount(tensor_info, &rank), "GetDimensionsCount");
  in.dims.resize(rank);
  Check(g_ort->GetDimensions(tensor_info, in.dims.data(), rank), "GetDimensions");
  g_ort->ReleaseTypeInfo(type_info);

  bool first_dynamic = true;
  size_t count = 1;
  for (auto& d : in.dims) {
    if (d < 0) {
      d = first_dynamic ? batch : seq_len;
      first_dynamic = false;
    }
    count *= static_cast<size_t>(d);
  }

  const bool is_mask = in.name.find("mask") != std::string::npos;
  std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
  std::uniform_int_distribution<int64_t> ids(0, 999);
  switch (in.type) {
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT:
      in.f32.resize(count);
      for (auto& v : in.f32) v = uniform(rng);
      break;
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_INT64:
      in.i64.resize(count);
      for (auto& v : in.i64) v = is_mask ? 1 : ids(rng);
      break;
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_INT32:
      in.i32.resize(count);
      for (auto& v : in.i32) v = is_mask ? 1 : static_cast<int32_t>(ids(rng));
      break;
    default:
      std::fprintf(stderr, "raw_run: input '%s' has element type %d; only float, int64 and int32 are generated\n",
                   in.name.c_str(), static_cast<int>(in.type));
      std::exit(1);
  }
  return in;
}

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

  g_ort = OrtGetApiBase()->GetApi(ORT_API_VERSION);
  if (g_ort == nullptr) {
    std::fprintf(stderr, "raw_run: libonnxruntime does not provide ORT API version %d\n", ORT_API_VERSION);
    return 1;
  }

  OrtEnv* env = nullptr;
  Check(g_ort->CreateEnv(ORT_LOGGING_LEVEL_WARNING, "raw_run", &env), "CreateEnv");
  OrtSessionOptions* options = nullptr;
  Check(g_ort->CreateSessionOptions(&options), "CreateSessionOptions");
  Check(g_ort->SetIntraOpNumThreads(options, threads), "SetIntraOpNumThreads");
  Check(g_ort->SetInterOpNumThreads(options, 1), "SetInterOpNumThreads");
  Check(g_ort->SetSessionGraphOptimizationLevel(options, ORT_ENABLE_ALL), "SetSessionGraphOptimizationLevel");
  Check(g_ort->SetSessionExecutionMode(options, ORT_SEQUENTIAL), "SetSessionExecutionMode");
  OrtSession* session = nullptr;
  Check(g_ort->CreateSession(env, model_path, options, &session), "CreateSession");

  OrtAllocator* allocator = nullptr;
  Check(g_ort->GetAllocatorWithDefaultOptions(&allocator), "GetAllocatorWithDefaultOptions");
  OrtMemoryInfo* memory_info = nullptr;
  Check(g_ort->CreateCpuMemoryInfo(OrtArenaAllocator, OrtMemTypeDefault, &memory_info), "CreateCpuMemoryInfo");

  std::mt19937 rng(42);
  size_t input_count = 0;
  Check(g_ort->SessionGetInputCount(session, &input_count), "SessionGetInputCount");
  std::vector<Input> inputs;
  for (size_t i = 0; i < input_count; i++) inputs.push_back(DescribeInput(session, allocator, i, batch, seq_len, rng));

  size_t output_count = 0;
  Check(g_ort->SessionGetOutputCount(session, &output_count), "SessionGetOutputCount");
  std::vector<std::string> output_names;
  for (size_t i = 0; i < output_count; i++) {
    char* name = nullptr;
    Check(g_ort->SessionGetOutputName(session, i, allocator, &name), "SessionGetOutputName");
    output_names.emplace_back(name);
    Check(g_ort->AllocatorFree(allocator, name), "AllocatorFree");
  }

  std::vector<const char*> input_names, output_name_ptrs;
  for (const auto& in : inputs) input_names.push_back(in.name.c_str());
  for (const auto& n : output_names) output_name_ptrs.push_back(n.c_str());
  std::vector<OrtValue*> input_values(input_count, nullptr), output_values(output_count, nullptr);
  volatile float sink = 0;

  auto one_run = [&]() {
    for (size_t i = 0; i < input_count; i++) {
      Check(g_ort->CreateTensorWithDataAsOrtValue(memory_info, inputs[i].data(), inputs[i].bytes(), inputs[i].dims.data(),
                                                  inputs[i].dims.size(), inputs[i].type, &input_values[i]),
            "CreateTensorWithDataAsOrtValue");
    }
    Check(g_ort->Run(session, nullptr, input_names.data(), input_values.data(), input_count, output_name_ptrs.data(),
                     output_count, output_values.data()),
          "Run");
    for (size_t i = 0; i < output_count; i++) {
      void* data = nullptr;
      Check(g_ort->GetTensorMutableData(output_values[i], &data), "GetTensorMutableData");
      sink = sink + *static_cast<float*>(data);
      g_ort->ReleaseValue(output_values[i]);
      output_values[i] = nullptr;
    }
    for (size_t i = 0; i < input_count; i++) g_ort->ReleaseValue(input_values[i]);
  };

  for (long i = 0; i < warmup; i++) one_run();
  std::vector<int64_t> samples_ns(static_cast<size_t>(iterations));
  for (long i = 0; i < iterations; i++) {
    const int64_t start = NowNs();
    one_run();
    samples_ns[static_cast<size_t>(i)] = NowNs() - start;
  }

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

  g_ort->ReleaseMemoryInfo(memory_info);
  g_ort->ReleaseSession(session);
  g_ort->ReleaseSessionOptions(options);
  g_ort->ReleaseEnv(env);
  return 0;
}
