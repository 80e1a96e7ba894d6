#include "tessera/core/tensor_slice.h"

#include <algorithm>

#include "tessera/core/check.h"
#include "tessera/core/flat_range.h"

namespace tessera {

TensorSlice TensorSlice::split(std::vector<int64_t> shape, int dim, int64_t index, int64_t count, int64_t blocks) {
  TESSERA_CHECK(dim >= 0 && dim < static_cast<int>(shape.size()), "TensorSlice: dim {} of a rank-{} tensor", dim,
                shape.size());
  TESSERA_CHECK(count >= 1 && index >= 0 && index < count && blocks >= 1, "TensorSlice: part {} of {}, {} blocks", index,
                count, blocks);
  TESSERA_CHECK(blocks == 1 || dim == 0, "TensorSlice: blocks > 1 only along dimension 0");
  TESSERA_CHECK(shape[static_cast<size_t>(dim)] % (blocks * count) == 0,
                "TensorSlice: extent {} does not split into {} blocks of {} parts", shape[static_cast<size_t>(dim)],
                blocks, count);
  return TensorSlice{.global_shape = std::move(shape), .dim = dim, .blocks = blocks, .index = index, .count = count};
}

std::vector<int64_t> TensorSlice::local_shape() const {
  std::vector<int64_t> shape = global_shape;
  if (dim >= 0) shape[static_cast<size_t>(dim)] /= count;
  return shape;
}

int64_t TensorSlice::local_index(int64_t global) const {
  if (!is_split()) return global;
  const size_t d = static_cast<size_t>(dim);
  int64_t inner = 1;  // elements per index of dim
  for (size_t k = d + 1; k < global_shape.size(); ++k) inner *= global_shape[k];
  const int64_t extent = global_shape[d];
  const int64_t outer = global / (inner * extent), at = global / inner % extent, rest = global % inner;
  const int64_t block = extent / blocks, local_block = block / count;
  const int64_t j = at / block, within = at % block;
  if (within / local_block != index) return -1;
  const int64_t local_at = j * local_block + within % local_block;
  return (outer * (extent / count) + local_at) * inner + rest;
}

std::vector<TensorSlice::Piece> TensorSlice::to_global(const std::vector<int64_t>& local_offset,
                                                       const std::vector<int64_t>& shape) const {
  if (dim < 0 || static_cast<size_t>(dim) >= local_offset.size()) {
    // Not split, or the box is a scalar-like prefix box (rank 0): the same coordinates.
    return {Piece{.global_offset = local_offset, .shape = shape, .local_flat = 0}};
  }
  const size_t d = static_cast<size_t>(dim);
  const int64_t global_extent = global_shape[d];
  const int64_t block = global_extent / blocks;          // global extent of one block
  const int64_t local_block = block / count;             // local extent of one block
  int64_t inner = 1;                                     // elements per index of dim within the box
  for (size_t k = d + 1; k < shape.size(); ++k) inner *= shape[k];
  std::vector<Piece> pieces;
  // Cut [begin, end) of the local dim at local block boundaries (only dim 0 can have several blocks, so the
  // sub-ranges are contiguous in the box's data).
  const int64_t begin = local_offset[d], end = begin + shape[d];
  for (int64_t lo = begin; lo < end;) {
    const int64_t j = lo / local_block;
    const int64_t hi = std::min(end, (j + 1) * local_block);
    Piece piece{.global_offset = local_offset, .shape = shape, .local_flat = (lo - begin) * inner};
    piece.global_offset[d] = j * block + index * local_block + (lo - j * local_block);
    piece.shape[d] = hi - lo;
    pieces.push_back(std::move(piece));
    lo = hi;
  }
  return pieces;
}

namespace {
// Runs copy(global element index, local element index, n contiguous elements) over the whole local tensor.
template <typename Copy>
void for_each_run(const TensorSlice& slice, Copy copy) {
  const std::vector<int64_t> local = slice.local_shape();
  TESSERA_CHECK(local.size() <= 2, "TensorSlice copies handle tensors of rank ≤ 2, found rank {}", local.size());
  const int64_t cols = local.size() == 2 ? local[1] : 1, global_cols = local.size() == 2 ? slice.global_shape[1] : 1;
  for (const TensorSlice::Piece& piece : slice.to_global(std::vector<int64_t>(local.size(), 0), local)) {
    if (local.size() <= 1) {
      copy(piece.global_offset.empty() ? 0 : piece.global_offset[0], piece.local_flat,
           local.empty() ? 1 : piece.shape[0]);
      continue;
    }
    for (int64_t r = 0; r < piece.shape[0]; ++r) {
      copy((piece.global_offset[0] + r) * global_cols + piece.global_offset[1], piece.local_flat + r * cols,
           piece.shape[1]);
    }
  }
}
}  // namespace

void copy_global_to_local(const TensorSlice& slice, const float* global, float* local) {
  for_each_run(slice, [&](int64_t g, int64_t l, int64_t n) { std::copy(global + g, global + g + n, local + l); });
}

void copy_local_to_global(const TensorSlice& slice, const float* local, float* global) {
  for_each_run(slice, [&](int64_t g, int64_t l, int64_t n) { std::copy(local + l, local + l + n, global + g); });
}

void write_sliced_range(StateWriter& writer, const std::string& name, const TensorSlice& slice, int64_t begin,
                        int64_t count, const float* data) {
  if (!slice.is_split()) return write_flat_range(writer, name, slice.global_shape, begin, count, data);
  for (const FlatBox& box : flat_range_boxes(slice.local_shape(), begin, count)) {
    for (const TensorSlice::Piece& piece : slice.to_global(box.offset, box.shape)) {
      writer.write_tensor_shard({.name = name, .dtype = DType::kF32, .shape = piece.shape,
                                 .data = const_cast<float*>(data + box.flat_begin + piece.local_flat)},
                                slice.global_shape, piece.global_offset);
    }
  }
}

Status read_sliced_range(StateReader& reader, const std::string& name, const TensorSlice& slice, int64_t begin,
                         int64_t count, float* data) {
  if (!slice.is_split()) return read_flat_range(reader, name, slice.global_shape, begin, count, data);
  for (const FlatBox& box : flat_range_boxes(slice.local_shape(), begin, count)) {
    for (const TensorSlice::Piece& piece : slice.to_global(box.offset, box.shape)) {
      TESSERA_RETURN_IF_ERROR(reader.read_tensor_shard(
          {.name = name, .dtype = DType::kF32, .shape = piece.shape, .data = data + box.flat_begin + piece.local_flat},
          slice.global_shape, piece.global_offset));
    }
  }
  return Status();
}

}  // namespace tessera
