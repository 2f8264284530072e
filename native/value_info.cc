#include "value_info.h"

#include "common.h"
#include "tensor.h"

namespace ortex {
namespace {

std::string ElemName(int t) {
  static const char* kOnnx[] = {"undefined", "float", "uint8", "int8", "uint16", "int16", "int32", "int64",
                                "string", "bool", "float16", "double", "uint32", "uint64", "complex64",
                                "complex128", "bfloat16", "float8e4m3fn", "float8e4m3fnuz", "float8e5m2",
                                "float8e5m2fnuz", "uint4", "int4", "float4e2m1", "uint2", "int2", "float8e8m0"};
  return (t >= 0 && t <= kMaxDType) ? kOnnx[t] : "unknown";
}

// Describes a type recursively, ONNX-style: tensor(float), seq(tensor(int64)), map(string,tensor(float)).
Status Describe(const OrtTypeInfo* ti, ValueInfo* top, std::string* out) {
  ONNXType kind;
  OrtStatus* s = g_ort->GetOnnxTypeFromTypeInfo(ti, &kind);
  if (s) return Status::FromOrt(s);
  if (top) top->kind = kind;
  switch (kind) {
    case ONNX_TYPE_TENSOR:
    case ONNX_TYPE_SPARSETENSOR: {
      const OrtTensorTypeAndShapeInfo* tsi = nullptr;
      if ((s = g_ort->CastTypeInfoToTensorInfo(ti, &tsi))) return Status::FromOrt(s);
      ONNXTensorElementDataType et;
      if ((s = g_ort->GetTensorElementType(tsi, &et))) return Status::FromOrt(s);
      *out += std::string(kind == ONNX_TYPE_SPARSETENSOR ? "sparse_tensor(" : "tensor(") + ElemName(et) + ")";
      if (top) {
        top->elem_type = et;
        size_t rank = 0;
        if ((s = g_ort->GetDimensionsCount(tsi, &rank))) return Status::FromOrt(s);
        top->dims.resize(rank);
        std::vector<const char*> sym(rank, nullptr);
        if ((s = g_ort->GetDimensions(tsi, top->dims.data(), rank))) return Status::FromOrt(s);
        if ((s = g_ort->GetSymbolicDimensions(tsi, sym.data(), rank))) return Status::FromOrt(s);
        for (size_t i = 0; i < rank; i++) top->symbolic.emplace_back(sym[i] ? sym[i] : "");
        // ORT reports rank 0 both for scalars and for "no shape known"; the proto is not
        // reachable from the C API, so a scalar is what we report.
        top->has_shape = true;
      }
      return Status{};
    }
    case ONNX_TYPE_SEQUENCE: {
      const OrtSequenceTypeInfo* sti = nullptr;
      OrtTypeInfo* elem = nullptr;
      if ((s = g_ort->CastTypeInfoToSequenceTypeInfo(ti, &sti))) return Status::FromOrt(s);
      if ((s = g_ort->GetSequenceElementType(sti, &elem))) return Status::FromOrt(s);
      *out += "seq(";
      Status st = Describe(elem, nullptr, out);
      g_ort->ReleaseTypeInfo(elem);
      *out += ")";
      return st;
    }
    case ONNX_TYPE_MAP: {
      const OrtMapTypeInfo* mti = nullptr;
      ONNXTensorElementDataType key;
      OrtTypeInfo* val = nullptr;
      if ((s = g_ort->CastTypeInfoToMapTypeInfo(ti, &mti))) return Status::FromOrt(s);
      if ((s = g_ort->GetMapKeyType(mti, &key))) return Status::FromOrt(s);
      if ((s = g_ort->GetMapValueType(mti, &val))) return Status::FromOrt(s);
      *out += "map(" + ElemName(key) + ",";
      Status st = Describe(val, nullptr, out);
      g_ort->ReleaseTypeInfo(val);
      *out += ")";
      return st;
    }
    case ONNX_TYPE_OPTIONAL: {
      const OrtOptionalTypeInfo* oti = nullptr;
      OrtTypeInfo* inner = nullptr;
      if ((s = g_ort->CastTypeInfoToOptionalTypeInfo(ti, &oti))) return Status::FromOrt(s);
      if ((s = g_ort->GetOptionalContainedTypeInfo(oti, &inner))) return Status::FromOrt(s);
      *out += "optional(";
      Status st = Describe(inner, nullptr, out);
      g_ort->ReleaseTypeInfo(inner);
      *out += ")";
      return st;
    }
    default:
      *out += "unknown";
      return Status{};
  }
}

}  // namespace

Status ReadValueInfos(OrtSession* session, bool inputs, std::vector<ValueInfo>* out) {
  size_t n = 0;
  OrtStatus* s = inputs ? g_ort->SessionGetInputCount(session, &n) : g_ort->SessionGetOutputCount(session, &n);
  if (s) return Status::FromOrt(s);
  for (size_t i = 0; i < n; i++) {
    ValueInfo v;
    char* name = nullptr;
    s = inputs ? g_ort->SessionGetInputName(session, i, CpuAllocator(), &name)
               : g_ort->SessionGetOutputName(session, i, CpuAllocator(), &name);
    if (s) return Status::FromOrt(s);
    v.name = name;
    CpuAllocator()->Free(CpuAllocator(), name);
    OrtTypeInfo* ti = nullptr;
    s = inputs ? g_ort->SessionGetInputTypeInfo(session, i, &ti) : g_ort->SessionGetOutputTypeInfo(session, i, &ti);
    if (s) return Status::FromOrt(s);
    Status st = Describe(ti, &v, &v.description);
    g_ort->ReleaseTypeInfo(ti);
    if (!st.ok) return st;
    out->push_back(std::move(v));
  }
  return Status{};
}


Napi::Object ValueInfoToJs(Napi::Env env, const ValueInfo& v) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("name", v.name);
  o.Set("kind", v.kind);
  o.Set("elemType", v.elem_type);
  o.Set("description", v.description);
  Napi::Array shape = Napi::Array::New(env, v.dims.size());
  for (size_t i = 0; i < v.dims.size(); i++) {
    if (v.dims[i] >= 0)
      shape.Set(static_cast<uint32_t>(i), static_cast<double>(v.dims[i]));
    else if (!v.symbolic[i].empty())
      shape.Set(static_cast<uint32_t>(i), v.symbolic[i]);
    else
      shape.Set(static_cast<uint32_t>(i), -1.0);
  }
  o.Set("shape", shape);
  return o;
}

}  // namespace ortex
