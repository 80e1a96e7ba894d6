// TensorSlice: where a tensor-parallel rank's local tensor sits in the global tensor (Megatron's split of
// a weight along its output or input dimension), so that checkpoints store global shapes and offsets and
// any tp layout reads any other's (StateWriter::write_tensor_shard / StateReader::read_tensor_shard).
//
// A split tensor is cut along one dimension `dim`. That dimension may hold `blocks` equal blocks that are
// each cut alike — the fused q | k | v projection [3C, C] is 3 blocks of C rows, and rank r of tp holds rows
// [r·C/tp, (r+1)·C/tp) of each, so its local [3C/tp, C] is q_r | k_r | v_r (its own heads). Rank `index` of
// `count` holds part `index` of every block:
//   local extent along dim = global extent / count;  local block j's rows sit at global j·(g/blocks) + index·(g/(blocks·count)).
// blocks > 1 only along dimension 0 (what the model needs; it keeps every local box's sub-boxes contiguous).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "tessera/core/stateful.h"
#include "tessera/core/status.h"

namespace tessera {

struct TensorSlice {
  std::vector<int64_t> global_shape;
  int dim = -1;          // the split dimension; -1: the rank holds the whole tensor
  int64_t blocks = 1;    // equal blocks along dim, each split alike
  int64_t index = 0;     // this rank's part of each block
  int64_t count = 1;     // parts per block (the tp size)

  // The whole tensor of `shape` (not split).
  static TensorSlice whole(std::vector<int64_t> shape) { return TensorSlice{.global_shape = std::move(shape)}; }
  // Part `index` of `count` of each of `blocks` blocks along `dim` of `shape`; checks the divisions.
  static TensorSlice split(std::vector<int64_t> shape, int dim, int64_t index, int64_t count, int64_t blocks = 1);
  bool is_split() const { return dim >= 0 && count > 1; }
  // The local shape: global_shape with dim divided by count.
  std::vector<int64_t> local_shape() const;

  // One piece of a local box in global coordinates: global box [global_offset, global_offset + shape), whose
  // elements start `local_flat` elements into the local box's row-major data.
  struct Piece {
    std::vector<int64_t> global_offset, shape;
    int64_t local_flat = 0;
  };
  // The row-major index in the local tensor of the element at row-major index `global` of the global tensor, or
  // −1 when another rank holds it (initialisation draws the whole tensor's stream and keeps its own elements).
  int64_t local_index(int64_t global) const;
  // The global pieces of the local box [local_offset, local_offset + shape), in the box's row-major order.
  std::vector<Piece> to_global(const std::vector<int64_t>& local_offset, const std::vector<int64_t>& shape) const;
};

// Copies between the whole global tensor global[prod(global_shape)] and this rank's local[prod(local_shape)]
// (initialisation from a seed, tests that reassemble a model). Tensors of rank ≤ 2.
void copy_global_to_local(const TensorSlice& slice, const float* global, float* local);
void copy_local_to_global(const TensorSlice& slice, const float* local, float* global);

// write_flat_range / read_flat_range (flat_range.h) for a local tensor: elements [begin, begin + count) of
// the local tensor's row-major order, stored as boxes of the global tensor `name` of slice.global_shape.
void write_sliced_range(StateWriter& writer, const std::string& name, const TensorSlice& slice, int64_t begin,
                        int64_t count, const float* data);
Status read_sliced_range(StateReader& reader, const std::string& name, const TensorSlice& slice, int64_t begin,
                         int64_t count, float* data);

}  // namespace tessera
