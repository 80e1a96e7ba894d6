#include "tessera/core/tensor.h"

#include <fmt/format.h>

namespace tessera {

size_t dtype_size(DType dtype) {
  switch (dtype) {
    case DType::kF32: return 4;
    case DType::kBF16: return 2;
    case DType::kU16: return 2;
    case DType::kU32: return 4;
    case DType::kI64: return 8;
    case DType::kU8: return 1;
  }
  return 0;
}

std::string_view dtype_name(DType dtype) {
  switch (dtype) {
    case DType::kF32: return "f32";
    case DType::kBF16: return "bf16";
    case DType::kU16: return "u16";
    case DType::kU32: return "u32";
    case DType::kI64: return "i64";
    case DType::kU8: return "u8";
  }
  return "?";
}

bool dtype_from_name(std::string_view name, DType* dtype) {
  for (DType d : {DType::kF32, DType::kBF16, DType::kU16, DType::kU32, DType::kI64, DType::kU8}) {
    if (dtype_name(d) == name) {
      *dtype = d;
      return true;
    }
  }
  return false;
}

int64_t shape_numel(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

std::string shape_to_string(const std::vector<int64_t>& shape) {
  return fmt::format("[{}]", fmt::join(shape, ", "));
}

}  // namespace tessera
