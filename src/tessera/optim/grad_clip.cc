#include "tessera/optim/grad_clip.h"

#include <cmath>

namespace tessera {

double clip_grad_norm(float* grads, int64_t n, double max_norm, KernelBackend& kernels) {
  const double norm = std::sqrt(kernels.sum_squares(grads, n));
  if (max_norm > 0.0 && norm > max_norm) kernels.scale(grads, static_cast<float>(max_norm / norm), n);
  return norm;
}

}  // namespace tessera
