#include "value_convert.h"

#include <cmath>
#include <cstring>
#include <string>

#include "common.h"
#include "tensor.h"

namespace ortex {
namespace {

struct DataView {
  char* data = nullptr;
  size_t bytes = 0;
};

DataView ReadBytes(Napi::Env env, Napi::Value data) {
  if (data.IsTypedArray()) {
    auto ta = data.As<Napi::TypedArray>();
    auto ab = ta.ArrayBuffer();
    return {static_cast<char*>(ab.Data()) + ta.ByteOffset(), ta.ByteLength()};
  }
  if (data.IsArrayBuffer()) {
    auto ab = data.As<Napi::ArrayBuffer>();
    return {static_cast<char*>(ab.Data()), ab.ByteLength()};
  }
  if (data.IsDataView()) {
    auto dv = data.As<Napi::DataView>();
    return {static_cast<char*>(dv.ArrayBuffer().Data()) + dv.ByteOffset(), dv.ByteLength()};
  }
  ORTEX_THROW_TYPE(env, "ERR_INPUT_TYPE", "Expected a TypedArray or ArrayBuffer for tensor data");
}

ValuePtr StringTensorFromJs(Napi::Env env, Napi::Value data, const std::vector<int64_t>& dims,
                            size_t count) {
  if (!data.IsArray())
    ORTEX_THROW_TYPE(env, "ERR_INPUT_TYPE", "Expected string[] for a string tensor");
  auto arr = data.As<Napi::Array>();
  if (arr.Length() != count)
    ORTEX_THROW(env, "ERR_INPUT_DATA_LENGTH",
                "Expected " + std::to_string(count) + " strings for the dims given but received " +
                    std::to_string(arr.Length()));
  OrtValue* raw = nullptr;
  ORT_THROW_ON_ERROR(env, g_ort->CreateTensorAsOrtValue(CpuAllocator(), dims.data(), dims.size(),
                                                        ONNX_TENSOR_ELEMENT_DATA_TYPE_STRING, &raw));
  ValuePtr value(raw);
  std::vector<std::string> storage(count);
  std::vector<const char*> ptrs(count);
  for (size_t i = 0; i < count; i++) {
    Napi::Value s = arr.Get(static_cast<uint32_t>(i));
    if (!s.IsString()) ORTEX_THROW_TYPE(env, "ERR_INPUT_TYPE", "Expected string[] for a string tensor");
    storage[i] = s.As<Napi::String>().Utf8Value();
    ptrs[i] = storage[i].c_str();
  }
  if (count) ORT_THROW_ON_ERROR(env, g_ort->FillStringTensor(value.get(), ptrs.data(), count));
  return value;
}

ValuePtr TensorFromJs(Napi::Env env, Napi::Array enc, InputMemory mode, BorrowedRanges* borrowed) {
  if (enc.Length() != 3)
    ORTEX_THROW_TYPE(env, "ERR_INPUT_TYPE", "Expected a tensor encoded as [type, data, dims]");
  Napi::Value type_v = enc.Get(0u);
  if (!type_v.IsNumber()) ORTEX_THROW_TYPE(env, "ERR_INPUT_TYPE", "Expected a numeric tensor type");
  const int type = type_v.As<Napi::Number>().Int32Value();
  if (!IsKnownDType(type))
    ORTEX_THROW_TYPE(env, "ERR_INPUT_TYPE", "Unknown tensor element type " + std::to_string(type));
  size_t count = 0;
  std::vector<int64_t> dims = ReadDims(env, enc.Get(2u), &count);
  Napi::Value data = enc.Get(1u);
  if (type == ONNX_TENSOR_ELEMENT_DATA_TYPE_STRING) return StringTensorFromJs(env, data, dims, count);

  DataView view = ReadBytes(env, data);
  const size_t expected = ByteSize(type, count);
  if (view.bytes != expected)
    ORTEX_THROW(env, "ERR_INPUT_DATA_LENGTH",
                "Expected " + std::to_string(expected) + " bytes of " + DType(type).name +
                    " data for the dims given but received " + std::to_string(view.bytes));
  const auto onnx_type = static_cast<ONNXTensorElementDataType>(type);
  OrtValue* raw = nullptr;
  if (mode == InputMemory::kBorrow) {
    // ORT wants non-null data even for empty tensors.
    static char empty_byte = 0;
    char* p = view.bytes ? view.data : &empty_byte;
    ORT_THROW_ON_ERROR(env, g_ort->CreateTensorWithDataAsOrtValue(CpuMemoryInfo(), p, view.bytes,
                                                                  dims.data(), dims.size(), onnx_type, &raw));
    if (borrowed && view.bytes) borrowed->emplace_back(view.data, view.data + view.bytes);
    return ValuePtr(raw);
  }
  ORT_THROW_ON_ERROR(env, g_ort->CreateTensorAsOrtValue(CpuAllocator(), dims.data(), dims.size(),
                                                        onnx_type, &raw));
  ValuePtr value(raw);
  if (view.bytes) {
    void* dst = nullptr;
    ORT_THROW_ON_ERROR(env, g_ort->GetTensorMutableData(value.get(), &dst));
    std::memcpy(dst, view.data, view.bytes);
  }
  return value;
}

ValuePtr CompositeFromJs(Napi::Env env, Napi::Object obj, InputMemory mode) {
  // Sequence and map elements are copied by ORT's CreateValue, so they can be built
  // over borrowed memory and released right after.
  if (obj.Has("sequence")) {
    Napi::Value seq_v = obj.Get("sequence");
    if (!seq_v.IsArray()) ORTEX_THROW_TYPE(env, "ERR_INPUT_TYPE", "Expected an array for a sequence");
    auto seq = seq_v.As<Napi::Array>();
    std::vector<ValuePtr> owned;
    std::vector<const OrtValue*> items;
    for (uint32_t i = 0; i < seq.Length(); i++) {
      owned.push_back(ValueFromJs(env, seq.Get(i), InputMemory::kBorrow, nullptr));
      if (!owned.back()) ORTEX_THROW_TYPE(env, "ERR_INPUT_TYPE", "A sequence cannot hold null");
      items.push_back(owned.back().get());
    }
    if (items.empty())
      ORTEX_THROW(env, "ERR_INPUT_SHAPE",
                  "ONNX Runtime cannot build an empty sequence input; feed at least one element");
    OrtValue* raw = nullptr;
    ORT_THROW_ON_ERROR(env, g_ort->CreateValue(items.data(), items.size(), ONNX_TYPE_SEQUENCE, &raw));
    return ValuePtr(raw);
  }
  if (obj.Has("keys") && obj.Has("values")) {
    ValuePtr keys = ValueFromJs(env, obj.Get("keys"), InputMemory::kBorrow, nullptr);
    ValuePtr values = ValueFromJs(env, obj.Get("values"), InputMemory::kBorrow, nullptr);
    if (!keys || !values) ORTEX_THROW_TYPE(env, "ERR_INPUT_TYPE", "A map needs keys and values tensors");
    const OrtValue* kv[2] = {keys.get(), values.get()};
    OrtValue* raw = nullptr;
    ORT_THROW_ON_ERROR(env, g_ort->CreateValue(kv, 2, ONNX_TYPE_MAP, &raw));
    return ValuePtr(raw);
  }
  (void)mode;
  ORTEX_THROW_TYPE(env, "ERR_INPUT_TYPE", "Expected a tensor, {sequence} or {keys, values}");
}

bool InsideBorrowed(const BorrowedRanges& ranges, const char* p) {
  for (const auto& r : ranges)
    if (p >= r.first && p < r.second) return true;
  return false;
}

void ReleaseValueFinalizer(Napi::Env, void*, OrtValue* value) { g_ort->ReleaseValue(value); }

Napi::Value TensorToJs(Napi::Env env, ValuePtr value, const BorrowedRanges& borrowed) {
  OrtTensorTypeAndShapeInfo* info = nullptr;
  ORT_THROW_ON_ERROR(env, g_ort->GetTensorTypeAndShape(value.get(), &info));
  ONNXTensorElementDataType type;
  size_t rank = 0, count = 0;
  OrtStatus* s = g_ort->GetTensorElementType(info, &type);
  if (!s) s = g_ort->GetDimensionsCount(info, &rank);
  std::vector<int64_t> dims(rank);
  if (!s) s = g_ort->GetDimensions(info, dims.data(), rank);
  if (!s) s = g_ort->GetTensorShapeElementCount(info, &count);
  g_ort->ReleaseTensorTypeAndShapeInfo(info);
  if (s) ThrowStatus(env, s);

  Napi::Array js_dims = Napi::Array::New(env, rank);
  for (size_t i = 0; i < rank; i++) js_dims.Set(static_cast<uint32_t>(i), static_cast<double>(dims[i]));
  Napi::Array out = Napi::Array::New(env, 3);
  out.Set(0u, static_cast<double>(type));
  out.Set(2u, js_dims);

  if (type == ONNX_TENSOR_ELEMENT_DATA_TYPE_STRING) {
    Napi::Array strings = Napi::Array::New(env, count);
    if (count) {
      size_t total = 0;
      ORT_THROW_ON_ERROR(env, g_ort->GetStringTensorDataLength(value.get(), &total));
      std::string buf(total, '\0');
      std::vector<size_t> offsets(count);
      ORT_THROW_ON_ERROR(env, g_ort->GetStringTensorContent(value.get(), buf.data(), total,
                                                            offsets.data(), count));
      for (size_t i = 0; i < count; i++) {
        size_t end = i + 1 < count ? offsets[i + 1] : total;
        strings.Set(static_cast<uint32_t>(i),
                    Napi::String::New(env, buf.data() + offsets[i], end - offsets[i]));
      }
    }
    out.Set(1u, strings);
    return out;
  }
  if (!IsKnownDType(type))
    ORTEX_THROW(env, "ERR_OUTPUT_TYPE", "Output has an element type ortex cannot represent: " +
                                            std::to_string(static_cast<int>(type)));
  const DTypeInfo& dt = DType(type);
  const size_t bytes = ByteSize(type, count);
  void* data = nullptr;
  ORT_THROW_ON_ERROR(env, g_ort->GetTensorMutableData(value.get(), &data));

  Napi::ArrayBuffer ab;
  if (bytes == 0 || data == nullptr) {
    ab = Napi::ArrayBuffer::New(env, 0);
  } else if (InsideBorrowed(borrowed, static_cast<const char*>(data))) {
    // ORT aliased an input we borrowed from the caller: copy, so the output never
    // outlives or doubles the ownership of caller memory.
    ab = Napi::ArrayBuffer::New(env, bytes);
    std::memcpy(ab.Data(), data, bytes);
  } else {
    OrtValue* owned = value.release();
    ab = Napi::ArrayBuffer::New(env, data, bytes, ReleaseValueFinalizer, owned);
  }
  const size_t elem_bytes = dt.bits >= 8 ? dt.bits / 8 : 1;
  size_t length = bytes / elem_bytes;
  if (type == ONNX_TENSOR_ELEMENT_DATA_TYPE_COMPLEX64 || type == ONNX_TENSOR_ELEMENT_DATA_TYPE_COMPLEX128)
    length = bytes / (elem_bytes / 2);
  napi_value ta;
  napi_status st = napi_create_typedarray(env, dt.js, length, ab, 0, &ta);
  if (st != napi_ok) throw Napi::Error::New(env, "Could not create the output TypedArray");
  out.Set(1u, Napi::Value(env, ta));
  return out;
}

}  // namespace

std::vector<int64_t> ReadDims(Napi::Env env, Napi::Value dims_v, size_t* element_count) {
  if (!dims_v.IsArray()) ORTEX_THROW_TYPE(env, "ERR_INPUT_SHAPE", "Expected number[] for dims");
  auto arr = dims_v.As<Napi::Array>();
  std::vector<int64_t> dims(arr.Length());
  size_t count = 1;
  for (uint32_t i = 0; i < arr.Length(); i++) {
    Napi::Value d = arr.Get(i);
    double x = d.IsNumber() ? d.As<Napi::Number>().DoubleValue() : -1;
    if (!(x >= 0) || x != std::floor(x) || x > 9007199254740991.0)
      ORTEX_THROW(env, "ERR_INPUT_SHAPE", "Expected non-negative integer dims but dim " +
                                              std::to_string(i) + " is not");
    dims[i] = static_cast<int64_t>(x);
    if (dims[i] && count > SIZE_MAX / static_cast<size_t>(dims[i]))
      ORTEX_THROW(env, "ERR_INPUT_SHAPE", "Tensor dims overflow the address space");
    count *= static_cast<size_t>(dims[i]);
  }
  if (element_count) *element_count = count;
  return dims;
}

ValuePtr ValueFromJs(Napi::Env env, Napi::Value v, InputMemory mode, BorrowedRanges* borrowed) {
  if (v.IsNull() || v.IsUndefined()) return nullptr;
  if (v.IsArray()) return TensorFromJs(env, v.As<Napi::Array>(), mode, borrowed);
  if (v.IsObject()) return CompositeFromJs(env, v.As<Napi::Object>(), mode);
  ORTEX_THROW_TYPE(env, "ERR_INPUT_TYPE", "Expected an encoded tensor, sequence or map");
}

Napi::Value ValueToJs(Napi::Env env, OrtValue* raw, const BorrowedRanges& borrowed) {
  ValuePtr value(raw);
  if (!value) return env.Null();
  int has_value = 1;
  ORT_THROW_ON_ERROR(env, g_ort->HasValue(value.get(), &has_value));
  if (!has_value) return env.Null();
  ONNXType kind;
  ORT_THROW_ON_ERROR(env, g_ort->GetValueType(value.get(), &kind));
  switch (kind) {
    case ONNX_TYPE_TENSOR:
      return TensorToJs(env, std::move(value), borrowed);
    case ONNX_TYPE_SEQUENCE: {
      size_t n = 0;
      ORT_THROW_ON_ERROR(env, g_ort->GetValueCount(value.get(), &n));
      Napi::Array items = Napi::Array::New(env, n);
      for (size_t i = 0; i < n; i++) {
        OrtValue* item = nullptr;
        ORT_THROW_ON_ERROR(env, g_ort->GetValue(value.get(), static_cast<int>(i), CpuAllocator(), &item));
        items.Set(static_cast<uint32_t>(i), ValueToJs(env, item, borrowed));
      }
      Napi::Object out = Napi::Object::New(env);
      out.Set("sequence", items);
      return out;
    }
    case ONNX_TYPE_MAP: {
      OrtValue* keys = nullptr;
      OrtValue* values = nullptr;
      ORT_THROW_ON_ERROR(env, g_ort->GetValue(value.get(), 0, CpuAllocator(), &keys));
      ORT_THROW_ON_ERROR(env, g_ort->GetValue(value.get(), 1, CpuAllocator(), &values));
      Napi::Object out = Napi::Object::New(env);
      out.Set("keys", ValueToJs(env, keys, borrowed));
      out.Set("values", ValueToJs(env, values, borrowed));
      return out;
    }
    default:
      ORTEX_THROW(env, "ERR_OUTPUT_TYPE",
                  "Output is an ONNX value kind ortex cannot represent (" +
                      std::to_string(static_cast<int>(kind)) + ")");
  }
}

}  // namespace ortex
