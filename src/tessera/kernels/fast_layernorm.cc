// Fast layernorm over the last dim. Shapes: N rows, C channels; mean[N], rstd[N] saved by forward.
// Rows are independent and split over threads; backward's dweight/dbias are sums over rows, so each
// thread accumulates private [C] partials that are added in thread order (deterministic).
#include <omp.h>

#include <cmath>
#include <vector>

#include "tessera/kernels/fast_backend.h"

namespace tessera {
namespace {
constexpr float kLayerNormEps = 1e-5f;
}  // namespace

void FastBackend::layernorm_forward(float* out, float* mean, float* rstd, const float* inp, const float* weight,
                                    const float* bias, int64_t N, int64_t C) {
  const float inv_c = 1.0f / static_cast<float>(C);
#pragma omp parallel for schedule(static)
  for (int64_t n = 0; n < N; ++n) {
    const float* x = inp + n * C;
    float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
    for (int64_t c = 0; c < C; ++c) sum += x[c];
    const float mu = sum * inv_c;
    // Two passes (the row is in L1): no cancellation from E[x²] - E[x]².
    float var = 0.0f;
#pragma omp simd reduction(+ : var)
    for (int64_t c = 0; c < C; ++c) var += (x[c] - mu) * (x[c] - mu);
    const float rs = 1.0f / std::sqrt(var * inv_c + kLayerNormEps);
    float* y = out + n * C;
#pragma omp simd
    for (int64_t c = 0; c < C; ++c) y[c] = (x[c] - mu) * rs * weight[c] + bias[c];
    mean[n] = mu;
    rstd[n] = rs;
  }
}

// x̂ = (x - mean)·rstd, g = dout·weight:  dx += rstd·(g - mean_c(g) - x̂·mean_c(g·x̂));
// dweight += Σ_n dout·x̂;  dbias += Σ_n dout.
void FastBackend::layernorm_backward(float* dinp, float* dweight, float* dbias, const float* dout,
                                     const float* inp, const float* weight, const float* mean, const float* rstd,
                                     int64_t N, int64_t C) {
  const int threads = omp_get_max_threads();
  // partial[t] = [dweight partial (C) | dbias partial (C)] of thread t.
  std::vector<float> partial(static_cast<size_t>(threads) * 2 * static_cast<size_t>(C), 0.0f);
  const float inv_c = 1.0f / static_cast<float>(C);
  int used_threads = 1;
#pragma omp parallel
  {
#pragma omp single
    used_threads = omp_get_num_threads();
    float* dw = partial.data() + static_cast<size_t>(omp_get_thread_num()) * 2 * static_cast<size_t>(C);
    float* db = dw + C;
#pragma omp for schedule(static)
    for (int64_t n = 0; n < N; ++n) {
      const float* x = inp + n * C;
      const float* dy = dout + n * C;
      const float mu = mean[n];
      const float rs = rstd[n];
      float g_sum = 0.0f;
      float gx_sum = 0.0f;
#pragma omp simd reduction(+ : g_sum, gx_sum)
      for (int64_t c = 0; c < C; ++c) {
        const float xhat = (x[c] - mu) * rs;
        const float g = dy[c] * weight[c];
        g_sum += g;
        gx_sum += g * xhat;
      }
      const float g_mean = g_sum * inv_c;
      const float gx_mean = gx_sum * inv_c;
      float* dx = dinp + n * C;
#pragma omp simd
      for (int64_t c = 0; c < C; ++c) {
        const float xhat = (x[c] - mu) * rs;
        dx[c] += rs * (dy[c] * weight[c] - g_mean - xhat * gx_mean);
        dw[c] += dy[c] * xhat;
        db[c] += dy[c];
      }
    }
  }
  for (int t = 0; t < used_threads; ++t) {
    const float* dw = partial.data() + static_cast<size_t>(t) * 2 * static_cast<size_t>(C);
    const float* db = dw + C;
    for (int64_t c = 0; c < C; ++c) {
      dweight[c] += dw[c];
      dbias[c] += db[c];
    }
  }
}

}  // namespace tessera
