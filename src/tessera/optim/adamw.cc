#include "tessera/optim/adamw.h"

namespace tessera {

namespace {
int64_t total_numel(const std::vector<OptimizedTensor>& tensors) {
  int64_t end = 0;
  for (const OptimizedTensor& t : tensors) end = std::max(end, t.state_at() + t.numel);
  return end;
}
}  // namespace

AdamW::AdamW(AdamWConfig config, std::vector<OptimizedTensor> tensors, KernelBackend& kernels)
    : config_(config), tensors_(std::move(tensors)), kernels_(kernels),
      m_(total_numel(tensors_)), v_(total_numel(tensors_)) {}

void AdamW::update(float* params, const float* grads, float lr) {
  ++step_;
  for (const OptimizedTensor& t : tensors_) {
    kernels_.adamw_update(params + t.offset, grads + t.grads_at(), m_.data() + t.state_at(), v_.data() + t.state_at(), t.numel,
                          lr, config_.beta1, config_.beta2, config_.eps, t.decay ? config_.weight_decay : 0.0f,
                          step_);
  }
}

void AdamW::save_state(StateWriter& writer) const {
  writer.write_int("optim.step", step_);
  for (const OptimizedTensor& t : tensors_) {
    writer.write_tensor({.name = "optim.m." + t.name, .dtype = DType::kF32, .shape = t.shape,
                         .data = const_cast<float*>(m_.data() + t.state_at())});
    writer.write_tensor({.name = "optim.v." + t.name, .dtype = DType::kF32, .shape = t.shape,
                         .data = const_cast<float*>(v_.data() + t.state_at())});
  }
}

Status AdamW::load_state(StateReader& reader) {
  TESSERA_ASSIGN_OR_RETURN(step_, reader.read_int("optim.step"));
  for (const OptimizedTensor& t : tensors_) {
    TESSERA_RETURN_IF_ERROR(reader.read_tensor(
        {.name = "optim.m." + t.name, .dtype = DType::kF32, .shape = t.shape, .data = m_.data() + t.state_at()}));
    TESSERA_RETURN_IF_ERROR(reader.read_tensor(
        {.name = "optim.v." + t.name, .dtype = DType::kF32, .shape = t.shape, .data = v_.data() + t.state_at()}));
  }
  return Status();
}

}  // namespace tessera
