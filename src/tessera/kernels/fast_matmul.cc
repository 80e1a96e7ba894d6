// Fast matmuls: oneDNN sgemm, row-major. Shapes: N = B·T rows, C input channels, OC output channels.
//   forward:  out[N,OC]   = inp[N,C] · W[OC,C]ᵀ (+ bias)        sgemm('N','T'), beta 0 (1 over the bias)
//   dinp:     dinp[N,C]   = dout[N,OC] · W[OC,C]                  sgemm('N','N'), beta 0
//   dweight:  dW[OC,C]   += dout[N,OC]ᵀ · inp[N,C]                sgemm('T','N'), beta 1 (accumulates)
//   dbias:    dbias[OC]  += Σ_n dout[n,:]                         column sums, columns split over threads
// dnnl_sgemm called outside a parallel region uses omp_get_max_threads() threads.
// With a Bf16Gemm (MatmulPrecision::kBf16) the same three products run on bf16 copies of their operands with
// fp32 accumulation and fp32 outputs (bf16_gemm.h); dbias stays an fp32 sum of the fp32 dout. Each operand
// is converted once per call: dout feeds both dinp and dweight. Weights inside the range declared by
// set_matmul_weights are converted once there (GptModel declares its parameters once per optimizer update)
// and read from that bf16 copy; other weights are converted on every call. For vocabulary-wide outputs (OC ≥ kWideOutputChannels, the LM head) dweight is
// computed transposed, dWᵀ[C,OC] = inpᵀ·dout, into an fp32 scratch and added back transposed: oneDNN's
// bf16 matmul with a transposed 2048×50257 source ran at ~260–290 GFLOP/s, the transposed product at
// ~340–370 plus ~15 ms for the add (measured on configs/small.toml's head; the layers' TN shapes, OC ≤
// 1536, already run at ~350).
#include <dnnl.h>
#include <omp.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#include "tessera/core/check.h"
#include "tessera/kernels/bf16.h"
#include "tessera/kernels/fast_backend.h"
#include "tessera/kernels/fast_math.h"

