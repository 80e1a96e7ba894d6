// Pieces shared by the fp32 and the bf16 flash attention (fast_attention.cc, fast_attention_bf16.cc), internal to
// kernels/: the tile size, the causal mask's visible columns, and the fp32 work around the tile products — the
// forward's online softmax and output rows, the backward's P and dS tiles, D and the gradient rows. The two
// kernels differ only in how they pack operands and multiply tiles.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "tessera/kernels/fast_math.h"

namespace tessera::attention_tiles {

constexpr int64_t kBlock = 64;  // query rows and key columns per tile (a 16 KB fp32 tile stays in L1)

// Where the softmax scale 1/sqrt(HS) is applied. The fp32 kernel multiplies it into its copy of q (its
// rounding is fp32's), so its scores arrive scaled, dK = dSᵀ·(q·scale) carries it, and it passes scale = 1 to
// the functions below. The bf16 kernel keeps the scores exact products of bf16-rounded q and k (bf16(q·scale)
// would round differently unless the scale is a power of two) and scales them here in fp32, as GPU
// flash-attention kernels do.
//
// s[c] *= scale, rounded to float here, in its own loop (none for scale = 1): fused into the exponent's
// subtraction as a multiply-add, s·scale - m would be computed exactly and could exceed 0 by half an ulp of
// s·scale, which at scores ~1e13 is ~1e6 and overflows e^x. Rounded, forward and backward see the same scaled
// scores (the same tile product, then this), so s - m ≤ 0 holds exactly.
inline void scale_scores(float* s, int64_t n, float scale) {
  if (scale == 1.0f) return;
#pragma omp simd
  for (int64_t c = 0; c < n; ++c) s[c] *= scale;
}

// Columns of row `row` of a tile whose first query is i0 and first key j0 that the row may see.
inline int64_t visible_columns(int64_t i0, int64_t j0, int64_t row, int64_t n) {
  return std::min(n, i0 + row - j0 + 1);
}

// The forward's online-softmax step over one score tile s [m, kBlock] (queries from i0, n keys from j0, np =
// round16(n) columns computed): per row, scale the visible scores, raise the running max (rescaling the output
// accumulator o [m, HSp] and the running sum when it moves), replace the scores by e^{s - max} (exact zeros past
// the visible columns, up to np) and add them to the running sum.
inline void online_softmax_tile(float* s, float* o, int64_t HSp, float* row_max, float* row_sum, int64_t m, int64_t np,
                                int64_t i0, int64_t j0, int64_t n, float scale) {
  for (int64_t r = 0; r < m; ++r) {
    float* sr = s + r * kBlock;
    const int64_t visible = visible_columns(i0, j0, r, n);
    scale_scores(sr, visible, scale);
    const float new_max = std::max(row_max[r], fast_math::max_value(sr, visible));
    float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
    for (int64_t c = 0; c < visible; ++c) {
      const float e = fast_math::exp(sr[c] - new_max);
      sr[c] = e;
      sum += e;
    }
    std::fill(sr + visible, sr + np, 0.0f);
    if (new_max != row_max[r]) {
      const float alpha = row_max[r] == -INFINITY ? 0.0f : fast_math::exp(row_max[r] - new_max);
      float* orow = o + r * HSp;
#pragma omp simd
      for (int64_t d = 0; d < HSp; ++d) orow[d] *= alpha;
      row_sum[r] *= alpha;
      row_max[r] = new_max;
    }
    row_sum[r] += sum;
  }
}

// The forward's last step for m query rows: out row r (stride out_ld) = o[r] / l, and stats row r = (m, l).
inline void finish_output_rows(float* out, int64_t out_ld, float* stats, const float* o, int64_t HSp,
                               const float* row_max, const float* row_sum, int64_t m, int64_t HS) {
  for (int64_t r = 0; r < m; ++r) {
    const float inv = 1.0f / row_sum[r];
    float* orow = out + r * out_ld;
#pragma omp simd
    for (int64_t d = 0; d < HS; ++d) orow[d] = o[r * HSp + d] * inv;
    stats[2 * r] = row_max[r];
    stats[2 * r + 1] = row_sum[r];
  }
}

// D[i] = dout_i · out_i for T rows of HS values at row stride ld.
inline void output_gradient_dots(float* D, const float* dy, const float* y, int64_t ld, int64_t T, int64_t HS) {
  for (int64_t i = 0; i < T; ++i) {
    float dot = 0.0f;
#pragma omp simd reduction(+ : dot)
    for (int64_t d = 0; d < HS; ++d) dot += dy[i * ld + d] * y[i * ld + d];
    D[i] = dot;
  }
}

// The backward's tiles from the recomputed scores p [m, kBlock] and dP = dO·Vᵀ in ds: P = e^{s·scale - m}/l and
// dS = P ⊙ (dP - D), with each row's (m, l) in stats[2r], stats[2r + 1] and D in D[r]; exact zeros past the
// visible columns, up to np.
inline void probabilities_and_score_grads(float* p, float* ds, int64_t m, int64_t np, int64_t i0, int64_t j0,
                                          int64_t n, float scale, const float* stats, const float* D) {
  for (int64_t r = 0; r < m; ++r) {
    float* pr = p + r * kBlock;
    float* dsr = ds + r * kBlock;
    const int64_t visible = visible_columns(i0, j0, r, n);
    const float m_row = stats[2 * r], inv_l = 1.0f / stats[2 * r + 1];
    const float Di = D[r];
    scale_scores(pr, visible, scale);
#pragma omp simd
    for (int64_t c = 0; c < visible; ++c) {
      const float pc = fast_math::exp(pr[c] - m_row) * inv_l;
      pr[c] = pc;
      dsr[c] = pc * (dsr[c] - Di);
    }
    std::fill(pr + visible, pr + np, 0.0f);
    std::fill(dsr + visible, dsr + np, 0.0f);
  }
}

// n key rows of dK (times scale: 1 where q was scaled) and dV from the [n, HSp] accumulators into dk_rows, dv_rows (row stride ld).
inline void write_key_gradients(float* dk_rows, float* dv_rows, int64_t ld, const float* dk, const float* dv,
                                int64_t HSp, int64_t n, int64_t HS, float scale) {
  for (int64_t r = 0; r < n; ++r) {
#pragma omp simd
    for (int64_t d = 0; d < HS; ++d) {
      dk_rows[r * ld + d] = scale * dk[r * HSp + d];
      dv_rows[r * ld + d] = dv[r * HSp + d];
    }
  }
}

// T query rows of dQ (times scale) from the [T, HSp] accumulator into dq_rows (row stride ld).
inline void write_query_gradients(float* dq_rows, int64_t ld, const float* dq, int64_t HSp, int64_t T, int64_t HS,
                                  float scale) {
  for (int64_t i = 0; i < T; ++i) {
#pragma omp simd
    for (int64_t d = 0; d < HS; ++d) dq_rows[i * ld + d] = scale * dq[i * HSp + d];
  }
}

}  // namespace tessera::attention_tiles
