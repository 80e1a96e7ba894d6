// Bf16Gemm: fp32 matrices multiplied with bfloat16 operands and fp32 accumulation, via oneDNN's matmul
// primitive (oneDNN 2.6 has no public bf16 BLAS-like call; its matmul picks the AVX-512-BF16 brgemm kernels
// where the CPU has them). Used by the fast backend when KernelOptions::matmul_precision is kBf16.
//
//   gemm:  C[M,N] = beta·C + op(A)·op(B),  op(X) = X or Xᵀ,  A and B fp32 row-major, C fp32 row-major,
//          beta ∈ {0, 1}. A and B are first rounded to bf16 (round to nearest even, bf16.h) into scratch
//          buffers this object owns; the products of two bf16 values are exact in fp32 and are summed in
//          fp32, so the result equals an fp32 matmul of the rounded operands up to summation order.
//
// Ownership: the engine, the stream, the scratch buffers (grow-only: they keep the largest size seen,
// e.g. 2·N·V bytes for the LM head's dlogits) and the packed weights (gemm_reused_weights). Thread safety: none;
// one caller at a time, outside any OpenMP parallel region (the conversion and oneDNN use the caller's OpenMP
// thread count).
#pragma once

#include <cstdint>
#include <memory>

#include "tessera/core/aligned_buffer.h"
#include "tessera/core/status.h"

namespace tessera {

class Bf16Gemm {
 public:
  // Creates the oneDNN CPU engine and checks that this CPU has a bf16 matmul; otherwise a FailedPrecondition
  // error naming the CPU's missing feature.
  static StatusOr<std::unique_ptr<Bf16Gemm>> create();
  ~Bf16Gemm();
  Bf16Gemm(const Bf16Gemm&) = delete;
  Bf16Gemm& operator=(const Bf16Gemm&) = delete;

  // Which operand scratch buffer a conversion goes to; an operand converted once may feed two gemms.
  // kSlotHead holds the LM head's bf16 dlogits of a group of chunks (FastBackend::head_loss_backward), apart
  // from A because the next chunk's forward converts its input into A.
  enum Slot { kSlotA = 0, kSlotB = 1, kSlotC = 2, kSlotHead = 3, kNumSlots = 4 };
  // Rounds x[n] to bf16 into the slot's buffer and returns it (valid until the slot's next conversion).
  const uint16_t* convert(Slot slot, const float* x, int64_t n);
  // The slot's buffer, at least n values, for a caller that writes bf16 operands itself (valid until the
  // slot's next use).
  uint16_t* buffer(Slot slot, int64_t n);

  // C[M,N] = beta·C + op(A)·op(B) on bf16 operands already converted (op(A) is M×K, op(B) K×N; lda, ldb,
  // ldc are row strides of the stored matrices, as in BLAS row-major). trans_x: the stored X is op(X)ᵀ.
  void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const uint16_t* A, int64_t lda,
            const uint16_t* B, int64_t ldb, float beta, float* C, int64_t ldc);
  // The same product, called by each thread of an OpenMP parallel region for its own part of C: it runs on
  // the calling thread alone (oneDNN does not nest its threads) and on a stream of the call's own, so the
  // threads may call it at once. Touches no scratch buffer.
  void gemm_on_this_thread(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const uint16_t* A,
                           int64_t lda, const uint16_t* B, int64_t ldb, float beta, float* C, int64_t ldc) const;

  // gemm() (trans_a false) for a weight operand B multiplied many times between changes, i.e. a model weight between
  // two optimizer updates: op(B) is kept in the blocked layout oneDNN's matmul asks for, in a buffer this object
  // owns per (key, trans_b), and packed again from B only when `version` differs from the one it was packed at or
  // the product's shape asks for another layout. The brgemm kernels then read B without copying it on every call.
  // The result equals gemm()'s up to summation order (both are fp32 sums of exact bf16 products; bit for bit in
  // kernels_bf16_test.cc).
  void gemm_reused_weights(const void* key, uint64_t version, bool trans_b, int64_t M, int64_t N, int64_t K,
                           const uint16_t* A, int64_t lda, const uint16_t* B, int64_t ldb, float beta, float* C,
                           int64_t ldc);
  // Frees every packed weight.
  void release_packed_weights();

 private:
  struct Dnnl;  // oneDNN handles; dnnl.h stays out of this header
  explicit Bf16Gemm(std::unique_ptr<Dnnl> dnnl);
  // Builds and runs the primitive; a non-success oneDNN status is returned, not checked (create() probes).
  // own_stream: on a stream made for this call (so that threads may call at once), else on the object's.
  Status try_gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const uint16_t* A, int64_t lda,
                  const uint16_t* B, int64_t ldb, float beta, float* C, int64_t ldc, bool own_stream = false) const;
  Status try_gemm_reused_weights(const void* key, uint64_t version, bool trans_b, int64_t M, int64_t N, int64_t K,
                                 const uint16_t* A, int64_t lda, const uint16_t* B, int64_t ldb, float beta, float* C,
                                 int64_t ldc);

  std::unique_ptr<Dnnl> dnnl_;
  AlignedBuffer<uint16_t> scratch_[kNumSlots];  // grow-only; huge pages from 2 MiB (aligned_buffer.h)
};

}  // namespace tessera
