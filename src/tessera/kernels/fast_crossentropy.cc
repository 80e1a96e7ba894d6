// Fast softmax cross-entropy. Shapes: logits[N,V], targets[N], losses[N], lse[N].
// Memory-bound (the LM head's logits are N·V floats, 411 MB at the small shape): forward reads each row
// twice (max, then Σ exp; the second pass hits L2, a 50257-wide row is 200 KB), backward reads and
// writes it once, in place when dlogits == logits, so no second N×V buffer ever exists.
// head_loss_backward fuses the two per row: the backward pass over a row follows its log-sum-exp while the row
// is still in L2, so the logits are read from memory once instead of twice; with bf16 matmuls it writes the
// dlogits rounded to bf16 straight into the products' operand (2 bytes per logit written instead of 4 written,
// 4 read back and 2 written by a separate conversion). It also computes each exponential once: the sum pass
// keeps e^{x - max} in the row, and the dlogits are those terms times dloss/Σ (= dloss·e^{x - lse}), where the
// separate kernels compute e^{x - max} for the sum and e^{x - lse} again for the backward. Losses and lse equal
// the separate kernels' bit for bit; dlogits differ by the rounding of the two forms (a few fp32 ulps,
// kernels_test_util.h bounds it). With bf16 matmuls the chunks of a group (KernelBackend::HeadGroup) keep their
// bf16 dlogits side by side and the group's dinp and dW products run once, at its last chunk: at small.toml's
// head (333-row chunks in groups of 1332 rows) the bf16 step ran 2.5% faster (bench/RESULTS.md 2026-12-03).
#include <cmath>

#include "tessera/core/check.h"
#include "tessera/kernels/bf16.h"
#include "tessera/kernels/fast_backend.h"
#include "tessera/kernels/fast_math.h"

namespace tessera {

void FastBackend::crossentropy_forward(float* losses, float* lse, const float* logits, const int32_t* targets,
                                       int64_t N, int64_t V) {
#pragma omp parallel for schedule(static)
  for (int64_t n = 0; n < N; ++n) {
    const float* x = logits + n * V;
    const float mx = fast_math::max_value(x, V);
    const float l = mx + std::log(fast_math::sum_exp_shifted(x, V, mx));
    lse[n] = l;
    losses[n] = targets[n] >= 0 ? l - x[targets[n]] : l;
  }
}

// dlogits[n,v] = dloss·(e^{logits[n,v] - lse[n]} - [v == target]); elementwise, so dlogits may be logits.
void FastBackend::crossentropy_backward(float* dlogits, const float* logits, const float* lse,
                                        const int32_t* targets, float dloss, int64_t N, int64_t V) {
#pragma omp parallel for schedule(static)
  for (int64_t n = 0; n < N; ++n) {
    const float* x = logits + n * V;
    float* dx = dlogits + n * V;
    const float l = lse[n];
#pragma omp simd
    for (int64_t v = 0; v < V; ++v) dx[v] = dloss * fast_math::exp(x[v] - l);
    if (targets[n] >= 0) dx[targets[n]] -= dloss;
  }
}

void FastBackend::head_loss_backward(float* losses, float* lse, float* logits, const int32_t* targets, float dloss,
                                     float* dinp, float* dweight, const float* inp, const float* weight, int64_t N,
                                     int64_t C, int64_t V, const HeadGroup& group) {
  // The group's rows [0, rows); this chunk's are [row, row + N). Without a group, the chunk alone.
  const int64_t group_rows = group.rows > 0 ? group.rows : N, row = group.rows > 0 ? group.row : 0;
  TESSERA_CHECK(row >= 0 && row + N <= group_rows, "head_loss_backward: chunk rows [{}, {}) outside its group of {}",
                row, row + N, group_rows);
  // dlogits[n,v] = dloss·e^{x[v] − max}/Σ, minus dloss at the target (Σ = Σ_v e^{x[v] − max}, lse = max + log Σ).
  // With bf16 matmuls they go to this chunk's rows of the group's bf16 buffer.
  uint16_t* group_dlogits = bf16_gemm_ != nullptr ? bf16_gemm_->buffer(Bf16Gemm::kSlotHead, group_rows * V) : nullptr;
  uint16_t* dlogits_bf16 = group_dlogits != nullptr ? group_dlogits + row * V : nullptr;
#pragma omp parallel for schedule(static)
  for (int64_t n = 0; n < N; ++n) {
    float* x = logits + n * V;
    const int32_t target = targets[n];
    const float mx = fast_math::max_value(x, V);
    const float target_logit = target >= 0 ? x[target] : 0.0f;
    const float sum = fast_math::exp_shifted_in_place(x, V, mx);  // x now holds e^{x − max}
    const float l = mx + std::log(sum);
    lse[n] = l;
    losses[n] = target >= 0 ? l - target_logit : l;
    const float factor = dloss / sum;
    if (dlogits_bf16 == nullptr) {
#pragma omp simd
      for (int64_t v = 0; v < V; ++v) x[v] *= factor;
      if (target >= 0) x[target] -= dloss;
    } else {
      uint16_t* d = dlogits_bf16 + n * V;
#pragma omp simd
      for (int64_t v = 0; v < V; ++v) d[v] = bf16::from_float(x[v] * factor);
      if (target >= 0) d[target] = bf16::from_float(x[target] * factor - dloss);
    }
  }
  if (dlogits_bf16 == nullptr) {
    matmul_backward(dinp, dweight, nullptr, logits, inp, weight, N, C, V);
  } else if (row + N == group_rows) {
    // The group's last chunk: dinp and dweight of all its rows at once.
    bf16_matmul_backward(dinp - row * C, dweight, group_dlogits, inp - row * C, weight, group_rows, C, V);
  }
}

}  // namespace tessera
