// Empty sequence values. ORT's C API cannot build one (CreateValue needs at least one
// element), but a model can: a one-node graph SequenceEmpty(dtype) run once yields an empty
// seq(tensor(dtype)). The tiny session per element type is built on first use and kept for
// the life of the process (sessions are thread-safe; a few KB each).
#pragma once

#include <onnxruntime_c_api.h>

#include "ort_env.h"

namespace ortex {

// A new empty sequence of tensors of `elem_type` (ONNXTensorElementDataType), owned by the
// caller. Thread-safe.
Status MakeEmptySequence(int elem_type, OrtValue** out);

}  // namespace ortex
