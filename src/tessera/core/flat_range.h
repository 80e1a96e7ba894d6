// Flat ranges of row-major tensors as boxes: a sharded component owns elements [begin, begin + count) of a
// tensor's row-major order (ZeRO cuts the flat parameter buffer, not tensor dimensions), while checkpoints
// store boxes [offset, offset + shape) of the global tensor (StateWriter::write_tensor_shard). A flat range is
// at most 2·rank − 1 boxes: a partial row at each end around whole rows, recursively.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "tessera/core/stateful.h"
#include "tessera/core/status.h"

namespace tessera {

struct FlatBox {
  std::vector<int64_t> offset;  // global coordinates of the box's first element
  std::vector<int64_t> shape;   // extent per dimension
  int64_t flat_begin = 0;       // row-major index of the box's first element, relative to the range
};

// The boxes that tile elements [begin, begin + count) of a tensor of `shape`, in row-major order; each box's
// elements are contiguous in the flat range. count = 0 gives no boxes.
std::vector<FlatBox> flat_range_boxes(const std::vector<int64_t>& shape, int64_t begin, int64_t count);

// Writes data[count] = elements [begin, begin + count) of fp32 tensor `name` of `shape` as its boxes.
void write_flat_range(StateWriter& writer, const std::string& name, const std::vector<int64_t>& shape, int64_t begin,
                      int64_t count, const float* data);
// Reads elements [begin, begin + count) of fp32 tensor `name` of `shape` into data[count], whatever chunks it
// was stored in.
Status read_flat_range(StateReader& reader, const std::string& name, const std::vector<int64_t>& shape, int64_t begin,
                       int64_t count, float* data);

}  // namespace tessera
