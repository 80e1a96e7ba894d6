// Fast causal attention. Shapes: B batch, T time, C channels, NH heads, HS = C/NH; qkv[B,T,3C] holds
// q | k | v per token, head h at columns h·HS of each third; att[B,NH,T,T]; out[B,T,C].
//
// Work is split over the B·NH (batch, head) pairs across OpenMP threads; inside, each pair runs small
// single-threaded dnnl_sgemm calls on strided views. oneDNN does not nest parallelism: inside an OpenMP
// parallel region its threading layer sees one available thread, so each gemm runs on its caller
// (checked with oneDNN 2.6 + libgomp: no extra threads appear, even with OMP_MAX_ACTIVE_LEVELS > 1).
//
// Causality: rows are processed in blocks of kBlock; a row block [i0, i1) only ever needs key columns
// [0, i1), so the masked upper triangle is skipped except inside the diagonal block (~1/(2·T/kBlock) of
// the work wasted, zeroed afterwards).
//   forward  per block: S = q[i0:i1]·k[0:i1]ᵀ·scale;  P = softmax over j ≤ i;  out[i0:i1] = P·v[0:i1]
//   backward per block: dP = dout[i0:i1]·v[0:i1]ᵀ;  dS = P ⊙ (dP - rowsum(P ⊙ dP));
//                       dq[i0:i1] = dS·k[0:i1]·scale
//            per column block [j0, j1) (rows j0..T hold every non-zero of those columns):
//                       dk[j0:j1] = dS[j0:T, j0:j1]ᵀ·q[j0:T]·scale;  dv[j0:j1] = P[j0:T, j0:j1]ᵀ·dout[j0:T]
#include <dnnl.h>
#include <omp.h>

#include <cmath>
#include <vector>

#include "tessera/core/check.h"
#include "tessera/kernels/fast_backend.h"
#include "tessera/kernels/fast_math.h"

namespace tessera {
namespace {

constexpr int64_t kBlock = 64;

void sgemm(char transa, char transb, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
           const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  const dnnl_status_t status = dnnl_sgemm(transa, transb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
  TESSERA_CHECK(status == dnnl_success, "attention dnnl_sgemm(M={} N={} K={}) failed: {}", M, N, K,
                static_cast<int>(status));
}

// In place: row[0..i] = softmax(row[0..i]); row[i+1..T) = 0.
void causal_softmax_row(float* row, int64_t i, int64_t T) {
  const float mx = fast_math::max_value(row, i + 1);
  float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
  for (int64_t j = 0; j <= i; ++j) {
    const float e = fast_math::exp(row[j] - mx);
    row[j] = e;
    sum += e;
  }
  const float inv = 1.0f / sum;
#pragma omp simd
  for (int64_t j = 0; j <= i; ++j) row[j] *= inv;
  for (int64_t j = i + 1; j < T; ++j) row[j] = 0.0f;
}

// In place on dp (row i of dP, columns [0, width)): dp[j] = p[j]·(dp[j] - Σ_k≤i p[k]·dp[k]) for j ≤ i,
// 0 for i < j < width.
void softmax_backward_row(float* dp, const float* p, int64_t i, int64_t width) {
  float dot = 0.0f;
#pragma omp simd reduction(+ : dot)
  for (int64_t j = 0; j <= i; ++j) dot += p[j] * dp[j];
#pragma omp simd
  for (int64_t j = 0; j <= i; ++j) dp[j] = p[j] * (dp[j] - dot);
  for (int64_t j = i + 1; j < width; ++j) dp[j] = 0.0f;
}

}  // namespace

void FastBackend::attention_forward(float* out, float* att, const float* qkv, int64_t B, int64_t T, int64_t C,
                                    int64_t NH) {
  TESSERA_CHECK(C % NH == 0, "attention: C={} not divisible by NH={}", C, NH);
  const int64_t HS = C / NH;
  const float scale = 1.0f / std::sqrt(static_cast<float>(HS));
  const int64_t ld_qkv = 3 * C;
#pragma omp parallel for schedule(static)
  for (int64_t bh = 0; bh < B * NH; ++bh) {
    const int64_t b = bh / NH;
    const int64_t h = bh % NH;
    const float* q = qkv + b * T * ld_qkv + h * HS;
    const float* k = q + C;
    const float* v = q + 2 * C;
    float* a = att + bh * T * T;
    float* o = out + b * T * C + h * HS;
    for (int64_t i0 = 0; i0 < T; i0 += kBlock) {
      const int64_t i1 = std::min(T, i0 + kBlock);
      sgemm('N', 'T', i1 - i0, i1, HS, scale, q + i0 * ld_qkv, ld_qkv, k, ld_qkv, 0.0f, a + i0 * T, T);
      for (int64_t i = i0; i < i1; ++i) causal_softmax_row(a + i * T, i, T);
      sgemm('N', 'N', i1 - i0, HS, i1, 1.0f, a + i0 * T, T, v, ld_qkv, 0.0f, o + i0 * C, C);
    }
  }
}

void FastBackend::attention_backward(float* dqkv, const float* dout, const float* qkv, const float* att,
                                     int64_t B, int64_t T, int64_t C, int64_t NH) {
  TESSERA_CHECK(C % NH == 0, "attention: C={} not divisible by NH={}", C, NH);
  const int64_t HS = C / NH;
  const float scale = 1.0f / std::sqrt(static_cast<float>(HS));
  const int64_t ld_qkv = 3 * C;
#pragma omp parallel
  {
    // dS of one (b, h): [T, T], only the lower triangle and the diagonal blocks are touched.
    std::vector<float> ds_buffer(static_cast<size_t>(T * T));
    float* ds = ds_buffer.data();
#pragma omp for schedule(static)
    for (int64_t bh = 0; bh < B * NH; ++bh) {
      const int64_t b = bh / NH;
      const int64_t h = bh % NH;
      const float* q = qkv + b * T * ld_qkv + h * HS;
      const float* k = q + C;
      const float* v = q + 2 * C;
      const float* p = att + bh * T * T;
      const float* dy = dout + b * T * C + h * HS;
      float* dq = dqkv + b * T * ld_qkv + h * HS;
      float* dk = dq + C;
      float* dv = dq + 2 * C;
      for (int64_t i0 = 0; i0 < T; i0 += kBlock) {
        const int64_t i1 = std::min(T, i0 + kBlock);
        sgemm('N', 'T', i1 - i0, i1, HS, 1.0f, dy + i0 * C, C, v, ld_qkv, 0.0f, ds + i0 * T, T);
        for (int64_t i = i0; i < i1; ++i) softmax_backward_row(ds + i * T, p + i * T, i, i1);
        sgemm('N', 'N', i1 - i0, HS, i1, scale, ds + i0 * T, T, k, ld_qkv, 0.0f, dq + i0 * ld_qkv, ld_qkv);
      }
      for (int64_t j0 = 0; j0 < T; j0 += kBlock) {
        const int64_t j1 = std::min(T, j0 + kBlock);
        sgemm('T', 'N', j1 - j0, HS, T - j0, scale, ds + j0 * T + j0, T, q + j0 * ld_qkv, ld_qkv, 0.0f,
              dk + j0 * ld_qkv, ld_qkv);
        sgemm('T', 'N', j1 - j0, HS, T - j0, 1.0f, p + j0 * T + j0, T, dy + j0 * C, C, 0.0f, dv + j0 * ld_qkv,
              ld_qkv);
      }
    }
  }
}

}  // namespace tessera
