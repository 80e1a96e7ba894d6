// AdamW over a flat parameter buffer (PyTorch's torch.optim.AdamW semantics, see kernel_backend.h for the
// update). The optimizer owns its moment buffers m and v, laid out like the parameters; it reads
// parameters and gradients through pointers it does not own.
//
// Weight decay is per tensor: OptimizedTensor::decay says whether the tensor decays (GPT practice:
// matrices decay, biases and norm gains do not; train.decay_all = true decays everything, as the
// PyTorch peer does).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "tessera/core/aligned_buffer.h"
#include "tessera/core/stateful.h"
#include "tessera/kernels/kernel_backend.h"

namespace tessera {

struct AdamWConfig {
  float beta1 = 0.9f;
  float beta2 = 0.95f;
  float eps = 1e-8f;
  float weight_decay = 0.1f;
};

// A named range of the flat buffer that the optimizer updates.
struct OptimizedTensor {
  std::string name;  // "wte", "h.0.attn.qkv.weight", ...
  std::vector<int64_t> shape;
  int64_t offset = 0;  // floats into the flat buffer
  int64_t numel = 0;
  bool decay = true;
};

class AdamW final : public Stateful {
 public:
  AdamW(AdamWConfig config, std::vector<OptimizedTensor> tensors, KernelBackend& kernels);

  // One update of params with grads at learning rate lr; increments step() first (t ≥ 1).
  void update(float* params, const float* grads, float lr);
  int64_t step() const { return step_; }
  // The moment buffers, laid out as the tensors' offsets say (a sharded owner saves and loads them piece
  // by piece), and the step count that goes with them.
  float* first_moments() { return m_.data(); }
  const float* first_moments() const { return m_.data(); }
  float* second_moments() { return v_.data(); }
  const float* second_moments() const { return v_.data(); }
  void set_step(int64_t step) { step_ = step; }

  // "optim.step", "optim.m.<name>", "optim.v.<name>".
  void save_state(StateWriter& writer) const override;
  Status load_state(StateReader& reader) override;

 private:
  AdamWConfig config_;
  std::vector<OptimizedTensor> tensors_;
  KernelBackend& kernels_;
  int64_t step_ = 0;
  AlignedBuffer<float> m_, v_;
};

}  // namespace tessera
