// Named tensors: how modules that must not know each other's internals (ckpt, model, optim) exchange
// data. A TensorView does not own memory; whoever hands it out keeps the buffer alive.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace tessera {

enum class DType : uint8_t { kF32 = 0, kBF16 = 1, kU16 = 2, kU32 = 3, kI64 = 4, kU8 = 5 };

size_t dtype_size(DType dtype);
std::string_view dtype_name(DType dtype);  // "f32", "bf16", ...
bool dtype_from_name(std::string_view name, DType* dtype);

// numel of a shape; {} is a scalar with one element.
int64_t shape_numel(const std::vector<int64_t>& shape);
std::string shape_to_string(const std::vector<int64_t>& shape);  // "[768, 2304]"

struct TensorView {
  std::string name;  // dotted, e.g. "h.3.attn.qkv.weight"
  DType dtype = DType::kF32;
  std::vector<int64_t> shape;
  void* data = nullptr;  // not owned

  int64_t numel() const { return shape_numel(shape); }
  size_t nbytes() const { return static_cast<size_t>(numel()) * dtype_size(dtype); }
};

}  // namespace tessera
