// Pieces shared by the fp32 and the bf16 flash attention (fast_attention.cc, fast_attention_bf16.cc), internal to
// kernels/: the tile size, the causal mask's visible columns and the score scaling.
#pragma once

#include <algorithm>
#include <cstdint>

namespace tessera::attention_tiles {

constexpr int64_t kBlock = 64;  // query rows and key columns per tile (a 16 KB fp32 tile stays in L1)

// s[c] *= scale, rounded to float here, in its own loop: fused into the exponent's subtraction as a
// multiply-add, s·scale - m would be computed exactly and could exceed 0 by half an ulp of s·scale, which
// at scores ~1e13 is ~1e6 and overflows e^x. Rounded, forward and backward see the same scaled scores
// (the same tile product, then this), so s - m ≤ 0 holds exactly.
inline void scale_scores(float* s, int64_t n, float scale) {
#pragma omp simd
  for (int64_t c = 0; c < n; ++c) s[c] *= scale;
}

// Columns of row `row` of a tile whose first query is i0 and first key j0 that the row may see.
inline int64_t visible_columns(int64_t i0, int64_t j0, int64_t row, int64_t n) {
  return std::min(n, i0 + row - j0 + 1);
}

}  // namespace tessera::attention_tiles
