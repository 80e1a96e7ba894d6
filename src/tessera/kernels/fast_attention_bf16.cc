// bf16 flash attention: fast_attention.cc's algorithm (read its header first) with the tile products on bf16
// operands through AVX-512-BF16's vdpbf16ps (tile_gemm_bf16.h), twice the fp32 FMA rate; the scores, the softmax
// statistics (m, l), D, dS and every accumulator (O, dQ, dK, dV) stay fp32. The fast backend takes this path
// with bf16 matmuls (parallel.precision = "bf16") where the build CPU has AVX-512-BF16 and HS is even.
//
// What is rounded to bf16: q, k, v and dout (once per (batch, head) pair, when packed), the probabilities P
// before P·V and Pᵀ·dO, and dS before dSᵀ·Q and dS·K — as GPU flash-attention kernels do. The row sums l are
// of the fp32 probabilities.
//
// Operand layouts per (batch, head) pair, thread-local, zero-filled once (padding never written), HP = HS/2
// pairs, Tp = round16(T), HSp = round16(HS) (tile_gemm_bf16.h: "row pairs" are A operands, "pair rows" B):
//   forward:  qb [T, HP] row pairs of q;  kt [HP, Tp] kᵀ as pair rows (pair (p, j) = k[j, 2p..2p+1]);
//             vv [Tp/2, HSp] pair rows of v (pair (j/2, d) = (v[j, d], v[j+1, d]));  P as row pairs per tile.
//   backward: qb, kt as above; dob [T, HP] row pairs of dout; vt [HP, Tp] vᵀ as pair rows; qv, dov, kv
//             [Tp/2, HSp] pair rows of q, dout and k; per tile P and dS as pairs down their columns, stored by
//             pair ((P[2q, j], P[2q+1, j]) at q·kBlock + j: Pᵀ's row pairs, read with a_row = 1, a_col = kBlock)
//             and dS as row pairs along the keys.
// Conversions round to nearest even (vcvtne(2)ps2bf16 where vectorised, which also flushes fp32 subnormals).
// A pair's element past the last row or column is zero, and masked probabilities are exact zeros, so widening a
// causal k range to whole pairs adds nothing.
#include <omp.h>

#include <algorithm>
#include <cmath>

#include "tessera/core/aligned_buffer.h"
#include "tessera/core/check.h"
#include "tessera/kernels/attention_tiles.h"
#include "tessera/kernels/bf16.h"
#include "tessera/kernels/fast_backend.h"
#include "tessera/kernels/fast_math.h"
#include "tessera/kernels/tile_gemm.h"
#include "tessera/kernels/tile_gemm_bf16.h"

namespace tessera {

#if defined(__AVX512BF16__)
namespace {

using attention_tiles::kBlock;
using attention_tiles::finish_output_rows;
using attention_tiles::online_softmax_tile;
using attention_tiles::output_gradient_dots;
using attention_tiles::probabilities_and_score_grads;
using attention_tiles::write_key_gradients;
using attention_tiles::write_query_gradients;
constexpr int64_t kBlockPairs = kBlock / 2;

inline uint32_t pair_of(float lo, float hi) { return tile_bf16::pair(bf16::from_float(lo), bf16::from_float(hi)); }

// Conversions by vcvtne(2)ps2bf16 (round to nearest even, as bf16::from_float, except that it flushes fp32
// subnormals to zero): 32 consecutive floats as 16 row pairs, and 16 floats of each of two rows as 16 pairs
// (x0[d], x1[d]).
inline __m512i row_pairs16(const float* x) {
  return (__m512i)_mm512_cvtne2ps_pbh(_mm512_loadu_ps(x + 16), _mm512_loadu_ps(x));
}
// (The all-lanes zero-masked forms compile to the plain instructions; GCC 12's unmasked ones warn about
// _mm512_undefined_epi32.)
inline __m512i interleaved_pairs16(const float* x0, const float* x1) {
  constexpr __mmask16 kAll = 0xFFFF;
  const __m512i lo = _mm512_maskz_cvtepu16_epi32(kAll, (__m256i)_mm512_cvtneps_pbh(_mm512_loadu_ps(x0)));
  const __m512i hi = _mm512_maskz_cvtepu16_epi32(kAll, (__m256i)_mm512_cvtneps_pbh(_mm512_loadu_ps(x1)));
  return _mm512_or_si512(lo, _mm512_maskz_slli_epi32(kAll, hi, 16));
}

// Row pairs of a [rows, 2·HP] strided matrix: dst[r·HP + p] = (x[r, 2p], x[r, 2p+1]).
void pack_row_pairs(uint32_t* dst, const float* src, int64_t ld, int64_t rows, int64_t HP) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* x = src + r * ld;
    int64_t p = 0;
    for (; p + 16 <= HP; p += 16) _mm512_storeu_si512(dst + r * HP + p, row_pairs16(x + 2 * p));
    for (; p < HP; ++p) dst[r * HP + p] = pair_of(x[2 * p], x[2 * p + 1]);
  }
}

