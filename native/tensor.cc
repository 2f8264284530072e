#include "tensor.h"

namespace ortex {
namespace {

constexpr DTypeInfo kUndefined{nullptr, 0, napi_uint8_array};

// Order follows ONNXTensorElementDataType exactly; the static_asserts below pin it.
constexpr DTypeInfo kTable[kMaxDType + 1] = {
    kUndefined,
    {"float32", 32, napi_float32_array},
    {"uint8", 8, napi_uint8_array},
    {"int8", 8, napi_int8_array},
    {"uint16", 16, napi_uint16_array},
    {"int16", 16, napi_int16_array},
    {"int32", 32, napi_int32_array},
    {"int64", 64, napi_bigint64_array},
    {"string", 0, napi_uint8_array},
    {"bool", 8, napi_uint8_array},
    {"float16", 16, napi_uint16_array},
    {"float64", 64, napi_float64_array},
    {"uint32", 32, napi_uint32_array},
    {"uint64", 64, napi_biguint64_array},
    {"complex64", 64, napi_float32_array},
    {"complex128", 128, napi_float64_array},
    {"bfloat16", 16, napi_uint16_array},
    {"float8e4m3fn", 8, napi_uint8_array},
    {"float8e4m3fnuz", 8, napi_uint8_array},
    {"float8e5m2", 8, napi_uint8_array},
    {"float8e5m2fnuz", 8, napi_uint8_array},
    {"uint4", 4, napi_uint8_array},
    {"int4", 4, napi_int8_array},
    {"float4e2m1", 4, napi_uint8_array},
    {"uint2", 2, napi_uint8_array},
    {"int2", 2, napi_int8_array},
    {"float8e8m0", 8, napi_uint8_array},
};

static_assert(ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT == 1, "enum order");
static_assert(ONNX_TENSOR_ELEMENT_DATA_TYPE_INT64 == 7, "enum order");
static_assert(ONNX_TENSOR_ELEMENT_DATA_TYPE_STRING == 8, "enum order");
static_assert(ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT16 == 10, "enum order");
static_assert(ONNX_TENSOR_ELEMENT_DATA_TYPE_BFLOAT16 == 16, "enum order");
static_assert(ONNX_TENSOR_ELEMENT_DATA_TYPE_INT4 == 22, "enum order");
static_assert(ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT8E8M0 == 26, "enum order");
static_assert(sizeof(kTable) / sizeof(kTable[0]) == kMaxDType + 1, "one row per ONNX type");

}  // namespace

bool IsKnownDType(int type) { return type > 0 && type <= kMaxDType; }

const DTypeInfo& DType(int type) { return IsKnownDType(type) ? kTable[type] : kUndefined; }

size_t ByteSize(int type, size_t count) {
  const unsigned bits = DType(type).bits;
  return (count * bits + 7) / 8;
}

}  // namespace ortex