namespace tessera {
namespace {

void sgemm(char transa, char transb, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
           const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  const dnnl_status_t status = dnnl_sgemm(transa, transb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
  TESSERA_CHECK(status == dnnl_success, "dnnl_sgemm({}{}, M={} N={} K={}) failed with status {}", transa, transb,
                M, N, K, static_cast<int>(status));
}

// dbias[OC] += Σ_n dout[n, :]. Each thread owns a contiguous block of columns and streams every row's
// slice of it, so no reduction across threads is needed and the result does not depend on threads.
void column_sum_accumulate(float* dbias, const float* dout, int64_t N, int64_t OC) {
#pragma omp parallel
  {
    int64_t begin = 0;
    int64_t end = 0;
    fast_math::split_range(OC, omp_get_num_threads(), omp_get_thread_num(), &begin, &end);
    const int64_t width = end - begin;
    std::vector<float> acc(static_cast<size_t>(width), 0.0f);
    float* a = acc.data();
    for (int64_t n = 0; n < N; ++n) {
      const float* row = dout + n * OC + begin;
#pragma omp simd
      for (int64_t c = 0; c < width; ++c) a[c] += row[c];
    }
    for (int64_t c = 0; c < width; ++c) dbias[begin + c] += a[c];
  }
}

// dweight[OC,C] += transposed[C,OC]ᵀ, in 32×32 tiles; tiles of output rows are split over threads.
void transpose_accumulate(float* dweight, const float* transposed, int64_t OC, int64_t C) {
  constexpr int64_t kTile = 32;
#pragma omp parallel for schedule(static)
  for (int64_t o0 = 0; o0 < OC; o0 += kTile) {
    const int64_t o1 = std::min(OC, o0 + kTile);
    for (int64_t c0 = 0; c0 < C; c0 += kTile) {
      const int64_t c1 = std::min(C, c0 + kTile);
      for (int64_t o = o0; o < o1; ++o) {
        for (int64_t c = c0; c < c1; ++c) dweight[o * C + c] += transposed[c * OC + o];
      }
    }
  }
}

}  // namespace

FastBackend::FastBackend() = default;
FastBackend::FastBackend(std::unique_ptr<Bf16Gemm> bf16_gemm) : bf16_gemm_(std::move(bf16_gemm)) {
  TESSERA_CHECK(bf16_gemm_ != nullptr, "FastBackend: null Bf16Gemm");
}
FastBackend::~FastBackend() = default;

void FastBackend::set_matmul_weights(const float* weights, int64_t n) {
  if (bf16_gemm_ == nullptr) return;  // fp32 matmuls read the weights as they are
  resident_begin_ = weights;
  resident_count_ = n;
  if (static_cast<int64_t>(resident_bf16_.size()) != n) resident_bf16_.assign(static_cast<size_t>(n), 0);
  uint16_t* out = resident_bf16_.data();
#pragma omp parallel for simd schedule(static)
  for (int64_t i = 0; i < n; ++i) out[i] = bf16::from_float(weights[i]);
}

void FastBackend::clear_matmul_weights() {
  resident_begin_ = nullptr;
  resident_count_ = 0;
  resident_bf16_ = {};
}

const uint16_t* FastBackend::resident_weight(const float* weight, int64_t count) const {
  if (resident_begin_ == nullptr) return nullptr;
  // Compared as integers: the pointers may belong to unrelated arrays.
  const auto begin = reinterpret_cast<std::uintptr_t>(resident_begin_), w = reinterpret_cast<std::uintptr_t>(weight);
  if (w < begin || (w - begin) % sizeof(float) != 0) return nullptr;
  const int64_t offset = static_cast<int64_t>((w - begin) / sizeof(float));
  if (offset + count > resident_count_) return nullptr;
  return resident_bf16_.data() + offset;
}

void FastBackend::matmul_forward(float* out, const float* inp, const float* weight, const float* bias, int64_t N,
                                 int64_t C, int64_t OC) {
  float beta = 0.0f;
  if (bias != nullptr) {
#pragma omp parallel for schedule(static)
    for (int64_t n = 0; n < N; ++n) std::memcpy(out + n * OC, bias, static_cast<size_t>(OC) * sizeof(float));
    beta = 1.0f;
  }
  if (bf16_gemm_ != nullptr) {
    const uint16_t* a = bf16_gemm_->convert(Bf16Gemm::kSlotA, inp, N * C);
    const uint16_t* resident = resident_weight(weight, OC * C);
    const uint16_t* w = resident != nullptr ? resident : bf16_gemm_->convert(Bf16Gemm::kSlotB, weight, OC * C);
    bf16_gemm_->gemm(false, true, N, OC, C, a, C, w, C, beta, out, OC);
    return;
  }
  sgemm('N', 'T', N, OC, C, 1.0f, inp, C, weight, C, beta, out, OC);
}

void FastBackend::matmul_backward(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                                  const float* weight, int64_t N, int64_t C, int64_t OC) {
  if (bf16_gemm_ != nullptr) {
    const uint16_t* d = bf16_gemm_->convert(Bf16Gemm::kSlotA, dout, N * OC);
    if (dinp != nullptr) {
      const uint16_t* resident = resident_weight(weight, OC * C);
      const uint16_t* w = resident != nullptr ? resident : bf16_gemm_->convert(Bf16Gemm::kSlotB, weight, OC * C);
      bf16_gemm_->gemm(false, false, N, C, OC, d, OC, w, C, 0.0f, dinp, C);
    }
    const uint16_t* x = bf16_gemm_->convert(Bf16Gemm::kSlotC, inp, N * C);
    if (OC >= kWideOutputChannels) {
      if (static_cast<int64_t>(transposed_dweight_.size()) < C * OC) {
        transposed_dweight_.resize(static_cast<size_t>(C * OC));
      }
      bf16_gemm_->gemm(true, false, C, OC, N, x, C, d, OC, 0.0f, transposed_dweight_.data(), OC);
      transpose_accumulate(dweight, transposed_dweight_.data(), OC, C);
    } else {
      bf16_gemm_->gemm(true, false, OC, C, N, d, OC, x, C, 1.0f, dweight, C);
    }
  } else {
    if (dinp != nullptr) sgemm('N', 'N', N, C, OC, 1.0f, dout, OC, weight, C, 0.0f, dinp, C);
    sgemm('T', 'N', OC, C, N, 1.0f, dout, OC, inp, C, 1.0f, dweight, C);
  }
  if (dbias != nullptr) column_sum_accumulate(dbias, dout, N, OC);
}

}  // namespace tessera