// The same pairs transposed, as pair rows of xᵀ: dst[p·ldd + j] = (x[j, 2p], x[j, 2p+1]). Sixteen rows at a
// time through an L1 block, so that each destination row gets 16 contiguous pairs.
void pack_pairs_transposed(uint32_t* dst, int64_t ldd, const float* src, int64_t ld, int64_t rows, int64_t HP) {
  constexpr int64_t kRowBlock = 16;
  uint32_t block[kRowBlock * 256];  // HP ≤ 256 (HS ≤ 512) per row; larger heads go row by row below
  const bool blocked = HP <= 256;
  int64_t j0 = 0;
  for (; blocked && j0 + kRowBlock <= rows; j0 += kRowBlock) {
    pack_row_pairs(block, src + j0 * ld, ld, kRowBlock, HP);
    for (int64_t p = 0; p < HP; ++p) {
#pragma omp simd
      for (int64_t jj = 0; jj < kRowBlock; ++jj) dst[p * ldd + j0 + jj] = block[jj * HP + p];
    }
  }
  for (int64_t j = j0; j < rows; ++j) {
    const float* x = src + j * ld;
    for (int64_t p = 0; p < HP; ++p) dst[p * ldd + j] = pair_of(x[2 * p], x[2 * p + 1]);
  }
}

// Pair rows of a [rows, HS] strided matrix: dst[(j/2)·ldd + d] = (x[j, d], x[j+1, d]), x[rows, d] = 0.
void pack_pair_rows(uint32_t* dst, int64_t ldd, const float* src, int64_t ld, int64_t rows, int64_t HS) {
  for (int64_t j = 0; j < rows; j += 2) {
    const float* x0 = src + j * ld;
    uint32_t* out = dst + (j / 2) * ldd;
    if (j + 1 < rows) {
      const float* x1 = x0 + ld;
      int64_t d = 0;
      for (; d + 16 <= HS; d += 16) _mm512_storeu_si512(out + d, interleaved_pairs16(x0 + d, x1 + d));
      for (; d < HS; ++d) out[d] = pair_of(x0[d], x1[d]);
    } else {
      for (int64_t d = 0; d < HS; ++d) out[d] = pair_of(x0[d], 0.0f);
    }
  }
}

// Row pairs of the first `cols` columns of a [rows, kBlock] fp32 tile (cols rounded up to a pair; the tile is
// zero past its visible columns): dst[r·kBlockPairs + q] = (t[r, 2q], t[r, 2q+1]).
void tile_row_pairs(uint32_t* dst, const float* t, int64_t rows, int64_t cols) {
  const int64_t pairs = (cols + 1) / 2;
  for (int64_t r = 0; r < rows; ++r) {
    const float* x = t + r * kBlock;
    int64_t q = 0;
    for (; q + 16 <= pairs; q += 16) _mm512_storeu_si512(dst + r * kBlockPairs + q, row_pairs16(x + 2 * q));
    for (; q < pairs; ++q) dst[r * kBlockPairs + q] = pair_of(x[2 * q], x[2 * q + 1]);
  }
}

// Pairs along the tile's rows, stored by pair: dst[q·kBlock + c] = (t[2q, c], t[2q+1, c]) for c < round16(cols)
// (the tile is zero past its visible columns), t[rows, c] = 0 — the A operand of a transposed product
// (a_row = 1, a_col = kBlock).
void tile_pairs_down_columns(uint32_t* dst, const float* t, int64_t rows, int64_t cols) {
  const int64_t width = tile::round_up16(cols);
  for (int64_t q = 0; 2 * q < rows; ++q) {
    const float* t0 = t + 2 * q * kBlock;
    uint32_t* out = dst + q * kBlock;
    if (2 * q + 1 < rows) {
      for (int64_t c = 0; c < width; c += 16) _mm512_storeu_si512(out + c, interleaved_pairs16(t0 + c, t0 + kBlock + c));
    } else {
      for (int64_t c = 0; c < width; ++c) out[c] = pair_of(t0[c], 0.0f);
    }
  }
}

}  // namespace
#endif

