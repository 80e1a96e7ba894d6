#include "tessera/core/rank_local_state.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

namespace tessera {

std::string rank_local_tensor_name(const std::string& name, const std::vector<int64_t>& shard_shape,
                                   const std::vector<int64_t>& global_shape, const std::vector<int64_t>& offset) {
  bool whole = shard_shape == global_shape;
  for (const int64_t o : offset) whole = whole && o == 0;
  if (whole) return name;
  return fmt::format("{}@{}", name, fmt::join(offset, ","));
}

void RankLocalStateWriter::write_tensor_shard(const TensorView& shard, const std::vector<int64_t>& global_shape,
                                              const std::vector<int64_t>& offset) {
  TensorView renamed = shard;
  renamed.name = rank_local_tensor_name(shard.name, shard.shape, global_shape, offset);
  inner_.write_tensor(renamed);
}

Status RankLocalStateReader::read_tensor_shard(const TensorView& into, const std::vector<int64_t>& global_shape,
                                               const std::vector<int64_t>& offset) {
  TensorView renamed = into;
  renamed.name = rank_local_tensor_name(into.name, into.shape, global_shape, offset);
  return inner_.read_tensor(renamed);
}

}  // namespace tessera
