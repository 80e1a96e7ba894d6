// Fast softmax cross-entropy. Shapes: logits[N,V], targets[N], losses[N], lse[N].
// Memory-bound (the LM head's logits are N·V floats, 411 MB at the small shape): forward reads each row
// twice (max, then Σ exp; the second pass hits L2, a 50257-wide row is 200 KB), backward reads and
// writes it once, in place when dlogits == logits, so no second N×V buffer ever exists.
#include <cmath>

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

}  // namespace tessera
