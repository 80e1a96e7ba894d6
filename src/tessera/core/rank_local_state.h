// Rank-local state: one rank's state saved so that the same rank of the same layout loads it back, and
// nothing else. An in-memory checkpoint (resilience/memory_checkpoints.h) holds each rank's own state,
// whole tensors and shards alike, in a checkpoint directory of its own; a shard of a global tensor there
// would not tile its tensor, which every committed checkpoint must. These adapters store each shard as a
// whole tensor of its own instead, named after the global tensor and the shard's offset:
//
//   write_tensor_shard("optim.m.wte", shape [8, 64], global [512, 64], offset [24, 0])
//     → write_tensor("optim.m.wte@24,0", shape [8, 64])
//
// A whole tensor (offset all zeros, shape = the global shape) keeps its name. Loading calls
// read_tensor_shard with the same shard boxes the save wrote, which is what happens when the same
// component of the same layout loads (DataParallel::save_held_state writes exactly what load_state reads);
// a box that was not saved is a NotFound naming it. Scalars pass through unchanged.
//
// Ownership: each adapter refers to the writer/reader it wraps, which must outlive it.
#pragma once

#include <string>
#include <vector>

#include "tessera/core/stateful.h"

namespace tessera {

// "name@o0,o1,..." for a shard at `offset` that is not the whole tensor; `name` for the whole tensor.
std::string rank_local_tensor_name(const std::string& name, const std::vector<int64_t>& shard_shape,
                                   const std::vector<int64_t>& global_shape, const std::vector<int64_t>& offset);

class RankLocalStateWriter final : public StateWriter {
 public:
  explicit RankLocalStateWriter(StateWriter& inner) : inner_(inner) {}
  void write_tensor(const TensorView& tensor) override { inner_.write_tensor(tensor); }
  void write_tensor_shard(const TensorView& shard, const std::vector<int64_t>& global_shape,
                          const std::vector<int64_t>& offset) override;
  void write_int(const std::string& name, int64_t value) override { inner_.write_int(name, value); }
  void write_double(const std::string& name, double value) override { inner_.write_double(name, value); }
  void write_string(const std::string& name, const std::string& value) override { inner_.write_string(name, value); }

 private:
  StateWriter& inner_;
};

class RankLocalStateReader final : public StateReader {
 public:
  explicit RankLocalStateReader(StateReader& inner) : inner_(inner) {}
  Status read_tensor(const TensorView& into) override { return inner_.read_tensor(into); }
  Status read_tensor_shard(const TensorView& into, const std::vector<int64_t>& global_shape,
                           const std::vector<int64_t>& offset) override;
  StatusOr<int64_t> read_int(const std::string& name) override { return inner_.read_int(name); }
  StatusOr<double> read_double(const std::string& name) override { return inner_.read_double(name); }
  StatusOr<std::string> read_string(const std::string& name) override { return inner_.read_string(name); }

 private:
  StateReader& inner_;
};

}  // namespace tessera
