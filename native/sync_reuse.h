// SyncReuse: what one synchronous fast call (runSyncT) leaves behind for the next call of
// the same shape, so that a loop of runSync() calls makes no OrtValue of its own and ORT
// allocates no output:
//  - each input's OrtValue over the caller's memory, reused while the next call gives the
//    same slot, type and dims and data at the same address and size: a fresh OrtValue would
//    be identical to it (ORT keeps nothing of an input after Run returns);
//  - each small output's OrtValue (its bytes were copied into the scratch, so JS never holds
//    it), lent back to Run as a preallocated output when every input kept its shape: ORT
//    writes into it instead of allocating from its arena.
// A model whose output shape depends on its inputs' values (NonZero, say) refuses an output
// preallocated with the old shape; the caller then runs again without, and sets
// keep_outputs to false for good. (So while outputs are lent, an input ORT refuses for
// another reason runs the model twice before the error is thrown.)
//
// Owned by a Session; JS thread only. A call nested in another (user JS runs inside one: a
// getter on a string feed's element) neither reads nor changes it. Clear() keeps the
// vectors' sizes, so a call that was reading them when user JS cleared them stays in bounds.
#pragma once

#include <onnxruntime_c_api.h>

#include <algorithm>
#include <cstdint>
#include <vector>

#include "ort_env.h"
#include "value_info.h"

namespace ortex {

// Tensors of higher rank take the general calling convention.
constexpr size_t kMaxFastRank = 16;

struct SyncReuse {
  struct Input {
    size_t slot = 0;
    int type = 0;
    size_t rank = 0;
    int64_t dims[kMaxFastRank] = {};
    const char* data = nullptr;
    size_t bytes = 0;
    OrtValue* value = nullptr;  // owned; null when nothing is kept

    bool SameShape(size_t k, int t, const int64_t* d, size_t r) const {
      if (!value || slot != k || type != t || rank != r) return false;
      for (size_t i = 0; i < r; i++)
        if (dims[i] != d[i]) return false;
      return true;
    }
  };

  std::vector<Input> inputs;               // by position in the call
  std::vector<const char*> output_names;   // the outputs asked for when `outputs` were kept
  std::vector<OrtValue*> outputs;          // owned, by position; null when not kept
  bool keep_outputs = true;
  // Outputs ORT may answer with a value of its own, leaving a preallocated one as it was, so
  // that lending one would return the last call's data: graph inputs (ORT hands back the
  // feed) and outputs that are not plain tensors (an optional tensor an If makes None).
  std::vector<const char*> never_lend;  // pointing into the Session's ValueInfo names

  SyncReuse() = default;
  SyncReuse(const SyncReuse&) = delete;
  SyncReuse& operator=(const SyncReuse&) = delete;
  ~SyncReuse() { Clear(); }

  // Fills never_lend from the session's inputs and outputs.
  void FindNeverLent(const std::vector<ValueInfo>& graph_inputs, const std::vector<ValueInfo>& graph_outputs) {
    for (const ValueInfo& out : graph_outputs) {
      bool lend = out.kind == ONNX_TYPE_TENSOR;
      for (const ValueInfo& in : graph_inputs) lend = lend && out.name != in.name;
      if (!lend) never_lend.push_back(out.name.c_str());
    }
  }

  // Releases every kept OrtValue.
  void Clear() {
    for (Input& in : inputs) ReleaseKept(&in.value);
    for (OrtValue*& v : outputs) ReleaseKept(&v);
  }

  // Moves the kept outputs into `call_outputs` (sized like `names`) when the inputs kept
  // their shapes and the same outputs are asked for; true when it lent any. Otherwise
  // releases them and makes room to keep this call's.
  bool LendOutputs(bool inputs_same, const std::vector<const char*>& names, std::vector<OrtValue*>* call_outputs) {
    if (!(keep_outputs && inputs_same && names == output_names)) {
      for (OrtValue*& v : outputs) ReleaseKept(&v);
      output_names = names;
      outputs.assign(names.size(), nullptr);
      return false;
    }
    bool lent = false;
    for (size_t i = 0; i < outputs.size(); i++) {
      if (outputs[i] && std::find(never_lend.begin(), never_lend.end(), names[i]) != never_lend.end())
        ReleaseKept(&outputs[i]);
      lent = lent || outputs[i] != nullptr;
      (*call_outputs)[i] = outputs[i];
      outputs[i] = nullptr;
    }
    return lent;
  }

 private:
  static void ReleaseKept(OrtValue** v) {
    if (*v) g_ort->ReleaseValue(*v);
    *v = nullptr;
  }
};

}  // namespace ortex
