// A read-only view of a safetensors file (format in safetensors_export.h), as Hugging Face and other
// tools write it. open() checks the header before any tensor is touched: the length field fits the
// file (and is at most 100 MB), the header is a JSON object, every tensor has a known dtype, a shape of
// non-negative dims, and data_offsets [begin, end) with end - begin = numel × dtype size, inside the data.
// Ownership: owns a read-only map of the file; tensors point into it and live as long as the reader.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "tessera/core/file.h"
#include "tessera/core/status.h"

namespace tessera {

enum class SafetensorsDType { kF32, kF16, kBF16, kOther };

struct SafetensorsTensor {
  std::string dtype_name;  // as in the file: "F32", "F16", "BF16", "I64", ...
  SafetensorsDType dtype = SafetensorsDType::kOther;
  std::vector<int64_t> shape;
  const uint8_t* data = nullptr;  // into the map
  uint64_t bytes = 0;
};

class SafetensorsReader {
 public:
  static StatusOr<SafetensorsReader> open(const std::string& path);

  const std::map<std::string, SafetensorsTensor>& tensors() const { return tensors_; }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  const std::string& path() const { return path_; }

  // Tensor `name` converted to f32 (from F32, F16 or BF16), row-major as stored.
  StatusOr<std::vector<float>> read_f32(const std::string& name) const;

 private:
  SafetensorsReader() = default;
  std::string path_;
  MappedFile file_;
  std::map<std::string, SafetensorsTensor> tensors_;
  std::map<std::string, std::string> metadata_;
};

// IEEE half → float (subnormals, infinities and NaN included).
float f16_to_f32(uint16_t half);

}  // namespace tessera
