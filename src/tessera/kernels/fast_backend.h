// FastBackend: the training kernels for CPUs. oneDNN sgemm (row-major, linked against GNU OpenMP, so it
// shares the one OpenMP thread pool) for the matmuls; OpenMP-parallel loops written so that GCC
// vectorises them (-O3 -march=native -ffp-contract=fast, see CMakeLists.txt) for everything else.
// The methods are defined by concept: fast_matmul.cc, fast_attention.cc (and fast_attention_bf16.cc),
// fast_elementwise.cc, fast_layernorm.cc, fast_crossentropy.cc.
//
// Threads: every kernel uses omp_get_max_threads() of the calling thread (set_kernel_threads). Results
// are deterministic for a fixed thread count: reductions combine per-thread partials in thread order.
// Matmul precision: fp32 (default) or, when constructed with a Bf16Gemm, bf16 operands with fp32
// accumulation (fast_matmul.cc); the other kernels are fp32 either way.
// Thread safety: the fp32 backend is stateless; the bf16 one owns conversion scratch and the resident bf16
// weights (set_matmul_weights), so one caller at a time. Do not call it from inside another OpenMP parallel region (it would run
// single-threaded there, which is correct but slow).
#pragma once

#include <memory>
#include <vector>

#include "tessera/core/aligned_buffer.h"
#include "tessera/kernels/bf16_gemm.h"
#include "tessera/kernels/kernel_backend.h"

namespace tessera {

class FastBackend final : public KernelBackend {
 public:
  FastBackend();
  // bf16 matmuls through `bf16_gemm` (non-null).
  explicit FastBackend(std::unique_ptr<Bf16Gemm> bf16_gemm);
  ~FastBackend() override;

  const char* name() const override { return "fast"; }

  void encoder_forward(float* out, const int32_t* tokens, const float* wte, const float* wpe, int64_t B,
                       int64_t T, int64_t C) override;
  void encoder_backward(float* dwte, float* dwpe, const float* dout, const int32_t* tokens, int64_t B,
                        int64_t T, int64_t C) override;
  void layernorm_forward(float* out, float* mean, float* rstd, const float* inp, const float* weight,
                         const float* bias, int64_t N, int64_t C) override;
  void layernorm_backward(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                          const float* weight, const float* mean, const float* rstd, int64_t N,
                          int64_t C) override;
  void matmul_forward(float* out, const float* inp, const float* weight, const float* bias, int64_t N,
                      int64_t C, int64_t OC) override;
  void matmul_backward(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                       const float* weight, int64_t N, int64_t C, int64_t OC) override;
  void attention_forward(float* out, float* stats, const float* qkv, int64_t B, int64_t T, int64_t C,
                         int64_t NH) override;
  void attention_backward(float* dqkv, const float* dout, const float* qkv, const float* out, const float* stats,
                          int64_t B, int64_t T, int64_t C, int64_t NH) override;
  void gelu_forward(float* out, const float* inp, int64_t n) override;
  void gelu_backward(float* dinp, const float* inp, const float* dout, int64_t n) override;
  void residual_forward(float* out, const float* a, const float* b, int64_t n) override;
  void crossentropy_forward(float* losses, float* lse, const float* logits, const int32_t* targets, int64_t N,
                            int64_t V) override;
  void crossentropy_backward(float* dlogits, const float* logits, const float* lse, const int32_t* targets,
                             float dloss, int64_t N, int64_t V) override;
  // Row by row: the log-sum-exp and, while the row is still in L2, its dlogits, in place in fp32 or (bf16
  // matmuls) rounded straight into the bf16 operand of the two products (fast_crossentropy.cc).
  // With bf16 matmuls the dlogits of a whole group are kept (bf16, in Bf16Gemm::kSlotHead) and the group's two
  // products run once, when its last chunk arrives.
  void head_loss_backward(float* losses, float* lse, float* logits, const int32_t* targets, float dloss,
                          float* dinp, float* dweight, const float* inp, const float* weight, int64_t N, int64_t C,
                          int64_t V, const HeadGroup& group = {}) override;
  int64_t head_group_dlogit_bytes() const override { return bf16_gemm_ != nullptr ? 2 : 0; }
  void adamw_update(float* params, const float* grads, float* m, float* v, int64_t n, float lr, float beta1,
                    float beta2, float eps, float weight_decay, int64_t t) override;
  void set_matmul_weights(const float* weights, int64_t n) override;
  void clear_matmul_weights() override;
  double sum_squares(const float* x, int64_t n) override;
  void scale(float* x, float scale, int64_t n) override;

  // Bytes of thread-local scratch one thread's attention backward (the larger pass) holds for sequence length T
  // and head size HS: fp32, the packed kᵀ, vᵀ and dq plus four 64×64 tiles; with bf16 matmuls and an even HS
  // (the bf16 kernel, where the build has AVX-512-BF16), seven packed bf16 copies of q, k, v, dout, the fp32 dq and
  // the tiles (fast_attention_bf16.cc's layouts).
  static double attention_workspace_bytes(int64_t T, int64_t HS, MatmulPrecision precision);

  // The bf16 products of outputs at least kWideOutputChannels wide (the LM head) run in blocks of
  // kWideProductBlock output channels (fast_matmul.cc).
  static constexpr int64_t kWideOutputChannels = 8192;
  static constexpr int64_t kWideProductBlock = 8192;
  // The bf16 forward and input-gradient products of narrower declared weights (the layers' qkv, proj, fc, fcproj)
  // with at least kPackedWeightMinRows rows read the weights packed in oneDNN's blocked layout, packed once per
  // set_matmul_weights (Bf16Gemm::gemm_reused_weights): two copies of 2 bytes per element (fast_matmul.cc).
  static constexpr int64_t kPackedWeightMinRows = 256;

 private:
  // The bf16 copy of the weights if `weight[0, count)` lies inside the range set_matmul_weights declared,
  // else null (the caller converts per call).
  const uint16_t* resident_weight(const float* weight, int64_t count) const;
  // True when attention runs on bf16 tile products (fast_attention_bf16.cc): bf16 matmuls, an AVX-512-BF16
  // build and an even head size HS.
  bool bf16_attention(int64_t HS) const;
  void attention_forward_bf16(float* out, float* stats, const float* qkv, int64_t B, int64_t T, int64_t C,
                              int64_t NH);
  void attention_backward_bf16(float* dqkv, const float* dout, const float* qkv, const float* out,
                               const float* stats, int64_t B, int64_t T, int64_t C, int64_t NH);
  // matmul_backward's bf16 products from `dout` already in bf16 (dbias is the caller's).
  void bf16_matmul_backward(float* dinp, float* dweight, const uint16_t* dout, const float* inp, const float* weight,
                            int64_t N, int64_t C, int64_t OC);

  std::unique_ptr<Bf16Gemm> bf16_gemm_;  // null: fp32 matmuls
  // set_matmul_weights (bf16 only): the declared fp32 range and its bf16 copy, converted once per call.
  const float* resident_begin_ = nullptr;
  int64_t resident_count_ = 0;
  AlignedBuffer<uint16_t> resident_bf16_;
  // Counts set_matmul_weights calls: the version Bf16Gemm::gemm_reused_weights packs the weights at.
  uint64_t resident_version_ = 0;
};

}  // namespace tessera
