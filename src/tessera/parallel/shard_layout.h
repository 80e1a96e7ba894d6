// ShardLayout: which floats of the flat parameter buffer each data-parallel rank owns under ZeRO.
//
// Every unit of the ParameterLayout (embeddings, each block, the final norm; padded to a multiple of
// dp·16 floats) is cut into dp equal pieces; rank r owns piece r of every unit, as FSDP shards each wrapped
// block's flat parameter. A unit is then reduced, scattered and gathered by one collective over its own
// range, and rank r's pieces, concatenated in unit order, are its shard: shard_numel() = total / dp floats
// (the optimizer state, master weights and reduced gradients it keeps under ZeRO-1/2/3).
//
//   unit u: flat [begin_u, end_u), piece size s_u = (end_u − begin_u) / dp
//   rank r's piece of u: flat [begin_u + r·s_u, begin_u + (r+1)·s_u) = shard [offset_u, offset_u + s_u)
#pragma once

#include <cstdint>
#include <vector>

#include "tessera/model/parameter_layout.h"

namespace tessera {

struct UnitPiece {
  int64_t flat_begin = 0;    // first float of the piece in the flat buffer
  int64_t size = 0;          // floats (the same for every rank of the unit)
  int64_t shard_offset = 0;  // where the piece starts in this rank's shard
};

// The part of one parameter tensor inside this rank's piece of its unit.
struct OwnedTensorPart {
  size_t tensor = 0;         // index into ParameterLayout::tensors()
  int64_t tensor_begin = 0;  // first owned element, row-major within the tensor
  int64_t count = 0;         // owned elements (> 0)
  int64_t flat = 0;          // where they are in the flat buffer
  int64_t shard = 0;         // where they are in the shard
};

class ShardLayout {
 public:
  // The pieces of `rank` of `dp` over `layout`, whose units must be padded to a multiple of dp (checked).
  ShardLayout(const ParameterLayout& layout, int dp, int rank);

  // The unit alignment that makes pieces equal and 64-byte aligned: dp · 16 floats.
  static int64_t unit_alignment(int dp) { return int64_t{16} * dp; }

  int dp() const { return dp_; }
  int rank() const { return rank_; }
  const UnitPiece& piece(int unit) const { return pieces_[static_cast<size_t>(unit)]; }
  int num_units() const { return static_cast<int>(pieces_.size()); }
  int64_t shard_numel() const { return shard_numel_; }
  const std::vector<OwnedTensorPart>& owned_parts() const { return parts_; }

 private:
  int dp_, rank_;
  std::vector<UnitPiece> pieces_;
  std::vector<OwnedTensorPart> parts_;
  int64_t shard_numel_ = 0;
};

}  // namespace tessera