bool FastBackend::bf16_attention(int64_t HS) const {
  return tile_bf16::kAvailable && bf16_gemm_ != nullptr && HS % 2 == 0;
}

double FastBackend::attention_workspace_bytes(int64_t T, int64_t HS, MatmulPrecision precision) {
  const double t = static_cast<double>(T), hs = static_cast<double>(HS), tile = 64.0 * 64.0;
  if (precision == MatmulPrecision::kBf16 && tile_bf16::kAvailable && HS % 2 == 0) {
    // qb, dob, kt, vt, qv, dov, kv: 2 bytes per element of a [T, HS] matrix each; dq, dk, dv, p, ds, D in fp32;
    // the three 64×32 pair tiles.
    return 7 * 2.0 * t * hs + 4.0 * (t * hs + 2 * 64 * hs + 2 * tile + t) + 3 * 4.0 * tile / 2;
  }
  // kᵀ, vᵀ [HS, T]; q·scale, k, dout, dq [T, HS]; four 64×64 tiles.
  return 4.0 * (6.0 * hs * t + 4.0 * tile);
}

void FastBackend::attention_forward_bf16(float* out, float* stats, const float* qkv, int64_t B, int64_t T, int64_t C,
                                         int64_t NH) {
#if defined(__AVX512BF16__)
  const int64_t HS = C / NH, HP = HS / 2, HSp = tile::round_up16(HS), Tp = tile::round_up16(T);
  const float scale = 1.0f / std::sqrt(static_cast<float>(HS));
  const int64_t ld = 3 * C;
#pragma omp parallel
  {
    AlignedBuffer<uint32_t> qb(T * HP), kt(HP * Tp), vv(Tp / 2 * HSp), pb(kBlock * kBlockPairs);
    AlignedBuffer<float> s(kBlock * kBlock), o(kBlock * HSp);
    float row_max[kBlock], row_sum[kBlock];
#pragma omp for schedule(dynamic, 1)
    for (int64_t bh = 0; bh < B * NH; ++bh) {
      const int64_t b = bh / NH, h = bh % NH;
      const float* q = qkv + b * T * ld + h * HS;
      pack_row_pairs(qb.data(), q, ld, T, HP);
      pack_pairs_transposed(kt.data(), Tp, q + C, ld, T, HP);
      pack_pair_rows(vv.data(), HSp, q + 2 * C, ld, T, HS);
      for (int64_t i0 = 0; i0 < T; i0 += kBlock) {
        const int64_t m = std::min(kBlock, T - i0);
        std::fill(o.data(), o.data() + m * HSp, 0.0f);
        std::fill(row_max, row_max + m, -INFINITY);
        std::fill(row_sum, row_sum + m, 0.0f);
        for (int64_t j0 = 0; j0 < i0 + m; j0 += kBlock) {
          const int64_t n = std::min(kBlock, i0 + m - j0), np = tile::round_up16(n), diagonal = i0 - j0;
          tile_bf16::gemm(m, np, HS, qb.data() + i0 * HP, HP, 1, kt.data() + j0, Tp, s.data(), kBlock, false,
                          {.col_end_offset = diagonal});
          online_softmax_tile(s.data(), o.data(), HSp, row_max, row_sum, m, np, i0, j0, n, scale);
          tile_row_pairs(pb.data(), s.data(), m, n);
          tile_bf16::gemm(m, HSp, n, pb.data(), kBlockPairs, 1, vv.data() + j0 / 2 * HSp, HSp, o.data(), HSp, true,
                          {.k_end_offset = diagonal});
        }
        finish_output_rows(out + (b * T + i0) * C + h * HS, C, stats + 2 * (bh * T + i0), o.data(), HSp, row_max,
                           row_sum, m, HS);
      }
    }
  }
#else
  (void)out, (void)stats, (void)qkv, (void)B, (void)T, (void)C, (void)NH;
  TESSERA_CHECK(false, "attention_forward_bf16: built without AVX-512-BF16");
#endif
}

