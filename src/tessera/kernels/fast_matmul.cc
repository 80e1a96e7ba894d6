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
// and read from that bf16 copy; other weights are converted on every call.
// For vocabulary-wide outputs (OC ≥ kWideOutputChannels, the LM head) all three bf16 products run in blocks
// of kWideProductBlock output channels: the forward by output columns (out[:, o0:o0+nb] = inp·W[o0:o0+nb]ᵀ),
// dinp by its sum over OC (dinp = Σ over blocks of dout[:, k0:k0+kb]·W[k0:k0+kb], accumulated by beta = 1)
// and dW by output rows (dW[o0:o0+nb] += dout[:, o0:o0+nb]ᵀ·inp). oneDNN runs these shapes faster than the
// whole 50257-wide ones. Per 333-token chunk of configs/small.toml's head (one thread, Zen 5): forward
// 44 → 38 ms, dinp 55 → 39 ms. dW in 8192-row blocks against the earlier transposed form (dWᵀ of 512-channel
// blocks into an L2-resident scratch, then 16×16 register transpose-adds into dW, which cost a full pass
// over dW per chunk), the whole chunk's backward, Zen 4: 2 threads 68–70 vs 74–83 ms, 1 thread 130–131 vs
// 136 ms (bench/RESULTS.md 2026-12-03). The whole-width direct dW is the slow layout (77–78 ms).
// The bf16 forward of wide outputs gives each OpenMP thread its own range of output columns, run as
// single-threaded products (Bf16Gemm::gemm_on_this_thread): oneDNN's own split of these shapes over 2 threads
// left a thread waiting at its barriers (libgomp spin samples), and the head chunk's forward went 33.3 → 31.5 ms
// (3 alternating rounds, Zen 4, 2 threads). The same split of dinp (by rows) and dW (by rows) measured no
// change, so they stay oneDNN's; so did fp32 sgemm's forward (190 vs 191 GFLOP/s).
// fp32 sgemm gains nothing from the block split either (measured), so fp32 calls sgemm once.
// Packed layer weights: the bf16 forward and dinp of declared weights narrower than kWideOutputChannels, at
// kPackedWeightMinRows rows or more, run on the weights in oneDNN's blocked layout (Bf16Gemm::gemm_reused_weights),
// packed from the resident bf16 copy at the first product after each set_matmul_weights: oneDNN's brgemm kernels
// otherwise copy the strided weights into that layout on every call. Standalone, 2 threads, Zen 4, at configs/
// small.toml's shapes (2048 rows): forward 5–17% faster (qkv 5.19 → 4.63 ms, proj 1.67 → 1.42, fc 6.35 → 6.09,
// fcproj 6.02 → 5.74), dinp 5–8%, against 0.03–0.16 ms per packing. The LM head keeps its per-thread blocks
// (packed, its forward was no faster: 394 vs 403 GFLOP/s per 333-row chunk); dW has no fixed operand to pack.
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
  ++resident_version_;  // the packed copies (gemm_reused_weights) repack at their next use
  if (resident_bf16_.size() != n) resident_bf16_ = AlignedBuffer<uint16_t>(n);
  uint16_t* out = resident_bf16_.data();
#pragma omp parallel for simd schedule(static)
  for (int64_t i = 0; i < n; ++i) out[i] = bf16::from_float(weights[i]);
}

void FastBackend::clear_matmul_weights() {
  resident_begin_ = nullptr;
  resident_count_ = 0;
  resident_bf16_ = {};
  if (bf16_gemm_ != nullptr) bf16_gemm_->release_packed_weights();
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
    if (OC < kWideOutputChannels) {
      if (resident != nullptr && N >= kPackedWeightMinRows) {
        bf16_gemm_->gemm_reused_weights(weight, resident_version_, true, N, OC, C, a, C, w, C, beta, out, OC);
      } else {
        bf16_gemm_->gemm(false, true, N, OC, C, a, C, w, C, beta, out, OC);
      }
      return;
    }
    // Wide outputs: each thread its own range of output columns, in blocks of at most kWideProductBlock
    // (see the top of the file).
    const Bf16Gemm& gemm = *bf16_gemm_;
#pragma omp parallel
    {
      int64_t begin = 0, end = 0;
      fast_math::split_range(OC, omp_get_num_threads(), omp_get_thread_num(), &begin, &end);
      const int64_t blocks = (end - begin + kWideProductBlock - 1) / kWideProductBlock;
      for (int64_t b = 0; b < blocks; ++b) {
        const int64_t o0 = begin + (end - begin) * b / blocks, o1 = begin + (end - begin) * (b + 1) / blocks;
        gemm.gemm_on_this_thread(false, true, N, o1 - o0, C, a, C, w + o0 * C, C, beta, out + o0, OC);
      }
    }
    return;
  }
  sgemm('N', 'T', N, OC, C, 1.0f, inp, C, weight, C, beta, out, OC);
}

void FastBackend::matmul_backward(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                                  const float* weight, int64_t N, int64_t C, int64_t OC) {
  if (bf16_gemm_ != nullptr) {
    bf16_matmul_backward(dinp, dweight, bf16_gemm_->convert(Bf16Gemm::kSlotA, dout, N * OC), inp, weight, N, C, OC);
  } else {
    if (dinp != nullptr) sgemm('N', 'N', N, C, OC, 1.0f, dout, OC, weight, C, 0.0f, dinp, C);
    if (dweight != nullptr) sgemm('T', 'N', OC, C, N, 1.0f, dout, OC, inp, C, 1.0f, dweight, C);
  }
  if (dbias != nullptr) column_sum_accumulate(dbias, dout, N, OC);
}

void FastBackend::bf16_matmul_backward(float* dinp, float* dweight, const uint16_t* d, const float* inp,
                                       const float* weight, int64_t N, int64_t C, int64_t OC) {
  if (dinp != nullptr) {
    const uint16_t* resident = resident_weight(weight, OC * C);
    const uint16_t* w = resident != nullptr ? resident : bf16_gemm_->convert(Bf16Gemm::kSlotB, weight, OC * C);
    if (resident != nullptr && OC < kWideOutputChannels && N >= kPackedWeightMinRows) {
      bf16_gemm_->gemm_reused_weights(weight, resident_version_, false, N, C, OC, d, OC, w, C, 0.0f, dinp, C);
    } else {
      // Wide outputs: the long OC sum in blocks of kWideProductBlock, accumulated in dinp.
      const int64_t block = OC >= kWideOutputChannels ? kWideProductBlock : OC;
      for (int64_t k0 = 0; k0 < OC; k0 += block) {
        const int64_t kb = std::min(block, OC - k0);
        bf16_gemm_->gemm(false, false, N, C, kb, d + k0, OC, w + k0 * C, C, k0 == 0 ? 0.0f : 1.0f, dinp, C);
      }
    }
  }
  if (dweight == nullptr) return;  // the input-gradient pass of a split backward
  const uint16_t* x = bf16_gemm_->convert(Bf16Gemm::kSlotC, inp, N * C);
  // Wide outputs: dW in row blocks of kWideProductBlock (see the top of the file).
  const int64_t block = OC >= kWideOutputChannels ? kWideProductBlock : OC;
  for (int64_t o0 = 0; o0 < OC; o0 += block) {
    const int64_t nb = std::min(block, OC - o0);
    bf16_gemm_->gemm(true, false, nb, C, N, d + o0, OC, x, C, 1.0f, dweight + o0 * C, C);
  }
}

}  // namespace tessera
