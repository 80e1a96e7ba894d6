#include "tessera/core/flat_range.h"

#include "tessera/core/check.h"

namespace tessera {

namespace {

// Appends the boxes of [begin, end) (row-major indices relative to the sub-tensor shape[dim:], whose first
// element sits at `prefix` in dims [0, dim)) to `out`; `base` is the range's first index (for flat_begin).
void append_boxes(const std::vector<int64_t>& shape, size_t dim, std::vector<int64_t> prefix, int64_t begin,
                  int64_t end, int64_t flat_of_begin, std::vector<FlatBox>& out) {
  if (begin >= end) return;
  const size_t rank = shape.size();
  int64_t row = 1;  // elements per index of dimension `dim`
  for (size_t d = dim + 1; d < rank; ++d) row *= shape[d];
  auto box = [&](int64_t first_index, int64_t rows, int64_t flat) {
    FlatBox b;
    b.offset = prefix;
    b.offset.push_back(first_index);
    b.shape.assign(dim, 1);
    b.shape.push_back(rows);
    for (size_t d = dim + 1; d < rank; ++d) {
      b.offset.push_back(0);
      b.shape.push_back(shape[d]);
    }
    b.flat_begin = flat;
    out.push_back(std::move(b));
  };
  if (dim + 1 == rank || (begin % row == 0 && end % row == 0)) {
    box(begin / row, (end - begin) / row, flat_of_begin);  // whole rows (or single elements at the last dim)
    return;
  }
  const int64_t first_full = (begin + row - 1) / row, last_full = end / row;  // rows [first_full, last_full) are whole
  std::vector<int64_t> inner = prefix;
  inner.push_back(begin / row);
  if (first_full > last_full) {  // the range lies inside one row
    append_boxes(shape, dim + 1, inner, begin % row, begin % row + (end - begin), flat_of_begin, out);
    return;
  }
  int64_t flat = flat_of_begin;
  if (begin % row != 0) {  // the tail of a partial first row
    append_boxes(shape, dim + 1, inner, begin % row, row, flat, out);
    flat += row - begin % row;
  }
  if (last_full > first_full) {
    box(first_full, last_full - first_full, flat);
    flat += (last_full - first_full) * row;
  }
  if (end % row != 0) {  // the head of a partial last row
    inner.back() = last_full;
    append_boxes(shape, dim + 1, inner, 0, end % row, flat, out);
  }
}

int64_t numel_of(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

}  // namespace

std::vector<FlatBox> flat_range_boxes(const std::vector<int64_t>& shape, int64_t begin, int64_t count) {
  TESSERA_CHECK(begin >= 0 && count >= 0 && begin + count <= numel_of(shape), "flat range [{}, {}) outside a tensor of {} elements",
                begin, begin + count, numel_of(shape));
  std::vector<FlatBox> boxes;
  if (shape.empty()) {  // a scalar tensor: one element, one box of rank 0
    if (count > 0) boxes.push_back(FlatBox{});
    return boxes;
  }
  append_boxes(shape, 0, {}, begin, begin + count, 0, boxes);
  return boxes;
}

void write_flat_range(StateWriter& writer, const std::string& name, const std::vector<int64_t>& shape, int64_t begin,
                      int64_t count, const float* data) {
  if (begin == 0 && count == numel_of(shape)) {
    writer.write_tensor({.name = name, .dtype = DType::kF32, .shape = shape, .data = const_cast<float*>(data)});
    return;
  }
  for (const FlatBox& box : flat_range_boxes(shape, begin, count)) {
    writer.write_tensor_shard({.name = name, .dtype = DType::kF32, .shape = box.shape,
                               .data = const_cast<float*>(data + box.flat_begin)},
                              shape, box.offset);
  }
}

Status read_flat_range(StateReader& reader, const std::string& name, const std::vector<int64_t>& shape, int64_t begin,
                       int64_t count, float* data) {
  if (begin == 0 && count == numel_of(shape)) {
    return reader.read_tensor({.name = name, .dtype = DType::kF32, .shape = shape, .data = data});
  }
  for (const FlatBox& box : flat_range_boxes(shape, begin, count)) {
    TESSERA_RETURN_IF_ERROR(reader.read_tensor_shard(
        {.name = name, .dtype = DType::kF32, .shape = box.shape, .data = data + box.flat_begin}, shape, box.offset));
  }
  return Status();
}

}  // namespace tessera
