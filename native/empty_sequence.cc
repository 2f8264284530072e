#include "empty_sequence.h"

#include <map>
#include <mutex>
#include <string>

namespace ortex {
namespace {

// Protocol-buffer wire encoding, just enough for the ModelProto below (field numbers from
// onnx.proto).
void Varint(std::string* out, uint64_t v) {
  while (v >= 0x80) {
    out->push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out->push_back(static_cast<char>(v));
}
void IntField(std::string* out, int field, uint64_t v) {
  Varint(out, static_cast<uint64_t>(field) << 3);
  Varint(out, v);
}
void BytesField(std::string* out, int field, const std::string& bytes) {
  Varint(out, (static_cast<uint64_t>(field) << 3) | 2);
  Varint(out, bytes.size());
  out->append(bytes);
}

// graph { node SequenceEmpty(dtype) -> "s"; output "s": seq(tensor(dtype)) }, opset 17.
std::string EmptySequenceModel(int elem_type) {
  std::string attr;
  BytesField(&attr, 1, "dtype");  // AttributeProto.name
  IntField(&attr, 3, static_cast<uint64_t>(elem_type));  // .i
  IntField(&attr, 20, 2);  // .type = INT
  std::string node;
  BytesField(&node, 2, "s");  // NodeProto.output
  BytesField(&node, 4, "SequenceEmpty");  // .op_type
  BytesField(&node, 5, attr);  // .attribute
  std::string tensor_type;
  IntField(&tensor_type, 1, static_cast<uint64_t>(elem_type));  // TypeProto.Tensor.elem_type
  std::string elem;
  BytesField(&elem, 1, tensor_type);  // TypeProto.tensor_type
  std::string seq;
  BytesField(&seq, 1, elem);  // TypeProto.Sequence.elem_type
  std::string type;
  BytesField(&type, 4, seq);  // TypeProto.sequence_type
  std::string output;
  BytesField(&output, 1, "s");  // ValueInfoProto.name
  BytesField(&output, 2, type);  // .type
  std::string graph;
  BytesField(&graph, 1, node);  // GraphProto.node
  BytesField(&graph, 2, "ortex_empty_sequence");  // .name
  BytesField(&graph, 12, output);  // .output
  std::string opset;
  BytesField(&opset, 1, "");  // OperatorSetIdProto.domain
  IntField(&opset, 2, 17);  // .version
  std::string model;
  IntField(&model, 1, 8);  // ModelProto.ir_version
  BytesField(&model, 8, opset);  // .opset_import
  BytesField(&model, 7, graph);  // .graph
  return model;
}

std::mutex g_mu;

// By element type; never released (see header). Held through a pointer that is never
// deleted, so no exit-time destructor runs: a destroyed map would drop the only reference
// to the sessions (LeakSanitizer reports them then) and could still be reached from a run
// on a worker thread while the process exits.
std::map<int, OrtSession*>& Sessions() {
  static auto* sessions = new std::map<int, OrtSession*>;
  return *sessions;
}

}  // namespace

Status MakeEmptySequence(int elem_type, OrtValue** out) {
  OrtSession* session = nullptr;
  {
    std::lock_guard<std::mutex> lock(g_mu);
    auto it = Sessions().find(elem_type);
    if (it != Sessions().end()) {
      session = it->second;
    } else {
      const std::string model = EmptySequenceModel(elem_type);
      OrtSessionOptions* so = nullptr;
      OrtStatus* s = g_ort->CreateSessionOptions(&so);
      if (!s) s = g_ort->SetIntraOpNumThreads(so, 1);
      if (!s) s = g_ort->CreateSessionFromArray(Env(), model.data(), model.size(), so, &session);
      if (so) g_ort->ReleaseSessionOptions(so);
      if (s) return Status::FromOrt(s);
      Sessions()[elem_type] = session;
    }
  }
  const char* output_name = "s";
  *out = nullptr;
  return Status::FromOrt(g_ort->Run(session, nullptr, nullptr, nullptr, 0, &output_name, 1, out));
}

}  // namespace ortex
