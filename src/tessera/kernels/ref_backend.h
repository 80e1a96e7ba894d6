// RefBackend: the oracle. Plain single-threaded loops that follow the math of kernel_backend.h line by
// line, with reductions accumulated in double so that its own rounding is far below the tolerances of
// the fast-vs-ref tests. It is itself checked against finite differences (kernels_ref_test.cc).
// With MatmulPrecision::kBf16 its matmuls round every operand element to bf16 first (bf16.h) and keep the
// double sums: the exact result a bf16 matmul with fp32 accumulation approximates.
// Thread safety: stateless; calls on different buffers may run concurrently.
#pragma once

#include "tessera/kernels/kernel_backend.h"

namespace tessera {

class RefBackend final : public KernelBackend {
 public:
  explicit RefBackend(MatmulPrecision matmul_precision = MatmulPrecision::kFp32)
      : bf16_matmul_(matmul_precision == MatmulPrecision::kBf16) {}
  const char* name() const override { return "ref"; }

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
  void adamw_update(float* params, const float* grads, float* m, float* v, int64_t n, float lr, float beta1,
                    float beta2, float eps, float weight_decay, int64_t t) override;
  double sum_squares(const float* x, int64_t n) override;
  void scale(float* x, float scale, int64_t n) override;

 private:
  // A matmul operand as the matmul sees it: x itself, or x rounded to bf16.
  double operand(float x) const;
  bool bf16_matmul_ = false;
};

}  // namespace tessera
