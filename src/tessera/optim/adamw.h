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
  int64_t offset = 0;  // floats into the parameter buffer
  int64_t numel = 0;
  bool decay = true;
  // Where its gradient and its moments are, when not at `offset` (-1): a sharded owner updates its pieces of
  // replicated parameters in place while the gradients and moments are compact (ZeRO-1/2).
  int64_t grad_offset = -1;
  int64_t state_offset = -1;
  int64_t grads_at() const { return grad_offset >= 0 ? grad_offset : offset; }
  int64_t state_at() const { return state_offset >= 0 ? state_offset : offset; }
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
  // Floats in each moment buffer.
  int64_t moments_numel() const { return static_cast<int64_t>(m_.size()); }
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
