// Fast causal attention, flash-attention style: the [T, T] scores never exist, only 64×64 tiles of them.
// Shapes: B batch, T time, C channels, NH heads, HS = C/NH; qkv[B,T,3C] holds q | k | v per token, head h
// at columns h·HS of each third; out[B,T,C]; stats[B,NH,T,2] = (row max m, row sum l), kernel_backend.h.
//
// Work is split over the B·NH (batch, head) pairs across OpenMP threads. Each pair first transposes k
// (and v for backward) into thread-local [HS, Tp = round16(T)] buffers and copies the row operands (q·scale,
// v in the forward; q·scale, k, dout in the backward) into contiguous thread-local [T, HSp = round16(HS)]
// rows, zero-padded. In place, their rows lie 3C floats apart (9 KB at GPT-2's C = 768), so a tile's 64 rows
// fall on a few L1 sets and evict each other; the copies made attention forward + backward at T = 1024 6–14%
// faster (two alternating runs, bench/RESULTS.md 2026-12-03 18:55). Every tile product is then one register-blocked pass (tile_gemm.h).
// With s_ij = (q_i·scale)·k_j, scale = 1/sqrt(HS) (in the copy of q, so the tiles' functions get scale 1, dk
// needs no scale and dq gets it once at the end; attention_tiles.h), and tiles of kBlock query rows × kBlock key
// columns:
//
//   forward, per query block, online softmax over its key blocks j0 ≤ i (m running max, l running sum):
//       S = (Q·scale)·Kᵀ;  m' = max(m, rowmax S);  P = e^{S - m'};  l = l·e^{m - m'} + rowsum P;
//       O = O·e^{m - m'} + P·V;  finally out = O / l, and (m, l) saved.
//   backward (FlashAttention-2), D_i = dout_i·out_i; per key block (dK, dV held in registers' reach),
//   over the query blocks i0 ≥ j0:
//       P = e^{S - m} / l  (S recomputed by the same tile product, so S - m ≤ 0);  dV += Pᵀ·dO;  dP = dO·Vᵀ;  dS = P ⊙ (dP - D);  dK += dSᵀ·Q;
//       dQ += dS·K  (dQ of the whole pair accumulated in a [T, HSp] buffer; dQ, dK scaled once at the end).
//
// Causality: a tile entirely above the diagonal is never visited; on the diagonal tile each block of
// six rows computes only the columns (and sums only the k range) its rows can see (tile::Limits), so
// the wasted work is at most 16 columns per row block. Masked probabilities are written as exact zeros.
// Memory: per thread O(T·HS) packed operands plus a few kBlock² tiles; nothing is O(T²).
// Determinism: each pair is computed by one thread in a fixed order, so results do not depend on the
// thread count.
#include <omp.h>

#include <algorithm>
#include <cmath>

#include "tessera/core/aligned_buffer.h"
#include "tessera/core/check.h"
#include "tessera/kernels/attention_tiles.h"
#include "tessera/kernels/fast_backend.h"
#include "tessera/kernels/fast_math.h"
#include "tessera/kernels/tile_gemm.h"

