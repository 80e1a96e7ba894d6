// Register-blocked bf16 tile products for the bf16 flash attention (fast_attention_bf16.cc), internal to
// kernels/. The bf16 counterpart of tile_gemm.h, on AVX-512-BF16's vdpbf16ps: each fp32 lane accumulates the
// dot product of one pair of bf16 values from each operand, so the reduction index k runs in pairs.
//
//   C[M, N] (+)= A[M, K] · B[K, N],  fp32 C, bf16 A and B, K even (callers zero-pad the odd element)
//     A: pair (r, p) = (A[r, 2p], A[r, 2p+1]) as one uint32 (low half the even k) at a[r·a_row + p·a_col],
//        broadcast to all 16 lanes: a_col = 1 reads "row pairs" (A row-major), a_row = 1 reads pairs stored
//        along A's columns (Aᵀ row-major in pairs)
//     B: "pair rows", row p at b + p·ldb holds N uint32, pair (p, c) = (B[2p, c], B[2p+1, c]); N % 16 == 0
//     C: row r at c + r·ldc, N floats
//
// Causal limits as tile_gemm.h's, in elements, per block of rows [r0, r0 + R):
//   columns [0, min(N, round16(r0 + R + col_end_offset))), k range [max(0, r0 + k_begin_offset),
//   min(K, r0 + R + k_end_offset)), widened to whole pairs (the caller guarantees the extra element's product
//   is zero: a masked probability, or zero padding).
#pragma once

#if defined(__AVX512BF16__)
#include <immintrin.h>

#include <algorithm>
#include <cstdint>

#include "tessera/kernels/tile_gemm.h"

namespace tessera::tile_bf16 {

constexpr bool kAvailable = true;

// (lo, hi) as one pair: lo in the low 16 bits (the even k), as vdpbf16ps reads memory.
inline uint32_t pair(uint16_t lo, uint16_t hi) { return static_cast<uint32_t>(lo) | (static_cast<uint32_t>(hi) << 16); }

// One R × 16·W block of C over pairs [p0, p1).
template <int R, int W>
inline void micro_kernel(const uint32_t* a, int64_t a_row, int64_t a_col, const uint32_t* b, int64_t ldb, float* c,
                         int64_t ldc, int64_t p0, int64_t p1, bool accumulate) {
  __m512 acc[R][W];
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r) {
#pragma GCC unroll 4
    for (int w = 0; w < W; ++w) acc[r][w] = accumulate ? _mm512_loadu_ps(c + r * ldc + w * 16) : _mm512_setzero_ps();
  }
  for (int64_t p = p0; p < p1; ++p) {
    __m512bh bv[W];
#pragma GCC unroll 4
    for (int w = 0; w < W; ++w) bv[w] = (__m512bh)_mm512_loadu_si512(b + p * ldb + w * 16);
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      const __m512bh av = (__m512bh)_mm512_set1_epi32(static_cast<int>(a[r * a_row + p * a_col]));
#pragma GCC unroll 4
      for (int w = 0; w < W; ++w) acc[r][w] = _mm512_dpbf16_ps(acc[r][w], av, bv[w]);
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r) {
#pragma GCC unroll 4
    for (int w = 0; w < W; ++w) _mm512_storeu_ps(c + r * ldc + w * 16, acc[r][w]);
  }
}

// C[M, N] (+)= A[M, K]·B[K, N] as described at the top of the file; K even, N % 16 == 0. The blocking and the
// limits are tile_gemm.h's; the k range of a block is widened to whole pairs.
inline void gemm(int64_t M, int64_t N, int64_t K, const uint32_t* a, int64_t a_row, int64_t a_col, const uint32_t* b,
                 int64_t ldb, float* c, int64_t ldc, bool accumulate, const tile::Limits& limits = {}) {
  tile::for_each_block(M, N, K, c, ldc, accumulate, limits,
                       [&](int64_t rows, int W, int64_t r0, int64_t n0, int64_t k0, int64_t k1) {
                         const int64_t p0 = k0 / 2, p1 = (k1 + 1) / 2;  // whole pairs
                         tile::with_block_shape(rows, W, [&]<int R, int Wv>() {
                           micro_kernel<R, Wv>(a + r0 * a_row, a_row, a_col, b + n0, ldb, c + r0 * ldc + n0, ldc, p0,
                                               p1, accumulate);
                         });
                       });
}

}  // namespace tessera::tile_bf16

#else

namespace tessera::tile_bf16 {
constexpr bool kAvailable = false;  // no AVX-512-BF16 on the build machine: attention stays fp32
}  // namespace tessera::tile_bf16

#endif
