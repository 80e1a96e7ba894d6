#include "tessera/parallel/shard_layout.h"

#include <algorithm>

#include "tessera/core/check.h"

namespace tessera {

ShardLayout::ShardLayout(const ParameterLayout& layout, int dp, int rank) : dp_(dp), rank_(rank) {
  TESSERA_CHECK(dp >= 1 && rank >= 0 && rank < dp, "ShardLayout: rank {} of dp {}", rank, dp);
  const auto& units = layout.units();
  for (const ParamUnit& unit : units) {
    TESSERA_CHECK(unit.size() % dp == 0, "ShardLayout: unit '{}' has {} floats, not a multiple of dp {}", unit.name,
                  unit.size(), dp);
    const int64_t size = unit.size() / dp;
    pieces_.push_back({.flat_begin = unit.begin + rank * size, .size = size, .shard_offset = shard_numel_});
    shard_numel_ += size;
  }
  const auto& tensors = layout.tensors();
  for (size_t i = 0; i < tensors.size(); ++i) {
    const UnitPiece& piece = pieces_[static_cast<size_t>(layout.unit_of_tensor(i))];
    const int64_t begin = std::max(tensors[i].offset, piece.flat_begin);
    const int64_t end = std::min(tensors[i].offset + tensors[i].numel, piece.flat_begin + piece.size);
    if (begin >= end) continue;
    parts_.push_back({.tensor = i,
                      .tensor_begin = begin - tensors[i].offset,
                      .count = end - begin,
                      .flat = begin,
                      .shard = piece.shard_offset + (begin - piece.flat_begin)});
  }
}

}  // namespace tessera
