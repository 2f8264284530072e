// Element-type table indexed by ONNXTensorElementDataType (the ONNX enum), so a
// dtype lookup is an array index, never a string compare on the hot path.
#pragma once

#include <onnxruntime_c_api.h>
#include <napi.h>

#include <cstddef>
#include <cstdint>

namespace ortex {

struct DTypeInfo {
  const char* name;          // the JS name, as in onnxruntime-common ("float32", "bfloat16", ...)
  uint8_t bits;              // bits per element; 4 and 2 for packed sub-byte types, 0 for string
  napi_typedarray_type js;   // the TypedArray kind outputs are handed to JS as
};

constexpr int kMaxDType = ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT8E8M0;

// Null for UNDEFINED or an out-of-range value; check with IsKnownDType first.
const DTypeInfo& DType(int type);
bool IsKnownDType(int type);

// Bytes that `count` elements of `type` occupy (packed types round up).
size_t ByteSize(int type, size_t count);

}  // namespace ortex
