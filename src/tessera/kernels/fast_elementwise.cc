// Fast elementwise kernels: encoder (token + position embedding), GELU, residual, AdamW, sum of
// squares, scale. Shapes: B batch, T time, C channels, V vocabulary; n a flat element count.
// All are memory-bound: one pass over their operands, OpenMP static split, vectorised inner loops.
#include <omp.h>

#include <cmath>
#include <vector>

#include "tessera/core/check.h"
#include "tessera/kernels/fast_backend.h"
#include "tessera/kernels/fast_math.h"

namespace tessera {
namespace {
constexpr float kGeluScale = 0.7978845608028654f;  // sqrt(2/π)
constexpr float kGeluCubic = 0.044715f;
}  // namespace

void FastBackend::encoder_forward(float* out, const int32_t* tokens, const float* wte, const float* wpe,
                                  int64_t B, int64_t T, int64_t C) {
#pragma omp parallel for schedule(static)
  for (int64_t bt = 0; bt < B * T; ++bt) {
    const float* e = wte + int64_t{tokens[bt]} * C;
    const float* p = wpe + (bt % T) * C;
    float* o = out + bt * C;
#pragma omp simd
    for (int64_t c = 0; c < C; ++c) o[c] = e[c] + p[c];
  }
}

// Rows of dwte repeat whenever a token repeats, so threads split the channels instead of the rows:
// each thread owns columns [c0, c1) of dwte and dwpe and walks every (b, t) in order (race-free and
// deterministic).
void FastBackend::encoder_backward(float* dwte, float* dwpe, const float* dout, const int32_t* tokens,
                                   int64_t B, int64_t T, int64_t C) {
#pragma omp parallel
  {
    int64_t c0 = 0;
    int64_t c1 = 0;
    fast_math::split_range(C, omp_get_num_threads(), omp_get_thread_num(), &c0, &c1);
    for (int64_t b = 0; b < B; ++b) {
      for (int64_t t = 0; t < T; ++t) {
        const float* d = dout + (b * T + t) * C;
        float* e = dwte + int64_t{tokens[b * T + t]} * C;
        float* p = dwpe + t * C;
#pragma omp simd
        for (int64_t c = c0; c < c1; ++c) {
          e[c] += d[c];
          p[c] += d[c];
        }
      }
    }
  }
}

// With e = exp(2u), u = √(2/π)(x + 0.044715x³): 1 + tanh u = 2e/(e + 1) and 1 - tanh u = 2/(e + 1).
// Using these instead of 1 ± tanh avoids cancellation in the tails (x ≲ -4), where gelu and gelu' are
// tiny and a tanh with 1e-7 absolute error would leave only a few correct digits.
void FastBackend::gelu_forward(float* out, const float* inp, int64_t n) {
  fast_math::parallel_ranges(n, [&](int64_t begin, int64_t end) {
#pragma omp simd
    for (int64_t i = begin; i < end; ++i) {
      const float x = inp[i];
      const float e = fast_math::exp(2.0f * kGeluScale * (x + kGeluCubic * x * x * x));
      out[i] = x * (e / (e + 1.0f));
    }
  });
}

// gelu'(x) = ½(1 + tanh u) + ½·x·(1 - tanh² u)·u',  u' = √(2/π)(1 + 3·0.044715x²).
void FastBackend::gelu_backward(float* dinp, const float* inp, const float* dout, int64_t n) {
  fast_math::parallel_ranges(n, [&](int64_t begin, int64_t end) {
#pragma omp simd
    for (int64_t i = begin; i < end; ++i) {
      const float x = inp[i];
      const float e = fast_math::exp(2.0f * kGeluScale * (x + kGeluCubic * x * x * x));
      const float inv = 1.0f / (e + 1.0f);
      const float one_plus = 2.0f * (e * inv);
      const float one_minus = 2.0f * inv;
      const float du = kGeluScale * (1.0f + 3.0f * kGeluCubic * x * x);
      const float grad = 0.5f * one_plus + 0.5f * x * one_plus * one_minus * du;
      dinp[i] = grad * dout[i];
    }
  });
}

void FastBackend::residual_forward(float* out, const float* a, const float* b, int64_t n) {
#pragma omp parallel for simd schedule(static)
  for (int64_t i = 0; i < n; ++i) out[i] = a[i] + b[i];
}

void FastBackend::adamw_update(float* params, const float* grads, float* m, float* v, int64_t n, float lr,
                               float beta1, float beta2, float eps, float weight_decay, int64_t t) {
  TESSERA_CHECK(t >= 1, "adamw step t={} must be >= 1", t);
  // Bias corrections in double: β^t for large t loses nothing, then folded into two float factors.
  const float inv_c1 = static_cast<float>(1.0 / (1.0 - std::pow(static_cast<double>(beta1), static_cast<double>(t))));
  const float inv_c2 = static_cast<float>(1.0 / (1.0 - std::pow(static_cast<double>(beta2), static_cast<double>(t))));
  const float one_minus_b1 = 1.0f - beta1;
  const float one_minus_b2 = 1.0f - beta2;
  fast_math::parallel_ranges(n, [&](int64_t begin, int64_t end) {
#pragma omp simd
    for (int64_t i = begin; i < end; ++i) {
      const float g = grads[i];
      const float mi = beta1 * m[i] + one_minus_b1 * g;
      const float vi = beta2 * v[i] + one_minus_b2 * g * g;
      m[i] = mi;
      v[i] = vi;
      const float p = params[i];
      params[i] = p - lr * ((mi * inv_c1) / (std::sqrt(vi * inv_c2) + eps) + weight_decay * p);
    }
  });
}

// Per-thread double partials over a static split, added in thread order: deterministic for a fixed
// thread count.
double FastBackend::sum_squares(const float* x, int64_t n) {
  std::vector<double> partial(static_cast<size_t>(omp_get_max_threads()), 0.0);
#pragma omp parallel
  {
    int64_t begin = 0;
    int64_t end = 0;
    fast_math::split_range(n, omp_get_num_threads(), omp_get_thread_num(), &begin, &end);
    double acc = 0.0;
#pragma omp simd reduction(+ : acc)
    for (int64_t i = begin; i < end; ++i) acc += static_cast<double>(x[i]) * x[i];
    partial[static_cast<size_t>(omp_get_thread_num())] = acc;
  }
  double total = 0.0;
  for (double p : partial) total += p;
  return total;
}

void FastBackend::scale(float* x, float scale, int64_t n) {
#pragma omp parallel for simd schedule(static)
  for (int64_t i = 0; i < n; ++i) x[i] *= scale;
}

}  // namespace tessera
