// Global gradient-norm clipping: ‖g‖ = sqrt(Σ g²) over every gradient; if max_norm > 0 and ‖g‖ > max_norm,
// g *= max_norm / ‖g‖. Returns ‖g‖ before clipping (logged as grad_norm).
#pragma once

#include <cstdint>

#include "tessera/kernels/kernel_backend.h"

namespace tessera {

double clip_grad_norm(float* grads, int64_t n, double max_norm, KernelBackend& kernels);

}  // namespace tessera