namespace tessera {
namespace {

using attention_tiles::kBlock;
using attention_tiles::finish_output_rows;
using attention_tiles::online_softmax_tile;
using attention_tiles::output_gradient_dots;
using attention_tiles::probabilities_and_score_grads;
using attention_tiles::write_key_gradients;
using attention_tiles::write_query_gradients;

// dst[j, d] = factor · src[j·ld + d]: a [rows, HS] strided matrix as contiguous rows of HSp = round16(HS)
// floats, the row operand of tile::gemm (dst's padding columns are zero and never written).
void copy_rows(float* dst, const float* src, int64_t ld, int64_t rows, int64_t HS, float factor) {
  const int64_t HSp = tile::round_up16(HS);
  for (int64_t j = 0; j < rows; ++j) {
#pragma omp simd
    for (int64_t d = 0; d < HS; ++d) dst[j * HSp + d] = factor * src[j * ld + d];
  }
}

// dst[d, j] = src[j·ld + d]: rows of a [rows, HS] strided matrix become columns of dst [HS, ld_dst].
// In blocks of 16 rows: the block's source rows stay in L1 while each destination row gets 16 contiguous
// floats (one vector store) instead of one scattered float per cache line.
void pack_transposed(float* dst, int64_t ld_dst, const float* src, int64_t ld, int64_t rows, int64_t HS) {
  constexpr int64_t kRowBlock = 16;
  int64_t j0 = 0;
  for (; j0 + kRowBlock <= rows; j0 += kRowBlock) {
    for (int64_t d = 0; d < HS; ++d) {
      float column[kRowBlock];
#pragma GCC unroll 16
      for (int64_t jj = 0; jj < kRowBlock; ++jj) column[jj] = src[(j0 + jj) * ld + d];
#pragma omp simd
      for (int64_t jj = 0; jj < kRowBlock; ++jj) dst[d * ld_dst + j0 + jj] = column[jj];
    }
  }
  for (int64_t d = 0; d < HS; ++d) {
    for (int64_t j = j0; j < rows; ++j) dst[d * ld_dst + j] = src[j * ld + d];
  }
}

}  // namespace

void FastBackend::attention_forward(float* out, float* stats, const float* qkv, int64_t B, int64_t T, int64_t C,
                                    int64_t NH) {
  TESSERA_CHECK(C % NH == 0, "attention: C={} not divisible by NH={}", C, NH);
  if (bf16_attention(C / NH)) return attention_forward_bf16(out, stats, qkv, B, T, C, NH);
  const int64_t HS = C / NH, HSp = tile::round_up16(HS), Tp = tile::round_up16(T);
  const float scale = 1.0f / std::sqrt(static_cast<float>(HS));
  const int64_t ld = 3 * C;
#pragma omp parallel
  {
    // Zero-filled once: the padding columns/rows are never written, so they stay 0.
    AlignedBuffer<float> kt(HS * Tp), qs(T * HSp), vr(T * HSp), s(kBlock * kBlock), o(kBlock * HSp);
    float row_max[kBlock], row_sum[kBlock];
#pragma omp for schedule(dynamic, 1)
    for (int64_t bh = 0; bh < B * NH; ++bh) {
      const int64_t b = bh / NH, h = bh % NH;
      const float* q = qkv + b * T * ld + h * HS;
      const float* k = q + C;
      const float* v = q + 2 * C;
      pack_transposed(kt.data(), Tp, k, ld, T, HS);
      copy_rows(qs.data(), q, ld, T, HS, scale);
      copy_rows(vr.data(), v, ld, T, HS, 1.0f);
      for (int64_t i0 = 0; i0 < T; i0 += kBlock) {
        const int64_t m = std::min(kBlock, T - i0);
        std::fill(o.data(), o.data() + m * HSp, 0.0f);
        std::fill(row_max, row_max + m, -INFINITY);
        std::fill(row_sum, row_sum + m, 0.0f);
        for (int64_t j0 = 0; j0 < i0 + m; j0 += kBlock) {
          const int64_t n = std::min(kBlock, i0 + m - j0);  // keys past the last query are all masked
          const int64_t np = tile::round_up16(n);
          const int64_t diagonal = i0 - j0;
          tile::gemm(m, np, HS, qs.data() + i0 * HSp, HSp, 1, kt.data() + j0, Tp, s.data(), kBlock, false,
                     {.col_end_offset = diagonal});
          online_softmax_tile(s.data(), o.data(), HSp, row_max, row_sum, m, np, i0, j0, n, /*scale=*/1.0f);
          tile::gemm(m, HSp, n, s.data(), kBlock, 1, vr.data() + j0 * HSp, HSp, o.data(), HSp, true,
                     {.k_end_offset = diagonal});
        }
        finish_output_rows(out + (b * T + i0) * C + h * HS, C, stats + 2 * (bh * T + i0), o.data(), HSp, row_max,
                           row_sum, m, HS);
      }
    }
  }
}

void FastBackend::attention_backward(float* dqkv, const float* dout, const float* qkv, const float* out,
                                     const float* stats, int64_t B, int64_t T, int64_t C, int64_t NH) {
  TESSERA_CHECK(C % NH == 0, "attention: C={} not divisible by NH={}", C, NH);
  if (bf16_attention(C / NH)) return attention_backward_bf16(dqkv, dout, qkv, out, stats, B, T, C, NH);
  const int64_t HS = C / NH, HSp = tile::round_up16(HS), Tp = tile::round_up16(T);
  const float scale = 1.0f / std::sqrt(static_cast<float>(HS));
  const int64_t ld = 3 * C;
#pragma omp parallel
  {
    // Per pair: kᵀ and vᵀ as [HS, Tp]; dq accumulated as [T, HSp]; q·scale, k, dout as [T, HSp] rows.
    AlignedBuffer<float> qs(T * HSp), kr(T * HSp), dor(T * HSp), kt(HS * Tp), vt(HS * Tp), dq(T * HSp);
    AlignedBuffer<float> dk(kBlock * HSp), dv(kBlock * HSp), p(kBlock * kBlock), ds(kBlock * kBlock), D(Tp);
#pragma omp for schedule(dynamic, 1)
    for (int64_t bh = 0; bh < B * NH; ++bh) {
      const int64_t b = bh / NH, h = bh % NH;
      const float* q = qkv + b * T * ld + h * HS;
      const float* k = q + C;
      const float* v = q + 2 * C;
      const float* dy = dout + b * T * C + h * HS;
      const float* y = out + b * T * C + h * HS;
      const float* row_stats = stats + 2 * bh * T;
      copy_rows(qs.data(), q, ld, T, HS, scale);
      copy_rows(kr.data(), k, ld, T, HS, 1.0f);
      copy_rows(dor.data(), dy, C, T, HS, 1.0f);
      pack_transposed(kt.data(), Tp, k, ld, T, HS);
      pack_transposed(vt.data(), Tp, v, ld, T, HS);
      output_gradient_dots(D.data(), dy, y, C, T, HS);
      std::fill(dq.data(), dq.data() + T * HSp, 0.0f);
      for (int64_t j0 = 0; j0 < T; j0 += kBlock) {
        const int64_t n = std::min(kBlock, T - j0), np = tile::round_up16(n);
        std::fill(dk.data(), dk.data() + n * HSp, 0.0f);
        std::fill(dv.data(), dv.data() + n * HSp, 0.0f);
        for (int64_t i0 = j0; i0 < T; i0 += kBlock) {
          const int64_t m = std::min(kBlock, T - i0);
          const int64_t diagonal = i0 - j0;
          tile::gemm(m, np, HS, qs.data() + i0 * HSp, HSp, 1, kt.data() + j0, Tp, p.data(), kBlock, false,
                     {.col_end_offset = diagonal});
          tile::gemm(m, np, HS, dor.data() + i0 * HSp, HSp, 1, vt.data() + j0, Tp, ds.data(), kBlock, false,
                     {.col_end_offset = diagonal});
          probabilities_and_score_grads(p.data(), ds.data(), m, np, i0, j0, n, /*scale=*/1.0f, row_stats + 2 * i0,
                                        D.data() + i0);
          // Key row r gets queries i ≥ j0 + r, i.e. local k ≥ r - diagonal.
          tile::gemm(n, HSp, m, p.data(), 1, kBlock, dor.data() + i0 * HSp, HSp, dv.data(), HSp, true,
                     {.k_begin_offset = -diagonal});
          tile::gemm(n, HSp, m, ds.data(), 1, kBlock, qs.data() + i0 * HSp, HSp, dk.data(), HSp, true,
                     {.k_begin_offset = -diagonal});
          tile::gemm(m, HSp, n, ds.data(), kBlock, 1, kr.data() + j0 * HSp, HSp, dq.data() + i0 * HSp, HSp, true,
                     {.k_end_offset = diagonal});
        }
        float* dk_rows = dqkv + (b * T + j0) * ld + C + h * HS;
        write_key_gradients(dk_rows, dk_rows + C, ld, dk.data(), dv.data(), HSp, n, HS, /*scale=*/1.0f);
      }
      write_query_gradients(dqkv + b * T * ld + h * HS, ld, dq.data(), HSp, T, HS, scale);
    }
  }
}

}  // namespace tessera
