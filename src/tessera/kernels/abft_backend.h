// Algorithm-based fault tolerance for the matmuls (Huang & Abraham's checksums): a KernelBackend that wraps
// another and, while checking is on, verifies every matmul it forwards by a column checksum, so a compute
// fault in one rank's matmul (a silent data corruption of the arithmetic, which the gradient all-reduce then
// hands to every replica, out of reach of replica comparison) is caught on the rank where it happened.
//
//   forward   out[N,OC] = inp[N,C]·Wᵀ + b:  Σ_n out[n,o] = Σ_c (Σ_n inp[n,c])·W[o,c] + N·b[o]
//   backward  dinp[N,C] = dout·W:           Σ_n dinp[n,c] = Σ_o (Σ_n dout[n,o])·W[o,c]
//             dW[OC,C] += doutᵀ·inp:        Σ_o ΔdW[o,c]  = Σ_n (Σ_o dout[n,o])·inp[n,c]
// Both sides are summed in double, each column c (or o) against the tolerance
//   |actual − expected| ≤ rel_tolerance · Σ |terms|   (the same sums over absolute values),
// rel_tolerance = 1e-5: fp32 accumulation leaves ~1e-7 of that bound, and a fault that moves one output by
// about its own size moves its column by ~1/(N·√C) of it (≥ 1e-4 at Tessera's test shapes). Under bf16 the
// checksums see the operands rounded to bf16 as the matmul does. Cost: O(N·C + OC·C + N·OC) per matmul,
// memory-bound passes over the operands in double on the kernel threads (OpenMP): at configs/small.toml about
// a third of a step when every matmul of it is checked, so check every few steps.
//
// Fault injection for tests: corrupt_next_matmul(which) flips bit 23 (the exponent's lowest: ×2 or ×½) of
// the largest-magnitude element of the next matmul's output `which`, after the wrapped matmul and before its
// check. (A fault that moves a small output by less than ~1e-5 of its column's absolute sum is within the
// tolerance and not caught: that is the price of checking fp32 sums.)
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "tessera/kernels/kernel_backend.h"

namespace tessera {

struct AbftReport {
  int64_t checked = 0;      // matmuls verified since the last take_report
  int64_t failed = 0;       // of which the checksum failed
  std::string first_failure;  // e.g. "matmul_forward [N=512, C=64, OC=192]: column 96 sum 12.5 vs 6.25 expected (..)"
};

class AbftBackend final : public KernelBackend {
 public:
  AbftBackend(std::unique_ptr<KernelBackend> inner, MatmulPrecision precision);

  // Checking on or off (the trainer turns it on every train.abft_check_every steps).
  void set_checking(bool on) { checking_ = on; }
  // What was checked since the last call, and resets it.
  AbftReport take_report();
  enum class MatmulOutput { kForward, kInputGradient, kWeightGradient };
  void corrupt_next_matmul(MatmulOutput which = MatmulOutput::kForward) { corrupt_next_ = which; }

  const char* name() const override { return inner_->name(); }
  void encoder_forward(float* out, const int32_t* tokens, const float* wte, const float* wpe, int64_t B, int64_t T,
                       int64_t C) override {
    inner_->encoder_forward(out, tokens, wte, wpe, B, T, C);
  }
  void encoder_backward(float* dwte, float* dwpe, const float* dout, const int32_t* tokens, int64_t B, int64_t T,
                        int64_t C) override {
    inner_->encoder_backward(dwte, dwpe, dout, tokens, B, T, C);
  }
  void layernorm_forward(float* out, float* mean, float* rstd, const float* inp, const float* weight, const float* bias,
                         int64_t N, int64_t C) override {
    inner_->layernorm_forward(out, mean, rstd, inp, weight, bias, N, C);
  }
  void layernorm_backward(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                          const float* weight, const float* mean, const float* rstd, int64_t N, int64_t C) override {
    inner_->layernorm_backward(dinp, dweight, dbias, dout, inp, weight, mean, rstd, N, C);
  }
  void matmul_forward(float* out, const float* inp, const float* weight, const float* bias, int64_t N, int64_t C,
                      int64_t OC) override;
  void matmul_backward(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                       const float* weight, int64_t N, int64_t C, int64_t OC) override;
  void attention_forward(float* out, float* stats, const float* qkv, int64_t B, int64_t T, int64_t C,
                         int64_t NH) override {
    inner_->attention_forward(out, stats, qkv, B, T, C, NH);
  }
  void attention_backward(float* dqkv, const float* dout, const float* qkv, const float* out, const float* stats,
                          int64_t B, int64_t T, int64_t C, int64_t NH) override {
    inner_->attention_backward(dqkv, dout, qkv, out, stats, B, T, C, NH);
  }
  void gelu_forward(float* out, const float* inp, int64_t n) override { inner_->gelu_forward(out, inp, n); }
  void gelu_backward(float* dinp, const float* inp, const float* dout, int64_t n) override {
    inner_->gelu_backward(dinp, inp, dout, n);
  }
  void residual_forward(float* out, const float* a, const float* b, int64_t n) override {
    inner_->residual_forward(out, a, b, n);
  }
  void crossentropy_forward(float* losses, float* lse, const float* logits, const int32_t* targets, int64_t N,
                            int64_t V) override {
    inner_->crossentropy_forward(losses, lse, logits, targets, N, V);
  }
  void crossentropy_backward(float* dlogits, const float* logits, const float* lse, const int32_t* targets,
                             float dloss, int64_t N, int64_t V) override {
    inner_->crossentropy_backward(dlogits, logits, lse, targets, dloss, N, V);
  }
  void adamw_update(float* params, const float* grads, float* m, float* v, int64_t n, float lr, float beta1,
                    float beta2, float eps, float weight_decay, int64_t t) override {
    inner_->adamw_update(params, grads, m, v, n, lr, beta1, beta2, eps, weight_decay, t);
  }
  void set_matmul_weights(const float* weights, int64_t n) override { inner_->set_matmul_weights(weights, n); }
  void clear_matmul_weights() override { inner_->clear_matmul_weights(); }
  double sum_squares(const float* x, int64_t n) override { return inner_->sum_squares(x, n); }
  void scale(float* x, float scale, int64_t n) override { inner_->scale(x, scale, n); }

  static constexpr double kRelTolerance = 1e-5;

 private:
  // Flips bit 23 of the largest of data[0, count) if the pending corruption targets `which`.
  void maybe_corrupt(MatmulOutput which, float* data, int64_t count);
  // Records a failure of `what` at column `index` if |actual - expected| > kRelTolerance · bound.
  void verify(const char* what, int64_t N, int64_t C, int64_t OC, int64_t index, double actual, double expected,
              double bound);

  std::unique_ptr<KernelBackend> inner_;
  bool bf16_;
  bool checking_ = false;
  std::optional<MatmulOutput> corrupt_next_;
  AbftReport report_;
};

}  // namespace tessera
