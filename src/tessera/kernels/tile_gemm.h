// Register-blocked fp32 tile products for the fused kernels (flash attention), internal to kernels/.
//
// oneDNN's sgemm is fast on large matrices but costs microseconds of dispatch and packing per call, which
// dominates a 64×64×64 tile (0.5 MFLOP, ~2.5 µs at peak). These kernels work on operands the caller has
// already packed, so a tile product is a single pass of fused multiply-adds:
//
//   C[M, N] (+)= A[M, K] · B[K, N]
//     A: element (r, k) at a[r·a_row + k·a_col]  (broadcast one scalar at a time, so any strides work:
//        a_col = 1 reads A row-major, a_row = 1 reads a row-major matrix transposed)
//     B: row k at b + k·ldb, N contiguous floats, N a multiple of 16 (callers zero-pad)
//     C: row r at c + r·ldc, N floats
//
// Causal tiles skip structurally-zero work per block of rows [r0, r0 + R):
//   columns  [0, min(N, round16(r0 + R + col_end_offset)))   are computed (the rest left untouched),
//   k range  [max(0, r0 + k_begin_offset), min(K, r0 + R + k_end_offset)) is summed.
// kNoLimit for an offset disables that limit. The caller guarantees the skipped products are zero
// (masked probabilities) or never read.
//
// Written with GCC vector extensions (16 floats = one AVX-512 register with -march=native; GCC splits
// them on narrower machines) instead of intrinsics, so the code stays portable C++ for GCC and Clang.
#pragma once

#include <algorithm>
#include <cstdint>

namespace tessera::tile {

// 16 floats; unaligned and allowed to alias float (loads/stores from plain float buffers).
typedef float Vec16 __attribute__((vector_size(64), aligned(4), may_alias));
constexpr int64_t kLanes = 16;
constexpr int64_t kNoLimit = int64_t{1} << 40;

inline int64_t round_up16(int64_t n) { return (n + kLanes - 1) / kLanes * kLanes; }

// One R × 16·W block of C over k in [k0, k1).
template <int R, int W>
inline void micro_kernel(const float* a, int64_t a_row, int64_t a_col, const float* b, int64_t ldb, float* c,
                         int64_t ldc, int64_t k0, int64_t k1, bool accumulate) {
  Vec16 acc[R][W];
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r) {
#pragma GCC unroll 4
    for (int w = 0; w < W; ++w) {
      acc[r][w] = accumulate ? *reinterpret_cast<const Vec16*>(c + r * ldc + w * kLanes) : Vec16{};
    }
  }
  for (int64_t k = k0; k < k1; ++k) {
    Vec16 bv[W];
#pragma GCC unroll 4
    for (int w = 0; w < W; ++w) bv[w] = *reinterpret_cast<const Vec16*>(b + k * ldb + w * kLanes);
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      const float av = a[r * a_row + k * a_col];
#pragma GCC unroll 4
      for (int w = 0; w < W; ++w) acc[r][w] += av * bv[w];
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r) {
#pragma GCC unroll 4
    for (int w = 0; w < W; ++w) *reinterpret_cast<Vec16*>(c + r * ldc + w * kLanes) = acc[r][w];
  }
}

// Rows in blocks of R (6: 6×4 accumulators + 4 B vectors + 1 broadcast fit AVX-512's 32 registers).
constexpr int kRows = 6;
constexpr int kCols = 4;  // vectors

struct Limits {
  int64_t col_end_offset = kNoLimit;
  int64_t k_begin_offset = -kNoLimit;
  int64_t k_end_offset = kNoLimit;
};

// Calls kernel.template operator()<R, W>() for rows ∈ [1, kRows] and W ∈ [1, kCols] known at run time, so that each
// register block is its own fully unrolled instantiation.
template <int R, typename Kernel>
inline void with_width(int W, Kernel&& kernel) {
  switch (W) {
    case 4: kernel.template operator()<R, 4>(); break;
    case 3: kernel.template operator()<R, 3>(); break;
    case 2: kernel.template operator()<R, 2>(); break;
    default: kernel.template operator()<R, 1>(); break;
  }
}
template <typename Kernel>
inline void with_block_shape(int64_t rows, int W, Kernel&& kernel) {
  switch (rows) {
    case 6: with_width<6>(W, kernel); break;
    case 5: with_width<5>(W, kernel); break;
    case 4: with_width<4>(W, kernel); break;
    case 3: with_width<3>(W, kernel); break;
    case 2: with_width<2>(W, kernel); break;
    default: with_width<1>(W, kernel); break;
  }
}

// The blocking and causal limits of C[M, N] (+)= A[M, K]·B[K, N], shared by the fp32 and the bf16 tile products:
// per block of up to kRows rows and kCols vectors, block(rows, W, r0, n0, k0, k1) runs the register kernel over
// k ∈ [k0, k1) (limits as at the top of the file); where the k range is empty, C stays, or becomes 0.
template <typename Block>
inline void for_each_block(int64_t M, int64_t N, int64_t K, float* c, int64_t ldc, bool accumulate,
                           const Limits& limits, Block&& block) {
  for (int64_t r0 = 0; r0 < M; r0 += kRows) {
    const int64_t rows = std::min<int64_t>(kRows, M - r0);
    const int64_t n_end = std::min(N, round_up16(r0 + rows + limits.col_end_offset));
    const int64_t k0 = std::max<int64_t>(0, r0 + limits.k_begin_offset);
    const int64_t k1 = std::min(K, r0 + rows + limits.k_end_offset);
    for (int64_t n0 = 0; n0 < n_end; n0 += kCols * kLanes) {
      const int W = static_cast<int>(std::min<int64_t>(kCols, (n_end - n0) / kLanes));
      if (k1 <= k0) {  // nothing to sum: C stays, or becomes 0
        if (!accumulate) {
          float* cb = c + r0 * ldc + n0;
          for (int64_t r = 0; r < rows; ++r) std::fill(cb + r * ldc, cb + r * ldc + W * kLanes, 0.0f);
        }
        continue;
      }
      block(rows, W, r0, n0, k0, k1);
    }
  }
}

// C[M, N] (+)= A[M, K] · B[K, N] as described at the top of the file; N % 16 == 0.
inline void gemm(int64_t M, int64_t N, int64_t K, const float* a, int64_t a_row, int64_t a_col, const float* b,
                 int64_t ldb, float* c, int64_t ldc, bool accumulate, const Limits& limits = {}) {
  for_each_block(M, N, K, c, ldc, accumulate, limits,
                 [&](int64_t rows, int W, int64_t r0, int64_t n0, int64_t k0, int64_t k1) {
                   with_block_shape(rows, W, [&]<int R, int Wv>() {
                     micro_kernel<R, Wv>(a + r0 * a_row, a_row, a_col, b + n0, ldb, c + r0 * ldc + n0, ldc, k0, k1,
                                         accumulate);
                   });
                 });
}

}  // namespace tessera::tile
