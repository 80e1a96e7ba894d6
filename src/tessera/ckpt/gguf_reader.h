// A read-only, bounds-checked view of a GGUF file (versions 2 and 3), as llama.cpp and Tessera's own
// exporter (gguf_export.h, which specifies the byte layout) write it. Used by `tessera ckpt inspect
// FILE.gguf`, the export tests and the fuzz target tests/fuzz/fuzz_gguf.cc.
//
// open() checks everything before any tensor is touched, and refuses with one line naming the file, the
// key or tensor, what was expected and what was found:
//   - the magic "GGUF", version 2 or 3 (version 1 had 32-bit counts);
//   - every string, array and count fits the bytes left in the file (no allocation is sized by a count
//     the file cannot back); keys are unique and non-empty; value types are GGUF's 0..12; an array's
//     elements are not arrays (llama.cpp writes none); at most kGgufMaxArrayElements per array;
//   - general.alignment, if present, is a u32 power of two (default 32);
//   - each tensor: a unique name shorter than 64 bytes (ggml's limit), 1..4 dims (innermost first), each
//     ≥ 1, a known ggml type whose block divides ne[0], an offset that is a multiple of the alignment,
//     and its bytes inside the data section (which starts at the header's end rounded up to the alignment);
//     no two tensors' bytes overlap.
// Ownership: owns a read-only map of the file; tensors point into it and live as long as the reader.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "tessera/core/file.h"
#include "tessera/core/status.h"

namespace tessera {

// GGUF metadata value types (the u32 in the file).
enum class GgufValueType : uint32_t {
  kU8 = 0, kI8 = 1, kU16 = 2, kI16 = 3, kU32 = 4, kI32 = 5, kF32 = 6, kBool = 7,
  kString = 8, kArray = 9, kU64 = 10, kI64 = 11, kF64 = 12,
};

// "u32", "string", ... for messages and `ckpt inspect`.
const char* gguf_value_type_name(GgufValueType type);

inline constexpr uint64_t kGgufMaxArrayElements = uint64_t{1} << 24;

// One metadata value. A scalar is an array of one element of `element_type` with is_array false.
// Integers (and bool, as 0/1) are in `integers` (a u64 as its bit pattern: cast back to uint64_t when
// element_type is kU64), f32/f64 in `floats`, strings in `strings`: exactly one of the three is filled.
struct GgufValue {
  bool is_array = false;
  GgufValueType element_type = GgufValueType::kU8;
  std::vector<int64_t> integers;
  std::vector<double> floats;
  std::vector<std::string> strings;

  size_t size() const { return integers.size() + floats.size() + strings.size(); }
};

// ggml tensor types Tessera knows the block layout of (the u32 in the tensor info).
struct GgmlTypeTraits {
  uint32_t id;
  const char* name;          // "f32", "q8_0", ...
  uint32_t block_elements;   // elements per block (1 for plain types)
  uint32_t block_bytes;      // bytes per block
};
// nullptr for a type id not in the table.
const GgmlTypeTraits* ggml_type_traits(uint32_t id);

struct GgufTensor {
  std::string name;
  std::vector<uint64_t> ne;      // dims, innermost (contiguous) first: a row-major [out, in] is {in, out}
  uint32_t ggml_type = 0;
  const GgmlTypeTraits* traits = nullptr;
  uint64_t offset = 0;           // from the start of the data section
  uint64_t bytes = 0;
  const uint8_t* data = nullptr; // into the map
  uint64_t elements() const;
};

class GgufReader {
 public:
  static StatusOr<GgufReader> open(const std::string& path);

  uint32_t version() const { return version_; }
  uint64_t alignment() const { return alignment_; }
  uint64_t data_offset() const { return data_offset_; }  // where the data section starts in the file
  uint64_t file_bytes() const { return file_.size(); }
  const std::string& path() const { return path_; }
  // Metadata in file order (keys unique), and tensors in file order (names unique).
  const std::vector<std::pair<std::string, GgufValue>>& metadata() const { return metadata_; }
  const std::vector<GgufTensor>& tensors() const { return tensors_; }

  const GgufValue* find(const std::string& key) const;
  const GgufTensor* find_tensor(const std::string& name) const;

  // Typed scalar lookups: NotFound naming a missing key; InvalidArgument naming the key, the expected
  // and the found type (an integer of any width and sign is accepted where it is in range).
  StatusOr<uint64_t> get_uint(const std::string& key) const;
  StatusOr<double> get_float(const std::string& key) const;
  StatusOr<std::string> get_string(const std::string& key) const;
  StatusOr<bool> get_bool(const std::string& key) const;

  // Tensor `name` converted to f32 from f32, f16 or bf16, in file order (innermost dim fastest, i.e.
  // row-major of the reversed ne). NotFound / InvalidArgument (a quantized type) otherwise.
  StatusOr<std::vector<float>> read_f32(const std::string& name) const;

 private:
  GgufReader() = default;
  std::string path_;
  MappedFile file_;
  uint32_t version_ = 0;
  uint64_t alignment_ = 32;
  uint64_t data_offset_ = 0;
  std::vector<std::pair<std::string, GgufValue>> metadata_;
  std::map<std::string, size_t> metadata_index_;
  std::vector<GgufTensor> tensors_;
  std::map<std::string, size_t> tensor_index_;
};

// `tessera ckpt verify FILE.gguf`: GGUF has no checksums, so past open()'s structural checks this decodes every
// f32/f16/bf16 tensor and requires every value finite. Returns how many tensors it decoded (quantized ones are
// not); DataLoss naming the tensor, the element and the value otherwise.
StatusOr<size_t> verify_gguf_values(const GgufReader& reader);

}  // namespace tessera
