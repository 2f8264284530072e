#include "value_convert.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <string>

#include "common.h"
#include "empty_sequence.h"
#include "tensor.h"

namespace ortex {
namespace {

size_t ElementBytes(napi_typedarray_type t) {
  switch (t) {
    case napi_int8_array: case napi_uint8_array: case napi_uint8_clamped_array: return 1;
    case napi_int16_array: case napi_uint16_array: return 2;
    case napi_int32_array: case napi_uint32_array: case napi_float32_array: return 4;
    default: return 8;
  }
}

}  // namespace

ByteView ReadBytes(Napi::Env env, Napi::Value data) {
  // One napi call for a TypedArray (the hot path); node-addon-api's accessors make three.
  napi_typedarray_type ta_type;
  size_t length = 0, offset = 0;
  void* ptr = nullptr;
  napi_value ab;
  if (napi_get_typedarray_info(env, data, &ta_type, &length, &ptr, &ab, &offset) == napi_ok) {
    void* base = nullptr;
    size_t ab_len = 0;
    napi_get_arraybuffer_info(env, ab, &base, &ab_len);
    return {static_cast<char*>(base) + offset, ab_len ? std::min(ab_len - offset, length * ElementBytes(ta_type)) : 0};
  }
  if (data.IsArrayBuffer()) {
    auto buf = data.As<Napi::ArrayBuffer>();
    return {static_cast<char*>(buf.Data()), buf.ByteLength()};
  }
  if (data.IsDataView()) {
    auto dv = data.As<Napi::DataView>();
    return {static_cast<char*>(dv.ArrayBuffer().Data()) + dv.ByteOffset(), dv.ByteLength()};
  }
  ORTEX_THROW_TYPE(env, "ERR_INPUT_TYPE", "Expected a TypedArray or ArrayBuffer for tensor data");
}

namespace {

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
  // Element by element with explicit lengths: FillStringTensor takes C strings, which would
  // cut a string at its first NUL.
  for (size_t i = 0; i < count; i++) {
    Napi::Value s = arr.Get(static_cast<uint32_t>(i));
    if (!s.IsString()) ORTEX_THROW_TYPE(env, "ERR_INPUT_TYPE", "Expected string[] for a string tensor");
    const std::string utf8 = s.As<Napi::String>().Utf8Value();
    char* buf = nullptr;
    ORT_THROW_ON_ERROR(env, g_ort->GetResizedStringTensorElementBuffer(value.get(), i, utf8.size(), &buf));
    if (!utf8.empty()) std::memcpy(buf, utf8.data(), utf8.size());
  }
  return value;
}

ValuePtr TensorFromJs(Napi::Env env, Napi::Array enc, InputMemory mode, BorrowedRanges* borrowed) {
  if (enc.Length() != 3)
    ORTEX_THROW_TYPE(env, "ERR_INPUT_TYPE", "Expected a tensor encoded as [type, data, dims]");
  Napi::Value type_v = enc.Get(0u);
  if (!type_v.IsNumber()) ORTEX_THROW_TYPE(env, "ERR_INPUT_TYPE", "Expected a numeric tensor type");
  const int type = type_v.As<Napi::Number>().Int32Value();
  std::vector<int64_t> dims = ReadDims(env, enc.Get(2u), nullptr);
  return TensorFromParts(env, type, dims.data(), dims.size(), enc.Get(1u), mode, borrowed);
}

ValuePtr CompositeFromJs(Napi::Env env, Napi::Object obj, InputMemory mode) {
  // A sequence shares its element tensors (ORT's TensorSeq keeps the OrtValues it is given),
  // so elements follow the caller's mode: borrowed for runSync, copied for run(). Maps are
  // copied by CreateValue into ORT's own map either way.
  if (obj.Has("sequence")) {
    Napi::Value seq_v = obj.Get("sequence");
    if (!seq_v.IsArray()) ORTEX_THROW_TYPE(env, "ERR_INPUT_TYPE", "Expected an array for a sequence");
    auto seq = seq_v.As<Napi::Array>();
    std::vector<ValuePtr> owned;
    std::vector<const OrtValue*> items;
    for (uint32_t i = 0; i < seq.Length(); i++) {
      owned.push_back(ValueFromJs(env, seq.Get(i), mode, nullptr));
      if (!owned.back()) ORTEX_THROW_TYPE(env, "ERR_INPUT_TYPE", "A sequence cannot hold null");
      items.push_back(owned.back().get());
    }
    if (items.empty()) {
      Napi::Value elem = obj.Get("elemType");
      if (!elem.IsNumber())
        ORTEX_THROW_TYPE(env, "ERR_INPUT_TYPE", "An empty sequence needs its element type (elemType)");
      OrtValue* raw = nullptr;
      Status st = MakeEmptySequence(elem.As<Napi::Number>().Int32Value(), &raw);
      if (!st.ok) throw ErrorFromStatus(env, st);
      return ValuePtr(raw);
    }
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
  ORTEX_THROW_TYPE(env, "ERR_INPUT_TYPE", "Expected a tensor, {sequence} or {keys, values}");
}

bool InsideBorrowed(const BorrowedRanges& ranges, const char* p) {
  for (const auto& r : ranges)
    if (p >= r.first && p < r.second) return true;
  return false;
}

Napi::Value TensorToJs(Napi::Env env, ValuePtr value, const BorrowedRanges& borrowed) {
  int type = 0;
  std::vector<int64_t> dims;
  Napi::Value data = OutputTensor(env, std::move(value), borrowed, &type, &dims);
  Napi::Array js_dims = Napi::Array::New(env, dims.size());
  for (size_t i = 0; i < dims.size(); i++) js_dims.Set(static_cast<uint32_t>(i), static_cast<double>(dims[i]));
  Napi::Array out = Napi::Array::New(env, 3);
  out.Set(0u, static_cast<double>(type));
  out.Set(1u, data);
  out.Set(2u, js_dims);
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

ValuePtr TensorFromParts(Napi::Env env, int type, const int64_t* dims, size_t rank, Napi::Value data,
                         InputMemory mode, BorrowedRanges* borrowed) {
  if (!IsKnownDType(type))
    ORTEX_THROW_TYPE(env, "ERR_INPUT_TYPE", "Unknown tensor element type " + std::to_string(type));
  size_t count = 1;
  for (size_t i = 0; i < rank; i++) {
    if (dims[i] < 0) ORTEX_THROW(env, "ERR_INPUT_SHAPE", "Expected non-negative dims");
    const size_t d = static_cast<size_t>(dims[i]);
    if (d && count > (SIZE_MAX / 16) / d) ORTEX_THROW(env, "ERR_INPUT_SHAPE", "Tensor dims overflow the address space");
    count *= d;
  }
  if (type == ONNX_TENSOR_ELEMENT_DATA_TYPE_STRING)
    return StringTensorFromJs(env, data, std::vector<int64_t>(dims, dims + rank), count);

  ByteView view = ReadBytes(env, data);
  const size_t expected = ByteSize(type, count);
  if (view.bytes != expected)
    ORTEX_THROW(env, "ERR_INPUT_DATA_LENGTH",
                "Expected " + std::to_string(expected) + " bytes of " + DType(type).name +
                    " data for the dims given but received " + std::to_string(view.bytes));
  const auto onnx_type = static_cast<ONNXTensorElementDataType>(type);
  OrtValue* raw = nullptr;
  if (mode == InputMemory::kBorrow || expected == 0) {
    // An empty tensor gets zeroed memory of its own, never null nor a single byte: some ORT
    // kernels read the first element of an input they take for a scalar without checking its
    // size (SequenceAt's index of shape [0] crashed run(), whose ORT-allocated empty tensor
    // has no data at all). 64 bytes cover any one element; nothing writes an empty input.
    alignas(64) static char empty_data[64] = {};
    char* p = view.bytes ? view.data : empty_data;
    ORT_THROW_ON_ERROR(env, g_ort->CreateTensorWithDataAsOrtValue(CpuMemoryInfo(), p, view.bytes, dims, rank,
                                                                  onnx_type, &raw));
    if (borrowed && view.bytes) borrowed->emplace_back(view.data, view.data + view.bytes);
    return ValuePtr(raw);
  }
  ORT_THROW_ON_ERROR(env, g_ort->CreateTensorAsOrtValue(CpuAllocator(), dims, rank, onnx_type, &raw));
  ValuePtr value(raw);
  if (view.bytes) {
    void* dst = nullptr;
    ORT_THROW_ON_ERROR(env, g_ort->GetTensorMutableData(value.get(), &dst));
    std::memcpy(dst, view.data, view.bytes);
  }
  return value;
}

void Scratch::Set(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  REQUIRE_ARG(info, 0, IsTypedArray, "a Float64Array");
  auto f64 = info[0].As<Napi::TypedArray>();
  if (f64.TypedArrayType() != napi_float64_array) ORTEX_THROW_TYPE(env, "ERR_INVALID_ARG", "Expected a Float64Array");
  const bool has_out = info.Length() >= 2 && !info[1].IsUndefined();
  if (has_out && (!info[1].IsTypedArray() || info[1].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array))
    ORTEX_THROW_TYPE(env, "ERR_INVALID_ARG", "Expected a Uint8Array for the output scratch");
  ref.Reset(f64, 1);
  data = reinterpret_cast<double*>(static_cast<char*>(f64.ArrayBuffer().Data()) + f64.ByteOffset());
  len = f64.ElementLength();
  if (!has_out) {
    out_ref.Reset();
    out = nullptr;
    out_len = 0;
    return;
  }
  auto u8 = info[1].As<Napi::Uint8Array>();
  out_ref.Reset(u8, 1);
  out = static_cast<uint8_t*>(u8.ArrayBuffer().Data()) + u8.ByteOffset();
  out_len = u8.ByteLength();
}

namespace {
// Elements of the TypedArray that holds `bytes` bytes of `type` (packed types: one per byte;
// complex: two floats per element).
size_t JsLength(int type, size_t bytes) {
  const DTypeInfo& dt = DType(type);
  const size_t elem_bytes = dt.bits >= 8 ? dt.bits / 8 : 1;
  if (type == ONNX_TENSOR_ELEMENT_DATA_TYPE_COMPLEX64 || type == ONNX_TENSOR_ELEMENT_DATA_TYPE_COMPLEX128)
    return bytes / (elem_bytes / 2);
  return bytes / elem_bytes;
}

// A tensor's element type and shape, the shape by reference (ORT >= 1.24: no allocation,
// unlike GetTensorTypeAndShape), and its element count.
struct TensorShape {
  ONNXTensorElementDataType type;
  const int64_t* dims = nullptr;
  size_t rank = 0;
  size_t count = 1;
};

TensorShape ShapeOf(Napi::Env env, const OrtValue* value) {
  TensorShape t;
  ORT_THROW_ON_ERROR(env, g_ort->GetTensorElementTypeAndShapeDataReference(value, &t.type, &t.dims, &t.rank));
  for (size_t i = 0; i < t.rank; i++) t.count *= static_cast<size_t>(t.dims[i]);
  return t;
}
}  // namespace

bool CopyOutputToScratch(Napi::Env env, const OrtValue* value, uint8_t* out, size_t out_len, size_t* used,
                         int* type_out, std::vector<int64_t>* dims, size_t* offset, size_t* length) {
  const TensorShape t = ShapeOf(env, value);
  const ONNXTensorElementDataType type = t.type;
  if (type == ONNX_TENSOR_ELEMENT_DATA_TYPE_STRING || !IsKnownDType(type)) return false;
  const size_t bytes = ByteSize(type, t.count);
  const size_t at = (*used + 7) & ~size_t{7};
  if (bytes > kScratchOutputBytes || at > out_len || bytes > out_len - at) return false;
  if (bytes) {
    void* data = nullptr;
    ORT_THROW_ON_ERROR(env, g_ort->GetTensorMutableData(const_cast<OrtValue*>(value), &data));
    if (!data) return false;
    std::memcpy(out + at, data, bytes);
  }
  *used = at + bytes;
  *type_out = type;
  dims->assign(t.dims, t.dims + t.rank);
  *offset = at;
  *length = JsLength(type, bytes);
  return true;
}

namespace {
// Bytes of zero-copy output buffers that JS holds and has not yet let go of. Their
// finalizers only run when the event loop turns, so a runSync() loop that never yields
// would otherwise pile them up without bound; past the budget, outputs are copied into
// V8-owned memory, which the garbage collector reclaims without waiting for the loop.
std::atomic<int64_t> g_external_output_bytes{0};
constexpr int64_t kExternalOutputBudget = int64_t{256} << 20;

struct ExternalOutput {
  OrtValue* value;
  int64_t bytes;
};

void ReleaseExternalOutput(Napi::Env, void*, ExternalOutput* hint) {
  g_external_output_bytes -= hint->bytes;
  g_ort->ReleaseValue(hint->value);
  delete hint;
}
}  // namespace

Napi::Value OutputTensor(Napi::Env env, ValuePtr value, const BorrowedRanges& borrowed, int* type_out,
                         std::vector<int64_t>* dims) {
  const TensorShape t = ShapeOf(env, value.get());
  const ONNXTensorElementDataType type = t.type;
  const size_t count = t.count;
  dims->assign(t.dims, t.dims + t.rank);
  *type_out = type;

  if (type == ONNX_TENSOR_ELEMENT_DATA_TYPE_STRING) {
    Napi::Array strings = Napi::Array::New(env, count);
    if (count) {
      size_t total = 0;
      ORT_THROW_ON_ERROR(env, g_ort->GetStringTensorDataLength(value.get(), &total));
      std::string buf(total, '\0');
      std::vector<size_t> offsets(count);
      ORT_THROW_ON_ERROR(env, g_ort->GetStringTensorContent(value.get(), buf.data(), total, offsets.data(), count));
      for (size_t i = 0; i < count; i++) {
        size_t end = i + 1 < count ? offsets[i + 1] : total;
        strings.Set(static_cast<uint32_t>(i), Napi::String::New(env, buf.data() + offsets[i], end - offsets[i]));
      }
    }
    return strings;
  }
  if (!IsKnownDType(type))
    ORTEX_THROW(env, "ERR_OUTPUT_TYPE",
                "Output has an element type ortex cannot represent: " + std::to_string(static_cast<int>(type)));
  const DTypeInfo& dt = DType(type);
  const size_t bytes = ByteSize(type, count);
  void* data = nullptr;
  ORT_THROW_ON_ERROR(env, g_ort->GetTensorMutableData(value.get(), &data));
  if (!data && bytes)
    ORTEX_THROW(env, "ERR_ORT_FAIL", "ONNX Runtime returned an output of " + std::to_string(bytes) + " bytes with no data");

  napi_value ab;
  const bool copy = bytes <= kCopyOutputBytes || data == nullptr ||
                    InsideBorrowed(borrowed, static_cast<const char*>(data)) ||
                    g_external_output_bytes.load(std::memory_order_relaxed) + static_cast<int64_t>(bytes) > kExternalOutputBudget;
  if (copy) {
    // Small outputs: a copy into V8 memory costs less than an external buffer and its
    // finalizer. Also taken when ORT aliased an input borrowed from the caller, so an
    // output never outlives or doubles the ownership of caller memory.
    void* dst = nullptr;
    if (napi_create_arraybuffer(env, bytes, &dst, &ab) != napi_ok) throw Napi::Error::New(env, "Out of memory for an output");
    if (bytes) std::memcpy(dst, data, bytes);
  } else {
    auto* hint = new ExternalOutput{value.get(), static_cast<int64_t>(bytes)};
    napi_status st = napi_create_external_arraybuffer(
        env, data, bytes,
        [](napi_env e, void* d, void* h) { ReleaseExternalOutput(Napi::Env(e), d, static_cast<ExternalOutput*>(h)); },
        hint, &ab);
    if (st != napi_ok) {
      delete hint;
      throw Napi::Error::New(env, "Could not hand an output buffer to JS");
    }
    value.release();  // now owned by the ArrayBuffer's finalizer
    g_external_output_bytes += static_cast<int64_t>(bytes);
  }
  const size_t length = JsLength(type, bytes);
  napi_value ta;
  if (napi_create_typedarray(env, dt.js, length, ab, 0, &ta) != napi_ok)
    throw Napi::Error::New(env, "Could not create the output TypedArray");
  return Napi::Value(env, ta);
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
      OrtValue* raw = nullptr;
      ORT_THROW_ON_ERROR(env, g_ort->GetValue(value.get(), 0, CpuAllocator(), &raw));
      ValuePtr keys(raw);
      raw = nullptr;
      ORT_THROW_ON_ERROR(env, g_ort->GetValue(value.get(), 1, CpuAllocator(), &raw));
      ValuePtr values(raw);
      Napi::Object out = Napi::Object::New(env);
      out.Set("keys", ValueToJs(env, keys.release(), borrowed));
      out.Set("values", ValueToJs(env, values.release(), borrowed));
      return out;
    }
    default:
      ORTEX_THROW(env, "ERR_OUTPUT_TYPE",
                  "Output is an ONNX value kind ortex cannot represent (" +
                      std::to_string(static_cast<int>(kind)) + ")");
  }
}

}  // namespace ortex
