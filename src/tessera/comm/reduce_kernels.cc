#include "tessera/comm/reduce_kernels.h"

#include <algorithm>
#include <cstring>

namespace tessera {

namespace {

// Works through the elements in L1-sized tiles: the sum of a tile stays in cache while the sources are
// streamed once and the result is written once per destination.
template <typename T, typename Combine>
void reduce_tiles(char* const* srcs, int nsrc, char* const* dsts, int ndst, int64_t count, Combine combine) {
  constexpr int64_t kTile = 8192 / sizeof(T);
  alignas(64) T acc[kTile];
  for (int64_t t = 0; t < count; t += kTile) {
    const int64_t len = std::min(kTile, count - t);
    std::memcpy(acc, reinterpret_cast<const T*>(srcs[0]) + t, static_cast<size_t>(len) * sizeof(T));
    for (int s = 1; s < nsrc; ++s) {
      const T* __restrict src = reinterpret_cast<const T*>(srcs[s]) + t;
      for (int64_t i = 0; i < len; ++i) acc[i] = combine(acc[i], src[i]);
    }
    for (int d = 0; d < ndst; ++d) std::memcpy(reinterpret_cast<T*>(dsts[d]) + t, acc, static_cast<size_t>(len) * sizeof(T));
  }
}

template <typename T>
void reduce_typed(ReduceOp op, char* const* srcs, int nsrc, char* const* dsts, int ndst, int64_t count) {
  switch (op) {
    case ReduceOp::kSum: return reduce_tiles<T>(srcs, nsrc, dsts, ndst, count, [](T a, T b) { return a + b; });
    case ReduceOp::kMax: return reduce_tiles<T>(srcs, nsrc, dsts, ndst, count, [](T a, T b) { return a < b ? b : a; });
    case ReduceOp::kMin: return reduce_tiles<T>(srcs, nsrc, dsts, ndst, count, [](T a, T b) { return b < a ? b : a; });
  }
}

}  // namespace

void reduce_into(DataType type, ReduceOp op, char* const* srcs, int nsrc, char* const* dsts, int ndst, int64_t count) {
  if (count <= 0) return;
  switch (type) {
    case DataType::kFloat32: return reduce_typed<float>(op, srcs, nsrc, dsts, ndst, count);
    case DataType::kFloat64: return reduce_typed<double>(op, srcs, nsrc, dsts, ndst, count);
    case DataType::kInt32: return reduce_typed<int32_t>(op, srcs, nsrc, dsts, ndst, count);
    case DataType::kInt64: return reduce_typed<int64_t>(op, srcs, nsrc, dsts, ndst, count);
    case DataType::kUint64: return reduce_typed<uint64_t>(op, srcs, nsrc, dsts, ndst, count);
    case DataType::kBytes: return;
  }
}

}  // namespace tessera
