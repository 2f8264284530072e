// Conversion between ortex's wire encoding of values (built by src/feeds.ts) and OrtValue.
//
//   tensor    [typeEnum, data, dims]   data: TypedArray | ArrayBuffer | string[]; dims: number[]
//   sequence  { sequence: value[], elemType?: number }   elemType: for an empty sequence
//   map       { keys: tensor, values: tensor }
//   none      null                      (an absent optional)
//
// All functions here run on the JS thread: they read or create JS values.
#pragma once

#include <napi.h>
#include <onnxruntime_c_api.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "ort_env.h"

namespace ortex {

struct OrtValueDeleter {
  void operator()(OrtValue* v) const { if (v) g_ort->ReleaseValue(v); }
};
using ValuePtr = std::unique_ptr<OrtValue, OrtValueDeleter>;

// How an input tensor's bytes reach ORT.
enum class InputMemory {
  kBorrow,  // wrap the caller's memory (sync runs: the caller cannot run JS meanwhile)
  kCopy,    // copy into ORT-owned memory (async runs: the caller may mutate its array)
};

// Address ranges of caller memory wrapped by kBorrow inputs. An output that points
// into one of them is copied, never handed out as a second owner of that memory.
using BorrowedRanges = std::vector<std::pair<const char*, const char*>>;

// Throws a JS error (code ERR_INPUT_*) when the encoding is malformed.
ValuePtr ValueFromJs(Napi::Env env, Napi::Value v, InputMemory mode, BorrowedRanges* borrowed);

// Takes ownership of `value`. Tensor buffers are handed to JS without a copy: the
// ArrayBuffer's finalizer releases the OrtValue.
Napi::Value ValueToJs(Napi::Env env, OrtValue* value, const BorrowedRanges& borrowed);

// Outputs up to this size are copied into V8-owned memory: cheaper than an external
// buffer plus its finalizer, and collectable without the event loop turning.
constexpr size_t kCopyOutputBytes = 64 * 1024;

// A tensor from its parts (the fast calling convention: dims come from the shared scratch).
ValuePtr TensorFromParts(Napi::Env env, int type, const int64_t* dims, size_t rank, Napi::Value data,
                         InputMemory mode, BorrowedRanges* borrowed);

// Takes ownership of a tensor value and returns its data as a TypedArray (string[] for
// strings), with its element type and dims. Large buffers are handed over without a copy.
Napi::Value OutputTensor(Napi::Env env, ValuePtr value, const BorrowedRanges& borrowed, int* type,
                         std::vector<int64_t>* dims);

// The bytes of a TypedArray, DataView or ArrayBuffer; throws ERR_INPUT_TYPE for anything else.
struct ByteView {
  char* data = nullptr;
  size_t bytes = 0;
};
ByteView ReadBytes(Napi::Env env, Napi::Value data);

// A Float64Array that JS shares with a native object for call descriptors (the fast calling
// conventions), kept alive by a reference; and optionally a byte buffer that small outputs
// of a synchronous run are copied into, for JS to slice out (see CopyOutputToScratch). JS
// thread only.
struct Scratch {
  Napi::Reference<Napi::Value> ref;
  double* data = nullptr;
  size_t len = 0;
  Napi::Reference<Napi::Value> out_ref;
  uint8_t* out = nullptr;
  size_t out_len = 0;
  // Takes info[0] and, when given, info[1]; throws ERR_INVALID_ARG unless they are a
  // Float64Array and a Uint8Array.
  void Set(const Napi::CallbackInfo& info);
};

// Outputs up to this size may be copied into a scratch's byte buffer.
constexpr size_t kScratchOutputBytes = 4 * 1024;

// Copies a numeric tensor's bytes into `out` at `*used` (rounded up to 8), advancing
// `*used`, and gives its element type, dims and length as a TypedArray. False, copying
// nothing, for a string tensor, a type JS cannot hold, or bytes that do not fit: the caller
// then takes OutputTensor(). `value` stays the caller's.
bool CopyOutputToScratch(Napi::Env env, const OrtValue* value, uint8_t* out, size_t out_len, size_t* used,
                         int* type, std::vector<int64_t>* dims, size_t* offset, size_t* length);

// Reads a JS number[] of dims into int64s; throws ERR_INPUT_SHAPE on a bad dim.
std::vector<int64_t> ReadDims(Napi::Env env, Napi::Value dims, size_t* element_count);

}  // namespace ortex