void FastBackend::attention_backward_bf16(float* dqkv, const float* dout, const float* qkv, const float* out,
                                          const float* stats, int64_t B, int64_t T, int64_t C, int64_t NH) {
#if defined(__AVX512BF16__)
  const int64_t HS = C / NH, HP = HS / 2, HSp = tile::round_up16(HS), Tp = tile::round_up16(T);
  const float scale = 1.0f / std::sqrt(static_cast<float>(HS));
  const int64_t ld = 3 * C;
#pragma omp parallel
  {
    AlignedBuffer<uint32_t> qb(T * HP), dob(T * HP), kt(HP * Tp), vt(HP * Tp), qv(Tp / 2 * HSp), dov(Tp / 2 * HSp),
        kv(Tp / 2 * HSp), pt(kBlockPairs * kBlock), dst(kBlockPairs * kBlock), dsb(kBlock * kBlockPairs);
    AlignedBuffer<float> dq(T * HSp), dk(kBlock * HSp), dv(kBlock * HSp), p(kBlock * kBlock), ds(kBlock * kBlock),
        D(Tp);
#pragma omp for schedule(dynamic, 1)
    for (int64_t bh = 0; bh < B * NH; ++bh) {
      const int64_t b = bh / NH, h = bh % NH;
      const float* q = qkv + b * T * ld + h * HS;
      const float* k = q + C;
      const float* v = q + 2 * C;
      const float* dy = dout + b * T * C + h * HS;
      const float* y = out + b * T * C + h * HS;
      const float* row_stats = stats + 2 * bh * T;
      pack_row_pairs(qb.data(), q, ld, T, HP);
      pack_row_pairs(dob.data(), dy, C, T, HP);
      pack_pairs_transposed(kt.data(), Tp, k, ld, T, HP);
      pack_pairs_transposed(vt.data(), Tp, v, ld, T, HP);
      pack_pair_rows(qv.data(), HSp, q, ld, T, HS);
      pack_pair_rows(dov.data(), HSp, dy, C, T, HS);
      pack_pair_rows(kv.data(), HSp, k, ld, T, HS);
      output_gradient_dots(D.data(), dy, y, C, T, HS);
      std::fill(dq.data(), dq.data() + T * HSp, 0.0f);
      for (int64_t j0 = 0; j0 < T; j0 += kBlock) {
        const int64_t n = std::min(kBlock, T - j0), np = tile::round_up16(n);
        std::fill(dk.data(), dk.data() + n * HSp, 0.0f);
        std::fill(dv.data(), dv.data() + n * HSp, 0.0f);
        for (int64_t i0 = j0; i0 < T; i0 += kBlock) {
          const int64_t m = std::min(kBlock, T - i0), diagonal = i0 - j0;
          tile_bf16::gemm(m, np, HS, qb.data() + i0 * HP, HP, 1, kt.data() + j0, Tp, p.data(), kBlock, false,
                          {.col_end_offset = diagonal});
          tile_bf16::gemm(m, np, HS, dob.data() + i0 * HP, HP, 1, vt.data() + j0, Tp, ds.data(), kBlock, false,
                          {.col_end_offset = diagonal});
          probabilities_and_score_grads(p.data(), ds.data(), m, np, i0, j0, n, scale, row_stats + 2 * i0, D.data() + i0);
          tile_pairs_down_columns(pt.data(), p.data(), m, n);
          tile_pairs_down_columns(dst.data(), ds.data(), m, n);
          tile_row_pairs(dsb.data(), ds.data(), m, n);
          // Key row r gets queries i ≥ j0 + r, i.e. local k ≥ r - diagonal. Pᵀ and dSᵀ are read down the pair
          // rows of pt and dst (a_row = 1, a_col = kBlock).
          tile_bf16::gemm(n, HSp, m, pt.data(), 1, kBlock, dov.data() + i0 / 2 * HSp, HSp, dv.data(), HSp, true,
                          {.k_begin_offset = -diagonal});
          tile_bf16::gemm(n, HSp, m, dst.data(), 1, kBlock, qv.data() + i0 / 2 * HSp, HSp, dk.data(), HSp, true,
                          {.k_begin_offset = -diagonal});
          tile_bf16::gemm(m, HSp, n, dsb.data(), kBlockPairs, 1, kv.data() + j0 / 2 * HSp, HSp, dq.data() + i0 * HSp,
                          HSp, true, {.k_end_offset = diagonal});
        }
        float* dk_rows = dqkv + (b * T + j0) * ld + C + h * HS;
        write_key_gradients(dk_rows, dk_rows + C, ld, dk.data(), dv.data(), HSp, n, HS, scale);
      }
      write_query_gradients(dqkv + b * T * ld + h * HS, ld, dq.data(), HSp, T, HS, scale);
    }
  }
#else
  (void)dqkv, (void)dout, (void)qkv, (void)out, (void)stats, (void)B, (void)T, (void)C, (void)NH;
  TESSERA_CHECK(false, "attention_backward_bf16: built without AVX-512-BF16");
#endif
}

}  // namespace tessera
