// What a model says about its inputs and outputs, read once at load time on the worker
// thread (no Napi there) and turned into JS on the JS thread.
#pragma once

#include <napi.h>
#include <onnxruntime_c_api.h>

#include <string>
#include <vector>

#include "ort_env.h"

namespace ortex {

// Static description of one model input or output.
struct ValueInfo {
  std::string name;
  int kind = 0;                        // ONNXType
  int elem_type = 0;                   // ONNXTensorElementDataType, tensors only
  std::vector<int64_t> dims;           // -1 for a dynamic dim
  std::vector<std::string> symbolic;   // symbolic name per dim ("" if none)
  bool has_shape = false;
  std::string description;             // e.g. "tensor(float)", "seq(tensor(int64))"
};

// Reads every input (or output) of a session. Worker-thread safe.
Status ReadValueInfos(OrtSession* session, bool inputs, std::vector<ValueInfo>* out);

// { name, kind, elemType, description, shape } with symbolic dims as strings, unknown as -1.
Napi::Object ValueInfoToJs(Napi::Env env, const ValueInfo& v);

}  // namespace ortex
