// ortex_raw_bench.node: the raw C baseline of bench/ inside a Node process, so that a trial
// can time it in blocks interleaved with ortex's runSync() (bench/trial.ts, 'paired'): the
// same process, the same libonnxruntime.so.1 (found beside ortex.node by the $ORIGIN rpath),
// the same moments of the machine.
//
//   const { RawLoop } = require('build/Release/ortex_raw_bench.node');
//   const raw = new RawLoop(modelPath, batch, intraOpThreads, seqLen);
//   raw.time(samplesUs, offset, count);  // count calls of RawModel::RunOnce(), each timed
//   const call = raw.bindCall();          // () => void: one RunOnce() per JS call
//   raw.release();
//
// time() writes each call's duration in µs, taken with clock_gettime around the call as
// raw_run.cc does; the JS side of the call (one N-API call per block) is outside them.
// bindCall()'s function is about the least a JS call into native code costs through
// node-addon-api: no arguments, no result, and the model in its callback data (no ObjectWrap
// lookup of `this`), as ortex's runSync() is bound (Session::JS_bindRunSync). Timed from JS
// as ortex is (two performance.now() and a closure call around it), it is the floor of a
// binding built this way.
// A benchmark helper, not part of ortex: built only in a checkout that has test/.
#include <napi.h>

#include <memory>
#include <string>

#include "raw_model.h"

namespace {

class RawLoop : public Napi::ObjectWrap<RawLoop> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "RawLoop", {InstanceMethod<&RawLoop::Time>("time"), InstanceMethod<&RawLoop::BindCall>("bindCall"),
                                     InstanceMethod<&RawLoop::Release>("release")});
  }

  explicit RawLoop(const Napi::CallbackInfo& info) : Napi::ObjectWrap<RawLoop>(info) {
    Napi::Env env = info.Env();
    if (info.Length() != 4 || !info[0].IsString() || !info[1].IsNumber() || !info[2].IsNumber() || !info[3].IsNumber()) {
      throw Napi::TypeError::New(env, "Expected new RawLoop(modelPath, batch, intraOpThreads, seqLen)");
    }
    const std::string path = info[0].As<Napi::String>();
    // As raw_run.cc's arguments: a batch and a sequence length of at least 1, threads from 0.
    const double batch = info[1].As<Napi::Number>().DoubleValue();
    const double threads = info[2].As<Napi::Number>().DoubleValue();
    const double seq_len = info[3].As<Napi::Number>().DoubleValue();
    const auto whole = [](double v, double min) { return v >= min && v <= 1e6 && v == static_cast<double>(static_cast<int64_t>(v)); };
    if (!whole(batch, 1) || !whole(threads, 0) || !whole(seq_len, 1)) {
      throw Napi::RangeError::New(env, "Expected an integer batch >= 1, intraOpThreads >= 0 and seqLen >= 1");
    }
    try {
      model_ = std::make_unique<raw_bench::RawModel>(path.c_str(), static_cast<int64_t>(batch), static_cast<int>(threads),
                                                     static_cast<int64_t>(seq_len));
    } catch (const std::exception& e) {
      throw Napi::Error::New(env, std::string("RawLoop: ") + e.what());
    }
  }

 private:
  // time(samplesUs: Float64Array, offset: number, count: number): void
  void Time(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!model_) throw Napi::Error::New(env, "RawLoop: released");
    if (info.Length() != 3 || !info[0].IsTypedArray() || info[0].As<Napi::TypedArray>().TypedArrayType() != napi_float64_array ||
        !info[1].IsNumber() || !info[2].IsNumber()) {
      throw Napi::TypeError::New(env, "Expected time(samplesUs: Float64Array, offset, count)");
    }
    Napi::Float64Array samples = info[0].As<Napi::Float64Array>();
    const int64_t offset = info[1].As<Napi::Number>().Int64Value();
    const int64_t count = info[2].As<Napi::Number>().Int64Value();
    if (offset < 0 || count < 0 || static_cast<size_t>(offset + count) > samples.ElementLength()) {
      throw Napi::RangeError::New(env, "RawLoop: offset + count exceeds the samples array");
    }
    double* out = samples.Data() + offset;
    try {
      for (int64_t i = 0; i < count; i++) {
        const int64_t start = raw_bench::NowNs();
        model_->RunOnce();
        out[i] = static_cast<double>(raw_bench::NowNs() - start) / 1000.0;
      }
    } catch (const std::exception& e) {
      throw Napi::Error::New(env, std::string("RawLoop: ") + e.what());
    }
  }

  Napi::Value BindCall(const Napi::CallbackInfo& info) {
    Napi::Function fn = Napi::Function::New<&RawLoop::Call>(info.Env(), "call", this);
    fn.Set("loop", info.This());  // keeps this RawLoop alive while the function is
    return fn;
  }

  static void Call(const Napi::CallbackInfo& info) {
    auto* self = static_cast<RawLoop*>(info.Data());
    if (!self->model_) throw Napi::Error::New(info.Env(), "RawLoop: released");
    try {
      self->model_->RunOnce();
    } catch (const std::exception& e) {
      throw Napi::Error::New(info.Env(), std::string("RawLoop: ") + e.what());
    }
  }

  void Release(const Napi::CallbackInfo&) { model_.reset(); }

  std::unique_ptr<raw_bench::RawModel> model_;
};

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("RawLoop", RawLoop::Define(env));
  return exports;
}

}  // namespace

NODE_API_MODULE(ortex_raw_bench, Init)
